/*
 * conf.c - the configuration (SPEC §9): one typed table row per key, the
 * unit parsers, the `key = value` file reader, -o overrides and the
 * cross-key checks that -t runs.
 *
 * Every value, the defaults included, goes through conf_apply(), so a
 * default can never be something the file would reject; the two rate
 * shares that follow rate_limit are then derived from it (conf_derive),
 * and again after every value the file or a -o sets. A value that
 * fails leaves the key as it was; every error is collected, none stops
 * the parse.
 */
#include "config.h"

#include "conf.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "url.h"

#define CONF_LINE_MAX     4096          /* longer lines are an error */
#define CONF_FILE_MAX     (1024 * 1024) /* a config file is small */
#define CONF_SHOW_MAX     60            /* value bytes quoted in errors */
#define CONF_SUGGEST_MAX  3             /* edit distance for "did you mean" */
#define CONF_KEY_NAME_MAX 32
#define CONF_PREFIX_MAX   32
#define CONF_RATE_MAX     1000000       /* events per period */

#define CONF_SEC_MS  INT64_C(1000)
#define CONF_MIN_MS  (60 * CONF_SEC_MS)
#define CONF_HOUR_MS (60 * CONF_MIN_MS)
#define CONF_DAYS_30 (30 * 24 * CONF_HOUR_MS)
#define CONF_MB      (1024 * 1024)

#define CONF_NELEM(a) (sizeof(a) / sizeof((a)[0]))
#define CONF_OFF(f)   offsetof(struct conf, f)

/* How a value is parsed and where it is stored; the string types first. */
enum conf_type {
    CONF_LISTEN,                    /* char *: url_parse_listen */
    CONF_UPSTREAM,                  /* char *: url_parse_upstream */
    CONF_REDIS,                     /* char *: url_parse_redis */
    CONF_PREFIX,                    /* char *: Redis key prefix */
    CONF_FILE,                      /* char *: a readable regular file */
    CONF_LOG_TARGET,                /* char *: stderr, off or a path */
    CONF_WORKERS,                   /* int64_t: "auto" (0) or MIN..MAX */
    CONF_COUNT,                     /* int64_t: MIN..MAX */
    CONF_DURATION,                  /* int64_t milliseconds */
    CONF_SIZE,                      /* int64_t bytes */
    CONF_RATE,                      /* struct conf_rate; MAX bounds count */
    CONF_BOOL,                      /* bool */
    CONF_ENUM                       /* enum stored as int: index in NAMES */
};

#define CONF_IS_STRING(t) ((t) <= CONF_LOG_TARGET)

/* Why a number failed to parse; it picks the error message. */
enum conf_num {
    CONF_NUM_OK,
    CONF_NUM_SYNTAX,                /* not digits followed by a known unit */
    CONF_NUM_NO_UNIT,               /* bare non-zero number, unit required */
    CONF_NUM_NEGATIVE,
    CONF_NUM_RANGE                  /* overflow or outside MIN..MAX */
};

struct conf_key {
    const char        *name;
    enum conf_type     type;
    size_t             offset;      /* offsetof(struct conf, field) */
    const char        *def;         /* default, parsed like file input */
    int64_t            min, max;    /* numbers; strings: MIN 0 = "" is ok */
    const char *const *names;       /* CONF_ENUM values, NULL-terminated */
};

struct conf_unit {
    const char *suffix;
    int64_t     mult;               /* ms, bytes or the rate's period */
};

_Static_assert(sizeof(enum conf_log_level) == sizeof(int) &&
               sizeof(enum conf_log_format) == sizeof(int) &&
               sizeof(enum conf_cache_control) == sizeof(int),
               "CONF_ENUM stores enums as int");

static const char *const conf_log_levels[] = {
    [CONF_LOG_ERROR] = "error", [CONF_LOG_WARN] = "warn",
    [CONF_LOG_INFO] = "info", [CONF_LOG_DEBUG] = "debug", NULL
};

static const char *const conf_log_formats[] = {
    [CONF_LOG_JSON] = "json", [CONF_LOG_TEXT] = "text", NULL
};

static const char *const conf_cache_controls[] = {
    [CONF_CACHE_CONTROL_HONOR] = "honor",
    [CONF_CACHE_CONTROL_IGNORE] = "ignore", NULL
};

/* Other spellings of an enum key's values, beyond its NAMES. */
static const struct {
    const char *const *names;       /* the key's NAMES */
    const char        *word;
    int                value;
} conf_enum_aliases[] = {
    { conf_cache_controls, "honour", CONF_CACHE_CONTROL_HONOR },
};

/* One row per key of SPEC §9, in the order of its table. */
static const struct conf_key conf_keys[] = {
    { "listen", CONF_LISTEN, CONF_OFF(listen), "127.0.0.1:8080", 1, 0, NULL },
    { "workers", CONF_WORKERS, CONF_OFF(workers), "auto", 1, 256, NULL },
    { "upstream", CONF_UPSTREAM, CONF_OFF(upstream),
      "https://api.heavyset.tech", 1, 0, NULL },
    { "upstream_lowlatency", CONF_UPSTREAM, CONF_OFF(upstream_lowlatency),
      "", 0, 0, NULL },
    { "upstream_ca_file", CONF_FILE, CONF_OFF(upstream_ca_file), "", 0, 0,
      NULL },
    { "upstream_timeout", CONF_DURATION, CONF_OFF(upstream_timeout_ms), "10s",
      1, 10 * CONF_MIN_MS, NULL },
    { "upstream_connections", CONF_COUNT, CONF_OFF(upstream_connections),
      "64", 1, 10000, NULL },
    { "redis", CONF_REDIS, CONF_OFF(redis), "redis://127.0.0.1:6379/0", 1, 0,
      NULL },
    { "redis_prefix", CONF_PREFIX, CONF_OFF(redis_prefix), "hsp", 1, 0, NULL },
    { "redis_timeout", CONF_DURATION, CONF_OFF(redis_timeout_ms), "100ms", 1,
      60 * CONF_SEC_MS, NULL },
    { "ttl_lead", CONF_DURATION, CONF_OFF(ttl_lead_ms), "5m", 0, CONF_DAYS_30,
      NULL },
    { "ttl_not_found", CONF_DURATION, CONF_OFF(ttl_not_found_ms), "30s", 0,
      CONF_DAYS_30, NULL },
    { "ttl_dispositions", CONF_DURATION, CONF_OFF(ttl_dispositions_ms), "1h",
      0, CONF_DAYS_30, NULL },
    { "ttl_blocks", CONF_DURATION, CONF_OFF(ttl_blocks_ms), "0", 0,
      CONF_DAYS_30, NULL },
    { "stale_while_revalidate", CONF_DURATION,
      CONF_OFF(stale_while_revalidate_ms), "30s", 0, CONF_DAYS_30, NULL },
    { "stale_if_error", CONF_DURATION, CONF_OFF(stale_if_error_ms), "1h", 0,
      CONF_DAYS_30, NULL },
    { "idempotency_ttl", CONF_DURATION, CONF_OFF(idempotency_ttl_ms), "24h",
      0, CONF_DAYS_30, NULL },
    { "idempotency_required", CONF_BOOL, CONF_OFF(idempotency_required), "no",
      0, 0, NULL },
    { "rate_limit", CONF_RATE, CONF_OFF(rate_limit), "60/min", 0,
      CONF_RATE_MAX, NULL },
    /* Until set, these two follow rate_limit (conf_derived); "10/min" and
     * "20/min" are what they derive from its default. */
    { "rate_reserve_writes", CONF_RATE, CONF_OFF(rate_reserve_writes),
      "10/min", 0, CONF_RATE_MAX, NULL },
    { "rate_limit_wait", CONF_DURATION, CONF_OFF(rate_limit_wait_ms), "0", 0,
      10 * CONF_MIN_MS, NULL },
    { "rate_limit_fallback", CONF_RATE, CONF_OFF(rate_limit_fallback),
      "20/min", 0, CONF_RATE_MAX, NULL },
    /* Content coding and upstream Cache-Control (SPEC §11). */
    { "gzip", CONF_BOOL, CONF_OFF(gzip), "off", 0, 0, NULL },
    { "upstream_cache_control", CONF_ENUM, CONF_OFF(upstream_cache_control),
      "honor", 0, 0, conf_cache_controls },
    { "max_body", CONF_SIZE, CONF_OFF(max_body), "64k", 1024, 16 * CONF_MB,
      NULL },
    /* Hostile-client limits (SPEC §8): beyond SPEC §9's table. */
    { "max_header_size", CONF_SIZE, CONF_OFF(max_header_size), "8k", 1024,
      CONF_MB, NULL },
    { "max_headers", CONF_COUNT, CONF_OFF(max_headers), "100", 1, 10000,
      NULL },
    { "max_query", CONF_SIZE, CONF_OFF(max_query), "4k", 256, 64 * 1024,
      NULL },
    { "client_timeout", CONF_DURATION, CONF_OFF(client_timeout_ms), "60s",
      100, CONF_HOUR_MS, NULL },
    { "max_connections", CONF_COUNT, CONF_OFF(max_connections), "10000", 1,
      1000000, NULL },
    { "near_cache", CONF_SIZE, CONF_OFF(near_cache), "16m", 0, 1024 * CONF_MB,
      NULL },
    { "log_level", CONF_ENUM, CONF_OFF(log_level), "info", 0, 0,
      conf_log_levels },
    { "log_format", CONF_ENUM, CONF_OFF(log_format), "json", 0, 0,
      conf_log_formats },
    { "access_log", CONF_LOG_TARGET, CONF_OFF(access_log), "stderr", 1, 0,
      NULL },
};

/*
 * The keys whose default follows rate_limit (SPEC §9) for as long as
 * neither the file nor a -o sets them. Their default is rate_limit's
 * count divided by DIVISOR, rounded down, in rate_limit's period: 60/min
 * gives 10/min and 20/min, 7/min gives 1/min and 2/min, 90/h gives 15/h
 * and 30/h. Rounded down, so that the share is never more than its
 * fraction, but at least 1 once rate_limit's count reaches FLOOR_FROM:
 * - rate_limit_fallback (from 1): a fallback of 0 turns the local budget
 *   off, and an instance cut off from Redis would then send without any
 *   limit, the opposite of what the fallback is for.
 * - rate_reserve_writes (from 2): writes keep some headroom; under a
 *   rate_limit of 1 it stays 0, as a reserve of all of it would leave
 *   reads none.
 * rate_limit 0 (no budget) derives 0 for both: nothing is limited.
 * The period stays rate_limit's rather than a longer one that would round
 * less: the fallback's period is its window, and 20/min under 1/s would
 * let one instance send 20 in a second the vendor counts 1 in.
 * Only a value that was set is checked against rate_limit (conf_validate),
 * and its error names the line or -o that set it: a default cannot exceed.
 */
static const struct conf_derived {
    const char *name;
    size_t      offset;             /* the struct conf_rate */
    size_t      from;               /* where it was set: char[] */
    int64_t     divisor;
    int64_t     floor_from;         /* rate_limit count from which >= 1 */
    const char *doc;                /* for conf_key_derived() */
    const char *why;                /* why it may not exceed rate_limit */
} conf_derived[] = {
    { "rate_reserve_writes", CONF_OFF(rate_reserve_writes),
      CONF_OFF(rate_reserve_writes_from), 6, 2, "a sixth of rate_limit",
      "the reserve for writes is taken from that budget" },
    { "rate_limit_fallback", CONF_OFF(rate_limit_fallback),
      CONF_OFF(rate_limit_fallback_from), 3, 1, "a third of rate_limit",
      "one instance alone would overrun the shared budget while Redis is "
      "down" },
};

static const struct conf_unit conf_duration_units[] = {
    { "ms", 1 }, { "s", CONF_SEC_MS }, { "m", CONF_MIN_MS },
    { "h", CONF_HOUR_MS }, { NULL, 0 }
};

static const struct conf_unit conf_size_units[] = {
    { "k", 1024 }, { "m", CONF_MB }, { NULL, 0 }
};

static const struct conf_unit conf_rate_units[] = {
    { "/s", CONF_SEC_MS }, { "/sec", CONF_SEC_MS }, { "/m", CONF_MIN_MS },
    { "/min", CONF_MIN_MS }, { "/h", CONF_HOUR_MS }, { "/hour", CONF_HOUR_MS },
    { NULL, 0 }
};

/* What a value of each type is called, and how to write one, in errors. */
static const struct {
    const char *what;
    const char *hint;
} conf_type_text[] = {
    [CONF_LISTEN] = { "a listen address", "host:port, e.g. 127.0.0.1:8080" },
    [CONF_UPSTREAM] = { "an upstream URL", "http:// or https:// and a host" },
    [CONF_REDIS] = { "a Redis URL", "redis://host:port/db or unix:///path" },
    [CONF_PREFIX] = { "a key prefix", "1 to 32 of A-Z a-z 0-9 _ . -" },
    [CONF_FILE] = { "a regular file", "the path of a PEM file, or leave it "
                    "empty" },
    [CONF_LOG_TARGET] = { "a log target", "stderr, off or a file path" },
    [CONF_WORKERS] = { "a worker count", "auto or a number" },
    [CONF_COUNT] = { "a number", "digits only" },
    [CONF_DURATION] = { "a duration", "a number with ms, s, m or h" },
    [CONF_SIZE] = { "a size", "a number of bytes, or with k or m" },
    [CONF_RATE] = { "a rate", "N/s, N/min or N/h, or 0 for off" },
};

static const struct {
    const char *word;
    bool        value;
} conf_bools[] = {
    { "yes", true }, { "no", false }, { "true", true }, { "false", false },
    { "on", true }, { "off", false }, { "1", true }, { "0", false },
};

static void conf_error(struct conf_errors *errs, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int conf_why(char *why, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Appends one message to ERRS (which may be NULL), or counts it dropped. */
static void
conf_error(struct conf_errors *errs, const char *fmt, ...)
{
    va_list ap;

    if (errs == NULL) {
        return;
    }
    if (errs->count >= CONF_ERRORS_MAX) {
        errs->dropped++;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(errs->msg[errs->count++], CONF_ERROR_LEN, fmt, ap);
    va_end(ap);
}

/* Writes a reason into WHY and returns -1, for the setters. */
static int
conf_why(char *why, size_t cap, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(why, cap, fmt, ap);
    va_end(ap);
    return -1;
}

/*
 * Reads a number of TYPE (duration, size, rate or count) from S: digits,
 * then one of the type's units. No sign, space or fraction. A bare number
 * has unit 1 (a rate's: per minute); durations and rates take a bare 0
 * only, since "30" could mean seconds or minutes. Returns the digits in
 * *NUM and the unit in *MULT; *NUM * *MULT fits an int64_t.
 */
static enum conf_num
conf_scan(const char *s, enum conf_type type, int64_t *num, int64_t *mult)
{
    const struct conf_unit *u = NULL;
    const char             *p = s;
    bool                    overflow = false;
    int64_t                 n = 0;

    if (type == CONF_DURATION) {
        u = conf_duration_units;
    } else if (type == CONF_SIZE) {
        u = conf_size_units;
    } else if (type == CONF_RATE) {
        u = conf_rate_units;
    }
    if (p[0] == '-' && p[1] >= '0' && p[1] <= '9') {
        return CONF_NUM_NEGATIVE;
    }
    if (*p < '0' || *p > '9') {
        return CONF_NUM_SYNTAX;
    }
    for (; *p >= '0' && *p <= '9'; p++) {
        overflow = overflow || n > (INT64_MAX - (*p - '0')) / 10;
        n = overflow ? n : n * 10 + (*p - '0');
    }
    *mult = *p == '\0' && type == CONF_RATE ? CONF_MIN_MS : 1;
    if (*p == '\0' && n != 0 && (type == CONF_DURATION || type == CONF_RATE)) {
        return CONF_NUM_NO_UNIT;
    }
    for (; *p != '\0' && u != NULL && u->suffix != NULL; u++) {
        /* Size units are case-insensitive (64K), the others are not. */
        if ((type == CONF_SIZE ? strcasecmp : strcmp)(p, u->suffix) == 0) {
            *mult = u->mult;
            break;
        }
    }
    if (*p != '\0' && (u == NULL || u->suffix == NULL)) {
        return CONF_NUM_SYNTAX;
    }
    if (overflow || n > INT64_MAX / *mult) {
        return CONF_NUM_RANGE;
    }
    *num = n;
    return CONF_NUM_OK;
}

/* Parses S as a number of TYPE into *OUT, scaled by its unit. */
static int
conf_parse_scaled(const char *s, enum conf_type type, int64_t *out)
{
    int64_t n, mult;

    if (s == NULL || conf_scan(s, type, &n, &mult) != CONF_NUM_OK) {
        return -1;
    }
    *out = n * mult;
    return 0;
}

int
conf_parse_duration(const char *s, int64_t *ms)
{
    return conf_parse_scaled(s, CONF_DURATION, ms);
}

int
conf_parse_size(const char *s, int64_t *bytes)
{
    return conf_parse_scaled(s, CONF_SIZE, bytes);
}

int
conf_parse_rate(const char *s, struct conf_rate *r)
{
    int64_t n, mult;

    if (s == NULL || conf_scan(s, CONF_RATE, &n, &mult) != CONF_NUM_OK) {
        return -1;
    }
    r->count = n;
    r->period_ms = mult;
    return 0;
}

int
conf_parse_bool(const char *s, bool *b)
{
    size_t i;

    for (i = 0; s != NULL && i < CONF_NELEM(conf_bools); i++) {
        if (strcasecmp(s, conf_bools[i].word) == 0) {
            *b = conf_bools[i].value;
            return 0;
        }
    }
    return -1;
}

/* Formats V, a bound of a key of TYPE, the way a user would write it. */
static const char *
conf_format(enum conf_type type, int64_t v, char *buf, size_t cap)
{
    const struct conf_unit *u = NULL;
    size_t                  i = 0;

    if (type == CONF_DURATION) {
        u = conf_duration_units;
        i = CONF_NELEM(conf_duration_units) - 1;
    } else if (type == CONF_SIZE) {
        u = conf_size_units;
        i = CONF_NELEM(conf_size_units) - 1;
    }
    while (v != 0 && i-- > 0) {     /* the largest unit that divides V */
        if (v % u[i].mult == 0) {
            snprintf(buf, cap, "%" PRId64 "%s", v / u[i].mult, u[i].suffix);
            return buf;
        }
    }
    snprintf(buf, cap, "%" PRId64, v);
    return buf;
}

static const char *
conf_rate_format(const struct conf_rate *r, char *buf, size_t cap)
{
    snprintf(buf, cap, "%" PRId64 "/%s", r->count,
             r->period_ms == CONF_SEC_MS    ? "s"
             : r->period_ms == CONF_HOUR_MS ? "h"
                                            : "min");
    return buf;
}

/*
 * Explains why a number of key K did not parse. The message follows the
 * quoted value: "'10x' is not a duration (use ...)".
 */
static int
conf_num_why(const struct conf_key *k, enum conf_num rc, char *why,
             size_t cap)
{
    const char *hint = conf_type_text[k->type].hint;
    char        lo[32], hi[32];

    switch (rc) {
    case CONF_NUM_NO_UNIT:
        return conf_why(why, cap, "has no unit (use %s, e.g. %s)", hint,
                        k->type == CONF_RATE ? "60/min" : "30s");
    case CONF_NUM_NEGATIVE:
        return conf_why(why, cap, "is negative (use %s%s)", hint,
                        k->min == 0 && k->type == CONF_DURATION
                            ? "; 0 turns it off" : "");
    case CONF_NUM_RANGE:
        if (k->type == CONF_RATE) {
            return conf_why(why, cap, "is out of range (at most %" PRId64
                            " per period)", k->max);
        }
        return conf_why(why, cap, "is out of range (%s%s to %s)",
                        k->type == CONF_WORKERS ? "auto, or " : "",
                        conf_format(k->type, k->min, lo, sizeof(lo)),
                        conf_format(k->type, k->max, hi, sizeof(hi)));
    case CONF_NUM_OK:
    case CONF_NUM_SYNTAX:
        break;
    }
    return conf_why(why, cap, "is not %s (use %s)",
                    conf_type_text[k->type].what, hint);
}

/*
 * Validates VALUE for the string key K; an empty value is only allowed
 * where MIN is 0. The CA file is opened here, so that -t finds it
 * missing rather than the startup.
 */
static int
conf_check_string(const struct conf_key *k, const char *value, char *why,
                  size_t cap)
{
    static const char prefix_chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                       "abcdefghijklmnopqrstuvwxyz"
                                       "0123456789_.-";
    union {
        struct url_listen   listen;
        struct url_upstream upstream;
        struct url_redis    redis;
    } url;
    char        err[128] = "";
    const char *p;
    struct stat st;
    FILE       *f;
    int         rc = 0;

    for (p = value; *p != '\0'; p++) {
        if ((unsigned char)*p < 0x20 || *p == 0x7f) {
            return conf_why(why, cap, "contains a control character");
        }
    }
    if (value[0] == '\0') {
        return k->min == 0 ? 0 : conf_why(why, cap, "is empty (use %s)",
                                          conf_type_text[k->type].hint);
    }
    switch (k->type) {
    case CONF_LISTEN:
        rc = url_parse_listen(value, &url.listen, err, sizeof(err));
        break;
    case CONF_UPSTREAM:
        rc = url_parse_upstream(value, &url.upstream, err, sizeof(err));
        break;
    case CONF_REDIS:
        rc = url_parse_redis(value, &url.redis, err, sizeof(err));
        break;
    case CONF_PREFIX:
        rc = strlen(value) > CONF_PREFIX_MAX ||
             strspn(value, prefix_chars) != strlen(value) ? -1 : 0;
        break;
    case CONF_FILE:
        f = fopen(value, "r");
        if (f == NULL) {
            return conf_why(why, cap, "cannot be read: %s", strerror(errno));
        }
        rc = fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode) ? -1 : 0;
        fclose(f);
        break;
    default:
        break;
    }
    if (rc != 0 && err[0] != '\0') {
        return conf_why(why, cap, "is not %s: %s",
                        conf_type_text[k->type].what, err);
    }
    if (rc != 0) {
        return conf_why(why, cap, "is not %s (use %s)",
                        conf_type_text[k->type].what,
                        conf_type_text[k->type].hint);
    }
    return 0;
}

/*
 * Parses VALUE for key K and stores it in CF. On error, writes the
 * reason into WHY (it reads after the quoted value) and leaves CF as it
 * was. Returns 0 or -1.
 */
static int
conf_apply(struct conf *cf, const struct conf_key *k, const char *value,
           char *why, size_t cap)
{
    char             *slot = (char *)cf + k->offset, *copy;
    struct conf_rate *rate = (struct conf_rate *)slot;
    enum conf_num     rc;
    int64_t           n = 0, mult = 1;
    size_t            i, len = 0;

    if (CONF_IS_STRING(k->type)) {
        if (conf_check_string(k, value, why, cap) != 0) {
            return -1;
        }
        copy = strdup(value);
        if (copy == NULL) {
            return conf_why(why, cap, "out of memory");
        }
        free(*(char **)slot);
        *(char **)slot = copy;
        return 0;
    }
    if (k->type == CONF_BOOL) {
        if (conf_parse_bool(value, (bool *)slot) != 0) {
            return conf_why(why, cap, "is not a boolean (use yes or no)");
        }
        return 0;
    }
    if (k->type == CONF_ENUM) {
        for (i = 0; i < CONF_NELEM(conf_enum_aliases); i++) {
            if (conf_enum_aliases[i].names == k->names &&
                strcasecmp(value, conf_enum_aliases[i].word) == 0) {
                *(int *)slot = conf_enum_aliases[i].value;
                return 0;
            }
        }
        for (i = 0; k->names[i] != NULL; i++) {
            if (strcasecmp(value, k->names[i]) == 0) {
                *(int *)slot = (int)i;
                return 0;
            }
        }
        len = (size_t)snprintf(why, cap, "is not one of");
        for (i = 0; k->names[i] != NULL && len < cap; i++) {
            len += (size_t)snprintf(why + len, cap - len, "%s%s",
                                    i == 0 ? " " : k->names[i + 1] == NULL
                                                       ? " or " : ", ",
                                    k->names[i]);
        }
        return -1;
    }
    if (k->type == CONF_WORKERS && strcmp(value, "auto") == 0) {
        *(int64_t *)slot = 0;
        return 0;
    }
    rc = conf_scan(value, k->type, &n, &mult);
    if (rc == CONF_NUM_OK && k->type == CONF_RATE) {
        if (n > k->max) {
            return conf_num_why(k, CONF_NUM_RANGE, why, cap);
        }
        rate->count = n;
        rate->period_ms = mult;
        return 0;
    }
    if (rc == CONF_NUM_OK && (n * mult < k->min || n * mult > k->max)) {
        rc = CONF_NUM_RANGE;
    }
    if (rc != CONF_NUM_OK) {
        return conf_num_why(k, rc, why, cap);
    }
    *(int64_t *)slot = n * mult;
    return 0;
}

/*
 * Copies V into OUT (CAP bytes) for an error message: bytes outside
 * printable ASCII become '?', long values are cut with "...", and when
 * SECRET the user info of a URL ("://...@") becomes "***".
 */
static const char *
conf_show(const char *v, bool secret, char *out, size_t cap)
{
    const char *scheme = strstr(v, "://");
    const char *at = secret ? strrchr(v, '@') : NULL;
    size_t      i, n = 0;

    for (i = 0; v[i] != '\0' && n + 4 < cap; i++) {
        unsigned char c = (unsigned char)v[i];

        if (at != NULL && scheme != NULL && at > scheme + 3 &&
            v + i == scheme + 3) {
            memcpy(out + n, "***", 3);
            n += 3;
            i = (size_t)(at - v) - 1;
            continue;
        }
        if (n >= CONF_SHOW_MAX) {
            memcpy(out + n, "...", 3);
            n += 3;
            break;
        }
        out[n++] = c >= 0x20 && c < 0x7f ? (char)c : '?';
    }
    out[n] = '\0';
    return out;
}

static const struct conf_key *
conf_find(const char *name)
{
    size_t i;

    for (i = 0; i < CONF_NELEM(conf_keys); i++) {
        if (strcmp(name, conf_keys[i].name) == 0) {
            return &conf_keys[i];
        }
    }
    return NULL;
}

/* Levenshtein distance between A and the known key B, ignoring case. */
static size_t
conf_distance(const char *a, const char *b)
{
    size_t row[CONF_KEY_NAME_MAX + 1], lb = strlen(b), i, j;

    for (j = 0; j <= lb && j <= CONF_KEY_NAME_MAX; j++) {
        row[j] = j;
    }
    for (i = 0; a[i] != '\0'; i++) {
        size_t diag = row[0];

        row[0] = i + 1;
        for (j = 1; j <= lb && j <= CONF_KEY_NAME_MAX; j++) {
            size_t up = row[j];
            size_t best = diag + ((a[i] | 0x20) != (b[j - 1] | 0x20));

            if (row[j] + 1 < best) {
                best = row[j] + 1;
            }
            if (row[j - 1] + 1 < best) {
                best = row[j - 1] + 1;
            }
            row[j] = best;
            diag = up;
        }
    }
    return row[lb < CONF_KEY_NAME_MAX ? lb : CONF_KEY_NAME_MAX];
}

/* Writes "unknown key 'X'" and the nearest known key, if near, into WHY. */
static void
conf_unknown(const char *key, char *why, size_t cap)
{
    const char *best = NULL;
    size_t      i, d, best_d = CONF_SUGGEST_MAX + 1, len = strlen(key);
    char        shown[CONF_SHOW_MAX + 8];

    for (i = 0; i < CONF_NELEM(conf_keys); i++) {
        if (len > strlen(conf_keys[i].name) + CONF_SUGGEST_MAX) {
            continue;               /* the distance is at least the gap */
        }
        d = conf_distance(key, conf_keys[i].name);
        if (d < best_d) {
            best_d = d;
            best = conf_keys[i].name;
        }
    }
    conf_show(key, false, shown, sizeof(shown));
    if (best != NULL) {
        snprintf(why, cap, "unknown key '%s' (did you mean '%s'?)", shown,
                 best);
    } else {
        snprintf(why, cap, "unknown key '%s'", shown);
    }
}

static bool
conf_is_blank(int c)
{
    return c == ' ' || c == '\t';
}

/* Strips spaces and tabs from both ends of S in place. */
static char *
conf_trim(char *s)
{
    size_t n;

    while (conf_is_blank(*s)) {
        s++;
    }
    n = strlen(s);
    while (n > 0 && conf_is_blank(s[n - 1])) {
        s[--n] = '\0';
    }
    return s;
}

/*
 * Turns the text after '=' into the value, in place: trims it, removes
 * one pair of double quotes around it and, when COMMENTS, a trailing
 * comment (a '#' that starts the value or follows a space or tab; inside
 * quotes '#' is plain text). Returns the value, or NULL with the reason
 * in WHY.
 */
static char *
conf_unquote(char *v, bool comments, char *why, size_t cap)
{
    char *p, *close;

    v = conf_trim(v);
    if (v[0] == '"') {
        close = strchr(v + 1, '"');
        if (close == NULL) {
            conf_why(why, cap, "the opening '\"' has no closing '\"'");
            return NULL;
        }
        *close = '\0';
        p = conf_trim(close + 1);
        if (p[0] != '\0' && !(comments && p[0] == '#')) {
            conf_why(why, cap, "unexpected text after the closing '\"'");
            return NULL;
        }
        return v + 1;
    }
    for (p = v; comments && *p != '\0'; p++) {
        if (*p == '#' && (p == v || conf_is_blank(p[-1]))) {
            *p = '\0';
            break;
        }
    }
    return conf_trim(v);
}

/* The row of conf_derived for key K, or NULL when K has a fixed default. */
static const struct conf_derived *
conf_find_derived(const struct conf_key *k)
{
    size_t i;

    for (i = 0; i < CONF_NELEM(conf_derived); i++) {
        if (strcmp(k->name, conf_derived[i].name) == 0) {
            return &conf_derived[i];
        }
    }
    return NULL;
}

/* Sets every key of conf_derived that was not set to its share of
 * rate_limit (the rule is above conf_derived). */
static void
conf_derive(struct conf *cf)
{
    const struct conf_rate *limit = &cf->rate_limit;
    size_t                  i;

    for (i = 0; i < CONF_NELEM(conf_derived); i++) {
        const struct conf_derived *d = &conf_derived[i];
        struct conf_rate *r = (struct conf_rate *)((char *)cf + d->offset);

        if (((const char *)cf + d->from)[0] != '\0') {
            continue;               /* set: it keeps its value */
        }
        r->count = limit->count / d->divisor;
        if (r->count == 0 && limit->count >= d->floor_from) {
            r->count = 1;
        }
        r->period_ms = limit->period_ms;
    }
}

/*
 * Sets KEY to RAW, the text after '=' (both are changed in place), and
 * reports errors as "WHERE: ...". COMMENTS: whether RAW may end in a
 * comment, as file lines may and -o values may not. Returns 0 or -1.
 */
static int
conf_assign(struct conf *cf, const char *where, char *key, char *raw,
            bool comments, struct conf_errors *errs)
{
    char                       why[CONF_ERROR_LEN];
    char                       shown[CONF_SHOW_MAX + 8];
    const struct conf_key     *k;
    const struct conf_derived *d;
    char                      *value;

    key = conf_trim(key);
    if (key[0] == '\0') {
        conf_error(errs, "%s: missing key before '='", where);
        return -1;
    }
    k = conf_find(key);
    if (k == NULL) {
        conf_unknown(key, why, sizeof(why));
        conf_error(errs, "%s: %s", where, why);
        return -1;
    }
    value = conf_unquote(raw, comments, why, sizeof(why));
    if (value == NULL) {
        conf_error(errs, "%s: %s: %s", where, k->name, why);
        return -1;
    }
    if (conf_apply(cf, k, value, why, sizeof(why)) != 0) {
        conf_show(value, k->type == CONF_REDIS, shown, sizeof(shown));
        conf_error(errs, "%s: %s: '%s' %s", where, k->name, shown, why);
        return -1;
    }
    d = conf_find_derived(k);
    if (d != NULL) {                /* set: it no longer follows rate_limit */
        snprintf((char *)cf + d->from, CONF_WHERE_LEN, "%s", where);
    }
    conf_derive(cf);                /* rate_limit may have changed */
    return 0;
}

/*
 * Applies one line of a file (N bytes at RAW, without its newline).
 * Errors are reported as "NAME:LINENO: ...". Returns 0 or -1.
 */
static int
conf_line(struct conf *cf, const char *name, unsigned lineno, const char *raw,
          size_t n, struct conf_errors *errs)
{
    char  buf[CONF_LINE_MAX + 1], where[CONF_ERROR_LEN];
    char  shown[CONF_SHOW_MAX + 8], *line, *eq;

    snprintf(where, sizeof(where), "%s:%u", name, lineno);
    if (n > CONF_LINE_MAX) {
        conf_error(errs, "%s: line is longer than %d bytes", where,
                   CONF_LINE_MAX);
        return -1;
    }
    if (memchr(raw, '\0', n) != NULL) {
        conf_error(errs, "%s: line contains a NUL byte", where);
        return -1;
    }
    memcpy(buf, raw, n);
    buf[n] = '\0';
    line = conf_trim(buf);
    if (line[0] == '\0' || line[0] == '#') {
        return 0;
    }
    eq = strchr(line, '=');
    if (eq == NULL) {
        conf_error(errs, "%s: '%s' is not a 'key = value' line (no '=')",
                   where, conf_show(line, false, shown, sizeof(shown)));
        return -1;
    }
    *eq = '\0';
    /* A key set twice is not an error: the last line wins, as in nginx
     * includes and redis.conf, so a local file can append overrides. */
    return conf_assign(cf, where, line, eq + 1, true, errs);
}

int
conf_load_buffer(struct conf *cf, const char *name, const char *text,
                 size_t len, struct conf_errors *errs)
{
    const char *p = text, *end = text + len, *nl;
    unsigned    lineno = 0;
    size_t      n;
    int         rc = 0;

    if (len >= 3 && memcmp(p, "\xef\xbb\xbf", 3) == 0) {
        p += 3;                     /* a UTF-8 byte order mark */
    }
    while (p < end) {
        lineno++;
        nl = memchr(p, '\n', (size_t)(end - p));
        n = (size_t)((nl == NULL ? end : nl) - p);
        if (n > 0 && p[n - 1] == '\r') {
            n--;                    /* CRLF files */
        }
        if (conf_line(cf, name, lineno, p, n, errs) != 0) {
            rc = -1;
        }
        p = nl == NULL ? end : nl + 1;
    }
    return rc;
}

int
conf_init(struct conf *cf)
{
    char   why[CONF_ERROR_LEN];
    size_t i;

    memset(cf, 0, sizeof(*cf));
    for (i = 0; i < CONF_NELEM(conf_keys); i++) {
        if (conf_apply(cf, &conf_keys[i], conf_keys[i].def, why,
                       sizeof(why)) != 0) {
            conf_free(cf);          /* out of memory, or a bad default */
            return -1;
        }
    }
    conf_derive(cf);                /* the same values as their defaults */
    return 0;
}

void
conf_free(struct conf *cf)
{
    size_t i;

    if (cf == NULL) {
        return;
    }
    for (i = 0; i < CONF_NELEM(conf_keys); i++) {
        if (CONF_IS_STRING(conf_keys[i].type)) {
            free(*(char **)((char *)cf + conf_keys[i].offset));
        }
    }
    memset(cf, 0, sizeof(*cf));
}

int
conf_load_file(struct conf *cf, const char *path, struct conf_errors *errs)
{
    FILE  *f;
    char  *text;
    size_t len;
    int    rc = -1;

    f = fopen(path, "rb");
    if (f == NULL) {
        conf_error(errs, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    text = malloc(CONF_FILE_MAX + 1);
    if (text == NULL) {
        conf_error(errs, "%s: out of memory", path);
        goto fail;
    }
    len = fread(text, 1, CONF_FILE_MAX + 1, f);
    if (ferror(f)) {
        conf_error(errs, "%s: cannot read: %s", path, strerror(errno));
    } else if (len > CONF_FILE_MAX) {
        conf_error(errs, "%s: larger than %d bytes; is it a configuration "
                   "file?", path, CONF_FILE_MAX);
    } else {
        rc = conf_load_buffer(cf, path, text, len, errs);
    }

fail:
    fclose(f);
    free(text);
    return rc;
}

int
conf_load_string(struct conf *cf, const char *name, const char *text,
                 struct conf_errors *errs)
{
    return conf_load_buffer(cf, name, text, strlen(text), errs);
}

int
conf_set_override(struct conf *cf, const char *kv, struct conf_errors *errs)
{
    char  where[CONF_SHOW_MAX + 16], shown[CONF_SHOW_MAX + 8], *copy, *eq;
    int   rc;

    snprintf(where, sizeof(where), "-o %s",
             conf_show(kv, true, shown, sizeof(shown)));
    copy = strdup(kv);
    if (copy == NULL) {
        conf_error(errs, "%s: out of memory", where);
        return -1;
    }
    eq = strchr(copy, '=');
    if (eq == NULL) {
        conf_error(errs, "%s: expected key=value", where);
        free(copy);
        return -1;
    }
    *eq = '\0';
    rc = conf_assign(cf, where, copy, eq + 1, false, errs);
    free(copy);
    return rc;
}

/* Whether rate A allows more events per millisecond than rate B. */
static bool
conf_rate_exceeds(const struct conf_rate *a, const struct conf_rate *b)
{
    return a->count * b->period_ms > b->count * a->period_ms;
}

int
conf_validate(const struct conf *cf, struct conf_errors *errs)
{
    struct url_upstream up, low;
    char                a[32], b[32];
    size_t              i;
    int                 rc = 0;

    /* With rate_limit off there is no shared budget to carve up. A value
     * that follows rate_limit cannot exceed it; one that was set names
     * its line. The check stays for both, for a struct filled by hand. */
    for (i = 0; i < CONF_NELEM(conf_derived); i++) {
        const struct conf_derived *d = &conf_derived[i];
        const struct conf_rate    *r =
            (const struct conf_rate *)((const char *)cf + d->offset);
        const char *from = (const char *)cf + d->from;

        if (cf->rate_limit.count > 0 &&
            conf_rate_exceeds(r, &cf->rate_limit)) {
            conf_error(errs, "%s%s%s: %s exceeds rate_limit %s (%s)", from,
                       from[0] != '\0' ? ": " : "", d->name,
                       conf_rate_format(r, a, sizeof(a)),
                       conf_rate_format(&cf->rate_limit, b, sizeof(b)),
                       d->why);
            rc = -1;
        }
    }
    if (cf->idempotency_required && cf->idempotency_ttl_ms == 0) {
        conf_error(errs, "idempotency_required: yes needs idempotency_ttl "
                   "above 0 (responses are kept for replay that long)");
        rc = -1;
    }
    /* Tokens travel in headers: never send them in clear to the
     * low-latency host when the main upstream is reached over TLS. */
    if (cf->upstream != NULL && cf->upstream_lowlatency != NULL &&
        cf->upstream_lowlatency[0] != '\0' &&
        url_parse_upstream(cf->upstream, &up, NULL, 0) == 0 &&
        url_parse_upstream(cf->upstream_lowlatency, &low, NULL, 0) == 0 &&
        up.tls && !low.tls) {
        conf_error(errs, "upstream_lowlatency: plain http:// while upstream "
                   "uses https:// would send tokens unencrypted (use "
                   "https://)");
        rc = -1;
    }
    return rc;
}

size_t
conf_key_count(void)
{
    return CONF_NELEM(conf_keys);
}

const char *
conf_key_name(size_t i)
{
    return i < CONF_NELEM(conf_keys) ? conf_keys[i].name : NULL;
}

const char *
conf_key_default(size_t i)
{
    return i < CONF_NELEM(conf_keys) ? conf_keys[i].def : NULL;
}

const char *
conf_key_derived(size_t i)
{
    const struct conf_derived *d;

    if (i >= CONF_NELEM(conf_keys)) {
        return NULL;
    }
    d = conf_find_derived(&conf_keys[i]);
    return d == NULL ? NULL : d->doc;
}

/* ---- reload (SIGHUP) ---------------------------------------------------- */

/*
 * The keys a reload cannot apply, and why: each is baked into something
 * built once at start-up that requests do not re-read.
 * - listen, workers: the listening sockets and the threads exist already;
 *   rebinding would drop or refuse connections.
 * - upstream, upstream_lowlatency, upstream_ca_file, upstream_connections:
 *   each worker's keep-alive pools, their TLS context and their share of
 *   the connection bound are built once; connections in use cannot move.
 * - redis, redis_prefix: every worker's links, subscriptions and the wake
 *   channel name; a new prefix would also orphan every lock and claim held.
 * - near_cache: the per-worker table is sized once, and the CLIENT
 *   TRACKING that keeps it coherent is set up with the link.
 * - max_connections, client_timeout: each worker's client set counts the
 *   connections it accepted against its share, and runs their deadlines
 *   on one common timeout queue made at start-up.
 * Everything else is read from the configuration in force per request.
 */
static const char *const conf_restart_keys[] = {
    "listen", "workers", "upstream", "upstream_lowlatency",
    "upstream_ca_file", "upstream_connections", "redis", "redis_prefix",
    "near_cache", "max_connections", "client_timeout",
};

bool
conf_key_needs_restart(const char *name)
{
    size_t i;

    for (i = 0; i < CONF_NELEM(conf_restart_keys); i++) {
        if (strcmp(name, conf_restart_keys[i]) == 0) {
            return true;
        }
    }
    return false;
}

/* Whether key K holds the same value in A and B. */
static bool
conf_same(const struct conf_key *k, const struct conf *a, const struct conf *b)
{
    const char *pa = (const char *)a + k->offset;
    const char *pb = (const char *)b + k->offset;

    if (CONF_IS_STRING(k->type)) {
        return strcmp(*(char *const *)pa, *(char *const *)pb) == 0;
    }
    switch (k->type) {
    case CONF_RATE: {
        const struct conf_rate *ra = (const struct conf_rate *)pa;
        const struct conf_rate *rb = (const struct conf_rate *)pb;

        return ra->count == rb->count && ra->period_ms == rb->period_ms;
    }
    case CONF_BOOL:
        return *(const bool *)pa == *(const bool *)pb;
    case CONF_ENUM:
        return *(const int *)pa == *(const int *)pb;
    default:
        return *(const int64_t *)pa == *(const int64_t *)pb;
    }
}

/* Sets key K of DST to its value in SRC. Returns 0, or -1 out of memory. */
static int
conf_copy_key(const struct conf_key *k, struct conf *dst,
              const struct conf *src)
{
    char       *pd = (char *)dst + k->offset;
    const char *ps = (const char *)src + k->offset;
    char       *s;

    if (CONF_IS_STRING(k->type)) {
        s = strdup(*(char *const *)ps);
        if (s == NULL) {
            return -1;
        }
        free(*(char **)pd);
        *(char **)pd = s;
        return 0;
    }
    switch (k->type) {
    case CONF_RATE:
        memcpy(pd, ps, sizeof(struct conf_rate));
        break;
    case CONF_BOOL:
        memcpy(pd, ps, sizeof(bool));
        break;
    case CONF_ENUM:
        memcpy(pd, ps, sizeof(int));
        break;
    default:
        memcpy(pd, ps, sizeof(int64_t));
        break;
    }
    return 0;
}

int
conf_diff(const struct conf *old, struct conf *next, struct conf_diff *d)
{
    size_t i;

    memset(d, 0, sizeof(*d));
    for (i = 0; i < CONF_NELEM(conf_keys); i++) {
        const struct conf_key *k = &conf_keys[i];

        if (conf_same(k, old, next)) {
            continue;
        }
        if (conf_key_needs_restart(k->name)) {
            if (conf_copy_key(k, next, old) != 0) {
                return -1;
            }
            d->restart[d->nrestart++] = k->name;
        } else {
            d->changed[d->nchanged++] = k->name;
        }
    }
    return 0;
}

/* ---- shared, counted configurations -------------------------------------- */

struct conf_ref {
    atomic_size_t refs;             /* holders; the last one frees */
    struct conf   cf;               /* owned */
};

struct conf_ref *
conf_ref_new(struct conf *cf)
{
    struct conf_ref *ref = calloc(1, sizeof(*ref));

    if (ref == NULL) {
        return NULL;
    }
    atomic_init(&ref->refs, 1);
    ref->cf = *cf;                  /* the strings move */
    memset(cf, 0, sizeof(*cf));
    return ref;
}

const struct conf *
conf_ref_conf(const struct conf_ref *ref)
{
    return &ref->cf;
}

struct conf_ref *
conf_ref_hold(struct conf_ref *ref)
{
    /* Relaxed: a holder already has a reference, so nothing is published. */
    atomic_fetch_add_explicit(&ref->refs, 1, memory_order_relaxed);
    return ref;
}

void
conf_ref_drop(struct conf_ref *ref)
{
    if (ref == NULL) {
        return;
    }
    /* Release, then acquire before the free: every holder's reads of the
     * configuration happen before it is freed, whichever thread frees. */
    if (atomic_fetch_sub_explicit(&ref->refs, 1, memory_order_release) !=
        1) {
        return;
    }
    atomic_thread_fence(memory_order_acquire);
    conf_free(&ref->cf);
    free(ref);
}
