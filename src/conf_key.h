/*
 * conf_key.h - private to the configuration module (conf_*.c): the shape
 * of the key table's rows and how the other conf files read the table.
 * Callers outside src/conf_*.c use conf.h only.
 *
 * Everything returned here is static data: borrowed, valid for the life
 * of the process, never freed.
 */
#ifndef HSP_CONF_KEY_H
#define HSP_CONF_KEY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct conf;

#define CONF_SEC_MS  INT64_C(1000)
#define CONF_MIN_MS  (60 * CONF_SEC_MS)
#define CONF_HOUR_MS (60 * CONF_MIN_MS)

#define CONF_NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* How a value is parsed and where it is stored; the string types first. */
enum conf_type {
    CONF_LISTEN,                    /* char *: url_parse_listen */
    CONF_UPSTREAM,                  /* char *: url_parse_upstream */
    CONF_REDIS,                     /* char *: url_parse_redis */
    CONF_PREFIX,                    /* char *: Redis key prefix */
    CONF_FILE,                      /* char *: a readable regular file */
    CONF_SECRET,                    /* char *: a password, never shown */
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

/* A key whose default follows rate_limit until set (conf_key.c says how). */
struct conf_derived {
    const char *name;
    size_t      offset;             /* the struct conf_rate */
    size_t      from;               /* where it was set: char[] */
    int64_t     divisor;
    int64_t     floor_from;         /* rate_limit count from which >= 1 */
    const char *doc;                /* for conf_key_derived() */
    const char *why;                /* why it may not exceed rate_limit */
};

/* Row I of the key table (I < conf_key_count()), in SPEC §9's order. */
const struct conf_key *conf_key_at(size_t i);

/* The row of key NAME (exact, case-sensitive), or NULL. */
const struct conf_key *conf_key_find(const char *name);

/*
 * The units a number of TYPE may carry, ending with a NULL suffix, or
 * NULL when TYPE takes none (a count).
 */
const struct conf_unit *conf_key_units(enum conf_type type);

/*
 * Whether WORD (any case) is another spelling of a value of the enum key
 * K, beyond its NAMES ("honour"); if so its value goes in *VALUE.
 */
bool conf_key_alias(const struct conf_key *k, const char *word, int *value);

/* The derived-defaults row of key K, or NULL when K has a fixed default. */
const struct conf_derived *conf_key_derived_of(const struct conf_key *k);

/* Row I of the derived defaults, or NULL past the last. */
const struct conf_derived *conf_key_derived_row(size_t i);

/*
 * Sets every derived key of CF that was not set to its share of
 * rate_limit (the rule is above conf_derived in conf_key.c).
 */
void conf_key_derive(struct conf *cf);

#endif /* HSP_CONF_KEY_H */
