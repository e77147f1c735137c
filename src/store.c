/*
 * store.c - the store's policy over its Redis links: scripts run by SHA
 * (EVAL again after NOSCRIPT), a deadline on every call, fail-open
 * health for /readyz, and the public face of store.h.
 *
 * An op has two ends: the caller's callback (run once, on a reply, a
 * failure or its deadline) and the link's (run once, with the reply or
 * with NULL when the connection goes). It is freed when both have
 * happened. The deadline is the store's own timer, not the link's: a
 * call past it gets NULL and marks the store unhealthy, and only
 * STORE_TIMEOUTS_TO_DROP misses in a row drop the link.
 *
 * The connection itself (connect, TLS, AUTH, SELECT, reconnect with
 * backoff that resets only once Redis answers) is store_link.c's, on an
 * rlink; subscriptions and the tracking that keeps a near cache coherent
 * are store_sub.c's; what the store watches about its Redis (its role,
 * its eviction policy) store_watch.c's. This file owns the store, its
 * call link, its subscriber and its watch, and calls down into them;
 * they tell it what happens through callbacks only.
 */
#include "config.h"

#include "store.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/dns.h>
#include <event2/event.h>
#include <hiredis/hiredis.h>

#include "log.h"
#include "lograte.h"
#include "ready.h"
#include "stats.h"
#include "store_err.h"
#include "store_link.h"
#include "store_script.h"
#include "store_sentinel.h"
#include "store_sub.h"
#include "store_watch.h"
#include "url.h"

#define STORE_TIMEOUTS_TO_DROP 3     /* consecutive missed deadlines */
#define STORE_ARGS_MAX         16

struct store {
    struct event_base *base;        /* borrowed */
    struct evdns_base *dns;         /* owned: only when none was given */
    struct url_redis   url;
    int64_t            timeout_ms;
    struct store_link  cmd;         /* owned: calls */
    struct store_sub  *sub;         /* owned: subscriptions, tracking */
    bool               healthy;     /* last call answered */
    unsigned           timeouts;    /* consecutive missed deadlines */
    bool               freeing;
    bool               counted_up;  /* counted in ready_redis_up */
    struct store_watch *watch;      /* owned: what we watch of Redis */
    struct store_sentinel *sent;    /* owned: redis-sentinel:// only */
    struct store_op   *held;        /* calls made while the link's first
                                     * connect was under way, oldest
                                     * first: sent once it is up */
    struct store_op  **held_tail;
};

struct store_op {
    struct store        *st;        /* borrowed */
    struct event        *timer;     /* owned: the deadline */
    store_cb             cb;
    void                *arg;
    struct store_script *script;    /* borrowed: for the NOSCRIPT retry */
    int                  argc;      /* EVALSHA sha nkeys args... */
    char                *argv[STORE_ARGS_MAX + 3]; /* owned copies */
    const char          *cargv[STORE_ARGS_MAX + 3]; /* the same, const */
    size_t               lens[STORE_ARGS_MAX + 3];
    bool                 user_done; /* CB ran or was cancelled */
    bool                 redis_done;/* hiredis is done with the op */
    bool                 retried;   /* EVAL sent after NOSCRIPT */
    bool                 waits;     /* a durable script, Sentinel: a WAIT
                                     * for a replica follows it */
    bool                 wait_due;  /* that WAIT's callback has not run */
    redisReply          *kept;      /* owned: its reply, until WAIT's */
    struct store_op     *next_held; /* in st->held */
};

static void on_cmd_link(struct store_link *link, enum store_link_event ev,
                        void *arg);
static void on_reply(struct rlink *rl, redisReply *reply, void *privdata);
static void on_waited(struct rlink *rl, redisReply *reply, void *privdata);
static void on_op_timer(evutil_socket_t fd, short what, void *arg);
static void store_health(struct store *st);
static void store_held_flush(struct store *st, bool send);
static int store_hold(struct store *st, struct store_op *op);

struct store *
store_new(struct event_base *base, struct evdns_base *dns, const char *url,
          const struct store_opts *tls, int64_t timeout_ms)
{
    struct store_link_conf lc;
    struct store          *st;
    char                   err[128];

    st = calloc(1, sizeof(*st));
    if (st == NULL) {
        log_err("store: out of memory");
        return NULL;
    }
    if (url_parse_redis(url, &st->url, err, sizeof(err)) != 0) {
        log_err("store: redis URL: %s", err);
        free(st);
        return NULL;
    }
    st->base = base;
    st->timeout_ms = timeout_ms;
    st->held_tail = &st->held;
    ready_redis_store(1);           /* store_free uncounts it */
    if (dns == NULL && !st->url.unix_socket) {
        /* No resolver from the worker: one of our own, for addresses
         * and /etc/hosts at least. */
        st->dns = evdns_base_new(base, 0);
        if (st->dns != NULL) {
            (void)evdns_base_load_hosts(st->dns, NULL);
        }
        dns = st->dns;
    }
    memset(&lc, 0, sizeof(lc));
    lc.url = &st->url;
    if (tls != NULL) {
        lc.ca_file = tls->ca_file;
        lc.cert_file = tls->cert_file;
        lc.key_file = tls->key_file;
    }
    lc.timeout_ms = 0;              /* the store's timers: on_op_timer */
    if (store_link_init(&st->cmd, base, dns, &lc, "redis", on_cmd_link, NULL,
                        st) != 0 ||
        (st->sub = store_sub_new(base, dns, &lc, &st->cmd)) == NULL ||
        (st->watch = store_watch_new(base, &st->cmd)) == NULL) {
        store_free(st);             /* they logged why */
        return NULL;
    }
    if (st->url.sentinel) {
        struct store_sentinel_conf sc = {
            .url = &st->url, .ca_file = lc.ca_file,
            .cert_file = lc.cert_file, .key_file = lc.key_file,
            .user = tls != NULL ? tls->sentinel_user : NULL,
            .password = tls != NULL ? tls->sentinel_password : NULL,
            .cmd = &st->cmd, .sub = st->sub,
        };

        /* The links stay held until the sentinels name the master. */
        st->sent = store_sentinel_new(base, dns, &sc);
        if (st->sent == NULL) {
            store_free(st);
            return NULL;
        }
    }
    store_link_connect(&st->cmd);
    return st;
}

void
store_set_timeout(struct store *st, int64_t timeout_ms)
{
    st->timeout_ms = timeout_ms;
}

void
store_free(struct store *st)
{
    if (st == NULL) {
        return;
    }
    st->freeing = true;
    store_held_flush(st, false);    /* held calls get NULL */
    store_link_stop(&st->cmd);      /* pending callbacks get NULL */
    store_watch_free(st->watch);
    store_sentinel_free(st->sent);
    store_sub_free(st->sub);
    store_health(st);
    ready_redis_store(-1);          /* store_new counted it */
    if (st->dns != NULL) {
        evdns_base_free(st->dns, 0);
    }
    free(st);
}

bool
store_available(const struct store *st)
{
    return store_link_up(&st->cmd) && st->healthy;
}

/* Tells /readyz (ready.h) when ST's calls become usable or stop being. */
static void
store_health(struct store *st)
{
    bool up = !st->freeing && store_available(st);

    if (up != st->counted_up) {
        st->counted_up = up;
        ready_redis_up(up ? 1 : -1);
    }
}

/* What the call link tells: the store's health follows it, and so does
 * tracking, whose CLIENT TRACKING lives on this link. */
static void
on_cmd_link(struct store_link *link, enum store_link_event ev, void *arg)
{
    struct store *st = arg;

    switch (ev) {
    case STORE_LINK_UP: {
        if (st->sent != NULL && !store_sentinel_up(st->sent)) {
            return;                 /* a replica: no call goes there */
        }

        st->healthy = true;
        store_health(st);
        /* First its clock (TIME, before the scripts load: a quick
         * answer), what it is, and may it evict. */
        store_watch_up(st->watch);
        store_script_load_all(link);
        store_sub_cmd_up(st->sub);
        store_held_flush(st, true); /* after SCRIPT LOAD: no NOSCRIPT */
        break;
    }
    case STORE_LINK_FAILED:
        store_held_flush(st, false);
        store_health(st);
        store_sentinel_doubt(st->sent, "cannot connect to the master");
        break;
    case STORE_LINK_LOST:
        store_held_flush(st, false);
        store_watch_lost(st->watch);
        store_health(st);
        store_sub_track_lost(st->sub);
        store_sentinel_doubt(st->sent, "the master's link was lost");
        break;
    }
}

/* ---- subscriptions and tracking: store_sub.c --------------------------- */

int
store_subscribe(struct store *st, const char *channel, store_msg_cb cb,
                void *arg)
{
    return store_sub_add(st->sub, channel, cb, arg);
}

int
store_track(struct store *st, store_inval_cb cb, void *arg)
{
    return store_sub_track(st->sub, cb, arg);
}

bool
store_tracking(const struct store *st)
{
    return st->healthy && store_sub_tracking(st->sub);
}

bool
store_listening(const struct store *st)
{
    return store_sub_listening(st->sub);
}

bool
store_clock_offset(const struct store *st, int64_t *offset_ms)
{
    return store_watch_clock(st->watch, offset_ms);
}

void
store_poll(struct store *st)
{
    store_sub_poll(st->sub);
}

/* ---- calls ------------------------------------------------------------- */

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
 * Sends OP on the call link, and after a durable script, with Sentinel,
 * `WAIT 1 ms` in the same write: the reply counts only once a replica
 * has the script's writes, as a master about to lose a failover has
 * none (SPEC §12). A replica acknowledges within a round trip; a master
 * without one holds the link until ms (a quarter of the deadline, or
 * Redis's next cron tick, up to 100 ms at hz 10), and the call fails.
 */
static int
op_send(struct store *st, struct store_op *op)
{
    char        ms[24];
    const char *wait[3] = { "WAIT", "1", ms };

    if (store_link_command(&st->cmd, op->argc, op->cargv, op->lens,
                           on_reply, op) != 0) {
        return -1;
    }
    op->waits = st->sent != NULL && op->script->durable;
    snprintf(ms, sizeof(ms), "%lld",
             (long long)(st->timeout_ms > 4 ? st->timeout_ms / 4 : 1));
    op->wait_due = op->waits && store_link_command(&st->cmd, 3, wait, NULL,
                                                   on_waited, op) == 0;
    return 0;
}

struct store_op *
store_eval(struct store *st, struct store_script *script, int nkeys,
           int argc, const char *const *argv, const size_t *lens,
           store_cb cb, void *arg)
{
    struct store_op *op;
    struct timeval   tv;
    char             nk[16];
    int              i;

    assert(argc <= STORE_ARGS_MAX && nkeys <= argc);
    if (!store_link_up(&st->cmd) && !st->cmd.connecting) {
        stats_add(STATS_REDIS_UNAVAILABLE, 1);
        return NULL;
    }
    op = calloc(1, sizeof(*op));
    if (op == NULL) {
        return NULL;
    }
    op->st = st;
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
        op->argv[2] == NULL ||
        (store_link_up(&st->cmd) ? op_send(st, op) : store_hold(st, op)) !=
            0) {
        op->argc = op->argc < 3 ? 3 : op->argc;
        op_free(op);
        return NULL;
    }
    tv.tv_sec = (time_t)(st->timeout_ms / 1000);
    tv.tv_usec = (suseconds_t)(st->timeout_ms % 1000) * 1000;
    evtimer_add(op->timer, &tv);
    return op;
}

/* Holds OP until the link's first connect ends (its deadline runs): the
 * first calls of a worker wait for the link rather than fail open. */
static int
store_hold(struct store *st, struct store_op *op)
{
    op->next_held = NULL;
    *st->held_tail = op;
    st->held_tail = &op->next_held;
    return 0;
}

/* Sends the held calls (SEND) now that the link is up, or fails them
 * (NULL) since the connect failed or the store goes. */
static void
store_held_flush(struct store *st, bool send)
{
    struct store_op *op = st->held, *next;

    st->held = NULL;
    st->held_tail = &st->held;
    for (; op != NULL; op = next) {
        next = op->next_held;
        if (!send || op_send(st, op) != 0) {
            on_reply(NULL, NULL, op);   /* as if the connection went */
        }
    }
}

void
store_ignore(struct redisReply *reply, void *arg)
{
    (void)reply;
    (void)arg;
}

void
store_cancel(struct store_op *op)
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

static void
on_reply(struct rlink *rl, redisReply *reply, void *privdata)
{
    struct store_op *op = privdata;
    struct store    *st = op->st;

    if (reply != NULL && reply->type == REDIS_REPLY_ERROR) {
        enum rerr_kind kind = rerr_classify(reply->str, reply->len);

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
            if (store_link_command(&st->cmd, op->argc, op->cargv, op->lens,
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
        st->timeouts = 0;
        st->healthy = true;
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
 * writes. None (a master cut off from its replicas, as while Sentinel
 * fails over), or no reply: the call failed. */
static void
on_waited(struct rlink *rl, redisReply *reply, void *privdata)
{
    struct store_op *op = privdata;

    (void)rl;
    op->wait_due = false;
    if (op->kept != NULL && reply != NULL &&
        reply->type == REDIS_REPLY_INTEGER && reply->integer >= 1) {
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
    struct store_op *op = arg;
    struct store    *st = op->st;

    if (op->kept != NULL) {         /* only WAIT is still due */
        op_unreplicated(op);
        op_maybe_free(op);
        return;
    }
    stats_add(STATS_REDIS_TIMEOUT, 1);
    op_deliver(op, NULL);
    if (st->healthy) {
        /* A frozen Redis tells us nothing: forget what we hold. */
        store_sub_forget(st->sub);
        st->healthy = false;
        store_health(st);
        /* nor does it publish: waiters look again (and fail open) */
        store_sub_lost(st->sub);
    }
    if (++st->timeouts >= STORE_TIMEOUTS_TO_DROP &&
        store_link_up(&st->cmd)) {
        log_warn("store: redis missed %u deadlines in a row; reconnecting",
                 st->timeouts);
        st->timeouts = 0;
        /* Pending ops get NULL, op included; the link counts the loss
         * and tells on_cmd_link (STORE_LINK_LOST). */
        store_link_drop(&st->cmd);
        return;                     /* OP may be freed by now */
    }
    op_maybe_free(op);
}
