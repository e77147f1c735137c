/*
 * conf_value.c - one configuration value (SPEC §9): the unit parsers
 * (durations, sizes, rates, booleans), the checks of string values (URLs,
 * the key prefix, the CA file), how a value is stored in its field of
 * struct conf, and the text of the errors about a value.
 *
 * Every value, the defaults included, goes through conf_value_apply(),
 * so a default can never be something the file would reject. A value
 * that fails leaves the key as it was. Owns nothing itself: a string
 * value it stores is owned by the struct conf (conf_free releases it).
 * Reads the key table (conf_key.c) and nothing above it.
 */
#include "config.h"

#include "conf_value.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "conf.h"
#include "conf_key.h"
#include "url.h"

#define CONF_PREFIX_MAX 32
#define CONF_SECRET_MAX 255         /* as url.h's URL_PASS_MAX - 1 */

static int conf_why(char *why, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));


/* Why a number failed to parse; it picks the error message. */
enum conf_num {
    CONF_NUM_OK,
    CONF_NUM_SYNTAX,                /* not digits followed by a known unit */
    CONF_NUM_NO_UNIT,               /* bare non-zero number, unit required */
    CONF_NUM_NEGATIVE,
    CONF_NUM_RANGE                  /* overflow or outside MIN..MAX */
};


/* What a value of each type is called, and how to write one, in errors. */
static const struct {
    const char *what;
    const char *hint;
} conf_type_text[] = {
    [CONF_LISTEN] = { "a listen address", "host:port, e.g. 127.0.0.1:8080" },
    [CONF_UPSTREAM] = { "an upstream URL", "http:// or https:// and a host" },
    [CONF_REDIS] = { "a Redis URL", "redis[s]://[user:password@]host:port/db, "
                     "redis[s]-sentinel://[user:password@]host:port[,host:port"
                     "...]/master[/db], redis[s]-cluster://[user:password@]"
                     "host:port[,host:port...] or unix:///path" },
    [CONF_PREFIX] = { "a key prefix", "1 to 32 of A-Z a-z 0-9 _ . -" },
    [CONF_SECRET] = { "a password or user name", "up to 255 bytes of "
                      "printable text" },
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
    const struct conf_unit *u = conf_key_units(type);
    const char             *p = s;
    bool                    overflow = false;
    int64_t                 n = 0;

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

    /* A rate's bound is a count: only durations and sizes show a unit. */
    if (type == CONF_DURATION || type == CONF_SIZE) {
        u = conf_key_units(type);
        while (u[i].suffix != NULL) {
            i++;
        }
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

const char *
conf_value_rate_format(const struct conf_rate *r, char *buf, size_t cap)
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
    case CONF_SECRET:
        if (strlen(value) > CONF_SECRET_MAX) {
            return conf_why(why, cap, "is longer than %d bytes",
                            CONF_SECRET_MAX);
        }
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
int
conf_value_apply(struct conf *cf, const struct conf_key *k,
                 const char *value, char *why, size_t cap)
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
        if (conf_key_alias(k, value, (int *)slot)) {
            return 0;
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
const char *
conf_value_show(const char *v, bool secret, char *out, size_t cap)
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
