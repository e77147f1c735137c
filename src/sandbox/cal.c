/* cal.c - zones, business days and date spellings for the sandbox. */
#include "config.h"

#include "sandbox/cal.h"

#include <stdio.h>
#include <string.h>

#define CAL_SECS_PER_DAY 86400

/*
 * Enough zones for seeded US tenants. Offsets are standard time; US_DST
 * zones add an hour between the 2nd Sunday of March and the 1st Sunday
 * of November (decided per local date: the switch happens at 02:00 on a
 * Sunday, never inside business hours).
 */
static const struct cal_zone cal_zones[] = {
    { "America/New_York",    -300, true },
    { "America/Chicago",     -360, true },
    { "America/Denver",      -420, true },
    { "America/Phoenix",     -420, false },
    { "America/Los_Angeles", -480, true },
    { "America/Anchorage",   -540, true },
    { "Pacific/Honolulu",    -600, false },
    { "UTC",                 0,    false },
};

const struct cal_zone *
cal_zone_find(const char *name)
{
    size_t i;

    for (i = 0; i < sizeof(cal_zones) / sizeof(cal_zones[0]); i++) {
        if (strcmp(cal_zones[i].name, name) == 0) {
            return &cal_zones[i];
        }
    }
    return NULL;
}

/* Howard Hinnant's days_from_civil: exact for the proleptic Gregorian
 * calendar, with March as the first month of the computational year. */
int64_t
cal_days_from_civil(int64_t y, int m, int d)
{
    int64_t era, yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = y - era * 400;
    doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

void
cal_civil_from_days(int64_t day, int64_t *y, int *m, int *d)
{
    int64_t z = day + 719468, era, doe, yoe, doy, mp;

    era = (z >= 0 ? z : z - 146096) / 146097;
    doe = z - era * 146097;
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

int
cal_weekday(int64_t day)
{
    int64_t w = (day + 4) % 7;      /* 1970-01-01 was a Thursday */

    return (int)(w < 0 ? w + 7 : w);
}

/* The day of the Nth (1-based) Sunday of month M of year Y. */
static int64_t
cal_nth_sunday(int64_t y, int m, int n)
{
    int64_t first = cal_days_from_civil(y, m, 1);

    return first + (7 - cal_weekday(first)) % 7 + 7 * (n - 1);
}

int
cal_offset_min(const struct cal_zone *z, int64_t day)
{
    int64_t y;
    int     m, d;

    if (!z->us_dst) {
        return z->std_offset_min;
    }
    cal_civil_from_days(day, &y, &m, &d);
    if (day >= cal_nth_sunday(y, 3, 2) && day < cal_nth_sunday(y, 11, 1)) {
        return z->std_offset_min + 60;
    }
    return z->std_offset_min;
}

static int64_t
cal_floor_div(int64_t a, int64_t b)
{
    return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

int64_t
cal_local_day(const struct cal_zone *z, int64_t now)
{
    int64_t day = cal_floor_div(now, CAL_SECS_PER_DAY);
    int     off;

    /* The offset depends on the local date, which depends on the offset:
     * one refinement from the UTC date is exact away from the switch. */
    off = cal_offset_min(z, day);
    day = cal_floor_div(now + (int64_t)off * 60, CAL_SECS_PER_DAY);
    off = cal_offset_min(z, day);
    return cal_floor_div(now + (int64_t)off * 60, CAL_SECS_PER_DAY);
}

int64_t
cal_business_day(int64_t day, int n)
{
    while (n > 0) {
        day++;
        if (cal_weekday(day) != 0 && cal_weekday(day) != 6) {
            n--;
        }
    }
    return day;
}

int64_t
cal_to_utc(const struct cal_zone *z, int64_t day, int minute)
{
    return day * CAL_SECS_PER_DAY + (int64_t)minute * 60 -
           (int64_t)cal_offset_min(z, day) * 60;
}

static int
cal_fits(int n, size_t cap)
{
    return n >= 0 && (size_t)n < cap ? 0 : -1;
}

int
cal_format_date(int64_t day, char *out, size_t cap)
{
    int64_t y;
    int     m, d;

    cal_civil_from_days(day, &y, &m, &d);
    return cal_fits(snprintf(out, cap, "%04lld-%02d-%02d", (long long)y, m,
                             d),
                    cap);
}

int
cal_format_iso(int64_t t, char *out, size_t cap)
{
    int64_t day = cal_floor_div(t, CAL_SECS_PER_DAY);
    int64_t secs = t - day * CAL_SECS_PER_DAY, y;
    int     m, d;

    cal_civil_from_days(day, &y, &m, &d);
    return cal_fits(snprintf(out, cap, "%04lld-%02d-%02dT%02d:%02d:%02d.000Z",
                             (long long)y, m, d, (int)(secs / 3600),
                             (int)(secs / 60 % 60), (int)(secs % 60)),
                    cap);
}

int
cal_format_clock(int minute, bool upper, char *out, size_t cap)
{
    int hour = minute / 60 % 24, h12;

    h12 = hour % 12 == 0 ? 12 : hour % 12;
    return cal_fits(snprintf(out, cap, "%d:%02d %s", h12, minute % 60,
                             hour < 12 ? (upper ? "AM" : "am")
                                       : (upper ? "PM" : "pm")),
                    cap);
}

int
cal_parse_clock(const char *s, int *minute)
{
    int h, m;

    if (strlen(s) != 5 || s[2] != ':' || s[0] < '0' || s[0] > '2' ||
        s[1] < '0' || s[1] > '9' || s[3] < '0' || s[3] > '5' ||
        s[4] < '0' || s[4] > '9') {
        return -1;
    }
    h = (s[0] - '0') * 10 + (s[1] - '0');
    m = (s[3] - '0') * 10 + (s[4] - '0');
    if (h > 23) {
        return -1;
    }
    *minute = h * 60 + m;
    return 0;
}
