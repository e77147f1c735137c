/*
 * conf.h - the proxy's configuration (SPEC §9): a typed key table, the
 * `key = value` file parser, `-o` overrides and the errors that `-t` prints.
 *
 * Pure: no libevent, no hiredis. A struct conf is a plain value; it owns
 * its strings and is released with conf_free().
 */
#ifndef HSP_CONF_H
#define HSP_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CONF_ERRORS_MAX 64
#define CONF_ERROR_LEN  256
#define CONF_WHERE_LEN  128         /* "FILE:LINE" or "-o key=value" */

enum conf_log_level { CONF_LOG_ERROR, CONF_LOG_WARN, CONF_LOG_INFO,
                      CONF_LOG_DEBUG };
enum conf_log_format { CONF_LOG_JSON, CONF_LOG_TEXT };

/* upstream_cache_control (SPEC §11): what an upstream answer's
 * Cache-Control: no-store or private means for the cache. */
enum conf_cache_control {
    CONF_CACHE_CONTROL_HONOR,       /* not stored (Cache-Status detail=
                                     * no-store); "honour" also reads so */
    CONF_CACHE_CONTROL_IGNORE       /* stored anyway, with our own TTLs */
};

/* idempotency_on_store_error (SPEC §8): what a PATCH whose
 * Idempotency-Key the proxy guards gets when its claim cannot be made. */
enum conf_idem_store_error {
    CONF_IDEM_REFUSE,               /* 503, Retry-After: 1, not forwarded */
    CONF_IDEM_FORWARD               /* forwarded without the guard */
};

/* A rate such as `60/min`: COUNT events per PERIOD_MS. 0/x turns it off. */
struct conf_rate {
    int64_t count;                  /* events per period, >= 0 */
    int64_t period_ms;              /* 1000, 60000 or 3600000 */
};

struct conf {
    char    *listen;                /* owned: "host:port" */
    int64_t  workers;               /* 0 means auto: one per core */
    char    *upstream;              /* owned: http(s)://host[:port] URL */
    char    *upstream_lowlatency;   /* owned: URL, or "" for none */
    char    *upstream_ca_file;      /* owned: path, or "" for system store */
    int64_t  upstream_timeout_ms;
    int64_t  upstream_connections;
    char    *redis;                 /* owned: redis://, rediss://,
                                     * redis-sentinel://,
                                     * rediss-sentinel:// or unix:// */
    char    *redis_ca_file;         /* owned: rediss:// extra CA, or "" */
    char    *redis_cert_file;       /* owned: rediss:// client cert, or "" */
    char    *redis_key_file;        /* owned: its key, or "" */
    char    *redis_sentinel_user;   /* owned: the sentinels' ACL user,
                                     * or "" */
    char    *redis_sentinel_password; /* owned: their AUTH, or "": none */
    char    *redis_prefix;          /* owned */
    int64_t  redis_timeout_ms;
    int64_t  ttl_lead_ms;
    int64_t  ttl_not_found_ms;
    int64_t  ttl_dispositions_ms;
    int64_t  ttl_blocks_ms;         /* 0: blocks are not cached */
    int64_t  stale_while_revalidate_ms;
    int64_t  stale_if_error_ms;
    int64_t  idempotency_ttl_ms;
    bool     idempotency_required;
    enum conf_idem_store_error idempotency_on_store_error;
    struct conf_rate rate_limit;
    struct conf_rate rate_reserve_writes;   /* default: rate_limit / 6 */
    int64_t  rate_limit_wait_ms;
    struct conf_rate rate_limit_fallback;   /* default: rate_limit / 3 */
    /* gzip (SPEC §11): true: an answer whose body is over 1 KB goes
     * gzip-compressed, with Vary: Accept-Encoding, to a client that
     * accepts gzip; false (default): identity to every client. Entries
     * hold identity bodies either way. */
    bool     gzip;
    /* upstream_cache_control (SPEC §11), default honor: whether an
     * upstream answer with Cache-Control: no-store or private is kept
     * out of the cache. TTLs are the proxy's own either way. */
    enum conf_cache_control upstream_cache_control;
    int64_t  max_body;              /* bytes */
    int64_t  max_header_size;       /* bytes of header lines */
    int64_t  max_headers;           /* header fields per request */
    int64_t  max_query;             /* bytes of the query string */
    int64_t  client_timeout_ms;     /* for a whole request, or idle */
    int64_t  max_connections;       /* open client connections */
    int64_t  near_cache;            /* bytes per worker; 0: off */
    enum conf_log_level  log_level;
    enum conf_log_format log_format;
    char    *access_log;            /* owned: "stderr", "off" or a path */
    /* Where rate_reserve_writes and rate_limit_fallback were set, for
     * conf_validate's errors: "FILE:LINE" or "-o key=value"; "" while
     * the key is not set and so follows rate_limit (SPEC §9). */
    char     rate_reserve_writes_from[CONF_WHERE_LEN];
    char     rate_limit_fallback_from[CONF_WHERE_LEN];
};

/* Errors collected while loading; each reads "FILE:LINE: message". */
struct conf_errors {
    size_t count;                               /* entries used */
    size_t dropped;                             /* errors past the cap */
    char   msg[CONF_ERRORS_MAX][CONF_ERROR_LEN];
};

/*
 * Sets every key of CF to its default (parsed from the default strings
 * through the same setters as file input). CF must be zeroed or freed.
 * Returns 0, or -1 when out of memory.
 */
int conf_init(struct conf *cf);

/* Frees the strings CF owns and zeroes it. NULL-safe. */
void conf_free(struct conf *cf);

/*
 * Applies the `key = value` lines of PATH on top of CF. Every error is
 * appended to ERRS as "PATH:LINE: message"; parsing goes on after an error
 * so that all of them are reported. Returns 0 when ERRS gained nothing.
 */
int conf_load_file(struct conf *cf, const char *path,
                   struct conf_errors *errs);

/*
 * Same as conf_load_file() for the LEN bytes at TEXT, already in memory
 * and not necessarily NUL-terminated (a NUL byte inside a line is an
 * error, as in a file); NAME is what the errors call the file. The file
 * loader reads the file and calls this, so both parse alike. Pure: no I/O
 * but what the values themselves need (upstream_ca_file is opened).
 */
int conf_load_buffer(struct conf *cf, const char *name, const char *text,
                     size_t len, struct conf_errors *errs);

/* conf_load_buffer() for the NUL-terminated TEXT. */
int conf_load_string(struct conf *cf, const char *name, const char *text,
                     struct conf_errors *errs);

/*
 * Applies one `key=value` override (the -o flag). Errors read
 * "-o key=value: message". Returns 0 or -1.
 */
int conf_set_override(struct conf *cf, const char *kv,
                      struct conf_errors *errs);

/*
 * Cross-key checks run once everything is loaded (for example that an
 * explicit rate_reserve_writes does not exceed rate_limit; such an error
 * names the line or -o that set it). Returns 0 or -1.
 */
int conf_validate(const struct conf *cf, struct conf_errors *errs);

/* Unit parsers, exposed for tests. Each returns 0 or -1 (bad input). */
int conf_parse_duration(const char *s, int64_t *ms);     /* 0, 100ms, 5m */
int conf_parse_size(const char *s, int64_t *bytes);      /* 512, 64k, 1m */
int conf_parse_rate(const char *s, struct conf_rate *r); /* 60/min, 0 */
int conf_parse_bool(const char *s, bool *b);             /* yes/no/... */

/* The number of keys and the name of key I, for docs checks and tests. */
size_t      conf_key_count(void);
const char *conf_key_name(size_t i);

/*
 * The default of key I as it would be written in the file ("10s"), for
 * docs checks and usage text; NULL when I is out of range. For a key
 * whose default follows another key, the value under that key's default.
 */
const char *conf_key_default(size_t i);

/*
 * How key I's default follows another key, as the docs say it ("a sixth
 * of rate_limit"), or NULL when it is a constant (SPEC §9: while not set,
 * rate_reserve_writes and rate_limit_fallback follow rate_limit).
 */
const char *conf_key_derived(size_t i);

/* ---- reload (SIGHUP, SPEC §10) ------------------------------------------- */

#define CONF_DIFF_MAX 64            /* more than there are keys */

/* What a reload changes: key names (static strings), in table order. */
struct conf_diff {
    size_t      nchanged;           /* applied by the reload */
    const char *changed[CONF_DIFF_MAX];
    size_t      nrestart;           /* changed, but kept: need a restart */
    const char *restart[CONF_DIFF_MAX];
};

/* Whether key NAME can only change with a restart (conf_key.c says why). */
bool conf_key_needs_restart(const char *name);

/*
 * Compares the configuration in force OLD with a freshly loaded NEXT,
 * key by key through the key table. A changed key that needs a restart
 * gets OLD's value back in NEXT and is listed in D->restart; every other
 * changed key is listed in D->changed. Pure. Returns 0, or -1 when out of
 * memory (NEXT may then hold some old values; free it).
 */
int conf_diff(const struct conf *old, struct conf *next, struct conf_diff *d);

/*
 * A configuration shared by threads, freed when its last holder lets go:
 * the process holds the one in force, and each worker holds the one its
 * requests use until they are done (see proxy.c).
 */
struct conf_ref;

/* Takes CF's contents (CF is zeroed) into a new reference count of 1.
 * Returns NULL when out of memory (CF is left as it was). */
struct conf_ref *conf_ref_new(struct conf *cf);

/* The configuration REF holds; valid while the caller holds REF. */
const struct conf *conf_ref_conf(const struct conf_ref *ref);

/* One more holder of REF, from any thread that holds it. Returns REF. */
struct conf_ref *conf_ref_hold(struct conf_ref *ref);

/* Lets go of REF; the last holder frees it. Any thread. NULL-safe. */
void conf_ref_drop(struct conf_ref *ref);

#endif /* HSP_CONF_H */
