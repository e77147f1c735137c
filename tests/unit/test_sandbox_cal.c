/* test_sandbox_cal.c - dates, zones, business days and spellings. */
#include <criterion/criterion.h>

#include <string.h>

#include "sandbox/cal.h"

struct civil_case {
    int64_t y;
    int     m, d;
    int64_t day;
    int     weekday;                /* 0 Sunday */
};

static const struct civil_case civil_cases[] = {
    { 1970, 1, 1, 0, 4 },
    { 1969, 12, 31, -1, 3 },
    { 2000, 2, 29, 11016, 2 },
    { 2024, 2, 29, 19782, 4 },
    { 2025, 5, 14, 20222, 3 },
    { 2025, 12, 31, 20453, 3 },
    { 2100, 3, 1, 47541, 1 },
};

Test(sandbox_cal, civil_round_trip)
{
    size_t i;

    for (i = 0; i < sizeof(civil_cases) / sizeof(civil_cases[0]); i++) {
        const struct civil_case *c = &civil_cases[i];
        int64_t                  y;
        int                      m, d;

        cr_expect_eq(cal_days_from_civil(c->y, c->m, c->d), c->day,
                     "case %zu", i);
        cal_civil_from_days(c->day, &y, &m, &d);
        cr_expect(y == c->y && m == c->m && d == c->d, "case %zu", i);
        cr_expect_eq(cal_weekday(c->day), c->weekday, "case %zu", i);
    }
}

Test(sandbox_cal, zones_and_us_dst)
{
    const struct cal_zone *den = cal_zone_find("America/Denver");
    const struct cal_zone *phx = cal_zone_find("America/Phoenix");

    cr_assert_not_null(den);
    cr_assert_not_null(phx);
    cr_expect_null(cal_zone_find("Europe/Nowhere"));
    /* 2025: DST from Sunday 03-09 to Sunday 11-02 */
    cr_expect_eq(cal_offset_min(den, cal_days_from_civil(2025, 3, 8)), -420);
    cr_expect_eq(cal_offset_min(den, cal_days_from_civil(2025, 3, 9)), -360);
    cr_expect_eq(cal_offset_min(den, cal_days_from_civil(2025, 7, 4)), -360);
    cr_expect_eq(cal_offset_min(den, cal_days_from_civil(2025, 11, 1)), -360);
    cr_expect_eq(cal_offset_min(den, cal_days_from_civil(2025, 11, 2)), -420);
    cr_expect_eq(cal_offset_min(phx, cal_days_from_civil(2025, 7, 4)), -420);
}

Test(sandbox_cal, local_day_near_midnight)
{
    const struct cal_zone *ny = cal_zone_find("America/New_York");
    int64_t                may14 = cal_days_from_civil(2025, 5, 14);

    /* 03:59Z on 05-15 is 23:59 on 05-14 in New York (EDT, -4) */
    cr_expect_eq(cal_local_day(ny, (may14 + 1) * 86400 + 3 * 3600 + 3540),
                 may14);
    cr_expect_eq(cal_local_day(ny, (may14 + 1) * 86400 + 4 * 3600),
                 may14 + 1);
    cr_expect_eq(cal_local_day(cal_zone_find("UTC"), may14 * 86400), may14);
}

Test(sandbox_cal, business_days_skip_weekends)
{
    int64_t fri = cal_days_from_civil(2025, 5, 16);
    int64_t sat = fri + 1;

    cr_expect_eq(cal_business_day(fri, 0), fri);
    cr_expect_eq(cal_business_day(fri, 1), fri + 3);        /* Monday */
    cr_expect_eq(cal_business_day(fri, 5), fri + 7);        /* next Fri */
    cr_expect_eq(cal_business_day(fri, 6), fri + 10);
    cr_expect_eq(cal_business_day(sat, 1), fri + 3);
    cr_expect_eq(cal_business_day(fri - 2, 2), fri);        /* Wed + 2 */
}

Test(sandbox_cal, to_utc_and_formats)
{
    const struct cal_zone *den = cal_zone_find("America/Denver");
    int64_t                day = cal_days_from_civil(2025, 5, 16);
    char                   buf[40];

    cr_assert_eq(cal_format_iso(cal_to_utc(den, day, 15 * 60), buf,
                                sizeof(buf)),
                 0);
    cr_expect_str_eq(buf, "2025-05-16T21:00:00.000Z");
    cr_assert_eq(cal_format_iso(cal_to_utc(den, day, 23 * 60 + 30), buf,
                                sizeof(buf)),
                 0);
    cr_expect_str_eq(buf, "2025-05-17T05:30:00.000Z");
    cr_assert_eq(cal_format_iso(-1, buf, sizeof(buf)), 0);
    cr_expect_str_eq(buf, "1969-12-31T23:59:59.000Z");
    cr_assert_eq(cal_format_date(day, buf, sizeof(buf)), 0);
    cr_expect_str_eq(buf, "2025-05-16");
    cr_expect_eq(cal_format_date(day, buf, 10), -1);    /* no room */
}

struct clock_case {
    int         minute;
    const char *upper, *lower;
};

static const struct clock_case clock_cases[] = {
    { 0,       "12:00 AM", "12:00 am" },
    { 9 * 60,  "9:00 AM",  "9:00 am" },
    { 10 * 60 + 30, "10:30 AM", "10:30 am" },
    { 12 * 60, "12:00 PM", "12:00 pm" },
    { 12 * 60 + 5, "12:05 PM", "12:05 pm" },
    { 15 * 60, "3:00 PM",  "3:00 pm" },
    { 23 * 60 + 59, "11:59 PM", "11:59 pm" },
};

Test(sandbox_cal, clock_spellings)
{
    char   buf[16];
    size_t i;

    for (i = 0; i < sizeof(clock_cases) / sizeof(clock_cases[0]); i++) {
        cr_assert_eq(cal_format_clock(clock_cases[i].minute, true, buf,
                                      sizeof(buf)),
                     0);
        cr_expect_str_eq(buf, clock_cases[i].upper);
        cr_assert_eq(cal_format_clock(clock_cases[i].minute, false, buf,
                                      sizeof(buf)),
                     0);
        cr_expect_str_eq(buf, clock_cases[i].lower);
    }
}

struct parse_case {
    const char *in;
    int         minute;             /* -1: refused */
};

static const struct parse_case parse_cases[] = {
    { "00:00", 0 },  { "09:30", 570 }, { "23:59", 1439 }, { "24:00", -1 },
    { "9:30", -1 },  { "09:60", -1 },  { "09-30", -1 },   { "", -1 },
    { "09:300", -1 }, { "ab:cd", -1 },
};

Test(sandbox_cal, parse_clock)
{
    size_t i;
    int    m;

    for (i = 0; i < sizeof(parse_cases) / sizeof(parse_cases[0]); i++) {
        if (parse_cases[i].minute < 0) {
            cr_expect_eq(cal_parse_clock(parse_cases[i].in, &m), -1, "%s",
                         parse_cases[i].in);
        } else {
            cr_expect_eq(cal_parse_clock(parse_cases[i].in, &m), 0, "%s",
                         parse_cases[i].in);
            cr_expect_eq(m, parse_cases[i].minute, "%s", parse_cases[i].in);
        }
    }
}
