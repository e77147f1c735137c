/*
 * cal.h - the sandbox's calendar: a small table of IANA zones with their
 * UTC offsets and US daylight-saving rule, business days, and the date
 * and time spellings the S2S API uses. Pure: no TZ environment, no
 * localtime(), no allocation, so tests pass any "now" they like.
 *
 * Days are counted as days since 1970-01-01 (day 0, a Thursday); minutes
 * are minutes after local midnight.
 */
#ifndef HSP_CAL_H
#define HSP_CAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cal_zone {
    const char *name;               /* IANA name, e.g. "America/Denver" */
    int         std_offset_min;     /* UTC offset in standard time */
    bool        us_dst;             /* +60 min from the 2nd Sunday of
                                     * March to the 1st Sunday of November */
};

/* The zone called NAME, or NULL when it is not in the table. Static. */
const struct cal_zone *cal_zone_find(const char *name);

/* Days since 1970-01-01 of the civil date Y-M-D (M 1..12, D 1..31). */
int64_t cal_days_from_civil(int64_t y, int m, int d);

/* The civil date of day DAY. */
void cal_civil_from_days(int64_t day, int64_t *y, int *m, int *d);

/* Day of week of DAY: 0 Sunday .. 6 Saturday. */
int cal_weekday(int64_t day);

/* UTC offset in minutes of zone Z on the local date DAY. */
int cal_offset_min(const struct cal_zone *z, int64_t day);

/* The local date in zone Z at the instant NOW (seconds since the epoch). */
int64_t cal_local_day(const struct cal_zone *z, int64_t now);

/*
 * The Nth business day (Monday to Friday) after DAY, N >= 1: with DAY a
 * Friday, N = 1 is the next Monday. N = 0 returns DAY itself.
 */
int64_t cal_business_day(int64_t day, int n);

/* The instant (seconds since the epoch) of local DAY at MINUTE in Z. */
int64_t cal_to_utc(const struct cal_zone *z, int64_t day, int minute);

/*
 * Formatters. Each writes a NUL-terminated string into OUT (CAP bytes)
 * and returns 0, or -1 when it does not fit.
 *   cal_format_date:  "2025-05-20"
 *   cal_format_iso:   "2025-05-16T15:00:00.000Z" (T in seconds, UTC)
 *   cal_format_clock: "10:00 AM" (UPPER) or "3:00 pm" (!UPPER)
 */
int cal_format_date(int64_t day, char *out, size_t cap);
int cal_format_iso(int64_t t, char *out, size_t cap);
int cal_format_clock(int minute, bool upper, char *out, size_t cap);

/*
 * Parses a 24-hour "HH:MM" (00:00..23:59) into minutes after midnight.
 * Returns 0, or -1 when S is anything else.
 */
int cal_parse_clock(const char *s, int *minute);

#endif /* HSP_CAL_H */
