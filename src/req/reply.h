/*
 * req/reply.h - the only code that writes to a request's client (SPEC §2,
 * §7, §11): the proxy's own errors, relayed upstream answers, cached
 * entries and local pages; and the rendering of what the cache did, as
 * X-Cache, Cache-Status and Age, from values rather than strings.
 *
 * A request is answered once. Each function here does nothing for a
 * request answered already (a read refreshing its entry after its client
 * got the stale one goes on without a client), and leaves the request
 * without a client once it answered. It notes what the client got, for
 * the request counters and the access log.
 */
#ifndef HSP_REQ_REPLY_H
#define HSP_REQ_REPLY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "stats.h"
#include "upstream.h"

struct cache_entry;
struct req;

/* Why a read went upstream: Cache-Status's fwd= parameter. */
enum reply_fwd {
    REPLY_FWD_MISS,                 /* nothing cached */
    REPLY_FWD_BYPASS,               /* not cacheable, or caching off */
    REPLY_FWD_REQUEST,              /* the client asked: no-cache */
    REPLY_FWD_STALE                 /* what was cached had expired */
};

/* Cache-Status's detail= parameter. */
enum reply_detail {
    REPLY_DETAIL_NONE,
    REPLY_DETAIL_STORE_UNAVAILABLE, /* Redis was away */
    REPLY_DETAIL_NO_STORE,          /* the upstream forbade storing */
    REPLY_DETAIL_SWR,               /* stale-while-revalidate */
    REPLY_DETAIL_SIE,               /* stale-if-error */
    REPLY_DETAIL_RATE_LIMITED,      /* stale, for want of budget */
    REPLY_DETAIL_REPLAY             /* an Idempotency-Key replay */
};

/*
 * What the cache did for one answer. X_CACHE picks the form of
 * Cache-Status: HIT "hit; ttl=N", STALE "fwd=stale; ...; ttl=N;
 * detail=D", REPLAY "hit; detail=idempotent-replay", MISS and BYPASS
 * "fwd=F[; stored][; collapsed][; detail=D]". STATS_CACHE_NONE: no cache
 * headers at all (the proxy's own answers, PATCH).
 */
struct reply_cache {
    enum stats_cache  x_cache;
    enum reply_fwd    fwd;          /* MISS, BYPASS */
    enum reply_detail detail;       /* MISS, BYPASS, STALE */
    bool              stored;       /* MISS, BYPASS: the answer is cached */
    bool              collapsed;    /* MISS, BYPASS, HIT: it came of
                                       another request's fetch */
    int               fwd_status;   /* STALE: the upstream's status, or 0 */
    int64_t           ttl_s;        /* HIT, STALE: freshness left */
};

/* X-Cache's value for C, or NULL for STATS_CACHE_NONE. */
const char *reply_x_cache(enum stats_cache c);

/* Writes C's Cache-Status parameters (after "heavyset-proxy; ") into BUF
 * of CAP bytes, truncating; returns BUF. */
char *reply_cache_status(const struct reply_cache *c, char *buf, size_t cap);

/* The proxy's answer (status, message) for the upstream failure ERR
 * (SPEC §7). */
void reply_upstream_status(enum upstream_error err, int *status,
                           const char **msg);

/* Answers R with an error the proxy made (SPEC §7): one message, N
 * messages, or one message and one extra header. */
void reply_error(struct req *r, int status, const char *msg);
void reply_error_n(struct req *r, int status, const char *const *msgs,
                   size_t n);
void reply_error_with(struct req *r, int status, const char *msg,
                      const char *header, const char *value);

/* Answers R with the upstream answer it holds, and the cache headers of
 * C (NULL: none, as for a PATCH). */
void reply_relay(struct req *r, const struct reply_cache *c);

/* Answers R from what its upstream call left: the answer it holds, with
 * no cache headers, or the error of its failure. */
void reply_held(struct req *r);

/*
 * Answers R with the cached entry E, X_CACHE, the Cache-Status
 * parameters STATUS (NULL: none), and AGE_S (-1: no Age); REPLAYED adds
 * Idempotent-Replayed. A read's answers carry their ETag (SPEC §11).
 */
void reply_entry(struct req *r, const struct cache_entry *e,
                 enum stats_cache x_cache, const char *status, int64_t age_s,
                 bool replayed);

/* Answers R with a JSON document of the proxy's own. */
void reply_json(struct req *r, int status, const char *json);

/* Answers R with a page of the proxy's own: TEXT (LEN bytes) of CTYPE. */
void reply_text(struct req *r, int status, const char *ctype,
                const char *text, size_t len);

#endif /* HSP_REQ_REPLY_H */
