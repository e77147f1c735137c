/*
 * store_watch.c - what the store watches about its Redis (store_watch.h):
 * the kind of server HELLO described, at each connect; and its
 * maxmemory-policy, asked at each connect and every
 * STORE_WATCH_PERIOD_MS while the link is up (an operator or a managed
 * service may change it at runtime), with CONFIG GET (INFO memory for an
 * ACL user without CONFIG), read by store_policy.c's pure parsers; and
 * Redis's clock, from TIME at each connect and every period, as the
 * middle of a round trip no longer than STORE_WATCH_RTT_MAX_MS (a slow
 * one is asked again, a few times at connect).
 *
 * Owns only its state; borrows the call link. What it counts in ready.h
 * it takes back when the link goes down or the watch is freed, so that
 * /readyz always describes the links that are up.
 */
#include "config.h"

#include "store_watch.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sys/time.h>

#include <event2/event.h>

#include <hiredis/hiredis.h>

#include "log.h"
#include "lograte.h"
#include "ready.h"
#include "rlink_types.h"
#include "stats.h"
#include "store_err.h"
#include "store_link.h"
#include "store_policy.h"

#define STORE_WATCH_NONE READY_WRONG_KINDS  /* a usable master, or unknown */
#define STORE_WATCH_PERIOD_MS 10000 /* how often the policy is asked again */
#define STORE_WATCH_TIME_TRIES 3    /* TIMEs at connect until one is quick */

struct store_watch {
    struct event_base *base;        /* borrowed */
    struct store_link *cmd;         /* borrowed: the store's call link */
    bool               cluster;     /* a node of a redis-cluster://
                                     * store: cluster mode expected */
    enum ready_wrong   wrong;       /* counted in ready.h, or NONE */
    bool               evicting;    /* its maxmemory-policy may evict:
                                     * counted in ready.h and the gauge */
    char               policy[64];  /* the policy last seen on this
                                     * connection, or "" */
    bool               no_config;   /* CONFIG GET refused on this
                                     * connection: INFO memory straight */
    struct event      *tick;        /* owned: every STORE_WATCH_PERIOD_MS */
    struct store_replicas replicas; /* what a WAIT asks, from INFO
                                     * replication (store_policy.h) */
    bool               clock_known; /* clock_offset_ms was learned */
    int64_t            clock_offset_ms; /* Redis's clock minus ours */
    int64_t            time_sent_ms;/* our clock when TIME left */
    bool               time_busy;   /* a TIME is in flight */
    unsigned           time_tries;  /* TIMEs left at this connect */
};

static void on_tick(evutil_socket_t fd, short what, void *arg);
static int64_t watch_now_ms(void);

/* What to say of each kind: the log line; the counter. */
static const struct {
    const char        *text;
    enum stats_counter counter;
} store_watch_wrong[READY_WRONG_KINDS] = {
    [READY_WRONG_REPLICA] = {
        "a replica: every write the proxy sends gets READONLY; point "
        "redis at the master", STATS_REDIS_WRONG_REPLICA },
    [READY_WRONG_CLUSTER] = {
        "a cluster node: a redis:// store cannot follow its slots; use "
        "redis-cluster://", STATS_REDIS_WRONG_CLUSTER },
    [READY_WRONG_SENTINEL] = {
        "a sentinel: it holds no data; use redis-sentinel://",
        STATS_REDIS_WRONG_SENTINEL },
    [READY_WRONG_STANDALONE] = {
        "not a cluster node: a redis-cluster:// store needs CLUSTER SLOTS; "
        "use redis://", STATS_REDIS_WRONG_STANDALONE },
};

/* One limiter per kind, shared by every worker's watch: a fleet of
 * workers reconnecting to a replica logs one line per 10 s. */
static struct lograte store_watch_logs[READY_WRONG_KINDS];

struct store_watch *
store_watch_new(struct event_base *base, struct store_link *cmd,
                bool cluster)
{
    struct store_watch *w = calloc(1, sizeof(*w));

    if (w == NULL) {
        log_err("store: out of memory");
        return NULL;
    }
    w->base = base;
    w->cmd = cmd;
    w->cluster = cluster;
    store_replicas_reset(&w->replicas);
    w->wrong = STORE_WATCH_NONE;
    w->tick = event_new(base, -1, EV_PERSIST, on_tick, w);
    if (w->tick == NULL) {
        log_err("store: out of memory");
        free(w);
        return NULL;
    }
    return w;
}

/* Counts W's Redis as of kind WRONG in ready.h (NONE: as usable). */
static void
watch_set_wrong(struct store_watch *w, enum ready_wrong wrong)
{
    if (w->wrong == wrong) {
        return;
    }
    if (w->wrong != STORE_WATCH_NONE) {
        ready_redis_wrong(w->wrong, -1);
    }
    w->wrong = wrong;
    if (wrong != STORE_WATCH_NONE) {
        ready_redis_wrong(wrong, 1);
    }
}

/* Notes whether W's Redis may evict our keys, for /readyz and /metrics. */
static void
watch_set_evicting(struct store_watch *w, bool evicting)
{
    if (w->evicting != evicting) {
        w->evicting = evicting;
        ready_redis_evicting(evicting ? 1 : -1);
        stats_gauge_add(STATS_GAUGE_REDIS_EVICTING, evicting ? 1 : -1);
    }
}

void
store_watch_free(struct store_watch *w)
{
    if (w == NULL) {
        return;
    }
    watch_set_wrong(w, STORE_WATCH_NONE);
    watch_set_evicting(w, false);
    event_free(w->tick);
    free(w);
}

/* The kind of server SV is, for a redis:// store (CLUSTER: a node of a
 * redis-cluster:// one); NONE when usable (or unknown: a Redis without
 * HELLO says nothing, and its errors will). */
static enum ready_wrong
watch_kind(const struct rlink_server *sv, bool cluster)
{
    if (sv->mode == RLINK_MODE_SENTINEL) {
        return READY_WRONG_SENTINEL;
    }
    if (sv->mode == RLINK_MODE_CLUSTER && !cluster) {
        return READY_WRONG_CLUSTER;
    }
    if (sv->mode == RLINK_MODE_STANDALONE && cluster) {
        return READY_WRONG_STANDALONE;
    }
    /* In a Cluster a seed may be a replica: it serves no slot, and the
     * map says where the masters are. */
    if (sv->role == RLINK_ROLE_REPLICA && !cluster) {
        return READY_WRONG_REPLICA;
    }
    return STORE_WATCH_NONE;
}

/* ---- maxmemory-policy ---------------------------------------------------- */

/* W's Redis said its maxmemory-policy is POLICY: logged when it changes
 * (at connect, or at runtime), not at each look. */
static void
watch_policy_seen(struct store_watch *w, const char *policy)
{
    bool evicting = store_policy_evicts(policy);
    bool changed = strcmp(w->policy, policy) != 0;

    watch_set_evicting(w, evicting);
    if (changed && evicting) {
        log_warn("store: redis maxmemory-policy is %s, not noeviction: "
                 "idempotency records and guards may be evicted, so a "
                 "retried PATCH may run twice (SPEC §12)", policy);
    } else if (changed && w->policy[0] != '\0') {
        log_info("store: redis maxmemory-policy is %s again", policy);
    }
    snprintf(w->policy, sizeof(w->policy), "%s", policy);
}

static void
on_policy_info(struct rlink *rl, redisReply *reply, void *privdata)
{
    struct store_watch *w = privdata;
    char                policy[64];

    (void)rl;
    if (reply == NULL) {
        return;
    }
    if (reply->type == REDIS_REPLY_STRING &&
        store_policy_from_info(reply->str, policy, sizeof(policy)) == 0) {
        watch_policy_seen(w, policy);
    } else if (reply->type == REDIS_REPLY_ERROR) {
        store_err_note(rerr_classify(reply->str, reply->len), "INFO memory",
                       reply->str);
    } else {
        log_warn("store: cannot read redis's maxmemory-policy");
    }
}

/* CONFIG GET maxmemory-policy: ["maxmemory-policy", POLICY]; an ACL user
 * without CONFIG (NOPERM) or a renamed CONFIG asks INFO memory instead,
 * and that refusal is expected, so it is not noted. */
static void
on_policy_config(struct rlink *rl, redisReply *reply, void *privdata)
{
    struct store_watch *w = privdata;
    const char         *info[2] = { "INFO", "memory" };

    (void)rl;
    if (reply == NULL) {
        return;
    }
    if (reply->type == REDIS_REPLY_ARRAY && reply->elements == 2 &&
        reply->element[1]->type == REDIS_REPLY_STRING) {
        watch_policy_seen(w, reply->element[1]->str);
        return;
    }
    w->no_config = true;            /* until the next connection */
    (void)store_link_command(w->cmd, 2, info, NULL, on_policy_info, w);
}

/* Asks the call link's Redis for its maxmemory-policy. */
static void
watch_ask_policy(struct store_watch *w)
{
    const char *policy[3] = { "CONFIG", "GET", "maxmemory-policy" };
    const char *info[2] = { "INFO", "memory" };

    if (w->no_config) {
        (void)store_link_command(w->cmd, 2, info, NULL, on_policy_info, w);
    } else {
        (void)store_link_command(w->cmd, 3, policy, NULL, on_policy_config,
                                 w);
    }
}

/* ---- a master's replicas -------------------------------------------------- */

static void
on_replication(struct rlink *rl, redisReply *reply, void *privdata)
{
    struct store_watch *w = privdata;
    char                n[16];

    (void)rl;
    if (reply != NULL && reply->type == REDIS_REPLY_STRING &&
        store_policy_info_field(reply->str, "connected_slaves:", n,
                                sizeof(n)) == 0) {
        (void)store_replicas_seen(&w->replicas, atoi(n), watch_now_ms());
    }
}

/* How many replicas the master has, so that a durable script waits for
 * every one a failover could promote (store_call.c). */
static void
watch_ask_replicas(struct store_watch *w)
{
    const char *info[2] = { "INFO", "replication" };

    (void)store_link_command(w->cmd, 2, info, NULL, on_replication, w);
}

int
store_watch_replicas(const struct store_watch *w)
{
    return w->replicas.want;
}

/* ---- Redis's clock -------------------------------------------------------- */

/* Our wall clock in ms: the clock a claim's deadline is reckoned in. */
static int64_t
watch_now_ms(void)
{
    struct timeval tv;

    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

static void watch_ask_time(struct store_watch *w);

/* TIME's reply: ["seconds", "microseconds"], as strings. */
static void
on_time(struct rlink *rl, redisReply *reply, void *privdata)
{
    struct store_watch *w = privdata;
    int64_t             now = watch_now_ms(), redis_ms;

    (void)rl;
    w->time_busy = false;
    if (reply == NULL) {
        return;
    }
    if (reply->type == REDIS_REPLY_ERROR) {
        store_err_note(rerr_classify(reply->str, reply->len), "TIME",
                       reply->str);
        return;
    }
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2 ||
        reply->element[0]->type != REDIS_REPLY_STRING ||
        reply->element[1]->type != REDIS_REPLY_STRING) {
        return;
    }
    if (now < w->time_sent_ms ||
        now - w->time_sent_ms > STORE_WATCH_RTT_MAX_MS) {
        /* Too slow to say when Redis read it: ask again, a few times. */
        if (w->time_tries > 0) {
            watch_ask_time(w);
        }
        return;
    }
    redis_ms = strtoll(reply->element[0]->str, NULL, 10) * 1000 +
               strtoll(reply->element[1]->str, NULL, 10) / 1000;
    w->clock_offset_ms = redis_ms - (w->time_sent_ms + now) / 2;
    w->clock_known = true;
}

/* Asks the call link's Redis for its clock, unless a TIME is out. */
static void
watch_ask_time(struct store_watch *w)
{
    const char *time[1] = { "TIME" };

    if (w->time_busy) {
        return;
    }
    if (w->time_tries > 0) {
        w->time_tries--;
    }
    w->time_sent_ms = watch_now_ms();
    w->time_busy = store_link_command(w->cmd, 1, time, NULL, on_time, w) ==
                   0;
}

bool
store_watch_clock(const struct store_watch *w, int64_t *offset_ms)
{
    if (!w->clock_known) {
        return false;
    }
    *offset_ms = w->clock_offset_ms;
    return true;
}

/* Every STORE_WATCH_PERIOD_MS while the call link is up. */
static void
on_tick(evutil_socket_t fd, short what, void *arg)
{
    struct store_watch *w = arg;

    (void)fd;
    (void)what;
    if (store_link_up(w->cmd)) {
        watch_ask_policy(w);
        watch_ask_time(w);
        watch_ask_replicas(w);
    }
}

/* ---- the link's events --------------------------------------------------- */

void
store_watch_up(struct store_watch *w)
{
    struct rlink_server sv;
    enum ready_wrong    wrong;
    struct timeval      tv = { STORE_WATCH_PERIOD_MS / 1000,
                               (STORE_WATCH_PERIOD_MS % 1000) * 1000 };

    /* Its clock first, so that the first claims have a deadline; may it
     * evict our keys? (SPEC §12) Now, and every period. */
    w->time_busy = false;
    w->time_tries = STORE_WATCH_TIME_TRIES;
    watch_ask_time(w);
    w->policy[0] = '\0';
    w->no_config = false;
    watch_ask_policy(w);
    store_replicas_reset(&w->replicas); /* another connection, maybe
                                         * another master */
    watch_ask_replicas(w);
    evtimer_add(w->tick, &tv);
    store_link_server(w->cmd, &sv);
    wrong = watch_kind(&sv, w->cluster);
    watch_set_wrong(w, wrong);
    if (wrong == STORE_WATCH_NONE) {
        return;
    }
    /* Fail open all the same: reads may still be served from it, and
     * every refused write fails open on its own. */
    stats_add(store_watch_wrong[wrong].counter, 1);
    log_rated(&store_watch_logs[wrong], LOG_WARN, "store: redis %s is %s",
              sv.version, store_watch_wrong[wrong].text);
}

void
store_watch_lost(struct store_watch *w)
{
    watch_set_wrong(w, STORE_WATCH_NONE);
    watch_set_evicting(w, false);
    evtimer_del(w->tick);
}
