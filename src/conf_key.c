/*
 * conf_key.c - the configuration key table (SPEC §9): one typed row per
 * key, the names of enum values, the keys whose defaults follow
 * rate_limit and the rule they follow, the units numbers may carry, and
 * the keys a reload cannot apply. Data first; the functions below only
 * look rows up (and derive the following defaults).
 *
 * This file is the table issue 12 exempts from the size bound: a key is
 * added here, with its default and bounds, and nowhere else but
 * struct conf. It owns nothing at run time: every table is static and
 * const, and nothing here allocates or calls the other conf files.
 */
#include "config.h"

#include "conf_key.h"

#include <string.h>
#include <strings.h>

#include "conf.h"

#define CONF_RATE_MAX 1000000       /* events per period */
#define CONF_DAYS_30  (30 * 24 * CONF_HOUR_MS)
#define CONF_MB       (1024 * 1024)

#define CONF_OFF(f) offsetof(struct conf, f)

_Static_assert(sizeof(enum conf_log_level) == sizeof(int) &&
               sizeof(enum conf_log_format) == sizeof(int) &&
               sizeof(enum conf_cache_control) == sizeof(int) &&
               sizeof(enum conf_idem_store_error) == sizeof(int),
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

static const char *const conf_idem_store_errors[] = {
    [CONF_IDEM_REFUSE] = "refuse", [CONF_IDEM_FORWARD] = "forward", NULL
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
    { "redis_ca_file", CONF_FILE, CONF_OFF(redis_ca_file), "", 0, 0, NULL },
    { "redis_cert_file", CONF_FILE, CONF_OFF(redis_cert_file), "", 0, 0,
      NULL },
    { "redis_key_file", CONF_FILE, CONF_OFF(redis_key_file), "", 0, 0,
      NULL },
    { "redis_sentinel_user", CONF_SECRET, CONF_OFF(redis_sentinel_user), "",
      0, 0, NULL },
    { "redis_sentinel_password", CONF_SECRET,
      CONF_OFF(redis_sentinel_password), "", 0, 0, NULL },
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
    { "idempotency_on_store_error", CONF_ENUM,
      CONF_OFF(idempotency_on_store_error), "refuse", 0, 0,
      conf_idem_store_errors },
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
static const struct conf_derived conf_derived[] = {
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

/* The units of each numeric type; counts and the rest take none. */
static const struct conf_unit *const conf_units[] = {
    [CONF_DURATION] = conf_duration_units,
    [CONF_SIZE] = conf_size_units,
    [CONF_RATE] = conf_rate_units,
};

/*
 * The keys a reload cannot apply, and why: each is baked into something
 * built once at start-up that requests do not re-read.
 * - listen, workers: the listening sockets and the threads exist already;
 *   rebinding would drop or refuse connections.
 * - upstream, upstream_lowlatency, upstream_ca_file, upstream_connections:
 *   each worker's keep-alive pools, their TLS context and their share of
 *   the connection bound are built once; connections in use cannot move.
 * - redis, redis_ca_file, redis_cert_file, redis_key_file,
 *   redis_sentinel_user, redis_sentinel_password, redis_prefix: every
 *   worker's links (their TLS contexts, their sentinels), subscriptions
 *   and the wake channel name; a new prefix would also orphan every lock and claim held.
 * - near_cache: the per-worker table is sized once, and the CLIENT
 *   TRACKING that keeps it coherent is set up with the link.
 * - max_connections, client_timeout: each worker's client set counts the
 *   connections it accepted against its share, and runs their deadlines
 *   on one common timeout queue made at start-up.
 * Everything else is read from the configuration in force per request.
 */
static const char *const conf_restart_keys[] = {
    "listen", "workers", "upstream", "upstream_lowlatency",
    "upstream_ca_file", "upstream_connections", "redis", "redis_ca_file",
    "redis_cert_file", "redis_key_file", "redis_sentinel_user",
    "redis_sentinel_password", "redis_prefix",
    "near_cache", "max_connections", "client_timeout",
};

const struct conf_key *
conf_key_at(size_t i)
{
    return i < CONF_NELEM(conf_keys) ? &conf_keys[i] : NULL;
}

const struct conf_key *
conf_key_find(const char *name)
{
    size_t i;

    for (i = 0; i < CONF_NELEM(conf_keys); i++) {
        if (strcmp(name, conf_keys[i].name) == 0) {
            return &conf_keys[i];
        }
    }
    return NULL;
}

const struct conf_unit *
conf_key_units(enum conf_type type)
{
    return (size_t)type < CONF_NELEM(conf_units) ? conf_units[type] : NULL;
}

bool
conf_key_alias(const struct conf_key *k, const char *word, int *value)
{
    size_t i;

    for (i = 0; i < CONF_NELEM(conf_enum_aliases); i++) {
        if (conf_enum_aliases[i].names == k->names &&
            strcasecmp(word, conf_enum_aliases[i].word) == 0) {
            *value = conf_enum_aliases[i].value;
            return true;
        }
    }
    return false;
}

/* The row of conf_derived for key K, or NULL when K has a fixed default. */
const struct conf_derived *
conf_key_derived_of(const struct conf_key *k)
{
    size_t i;

    for (i = 0; i < CONF_NELEM(conf_derived); i++) {
        if (strcmp(k->name, conf_derived[i].name) == 0) {
            return &conf_derived[i];
        }
    }
    return NULL;
}

const struct conf_derived *
conf_key_derived_row(size_t i)
{
    return i < CONF_NELEM(conf_derived) ? &conf_derived[i] : NULL;
}

/* Sets every key of conf_derived that was not set to its share of
 * rate_limit (the rule is above conf_derived). */
void
conf_key_derive(struct conf *cf)
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
    d = conf_key_derived_of(&conf_keys[i]);
    return d == NULL ? NULL : d->doc;
}

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
