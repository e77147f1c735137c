/*
 * stats.h - the proxy's counters (SPEC §10), process-wide, and their
 * Prometheus text exposition. Pure: no libevent.
 *
 * Counters are added to from every worker thread with relaxed atomic
 * adds: a scrape sees each counter whole, never torn, and no worker waits
 * for another. Labels come from fixed tables only, so their cardinality
 * is bounded by this file: never a tenant, a phone or a key.
 */
#ifndef HSP_STATS_H
#define HSP_STATS_H

#include <stddef.h>
#include <stdint.h>

#include "route.h"

enum stats_counter {
    STATS_IDEM_CLAIMED,             /* first PATCH of a key, forwarded */
    STATS_IDEM_REPLAYED,            /* answered from the stored record */
    STATS_IDEM_IN_FLIGHT,           /* 409: the first is still running */
    STATS_IDEM_MISMATCH,            /* 422: another request, same key */
    STATS_IDEM_RELEASED,            /* claim given back after a failure */
    STATS_IDEM_UNPROTECTED,         /* forwarded unguarded: Redis away */
    STATS_IDEM_REFUSED,             /* 503: unguardable, not forwarded */
    STATS_RATE_LIMITED_READ,        /* budget takes denied, by class */
    STATS_RATE_LIMITED_WRITE,
    STATS_BUDGET_FALLBACK,          /* takes the local budget answered */
    STATS_UPSTREAM_PAUSED,          /* pauses set after an upstream 429 */
    STATS_UPSTREAM_429,             /* 429s the upstream answered */
    STATS_LOCAL_429,                /* 429s the proxy answered itself */
    STATS_RATE_WAITS,               /* requests that waited for budget */
    STATS_COALESCED,                /* answered by another's fetch */
    STATS_NEAR_HITS,                /* hits answered from a near cache */
    STATS_STORE_UNSEAL_FAILURES,    /* stored values that did not open */
    STATS_PURGES_PHONE,             /* PURGEs done, by scope (SPEC §13) */
    STATS_PURGES_DISPOSITIONS,
    STATS_PURGES_TENANT,
    STATS_PURGES_FAILED,            /* 503: Redis failed a PURGE */
    STATS_PURGED_ENTRIES,           /* entries PURGEs dropped */
    STATS_STALE_SWR,                /* stale served, by reason */
    STATS_STALE_ERROR,
    STATS_STALE_RATE,
    STATS_REDIS_TIMEOUT,            /* Redis calls past redis_timeout */
    STATS_REDIS_FAILED,             /* connection gone, call pending */
    STATS_REDIS_SCRIPT,             /* error reply (script error) */
    STATS_REDIS_UNAVAILABLE,        /* refused at once: no connection */
    STATS_REDIS_UNREPLICATED,       /* Sentinel: a durable script's writes
                                       no replica took (WAIT) */
    STATS_REDIS_CONN_LOST,          /* Redis links lost or dropped */
    STATS_REDIS_CONNECT_FAILED,     /* connection attempts that failed */
    STATS_REDIS_DATA_LOST,          /* Redis found to have lost data */
    STATS_REDIS_PENDING,            /* PATCHes whose invalidation waited */
    STATS_REDIS_WRONG_REPLICA,      /* connects that reached a Redis a
                                       redis:// store cannot use, by kind
                                       (ready.h's enum ready_wrong) */
    STATS_REDIS_WRONG_CLUSTER,
    STATS_REDIS_WRONG_SENTINEL,
    STATS_REDIS_WRONG_STANDALONE,
    STATS_REDIS_FAILOVERS,          /* Sentinel: the master moved */
    STATS_SENTINEL_ERRORS,          /* Sentinel: a sentinel unreachable,
                                       refusing AUTH, or not knowing the
                                       master */
    STATS_REDIS_CLUSTER_REFRESHES,  /* Cluster: slot maps read */
    STATS_REDIS_REDIRECTS_MOVED,    /* Cluster: redirections followed */
    STATS_REDIS_REDIRECTS_ASK,
    STATS_REDIS_CLUSTER_RETRIES,    /* Cluster: calls sent again after
                                       TRYAGAIN or CLUSTERDOWN */
    STATS_RERR_AUTH,                /* Redis error replies, by kind
                                       (store_err.h, in its order) */
    STATS_RERR_NOPERM,
    STATS_RERR_READONLY,
    STATS_RERR_OOM,
    STATS_RERR_MOVED,
    STATS_RERR_CLUSTER,
    STATS_RERR_NOSCRIPT,
    STATS_RERR_SCRIPT,
    STATS_RERR_BUSY,
    STATS_RERR_OTHER,
    STATS_CLIENT_TIMEOUTS,          /* 408: cut at client_timeout */
    STATS_CLIENT_REFUSED,           /* refused before evhttp parsed it */
    STATS_ACCEPT_PAUSES,            /* a worker at its max_connections */
    STATS_UPROTO_FIRST,             /* upstream answers refused, by kind
                                       (uparse.h, in its order) */
    STATS_UPROTO_BAD_STATUS_LINE = STATS_UPROTO_FIRST,
    STATS_UPROTO_BAD_HEADER,
    STATS_UPROTO_BAD_FRAMING,
    STATS_UPROTO_DUPLICATE_LENGTH,
    STATS_UPROTO_LENGTH_AND_CHUNKED,
    STATS_UPROTO_BAD_CHUNK,
    STATS_UPROTO_BODY_ON_NO_CONTENT,
    STATS_UPROTO_UNEXPECTED_1XX,
    STATS_UPROTO_TOO_LARGE,
    STATS_UPROTO_TRUNCATED,
    STATS_UPROTO_EXCESS_DATA,
    STATS_UPROTO_UNREQUESTED_CODING,
    STATS_UPROTO_BAD_CODING,
    STATS_COUNT
};

/* What the cache did for a request, the cache label of its count. */
enum stats_cache {
    STATS_CACHE_NONE,               /* the proxy's own answers, PATCH */
    STATS_CACHE_HIT,
    STATS_CACHE_MISS,
    STATS_CACHE_STALE,
    STATS_CACHE_BYPASS,
    STATS_CACHE_REPLAY,
    STATS_CACHE_COUNT
};

/* Gauges: values that go up and down (SPEC §10, §12). */
enum stats_gauge {
    STATS_GAUGE_REDIS_EVICTING,     /* Redis connections whose
                                     * maxmemory-policy may evict */
    STATS_GAUGE_COUNT
};

/* Adds DELTA to gauge G. Safe from any thread. */
void stats_gauge_add(enum stats_gauge g, int64_t delta);

/* The current value of gauge G. */
int64_t stats_gauge_get(enum stats_gauge g);

/* Counts one answered request of route ROUTE with STATUS. */
void stats_request(enum route_id route, int status, enum stats_cache cache);

/* Counts one request sent to the upstream for route ROUTE. */
void stats_upstream(enum route_id route);

/*
 * Upstream latency histogram buckets (upper bounds, inclusive, in ms), the
 * Prometheus default buckets from 5 ms to 10 s; +Inf comes after them.
 */
#define STATS_LATENCY_BUCKETS 11

/* The bucket of a latency of US microseconds: 0..STATS_LATENCY_BUCKETS,
 * the last one being +Inf. */
size_t stats_latency_bucket(uint64_t us);

/* Counts one upstream call of route ROUTE that took US microseconds,
 * whatever its outcome (an answer, a timeout or a failure). */
void stats_upstream_latency(enum route_id route, uint64_t us);

/* Adds N to counter C. Safe from any thread. */
void stats_add(enum stats_counter c, uint64_t n);

/* The current value of counter C. */
uint64_t stats_get(enum stats_counter c);

/*
 * Writes the exposition (text format 0.0.4) into BUF of CAP bytes.
 * Returns its length, or -1 when CAP is too small (BUF is then "").
 */
int stats_render(char *buf, size_t cap);

/* Bytes stats_render needs at most. */
size_t stats_render_max(void);

#endif /* HSP_STATS_H */
