/*
 * store_call.c - the store's calls (store.h's store_eval, store_cancel
 * and store_available, which store.c forwards here): each script run by SHA (EVAL again after NOSCRIPT) on the
 * node that serves its first key, with a deadline, and the health that
 * calls reveal, per node and for /readyz.
 *
 * An op has two ends: the caller's callback (run once, on a reply, a
 * failure or its deadline) and the link's (run once, with the reply or
 * with NULL when the connection goes). It is freed when both have
 * happened. The deadline is the store's own timer, not the link's: a
 * call past it gets NULL and marks its node unhealthy, and only
 * STORE_TIMEOUTS_TO_DROP misses in a row drop the node's link.
 *
 * Cluster (SPEC §12): a node that answers MOVED or ASK has not run the
 * script, so the op is sent again where the reply points, up to
 * STORE_REDIRECTS_MAX times (MOVED also re-points the slot and has the
 * map read again: store_cluster.h); TRYAGAIN (a multi-key script over a
 * slot half migrated) and CLUSTERDOWN are sent again every
 * STORE_RETRY_MS until the op's deadline. A node whose link is down
 * fails its own calls at once: the other nodes' tenants keep their
 * cache.
 */
#include "config.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <hiredis/hiredis.h>

#include "cmap.h"
#include "log.h"
#include "lograte.h"
#include "slot.h"
#include "stats.h"
#include "store_cluster.h"
#include "store_err.h"
#include "store_int.h"
#include "store_script.h"
#include "store_sentinel.h"
#include "store_sub.h"
#include "store_watch.h"
#include "ready.h"

#define STORE_TIMEOUTS_TO_DROP 3     /* consecutive missed deadlines */
#define STORE_ARGS_MAX         16
#define STORE_REDIRECTS_MAX    5     /* MOVED/ASK followed per call */
#define STORE_RETRY_MS         25    /* TRYAGAIN, CLUSTERDOWN: again */

struct store_op {
    struct store        *st;        /* borrowed */
    struct store_node   *node;      /* borrowed: where it is sent */
    struct event        *timer;     /* owned: the deadline */
    store_cb             cb;
    void                *arg;
    struct store_script *script;    /* borrowed: for the NOSCRIPT retry */
    int                  argc;      /* EVALSHA sha nkeys args... */
    char                *argv[STORE_ARGS_MAX + 3]; /* owned copies */
    const char          *cargv[STORE_ARGS_MAX + 3]; /* the same, const */
    size_t               lens[STORE_ARGS_MAX + 3];
    bool                 user_done; /* CB ran or was cancelled */
    bool                 redis_done;/* the link is done with the op */
    bool                 retried;   /* EVAL sent after NOSCRIPT */
    bool                 asking;    /* Cluster: ASKING goes first */
    bool                 retrying;  /* Cluster: held for a TRYAGAIN or
                                     * CLUSTERDOWN: its node answers */
    unsigned             redirects; /* MOVED/ASK followed so far */
    bool                 waits;     /* a durable script: a WAIT for its
                                     * replicas follows it (op_replicas) */
    int                  want;      /* replicas that WAIT must count */
    bool                 wait_due;  /* that WAIT's callback has not run */
    redisReply          *kept;      /* owned: its reply, until WAIT's */
    struct store_op     *next_held; /* in its node's held list */
};

static void on_reply(struct rlink *rl, redisReply *reply, void *privdata);
static void on_waited(struct rlink *rl, redisReply *reply, void *privdata);
static void on_op_timer(evutil_socket_t fd, short what, void *arg);

/* ---- health ------------------------------------------------------------ */

static bool
node_available(const struct store_node *n)
{
    return store_link_up(&n->cmd) && n->healthy;
}

bool
store_call_available(const struct store *st)
{
    int i;

    for (i = 0; i < st->nnodes; i++) {
        if (node_available(st->nodes[i])) {
            return true;
        }
    }
    return false;
}

/* A cluster that serves some slots is "up" in ready.h's count; the
 * masters it lacks make /readyz degraded through the topology
 * (store_cluster.c), not "down". */
void
store_health(struct store *st)
{
    bool up = !st->freeing && st->nnodes > 0 &&
              (st->clu != NULL ? store_call_available(st)
                               : node_available(st->nodes[0]));

    if (up != st->counted_up) {
        st->counted_up = up;
        ready_redis_up(up ? 1 : -1);
    }
}

/* ---- sending ----------------------------------------------------------- */

static void
op_free(struct store_op *op)
{
    int i;

    event_free(op->timer);
    if (op->kept != NULL) {
        freeReplyObject(op->kept);
    }
    for (i = 0; i < op->argc; i++) {
        free(op->argv[i]);
    }
    free(op);
}

static void
op_maybe_free(struct store_op *op)
{
    if (op->user_done && op->redis_done && !op->wait_due) {
        op_free(op);
    }
}

/*
 * How many replicas must have a durable script's writes before its reply
 * counts (SPEC §12), on node N: 0, no WAIT, outside Sentinel and Cluster
 * and on a cluster master without replicas (nobody to fail over to).
 * Otherwise every replica the master has: with two, a WAIT for one can
 * be answered by the replica Sentinel does not promote, which drops what
 * it took from the old master when it follows the new one, and a claim
 * made just before the switch is lost (scripts/chaos --phases failover
 * saw PATCHes run twice that way). With Sentinel, at least one even
 * while the count is unknown or 0: a master cut off from its replicas
 * is what a failover loses.
 */
static int
op_replicas(const struct store *st, const struct store_node *n)
{
    int r = store_watch_replicas(n->watch);

    if (st->sent != NULL) {
        return r > 1 ? r : 1;
    }
    return st->clu != NULL && r > 0 ? r : 0;
}

/*
 * Sends OP on its node's call link: after ASKING when a node said ASK,
 * and after a durable script that must reach replicas (op_replicas)
 * followed by `WAIT n ms` in the same write: the reply counts only once
 * they have the script's writes. Replicas acknowledge within a round
 * trip; a master with fewer holds the link until ms (a quarter of the
 * deadline, or Redis's next cron tick, up to 100 ms at hz 10), and the
 * call fails.
 */
static int
op_send(struct store_op *op)
{
    struct store_node *n = op->node;
    struct store      *st = op->st;
    char               ms[24], nrep[16];
    const char        *wait[3] = { "WAIT", nrep, ms };
    const char        *asking[1] = { "ASKING" };
    int                replicas = op->script->durable ? op_replicas(st, n)
                                                      : 0;

    op->retrying = false;
    if (op->asking &&
        store_link_command(&n->cmd, 1, asking, NULL, NULL, NULL) != 0) {
        return -1;
    }
    if (store_link_command(&n->cmd, op->argc, op->cargv, op->lens, on_reply,
                           op) != 0) {
        return -1;
    }
    op->waits = replicas > 0;
    op->want = replicas;
    snprintf(nrep, sizeof(nrep), "%d", replicas);
    snprintf(ms, sizeof(ms), "%lld",
             (long long)(st->timeout_ms > 4 ? st->timeout_ms / 4 : 1));
    op->wait_due = op->waits && store_link_command(&n->cmd, 3, wait, NULL,
                                                   on_waited, op) == 0;
    return 0;
}

/* Holds OP on its node until the node's link is up (its first connect,
 * or a redirection to a node just met) or a retry is due; its deadline
 * runs meanwhile. */
static void
op_hold(struct store_op *op)
{
    struct store_node *n = op->node;

    op->next_held = NULL;
    *n->held_tail = op;
    n->held_tail = &op->next_held;
}

/* Sends OP to its node now if its link is up, else holds it there while
 * the link connects. -1: the node is down, OP not taken. */
static int
op_dispatch(struct store_op *op)
{
    if (store_link_up(&op->node->cmd)) {
        return op_send(op);
    }
    if (op->node->cmd.connecting) {
        op_hold(op);
        return 0;
    }
    return -1;
}

void
store_call_flush(struct store_node *node, bool send)
{
    struct store_op *op = node->held, *next;

    node->held = NULL;
    node->held_tail = &node->held;
    for (; op != NULL; op = next) {
        next = op->next_held;
        if (!send || op->user_done || op_send(op) != 0) {
            on_reply(NULL, NULL, op);   /* as if the connection went */
        }
    }
}

static void
on_node_retry(evutil_socket_t fd, short what, void *arg)
{
    struct store_node *n = arg;

    (void)fd;
    (void)what;
    if (store_link_up(&n->cmd)) {
        store_call_flush(n, true);
    }
}

/* Sends OP again after STORE_RETRY_MS (TRYAGAIN, CLUSTERDOWN), unless
 * its deadline comes first. */
static void
op_retry_later(struct store_op *op)
{
    struct store_node *n = op->node;
    struct timeval     tv = { 0, STORE_RETRY_MS * 1000 };

    stats_add(STATS_REDIS_CLUSTER_RETRIES, 1);
    op->retrying = true;
    op_hold(op);
    if (n->retry == NULL) {
        n->retry = evtimer_new(op->st->base, on_node_retry, n);
    }
    if (n->retry != NULL && !evtimer_pending(n->retry, NULL)) {
        evtimer_add(n->retry, &tv);
    }
}

/* The node for a call whose first key is KEY (LEN bytes; NULL: none). */
static struct store_node *
call_route(struct store *st, const char *key, size_t len)
{
    struct store_node *n;
    int                i;

    if (st->clu == NULL) {
        return st->nodes[0];
    }
    if (key != NULL &&
        (n = store_cluster_route(st->clu, slot_of(key, len))) != NULL) {
        return n;
    }
    /* No map yet, or no key: a node that is up (a MOVED will say where
     * the slot is), else one still connecting. */
    for (i = 0; i < st->nnodes; i++) {
        if (node_available(st->nodes[i])) {
            return st->nodes[i];
        }
    }
    for (i = 0; i < st->nnodes; i++) {
        if (st->nodes[i]->cmd.connecting) {
            return st->nodes[i];
        }
    }
    return st->nodes[0];
}

struct store_op *
store_call_eval(struct store *st, struct store_script *script, int nkeys,
                int argc, const char *const *argv, const size_t *lens,
                store_cb cb, void *arg)
{
    struct store_node *node;
    struct store_op   *op;
    struct timeval     tv;
    char               nk[16];
    int                i;

    assert(argc <= STORE_ARGS_MAX && nkeys <= argc);
    node = call_route(st, nkeys > 0 ? argv[0] : NULL,
                      nkeys > 0 ? lens[0] : 0);
    if (!store_link_up(&node->cmd) && !node->cmd.connecting) {
        stats_add(STATS_REDIS_UNAVAILABLE, 1);
        return NULL;
    }
    op = calloc(1, sizeof(*op));
    if (op == NULL) {
        return NULL;
    }
    op->st = st;
    op->node = node;
    op->cb = cb;
    op->arg = arg;
    op->script = script;
    op->timer = evtimer_new(st->base, on_op_timer, op);
    if (op->timer == NULL) {
        free(op);
        return NULL;
    }
    snprintf(nk, sizeof(nk), "%d", nkeys);
    op->argv[0] = strdup("EVALSHA");
    op->argv[1] = strdup(script->sha);
    op->argv[2] = strdup(nk);
    op->argc = 3;
    for (i = 0; i < argc; i++) {
        op->argv[3 + i] = malloc(lens[i] + 1);
        if (op->argv[3 + i] == NULL) {
            break;
        }
        memcpy(op->argv[3 + i], argv[i], lens[i]);
        op->argv[3 + i][lens[i]] = '\0';
        op->lens[3 + i] = lens[i];
        op->argc++;
    }
    for (i = 0; i < 3; i++) {
        op->lens[i] = op->argv[i] != NULL ? strlen(op->argv[i]) : 0;
    }
    for (i = 0; i < op->argc; i++) {
        op->cargv[i] = op->argv[i];
    }
    if (op->argc != 3 + argc || op->argv[0] == NULL || op->argv[1] == NULL ||
        op->argv[2] == NULL || op_dispatch(op) != 0) {
        op->argc = op->argc < 3 ? 3 : op->argc;
        op_free(op);
        return NULL;
    }
    tv.tv_sec = (time_t)(st->timeout_ms / 1000);
    tv.tv_usec = (suseconds_t)(st->timeout_ms % 1000) * 1000;
    evtimer_add(op->timer, &tv);
    return op;
}

void
store_call_cancel(struct store_op *op)
{
    assert(!op->user_done);
    op->user_done = true;
    evtimer_del(op->timer);
    op_maybe_free(op);
}

static void
op_deliver(struct store_op *op, redisReply *reply)
{
    if (op->user_done) {
        return;
    }
    op->user_done = true;
    evtimer_del(op->timer);
    op->cb(reply, op->arg);
}

/* ---- replies ----------------------------------------------------------- */

/*
 * Cluster: the error REPLY says OP was not run here but belongs
 * elsewhere (MOVED, ASK) or later (TRYAGAIN, CLUSTERDOWN). Sends or
 * holds it accordingly and returns true; false when the error is of
 * another kind, or cannot be followed (too many redirections, a node
 * that cannot be made or is down): the caller fails OP. A call whose
 * caller gave up (its deadline) still follows a redirection, as it would
 * have run where it was sent: an UNLOCK or an invalidation nobody waits
 * for must not be lost to a slot that moved. Only its retries stop.
 */
static bool
op_follow(struct store_op *op, const redisReply *reply)
{
    struct store      *st = op->st;
    struct store_node *to;
    struct cmap_node   where;
    unsigned           slot;
    enum cmap_redirect kind;

    if (st->clu == NULL || st->freeing) {
        return false;
    }
    if (strncmp(reply->str, "TRYAGAIN", 8) == 0 ||
        strncmp(reply->str, "CLUSTERDOWN", 11) == 0) {
        if (op->user_done) {
            return false;           /* nobody waits: let it go */
        }
        if (reply->str[0] == 'C') {
            /* Unlike TRYAGAIN (a migration under way), a cluster that
             * says it is down is a fault /readyz must show (SPEC §12). */
            store_err_note(RERR_CLUSTER, op->script->name, reply->str);
        }
        op_retry_later(op);
        return true;
    }
    kind = cmap_parse_redirect(reply->str, reply->len, &slot, &where);
    if (kind == CMAP_NOT_REDIRECT || op->redirects >= STORE_REDIRECTS_MAX) {
        return false;
    }
    if (where.host[0] == '\0') {    /* "the node you asked" */
        snprintf(where.host, sizeof(where.host), "%s", op->node->url.host);
    }
    to = kind == CMAP_MOVED
             ? store_cluster_moved(st->clu, slot, where.host, where.port)
             : store_cluster_ask(st->clu, where.host, where.port);
    if (to == NULL) {
        return false;
    }
    op->redirects++;
    op->asking = kind == CMAP_ASK;
    op->node = to;
    return op_dispatch(op) == 0;
}

static void
on_reply(struct rlink *rl, redisReply *reply, void *privdata)
{
    struct store_op   *op = privdata;
    struct store      *st = op->st;
    struct store_node *n = op->node;

    (void)rl;
    if (reply != NULL && reply->type == REDIS_REPLY_ERROR) {
        enum rerr_kind kind = rerr_classify(reply->str, reply->len);

        if (op_follow(op, reply)) {
            return;                 /* sent again: the link calls again */
        }
        store_err_note(kind, op->script->name, reply->str);
        if (kind == RERR_READONLY) {
            /* A master demoted under us: ask the sentinels where the
             * master went. Later calls fail open meanwhile. */
            store_sentinel_doubt(st->sent, "READONLY");
        }
    }
    if (reply != NULL && reply->type == REDIS_REPLY_ERROR &&
        strncmp(reply->str, "NOSCRIPT", 8) == 0 && !op->retried &&
        !op->waits &&
        !op->user_done && !st->freeing) {
        /* Redis restarted or flushed its scripts: send the source once,
         * which also caches it again (PITFALLS §4.4.1). */
        free(op->argv[0]);
        free(op->argv[1]);
        op->argv[0] = strdup("EVAL");
        op->argv[1] = strdup(op->script->source);
        op->retried = true;
        op->cargv[0] = op->argv[0];
        op->cargv[1] = op->argv[1];
        if (op->argv[0] != NULL && op->argv[1] != NULL) {
            op->lens[0] = 4;
            op->lens[1] = strlen(op->argv[1]);
            if (store_link_command(&n->cmd, op->argc, op->cargv, op->lens,
                                   on_reply, op) == 0) {
                return;
            }
        }
    }
    op->redis_done = true;
    if (reply == NULL) {
        if (!op->user_done && !st->freeing) {
            stats_add(STATS_REDIS_FAILED, 1);
        }
        op_deliver(op, NULL);
    } else {
        n->timeouts = 0;
        n->healthy = true;
        store_health(st);
        if (reply->type == REDIS_REPLY_ERROR) {
            if (!op->user_done) {
                stats_add(STATS_REDIS_SCRIPT, 1);
            }
            op_deliver(op, NULL);   /* noted above, by kind */
        } else if (op->wait_due) {
            op->kept = store_script_reply_copy(reply); /* for on_waited */
        } else {
            op_deliver(op, reply);
        }
    }
    op_maybe_free(op);
}

/* A durable script ran but no replica took its writes in time: the
 * call fails (counted, logged), as with Redis away. Redis answered, so
 * the store's health is not in question. */
static void
op_unreplicated(struct store_op *op)
{
    static struct lograte logs;

    if (op->user_done) {
        return;
    }
    stats_add(STATS_REDIS_UNREPLICATED, 1);
    log_rated(&logs, LOG_WARN,
              "store: no replica took %s's writes in time: failed, as a "
              "failover could lose them", op->script->name);
    op_deliver(op, NULL);
}

/* WAIT's reply after a durable script: how many replicas have its
 * writes. Fewer than asked (a master cut off from a replica, as while
 * Sentinel fails over), or no reply: the call failed. */
static void
on_waited(struct rlink *rl, redisReply *reply, void *privdata)
{
    struct store_op *op = privdata;

    (void)rl;
    op->wait_due = false;
    if (op->kept != NULL && reply != NULL &&
        reply->type == REDIS_REPLY_INTEGER && reply->integer >= op->want) {
        op_deliver(op, op->kept);
    } else if (op->kept != NULL) {
        op_unreplicated(op);
    } else {
        op_deliver(op, NULL);       /* the script failed, or the link */
    }
    op_maybe_free(op);
}

static void
on_op_timer(evutil_socket_t fd, short what, void *arg)
{
    struct store_op   *op = arg;
    struct store      *st = op->st;
    struct store_node *n = op->node;

    (void)fd;
    (void)what;
    if (op->kept != NULL) {         /* only WAIT is still due */
        op_unreplicated(op);
        op_maybe_free(op);
        return;
    }
    stats_add(STATS_REDIS_TIMEOUT, 1);
    op_deliver(op, NULL);
    if (op->retrying) {
        /* Its node answers, with TRYAGAIN (a slot being migrated): not a
         * frozen Redis, so nothing to forget and no link to drop. */
        op_maybe_free(op);
        return;
    }
    if (n->healthy) {
        /* A frozen Redis tells us nothing: forget what we hold. */
        store_sub_forget(n->sub);
        n->healthy = false;
        store_health(st);
        /* nor does it publish: waiters look again (and fail open) */
        store_sub_lost(n->sub);
    }
    if (++n->timeouts >= STORE_TIMEOUTS_TO_DROP && store_link_up(&n->cmd)) {
        log_warn("store: %s missed %u deadlines in a row; reconnecting",
                 n->name, n->timeouts);
        n->timeouts = 0;
        /* Pending ops get NULL, op included; the link counts the loss
         * and tells the store (STORE_LINK_LOST). */
        store_link_drop(&n->cmd);
        return;                     /* OP may be freed by now */
    }
    op_maybe_free(op);
}
