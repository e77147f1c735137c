/*
 * respond.h - building and sending the proxy's answers on evhttp: its own
 * errors in the upstream's payload (SPEC §7), relayed upstream answers,
 * cached entries, and the cache headers (X-Cache, Cache-Status, Age).
 * Each function answers CLIENT exactly once; evhttp frees CLIENT then.
 */
#ifndef HSP_RESPOND_H
#define HSP_RESPOND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct evbuffer;
struct evhttp_request;
struct evkeyvalq;
struct cache_entry;

/* The cache headers of an answer; NULL fields are left out. */
struct respond_cache {
    const char *x_cache;            /* "HIT", "MISS", "STALE", "BYPASS",
                                       "REPLAY" */
    const char *status;             /* Cache-Status parameters after
                                       "heavyset-proxy; " */
    int64_t     age_s;              /* Age header; -1 for none */
    bool        replayed;           /* Idempotent-Replayed: true (SPEC §5) */
    bool        validate;           /* an answer of a cacheable route:
                                       its ETag, and 304 to a client
                                       that holds it (SPEC §11) */
    bool        gzip;               /* `gzip = on`: code a body over 1 KB
                                       for a client that takes gzip */
};

/* One header an error adds: Allow on a 405, Retry-After on a 409. */
struct respond_header {
    const char *name;
    const char *value;
};

/*
 * Answers with an error the proxy made itself: STATUS, the N messages
 * MSGS, Content-Type application/json, X-Request-Id REQUEST_ID, and
 * EXTRA when not NULL. No Cache-Status (RFC 9211 §2).
 */
void respond_error(struct evhttp_request *client, const char *request_id,
                   int status, const char *const *msgs, size_t n,
                   const struct respond_header *extra);

/*
 * Relays an upstream answer: STATUS with REASON (the upstream's phrase;
 * NULL: the registered one), the end-to-end HEADERS (hop-by-hop ones and
 * Content-Length dropped), BODY (drained), then CACHE's headers (may be
 * NULL).
 */
void respond_relay(struct evhttp_request *client, const char *request_id,
                   int status, const char *reason,
                   const struct evkeyvalq *headers, struct evbuffer *body,
                   const struct respond_cache *cache);

/*
 * Sets the idle timeout that every answer advertises from now on
 * (Keep-Alive: timeout=N, N = IDLE_MS in whole seconds; under a second:
 * none). Safe from any thread.
 */
void respond_set_keepalive(int64_t idle_ms);

/* Answers from the cached entry E, with CACHE's headers. */
void respond_entry(struct evhttp_request *client, const char *request_id,
                   const struct cache_entry *e,
                   const struct respond_cache *cache);

/* Answers STATUS with the JSON text JSON (the proxy's own endpoints). */
void respond_json(struct evhttp_request *client, const char *request_id,
                  int status, const char *json);

/* Answers STATUS with LEN bytes of TEXT of content type CTYPE, not to be
 * stored by any cache (the proxy's own endpoints). */
void respond_text(struct evhttp_request *client, const char *request_id,
                  int status, const char *ctype, const char *text,
                  size_t len);

#endif /* HSP_RESPOND_H */
