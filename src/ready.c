/* ready.c - the state /readyz reports, and its JSON (ready.h). */
#include "config.h"

#include "ready.h"

#include <assert.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "store_err.h"

/* An outcome and its time in one word, so a reader never pairs the time
 * of one call with the outcome of another: (ms << 4) | outcome. */
#define READY_PACK(ms, o) (((uint64_t)(ms) << 4) | (uint64_t)(o))

static _Atomic int      ready_stores;
static _Atomic int      ready_up;
static _Atomic int      ready_refused;
static _Atomic int      ready_evicting;
static _Atomic int      ready_wrong[READY_WRONG_KINDS];
static _Atomic int      ready_unsubscribed;
static _Atomic bool     ready_stop;
static _Atomic uint64_t ready_last; /* packed; 0: no call yet */
static _Atomic uint64_t ready_last_ok;
static _Atomic uint64_t ready_last_err;
static _Atomic int      ready_sent_stores;
static _Atomic int      ready_sent_confirmed;
static _Atomic int      ready_sent_seeds;
static _Atomic uint32_t ready_sent_reach;   /* bit per sentinel: answered */
static _Atomic int      ready_clu_stores;
static _Atomic int      ready_clu_nodes;
static _Atomic int      ready_clu_reachable;
static _Atomic int      ready_clu_slots;

/* The Sentinel topology's names, written by the workers, read by a probe. */
static pthread_mutex_t ready_sent_lock = PTHREAD_MUTEX_INITIALIZER;
static char            ready_sent_name[64];
static char            ready_sent_master[272];

/* Why a store cannot use the Redis it reached, for "reason". */
static const char *const ready_wrong_reasons[READY_WRONG_KINDS] = {
    [READY_WRONG_REPLICA] = "redis is a replica: writes are refused",
    [READY_WRONG_CLUSTER] = "redis is a cluster node: use "
                            "redis-cluster://",
    [READY_WRONG_SENTINEL] = "redis is a sentinel: use "
                             "redis-sentinel://host:port/master-name",
    [READY_WRONG_STANDALONE] = "redis is not a cluster node: use redis://",
};

static const char *const ready_outcomes[READY_UP_COUNT] = {
    [READY_UP_OK] = "ok",
    [READY_UP_UNREACHABLE] = "unreachable",
    [READY_UP_TLS] = "tls",
    [READY_UP_TIMEOUT] = "timeout",
    [READY_UP_PROTOCOL] = "protocol",
};

void
ready_redis_store(int delta)
{
    atomic_fetch_add_explicit(&ready_stores, delta, memory_order_relaxed);
}

void
ready_redis_up(int delta)
{
    atomic_fetch_add_explicit(&ready_up, delta, memory_order_relaxed);
}

void
ready_redis_refused(int delta)
{
    atomic_fetch_add_explicit(&ready_refused, delta, memory_order_relaxed);
}

void
ready_redis_evicting(int delta)
{
    atomic_fetch_add_explicit(&ready_evicting, delta, memory_order_relaxed);
}

void
ready_redis_unsubscribed(int delta)
{
    atomic_fetch_add_explicit(&ready_unsubscribed, delta,
                              memory_order_relaxed);
}

void
ready_redis_wrong(enum ready_wrong kind, int delta)
{
    assert(kind < READY_WRONG_KINDS);
    atomic_fetch_add_explicit(&ready_wrong[kind], delta,
                              memory_order_relaxed);
}

void
ready_upstream(enum ready_upstream outcome, int64_t now_ms)
{
    uint64_t v;

    assert(outcome < READY_UP_COUNT);
    v = READY_PACK(now_ms > 0 ? now_ms : 1, outcome);
    atomic_store_explicit(&ready_last, v, memory_order_relaxed);
    atomic_store_explicit(outcome == READY_UP_OK ? &ready_last_ok
                                                 : &ready_last_err,
                          v, memory_order_relaxed);
}

/* Copies S into OUT (CAP bytes), every byte outside a host name's, an
 * address's or a master name's characters as '?': JSON-safe. */
static void
ready_copy_name(char *out, size_t cap, const char *s)
{
    size_t i;

    for (i = 0; s[i] != '\0' && i + 1 < cap; i++) {
        unsigned char c = (unsigned char)s[i];

        out[i] = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
                         (c >= 'A' && c <= 'Z') || strchr(".:-_[]", c) != NULL
                     ? (char)c
                     : '?';
    }
    out[i] = '\0';
}

void
ready_sentinel_store(int delta, const char *master_name, int nseeds)
{
    pthread_mutex_lock(&ready_sent_lock);
    ready_copy_name(ready_sent_name, sizeof(ready_sent_name), master_name);
    pthread_mutex_unlock(&ready_sent_lock);
    atomic_store_explicit(&ready_sent_seeds, nseeds, memory_order_relaxed);
    atomic_fetch_add_explicit(&ready_sent_stores, delta,
                              memory_order_relaxed);
}

void
ready_cluster_store(int delta)
{
    atomic_fetch_add_explicit(&ready_clu_stores, delta, memory_order_relaxed);
}

void
ready_cluster_add(const struct ready_cluster *c, int sign)
{
    atomic_fetch_add_explicit(&ready_clu_nodes, sign * c->nodes,
                              memory_order_relaxed);
    atomic_fetch_add_explicit(&ready_clu_reachable, sign * c->reachable,
                              memory_order_relaxed);
    atomic_fetch_add_explicit(&ready_clu_slots, sign * c->slots,
                              memory_order_relaxed);
}

void
ready_sentinel_confirmed(int delta)
{
    atomic_fetch_add_explicit(&ready_sent_confirmed, delta,
                              memory_order_relaxed);
}

void
ready_sentinel_reach(int seed, bool ok)
{
    uint32_t bit = (uint32_t)1 << (seed & 31);

    if (ok) {
        atomic_fetch_or_explicit(&ready_sent_reach, bit,
                                 memory_order_relaxed);
    } else {
        atomic_fetch_and_explicit(&ready_sent_reach, ~bit,
                                  memory_order_relaxed);
    }
}

bool
ready_sentinel_master(const char *host, unsigned port)
{
    char addr[sizeof(ready_sent_master)], shown[sizeof(ready_sent_master)];
    bool moved;

    snprintf(addr, sizeof(addr), "%s:%u", host, port);
    ready_copy_name(shown, sizeof(shown), addr);
    pthread_mutex_lock(&ready_sent_lock);
    moved = ready_sent_master[0] != '\0' &&
            strcmp(ready_sent_master, shown) != 0;
    memcpy(ready_sent_master, shown, sizeof(shown));
    pthread_mutex_unlock(&ready_sent_lock);
    return moved;
}

void
ready_stopping(void)
{
    atomic_store_explicit(&ready_stop, true, memory_order_relaxed);
}

void
ready_snapshot(struct ready_state *out)
{
    uint64_t last = atomic_load_explicit(&ready_last, memory_order_relaxed);
    uint64_t ok = atomic_load_explicit(&ready_last_ok, memory_order_relaxed);
    uint64_t err = atomic_load_explicit(&ready_last_err, memory_order_relaxed);
    enum rerr_kind kind;
    int64_t             kind_ms;
    size_t              i;

    memset(out, 0, sizeof(*out));
    out->refused = atomic_load_explicit(&ready_refused, memory_order_relaxed);
    out->evicting = atomic_load_explicit(&ready_evicting,
                                         memory_order_relaxed);
    out->unsubscribed = atomic_load_explicit(&ready_unsubscribed,
                                             memory_order_relaxed);
    for (i = 0; i < READY_WRONG_KINDS; i++) {
        out->wrong[i] = atomic_load_explicit(&ready_wrong[i],
                                             memory_order_relaxed);
    }
    if (store_err_last(&kind, &kind_ms)) {
        out->redis_err_ms = kind_ms;
        out->redis_err = (int)kind;
    }
    out->sentinel_stores = atomic_load_explicit(&ready_sent_stores,
                                                memory_order_relaxed);
    out->sentinel_confirmed = atomic_load_explicit(&ready_sent_confirmed,
                                                   memory_order_relaxed);
    out->sentinels = atomic_load_explicit(&ready_sent_seeds,
                                          memory_order_relaxed);
    out->sentinels_reachable = __builtin_popcount(
        atomic_load_explicit(&ready_sent_reach, memory_order_relaxed));
    pthread_mutex_lock(&ready_sent_lock);
    memcpy(out->master_name, ready_sent_name, sizeof(out->master_name));
    memcpy(out->master, ready_sent_master, sizeof(out->master));
    pthread_mutex_unlock(&ready_sent_lock);
    out->cluster_stores = atomic_load_explicit(&ready_clu_stores,
                                               memory_order_relaxed);
    out->cluster.nodes = atomic_load_explicit(&ready_clu_nodes,
                                              memory_order_relaxed);
    out->cluster.reachable = atomic_load_explicit(&ready_clu_reachable,
                                                  memory_order_relaxed);
    out->cluster.slots = atomic_load_explicit(&ready_clu_slots,
                                              memory_order_relaxed);
    out->stores = atomic_load_explicit(&ready_stores, memory_order_relaxed);
    out->redis_up = atomic_load_explicit(&ready_up, memory_order_relaxed);
    out->stopping = atomic_load_explicit(&ready_stop, memory_order_relaxed);
    out->last_ms = (int64_t)(last >> 4);
    out->last = (enum ready_upstream)(last & 0xf);
    out->last_ok_ms = (int64_t)(ok >> 4);
    out->last_err_ms = (int64_t)(err >> 4);
    out->last_err = (enum ready_upstream)(err & 0xf);
}

/* NOW - THEN, never negative (the wall clock may step back). */
static int64_t
ready_age(int64_t now_ms, int64_t then_ms)
{
    return now_ms > then_ms ? now_ms - then_ms : 0;
}

/*
 * Why Redis is not simply up, into REASON (CAP bytes, "" when it is), and
 * its last degrading error reply into LAST; returns whether it is
 * degraded for one of the reasons of SPEC §12.
 */
static bool
ready_redis_reason(const struct ready_state *st, int64_t now_ms,
                   char *reason, size_t cap, char *last, size_t lcap)
{
    bool   recent = st->redis_err_ms != 0 &&
                    ready_age(now_ms, st->redis_err_ms) <
                        READY_REDIS_ERR_RECENT_MS;
    size_t wrong;

    reason[0] = last[0] = '\0';
    if (st->redis_err_ms != 0) {
        snprintf(last, lcap,
                 ",\"last_error\":\"%s\",\"last_error_age_ms\":%" PRId64,
                 rerr_name((enum rerr_kind)st->redis_err),
                 ready_age(now_ms, st->redis_err_ms));
    }
    for (wrong = 0; wrong < READY_WRONG_KINDS && st->wrong[wrong] == 0;
         wrong++) {
        continue;
    }
    if (st->refused > 0) {
        snprintf(reason, cap, ",\"reason\":\"auth: Redis refused the "
                 "proxy's AUTH or SELECT (%d of %d links)\"", st->refused,
                 st->stores);
    } else if (st->sentinel_stores > 0 && st->sentinels_reachable == 0) {
        snprintf(reason, cap, ",\"reason\":\"sentinel: no sentinel "
                 "answers (0 of %d reachable)\"", st->sentinels);
    } else if (st->sentinel_confirmed < st->sentinel_stores) {
        snprintf(reason, cap, ",\"reason\":\"sentinel: master not "
                 "confirmed (%d of %d links on a master)\"",
                 st->sentinel_confirmed, st->sentinel_stores);
    } else if (st->cluster_stores > 0 &&
               (st->cluster.reachable < st->cluster.nodes ||
                st->cluster.slots < 16384 * st->cluster_stores)) {
        snprintf(reason, cap, ",\"reason\":\"cluster: %d of %d masters "
                 "reachable, %d of 16384 slots served\"",
                 st->cluster.reachable / st->cluster_stores,
                 st->cluster.nodes / st->cluster_stores,
                 st->cluster.slots / st->cluster_stores);
    } else if (wrong < READY_WRONG_KINDS) {
        /* Before the error replies it causes (READONLY, MOVED...): this
         * says what to change. */
        snprintf(reason, cap, ",\"reason\":\"%s (%d of %d links)\"",
                 ready_wrong_reasons[wrong], st->wrong[wrong], st->stores);
    } else if (st->unsubscribed > 0) {
        snprintf(reason, cap, ",\"reason\":\"cannot subscribe: Redis "
                 "refused the proxy's channels (%d of %d links): no near "
                 "cache, no wake-ups\"", st->unsubscribed, st->stores);
    } else if (recent) {
        snprintf(reason, cap, ",\"reason\":\"%s: Redis answered errors "
                 "in the last %d s\"",
                 rerr_name((enum rerr_kind)st->redis_err),
                 READY_REDIS_ERR_RECENT_MS / 1000);
    } else if (st->evicting > 0) {
        snprintf(reason, cap, ",\"reason\":\"eviction: maxmemory-policy "
                 "is not noeviction; idempotency records and guards may be "
                 "evicted\"");
    }
    return reason[0] != '\0';
}

int
ready_render(const struct ready_state *st, int64_t now_ms, char *buf,
             size_t cap, size_t *len)
{
    const char *redis, *upstream, *status;
    char        ok[48] = "", err[96] = "", reason[160], last[96];
    char        topo[480] = "";
    bool        faulty;
    int         n;

    faulty = ready_redis_reason(st, now_ms, reason, sizeof(reason), last,
                                sizeof(last));
    if (st->stores > 0 && st->redis_up >= st->stores && !faulty) {
        redis = "up";
    } else if (st->redis_up > 0) {
        redis = "degraded";
    } else {
        redis = "down";
    }
    if (st->last_ms == 0) {
        upstream = "unknown";
    } else if (st->last == READY_UP_OK) {
        upstream = "reachable";
    } else {
        upstream = "failing";
    }
    if (st->stopping) {
        status = "stopping";
    } else if (strcmp(redis, "up") != 0 || strcmp(upstream, "failing") == 0) {
        status = "degraded";
    } else {
        status = "ready";
    }
    if (st->last_ok_ms != 0) {
        snprintf(ok, sizeof(ok), ",\"last_ok_age_ms\":%" PRId64,
                 ready_age(now_ms, st->last_ok_ms));
    }
    if (st->last_err_ms != 0 && st->last_err < READY_UP_COUNT) {
        snprintf(err, sizeof(err),
                 ",\"last_error\":\"%s\",\"last_error_age_ms\":%" PRId64,
                 ready_outcomes[st->last_err],
                 ready_age(now_ms, st->last_err_ms));
    }
    if (st->sentinel_stores > 0) {
        snprintf(topo, sizeof(topo), ",\"mode\":\"sentinel\",\"sentinel\":{"
                 "\"master_name\":\"%s\",\"master\":\"%s\",\"sentinels\":%d,"
                 "\"reachable\":%d,\"confirmed\":%d}", st->master_name,
                 st->master, st->sentinels, st->sentinels_reachable,
                 st->sentinel_confirmed);
    } else if (st->cluster_stores > 0) {
        snprintf(topo, sizeof(topo), ",\"mode\":\"cluster\",\"cluster\":{"
                 "\"nodes\":%d,\"reachable\":%d,\"slots\":%d}",
                 st->cluster.nodes / st->cluster_stores,
                 st->cluster.reachable / st->cluster_stores,
                 st->cluster.slots / st->cluster_stores);
    }
    n = snprintf(buf, cap,
                 "{\"status\":\"%s\",\"redis\":{\"status\":\"%s\","
                 "\"connected\":%d,\"workers\":%d%s%s%s},\"upstream\":{"
                 "\"status\":\"%s\"%s%s}}",
                 status, redis, st->redis_up, st->stores, reason, last, topo,
                 upstream, ok, err);
    if (n < 0 || (size_t)n >= cap) {
        if (cap > 0) {
            buf[0] = '\0';
        }
        return -1;
    }
    *len = (size_t)n;
    return st->stopping ? 503 : 200;
}

int
ready_render_metrics(const struct ready_state *st, char *buf, size_t cap)
{
    int per = st->cluster_stores > 0 ? st->cluster_stores : 1;
    int n;

    n = snprintf(buf, cap,
                 "# HELP heavyset_redis_cluster_nodes Redis Cluster: masters "
                 "serving slots, as a worker sees them (SPEC 12).\n"
                 "# TYPE heavyset_redis_cluster_nodes gauge\n"
                 "heavyset_redis_cluster_nodes %d\n"
                 "# HELP heavyset_redis_cluster_nodes_reachable Redis "
                 "Cluster: of those masters, the ones reachable now.\n"
                 "# TYPE heavyset_redis_cluster_nodes_reachable gauge\n"
                 "heavyset_redis_cluster_nodes_reachable %d\n",
                 st->cluster.nodes / per, st->cluster.reachable / per);
    return n < 0 || (size_t)n >= cap ? -1 : n;
}
