/*
 * ready.h - what GET /readyz reports (SPEC §10): the state of Redis and
 * of the upstream, process-wide, and the readiness verdict. Pure: no
 * libevent, no hiredis; the store and the request path feed it.
 *
 * Policy, as HAProxy and nginx operators expect of a fail-open proxy:
 * /readyz answers 200 while the process serves, also with Redis down or
 * the upstream failing (the proxy still answers: forwarding, stale
 * entries, local 502/504), and says "degraded" in the body. Pulling every
 * instance out of a balancer because the shared Redis or the vendor is
 * down would turn a slower service into none. It answers 503 only once
 * the process stops accepting (SIGTERM/SIGINT), so a balancer drains it.
 *
 * State lives in process-wide atomics written from every worker thread;
 * a reader sees each value whole, and the values may be from slightly
 * different instants (fine for a probe).
 */
#ifndef HSP_READY_H
#define HSP_READY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The outcome of an upstream call, as readyz names it. */
enum ready_upstream {
    READY_UP_OK,                    /* an answer came (any status) */
    READY_UP_UNREACHABLE,
    READY_UP_TLS,
    READY_UP_TIMEOUT,
    READY_UP_PROTOCOL,
    READY_UP_COUNT
};

/* A Redis store was created (+1) or freed (-1): the number of workers'
 * Redis connections there should be. */
void ready_redis_store(int delta);

/* A store's call connection became usable (+1) or stopped being (-1). */
void ready_redis_up(int delta);

/* A Redis link was refused by its AUTH or SELECT (+1), or is no longer
 * (-1: it got through, or it was freed). */
void ready_redis_refused(int delta);

/* A Redis link found a maxmemory-policy that may evict the proxy's keys
 * (+1), or no longer counts (-1). */
void ready_redis_evicting(int delta);

/* A store's subscriber link had a SUBSCRIBE refused (+1: NOPERM for a
 * channel the ACL user may not use), or no longer (-1: confirmed, or
 * freed). */
void ready_redis_unsubscribed(int delta);

/* A Redis that a redis:// store cannot use as its master (SPEC §12), as
 * its HELLO said. */
enum ready_wrong {
    READY_WRONG_REPLICA,            /* role replica: writes get READONLY */
    READY_WRONG_CLUSTER,            /* mode cluster: wants redis-cluster:// */
    READY_WRONG_SENTINEL,           /* mode sentinel: wants
                                     * redis-sentinel:// */
    READY_WRONG_STANDALONE,         /* redis-cluster:// reached a Redis
                                     * that is no cluster node */
    READY_WRONG_KINDS               /* count, not a kind */
};

/* A store's call link reached a Redis of kind KIND (+1), or no longer
 * counts (-1: it went down, or was freed). */
void ready_redis_wrong(enum ready_wrong kind, int delta);

/*
 * Sentinel (a redis-sentinel:// store, SPEC §12). Its topology is the
 * same for every worker: MASTER_NAME (copied) and NSEEDS sentinels.
 * ready_sentinel_store: a store on it was created (+1) or freed (-1).
 * ready_sentinel_confirmed: a store's call link is up on a Redis that
 * said it is the master (+1), or no longer (-1).
 * ready_sentinel_reach: sentinel SEED (its index in the URL) answered
 * (OK) or failed at its last contact, by any worker.
 * ready_sentinel_master: a worker learnt the master is at HOST:PORT;
 * returns whether that moved it from another address known before (a
 * failover, counted once per process however many workers learn it).
 */
void ready_sentinel_store(int delta, const char *master_name, int nseeds);
void ready_sentinel_confirmed(int delta);
void ready_sentinel_reach(int seed, bool ok);
bool ready_sentinel_master(const char *host, unsigned port);

/*
 * Cluster (a redis-cluster:// store, SPEC §12). Each worker's store
 * sees the topology for itself; the process shows the average.
 * ready_cluster_store: a store on a cluster was created (+1) or freed
 * (-1). ready_cluster_add: adds SIGN (+1 or -1) times C, what one store
 * sees, to the sums (a store takes back what it told, then tells anew).
 */
struct ready_cluster {
    int nodes;                      /* masters serving slots */
    int reachable;                  /* of them, whose call link is up */
    int slots;                      /* slots those reachable ones serve */
};

void ready_cluster_store(int delta);
void ready_cluster_add(const struct ready_cluster *c, int sign);

/* Notes the outcome of an upstream call that ended at NOW_MS (wall). */
void ready_upstream(enum ready_upstream outcome, int64_t now_ms);

/* The process stops accepting: /readyz answers 503 from now on. */
void ready_stopping(void);

/* A snapshot of the state, for ready_render (and tests). */
struct ready_state {
    int     stores;                 /* workers' Redis stores */
    int     redis_up;               /* of them, connected and answering */
    bool    stopping;
    int64_t last_ms;                /* last upstream outcome, 0: none */
    enum ready_upstream last;
    int64_t last_ok_ms;             /* last answer, 0: none */
    int64_t last_err_ms;            /* last failure, 0: none */
    enum ready_upstream last_err;
    int     refused;                /* links refused by AUTH or SELECT */
    int     evicting;               /* links to a Redis that may evict */
    int     wrong[READY_WRONG_KINDS]; /* links to a Redis of that kind */
    int     unsubscribed;           /* subscriber links refused a channel */
    int     sentinel_stores;        /* stores on redis-sentinel://; 0:
                                     * none, the fields below unused */
    int     sentinel_confirmed;     /* of them, on a master confirmed */
    int     sentinels;              /* sentinels in the URL */
    int     sentinels_reachable;    /* of them, answering when last seen */
    char    master_name[64];
    char    master[272];            /* "host:port" last learnt, or "" */
    int     cluster_stores;         /* stores on redis-cluster://; 0:
                                     * none, the sums below unused */
    struct ready_cluster cluster;   /* summed over those stores */
    int64_t redis_err_ms;           /* last degrading error reply, 0: none */
    int     redis_err;              /* its kind (enum rerr_kind) */
};

/* Reads the current process-wide state into OUT. */
void ready_snapshot(struct ready_state *out);

/* How long an error reply from Redis keeps /readyz degraded. */
#define READY_REDIS_ERR_RECENT_MS 10000

/*
 * Writes the /readyz JSON of ST, seen at NOW_MS, into BUF of CAP bytes:
 *   {"status":"ready"|"degraded"|"stopping",
 *    "redis":{"status":"up"|"degraded"|"down","connected":K,"workers":N,
 *             "reason":"..","last_error":"oom","last_error_age_ms":..,
 *             "mode":"sentinel","sentinel":{"master_name":"..",
 *             "master":"host:port","sentinels":N,"reachable":K,
 *             "confirmed":C}
 *             or "mode":"cluster","cluster":{"nodes":N,"reachable":K,
 *             "slots":S}},
 *    "upstream":{"status":"unknown"|"reachable"|"failing",
 *                "last_ok_age_ms":..,"last_error":"timeout",
 *                "last_error_age_ms":..}}
 * (ages only when there was such an outcome). Redis is degraded, not up,
 * while a link is refused by AUTH or SELECT, while a link reached a
 * replica, a cluster node or a sentinel, while a subscriber link is
 * refused a channel, for READY_REDIS_ERR_RECENT_MS
 * after an error reply that degrades it, and while its maxmemory-policy
 * may evict, and with Sentinel while no sentinel answers or a store's
 * master is not confirmed, and with Cluster while a master that serves
 * slots is unreachable or a slot has no master; "reason" says which
 * (SPEC §12), and is absent while up.
 * Returns the HTTP status, 200 or 503, and sets *LEN; -1 when CAP is too
 * small.
 */
int ready_render(const struct ready_state *st, int64_t now_ms, char *buf,
                 size_t cap, size_t *len);

/* Bytes ready_render needs at most. */
#define READY_RENDER_MAX 1280

/*
 * Writes the topology gauges of ST for /metrics (SPEC §10) into BUF of
 * CAP bytes, in the text exposition format: the cluster's masters and
 * how many are reachable, as a worker sees them (the average). Returns
 * the bytes written, or -1 when CAP is too small.
 */
int ready_render_metrics(const struct ready_state *st, char *buf,
                         size_t cap);

/* Bytes ready_render_metrics needs at most. */
#define READY_METRICS_MAX 640

#endif /* HSP_READY_H */
