/*
 * store.c - hiredis async client with reconnect, deadlines and scripts.
 *
 * An op has two ends: the caller's callback (run once, on a reply, a
 * failure or its deadline) and hiredis's (run once, with the reply or with
 * NULL when the connection goes). It is freed when both have happened.
 * A Redis that keeps missing deadlines is dropped with redisAsyncFree
 * (redisAsyncDisconnect would wait for the replies that never come) and
 * reconnected later; backoff only resets after a reply, so a Redis that
 * accepts connections but never answers is tried less and less often.
 *
 * Subscriptions live on a second connection (a subscribed connection can
 * run nothing else), kept up the same way. Each time it subscribes again
 * its callbacks hear "(re)subscribed": messages may have been missed, so
 * whatever waits for one should look again.
 *
 * Tracking (client-side caching, RESP2 style): the subscriber connection
 * learns its client id and subscribes to __redis__:invalidate; the call
 * connection then turns CLIENT TRACKING on with REDIRECT to that id, so
 * Redis tells us of every change to a key we read. Each time either link
 * goes down or comes back, or the calls stop answering, the tracker hears
 * "forget everything" (key NULL): invalidations may have been lost.
 */
#include "config.h"

#include "store.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <hiredis/hiredis.h>
#include <hiredis/async.h>
#include <hiredis/adapters/libevent.h>
#include <openssl/sha.h>

#include "log.h"
#include "ready.h"
#include "stats.h"
#include "url.h"

#define STORE_BACKOFF_MIN_MS   100
#define STORE_BACKOFF_MAX_MS   5000
#define STORE_TIMEOUTS_TO_DROP 3     /* consecutive missed deadlines */
#define STORE_ARGS_MAX         16
#define STORE_CHANNELS_MAX     4
#define STORE_SCRIPTS_MAX      32

struct store;

/* One connection to Redis and its reconnection. */
struct store_link {
    struct store      *st;          /* borrowed: the owner */
    const char        *name;        /* for logs */
    redisAsyncContext *ac;          /* NULL while disconnected */
    bool               connected;   /* connect callback said OK */
    struct event      *retry;       /* owned: reconnect timer */
    unsigned           backoff_ms;
    void             (*on_up)(struct store_link *link);
};

#define STORE_INVALIDATE "__redis__:invalidate"

struct store_channel {
    char        *name;              /* owned */
    store_msg_cb cb;
    void        *arg;
    bool         invalidate;        /* Redis's tracking channel */
};

struct store {
    struct event_base *base;        /* borrowed */
    struct url_redis   url;
    int64_t            timeout_ms;
    struct store_link  cmd;         /* calls */
    struct store_link  sub;         /* subscriptions, once there are any */
    bool               healthy;     /* last call answered */
    unsigned           timeouts;    /* consecutive missed deadlines */
    bool               freeing;
    struct store_channel channels[STORE_CHANNELS_MAX];
    int                nchannels;
    store_inval_cb     track_cb;    /* NULL unless store_track */
    void              *track_arg;
    long long          sub_id;      /* CLIENT ID of the subscriber, or 0 */
    bool               inval_subscribed;
    bool               tracking;    /* CLIENT TRACKING on, confirmed */
    bool               counted_up;  /* counted in ready_redis_up */
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
};

static void store_connect(struct store_link *link);
static void on_connect(const redisAsyncContext *ac, int status);
static void on_disconnect(const redisAsyncContext *ac, int status);
static void on_retry(evutil_socket_t fd, short what, void *arg);
static void on_reply(redisAsyncContext *ac, void *reply, void *privdata);
static void on_op_timer(evutil_socket_t fd, short what, void *arg);
static void on_sub_up(struct store_link *link);
static void on_cmd_up(struct store_link *link);
static void store_track_lost(struct store *st);
static void store_channels_lost(struct store *st);
static void store_sub_send(struct store *st, struct store_channel *ch);
static int  store_channel_add(struct store *st, const char *name,
                              store_msg_cb cb, void *arg, bool invalidate);
static int  store_link_init(struct store *st, struct store_link *link,
                            const char *name,
                            void (*on_up)(struct store_link *link));
static void store_link_close(struct store_link *link);
static void store_health(struct store *st);

/*
 * Every script initialised, loaded on each (re)connect before any call:
 * without it the first EVALSHA of each script costs a NOSCRIPT and a
 * resend, which can also put it behind a call sent after it (PITFALLS
 * §4.4.1). Filled at start-up, before the workers start, then read-only.
 */
static struct store_script *store_scripts[STORE_SCRIPTS_MAX];
static size_t               store_nscripts;

void
store_script_init(struct store_script *script)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char     md[SHA_DIGEST_LENGTH];
    size_t            i;

    for (i = 0; i < store_nscripts; i++) {
        if (store_scripts[i] == script) {
            break;
        }
    }
    if (i == store_nscripts && store_nscripts < STORE_SCRIPTS_MAX) {
        store_scripts[store_nscripts++] = script;
    }
    SHA1((const unsigned char *)script->source, strlen(script->source), md);
    for (i = 0; i < SHA_DIGEST_LENGTH; i++) {
        script->sha[2 * i] = hex[md[i] >> 4];
        script->sha[2 * i + 1] = hex[md[i] & 0xf];
    }
    script->sha[40] = '\0';
}

struct store *
store_new(struct event_base *base, const char *url, int64_t timeout_ms)
{
    struct store *st;
    char          err[128];

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
    ready_redis_store(1);           /* store_free uncounts it */
    if (store_link_init(st, &st->cmd, "redis", on_cmd_up) != 0 ||
        store_link_init(st, &st->sub, "redis subscriber", on_sub_up) != 0) {
        log_err("store: out of memory");
        store_free(st);
        return NULL;
    }
    store_connect(&st->cmd);
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
    int i;

    if (st == NULL) {
        return;
    }
    st->freeing = true;
    store_link_close(&st->cmd);     /* pending callbacks get NULL */
    store_link_close(&st->sub);
    store_health(st);
    ready_redis_store(-1);          /* store_new counted it */
    if (st->cmd.retry != NULL) {
        event_free(st->cmd.retry);
    }
    if (st->sub.retry != NULL) {
        event_free(st->sub.retry);
    }
    for (i = 0; i < st->nchannels; i++) {
        free(st->channels[i].name);
    }
    free(st);
}

bool
store_available(const struct store *st)
{
    return st->cmd.ac != NULL && st->cmd.connected && st->healthy;
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

static int
store_link_init(struct store *st, struct store_link *link, const char *name,
                void (*on_up)(struct store_link *link))
{
    link->st = st;
    link->name = name;
    link->backoff_ms = STORE_BACKOFF_MIN_MS;
    link->on_up = on_up;
    link->retry = evtimer_new(st->base, on_retry, link);
    return link->retry != NULL ? 0 : -1;
}

/* Drops LINK's connection now, if any; its pending callbacks get NULL. */
static void
store_link_close(struct store_link *link)
{
    redisAsyncContext *ac = link->ac;

    link->ac = NULL;
    link->connected = false;
    if (ac != NULL) {
        redisAsyncFree(ac);
    }
}

static void
store_schedule_retry(struct store_link *link)
{
    struct timeval tv;
    unsigned       ms = link->backoff_ms;

    if (link->st->freeing) {
        return;
    }
    /* Up to a quarter of jitter, so workers and instances spread out. */
    ms += (unsigned)(rand() % (int)(ms / 4 + 1));
    tv.tv_sec = ms / 1000;
    tv.tv_usec = (suseconds_t)(ms % 1000) * 1000;
    evtimer_add(link->retry, &tv);
    link->backoff_ms = link->backoff_ms * 2 > STORE_BACKOFF_MAX_MS
                           ? STORE_BACKOFF_MAX_MS
                           : link->backoff_ms * 2;
}

static void
store_connect(struct store_link *link)
{
    struct store      *st = link->st;
    redisAsyncContext *ac;

    ac = st->url.unix_socket ? redisAsyncConnectUnix(st->url.path)
                             : redisAsyncConnect(st->url.host, st->url.port);
    if (ac == NULL) {
        log_err("store: out of memory");
        store_schedule_retry(link);
        return;
    }
    if (ac->err != 0) {
        stats_add(STATS_REDIS_CONNECT_FAILED, 1);
        log_warn("store: cannot connect to %s: %s", link->name, ac->errstr);
        redisAsyncFree(ac);
        store_schedule_retry(link);
        return;
    }
    ac->data = link;
    if (redisLibeventAttach(ac, st->base) != REDIS_OK) {
        log_err("store: cannot attach %s to the event loop", link->name);
        redisAsyncFree(ac);
        store_schedule_retry(link);
        return;
    }
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    link->ac = ac;
    link->connected = false;
    if (link == &st->cmd) {
        st->healthy = true;
    }
    /* Queued now, sent first once connected. A refusal shows as failed
     * calls, which fail open. */
    if (st->url.password[0] != '\0') {
        redisAsyncCommand(ac, NULL, NULL, "AUTH %s", st->url.password);
    }
    if (st->url.db != 0) {
        redisAsyncCommand(ac, NULL, NULL, "SELECT %d", st->url.db);
    }
}

static void
on_connect(const redisAsyncContext *ac, int status)
{
    struct store_link *link = ac->data;

    if (status != REDIS_OK) {
        /* hiredis frees AC after this returns (PITFALLS §4.3.2). */
        stats_add(STATS_REDIS_CONNECT_FAILED, 1);
        log_warn("store: cannot connect to %s: %s", link->name, ac->errstr);
        link->ac = NULL;
        link->connected = false;
        store_health(link->st);
        store_schedule_retry(link);
        return;
    }
    link->connected = true;
    store_health(link->st);
    log_info("store: connected to %s", link->name);
    if (link->on_up != NULL) {
        link->on_up(link);
    }
}

static void
on_disconnect(const redisAsyncContext *ac, int status)
{
    struct store_link *link = ac->data;

    if (link->st->freeing || link->ac != ac) {
        return;                     /* dropped by us: retry is scheduled */
    }
    link->ac = NULL;
    link->connected = false;
    stats_add(STATS_REDIS_CONN_LOST, 1);
    store_health(link->st);
    if (link == &link->st->sub) {
        link->st->sub_id = 0;
        link->st->inval_subscribed = false;
    }
    store_track_lost(link->st);
    log_warn("store: %s connection lost%s%s", link->name,
             status != REDIS_OK ? ": " : "",
             status != REDIS_OK ? ac->errstr : "");
    store_schedule_retry(link);
    if (link == &link->st->sub) {
        store_channels_lost(link->st);
    }
}

static void
on_retry(evutil_socket_t fd, short what, void *arg)
{
    struct store_link *link = arg;

    if (link->ac == NULL) {
        store_connect(link);
    }
}

/* ---- subscriptions ------------------------------------------------------ */

/*
 * Tells each subscriber that messages will be missed from now on: its
 * link went down, or Redis stopped answering. Someone waiting for a
 * message would otherwise wait out whatever deadline it has (SPEC §8).
 */
static void
store_channels_lost(struct store *st)
{
    int i;

    for (i = 0; i < st->nchannels; i++) {
        if (!st->channels[i].invalidate) {
            st->channels[i].cb(NULL, 0, st->channels[i].arg);
        }
    }
}

/* ---- tracking ----------------------------------------------------------- */

/* Tells the tracker that invalidations may have been lost. */
static void
store_track_lost(struct store *st)
{
    st->tracking = false;
    if (st->track_cb != NULL) {
        st->track_cb(NULL, 0, st->track_arg);
    }
}

static void
on_tracking_reply(redisAsyncContext *ac, void *r, void *privdata)
{
    struct store *st = privdata;
    redisReply   *reply = r;

    if (reply == NULL || st->freeing) {
        return;
    }
    if (reply->type == REDIS_REPLY_STATUS && strcmp(reply->str, "OK") == 0) {
        st->tracking = true;
        /* Whatever was kept before now is not covered: start over. */
        if (st->track_cb != NULL) {
            st->track_cb(NULL, 0, st->track_arg);
        }
        log_info("store: redis tracking on (near cache coherent)");
    } else {
        log_warn("store: CLIENT TRACKING refused: %s",
                 reply->type == REDIS_REPLY_ERROR ? reply->str : "?");
    }
}

/* Turns tracking on for the call link, once both links are ready. */
static void
store_track_enable(struct store *st)
{
    if (st->track_cb == NULL || st->sub_id == 0 || !st->inval_subscribed ||
        st->cmd.ac == NULL || !st->cmd.connected) {
        return;
    }
    st->tracking = false;
    /* OFF first: the redirect of a tracking already on cannot change. */
    redisAsyncCommand(st->cmd.ac, NULL, NULL, "CLIENT TRACKING off");
    redisAsyncCommand(st->cmd.ac, on_tracking_reply, st,
                      "CLIENT TRACKING on REDIRECT %lld", st->sub_id);
}

static void
on_cmd_up(struct store_link *link)
{
    size_t i;

    for (i = 0; i < store_nscripts; i++) {
        redisAsyncCommand(link->ac, NULL, NULL, "SCRIPT LOAD %s",
                          store_scripts[i]->source);
    }
    store_track_enable(link->st);
}

static void
on_client_id(redisAsyncContext *ac, void *r, void *privdata)
{
    struct store *st = privdata;
    redisReply   *reply = r;

    if (reply != NULL && reply->type == REDIS_REPLY_INTEGER && !st->freeing) {
        st->sub_id = reply->integer;
    }
}

/* A message of __redis__:invalidate: an array of keys, or nil for all. */
static void
on_invalidate(struct store_channel *ch, const redisReply *reply)
{
    struct store     *st = ch->arg;
    const redisReply *kind = reply->element[0], *keys = reply->element[2];
    size_t            i;

    if (strcmp(kind->str, "subscribe") == 0) {
        st->inval_subscribed = true;
        store_track_enable(st);
        return;
    }
    if (strcmp(kind->str, "message") != 0 || st->track_cb == NULL) {
        return;
    }
    if (keys->type == REDIS_REPLY_ARRAY) {
        for (i = 0; i < keys->elements; i++) {
            if (keys->element[i]->type == REDIS_REPLY_STRING) {
                st->track_cb(keys->element[i]->str, keys->element[i]->len,
                             st->track_arg);
            }
        }
    } else if (keys->type == REDIS_REPLY_STRING) {
        st->track_cb(keys->str, keys->len, st->track_arg);
    } else {
        st->track_cb(NULL, 0, st->track_arg);  /* FLUSHALL and the like */
    }
}

int
store_track(struct store *st, store_inval_cb cb, void *arg)
{
    if (st->track_cb != NULL) {
        return -1;
    }
    st->track_cb = cb;              /* before: on_sub_up asks CLIENT ID */
    st->track_arg = arg;
    if (store_channel_add(st, STORE_INVALIDATE, NULL, st, true) != 0) {
        st->track_cb = NULL;
        st->track_arg = NULL;
        return -1;
    }
    return 0;
}

bool
store_tracking(const struct store *st)
{
    return st->tracking && st->healthy && st->cmd.ac != NULL &&
           st->cmd.connected && st->sub.ac != NULL && st->sub.connected;
}

bool
store_listening(const struct store *st)
{
    return st->sub.ac != NULL && st->sub.connected;
}

void
store_poll(struct store *st)
{
    if (st->sub.ac != NULL && st->sub.connected) {
        redisAsyncHandleRead(st->sub.ac);
    }
}

/*
 * hiredis runs this for the confirmation of each SUBSCRIBE, for every
 * message, and with NULL when the connection goes. PRIVDATA is the
 * channel's entry, which lives as long as the store.
 */
static void
on_sub_reply(redisAsyncContext *ac, void *r, void *privdata)
{
    struct store_channel *ch = privdata;
    redisReply           *reply = r;
    const redisReply     *kind;

    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY ||
        reply->elements < 3) {
        return;
    }
    kind = reply->element[0];
    if (kind->type != REDIS_REPLY_STRING) {
        return;
    }
    if (ch->invalidate) {
        on_invalidate(ch, reply);
        return;
    }
    if (strcmp(kind->str, "subscribe") == 0) {
        ch->cb(NULL, 0, ch->arg);   /* (re)subscribed: look again */
    } else if (strcmp(kind->str, "message") == 0 &&
               reply->element[2]->type == REDIS_REPLY_STRING) {
        ch->cb(reply->element[2]->str, reply->element[2]->len, ch->arg);
    }
}

static void
store_sub_send(struct store *st, struct store_channel *ch)
{
    if (st->sub.ac != NULL && st->sub.connected) {
        redisAsyncCommand(st->sub.ac, on_sub_reply, ch, "SUBSCRIBE %s",
                          ch->name);
    }
}

static void
on_sub_up(struct store_link *link)
{
    struct store *st = link->st;
    int           i;

    link->backoff_ms = STORE_BACKOFF_MIN_MS;
    if (st->track_cb != NULL) {
        /* Before SUBSCRIBE: a subscribed connection runs nothing else. */
        redisAsyncCommand(link->ac, on_client_id, st, "CLIENT ID");
    }
    for (i = 0; i < st->nchannels; i++) {
        store_sub_send(st, &st->channels[i]);
    }
}

/*
 * Adds channel NAME to those the subscriber link keeps subscribed, and
 * subscribes now if the link is up (else it connects, and subscribes all
 * once up). Redis's invalidation channel needs the link's client id
 * first. Returns 0, or -1 when out of room or memory.
 */
static int
store_channel_add(struct store *st, const char *name, store_msg_cb cb,
                  void *arg, bool invalidate)
{
    struct store_channel *ch;

    if (st->nchannels == STORE_CHANNELS_MAX) {
        return -1;
    }
    ch = &st->channels[st->nchannels];
    ch->name = strdup(name);
    if (ch->name == NULL) {
        return -1;
    }
    ch->cb = cb;
    ch->arg = arg;
    ch->invalidate = invalidate;
    st->nchannels++;
    if (st->sub.ac == NULL) {
        store_connect(&st->sub);    /* subscribes once connected */
        return 0;
    }
    if (invalidate && st->sub.connected) {
        redisAsyncCommand(st->sub.ac, on_client_id, st, "CLIENT ID");
    }
    store_sub_send(st, ch);
    return 0;
}

int
store_subscribe(struct store *st, const char *channel, store_msg_cb cb,
                void *arg)
{
    return store_channel_add(st, channel, cb, arg, false);
}

static void
op_free(struct store_op *op)
{
    int i;

    event_free(op->timer);
    for (i = 0; i < op->argc; i++) {
        free(op->argv[i]);
    }
    free(op);
}

static void
op_maybe_free(struct store_op *op)
{
    if (op->user_done && op->redis_done) {
        op_free(op);
    }
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
    if (st->cmd.ac == NULL) {
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
        redisAsyncCommandArgv(st->cmd.ac, on_reply, op, op->argc, op->cargv,
                              op->lens) !=
            REDIS_OK) {
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
on_reply(redisAsyncContext *ac, void *r, void *privdata)
{
    struct store_op *op = privdata;
    struct store    *st = op->st;
    redisReply      *reply = r;

    if (reply != NULL && reply->type == REDIS_REPLY_ERROR &&
        strncmp(reply->str, "NOSCRIPT", 8) == 0 && !op->retried &&
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
            if (redisAsyncCommandArgv(ac, on_reply, op, op->argc, op->cargv,
                                      op->lens) == REDIS_OK) {
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
        st->cmd.backoff_ms = STORE_BACKOFF_MIN_MS;
        store_health(st);
        if (reply->type == REDIS_REPLY_ERROR) {
            if (!op->user_done) {
                stats_add(STATS_REDIS_SCRIPT, 1);
            }
            log_warn("store: script %s: %s", op->script->name, reply->str);
            op_deliver(op, NULL);
        } else {
            op_deliver(op, reply);
        }
    }
    op_maybe_free(op);
}

static void
on_op_timer(evutil_socket_t fd, short what, void *arg)
{
    struct store_op *op = arg;
    struct store    *st = op->st;

    stats_add(STATS_REDIS_TIMEOUT, 1);
    op_deliver(op, NULL);
    if (st->healthy && st->tracking && st->track_cb != NULL) {
        /* A frozen Redis tells us nothing: forget what we hold. Tracking
         * itself stays on, and store_tracking() is false until a call
         * answers again. */
        st->track_cb(NULL, 0, st->track_arg);
    }
    if (st->healthy) {
        st->healthy = false;
        store_health(st);
        /* nor does it publish: waiters look again (and fail open) */
        store_channels_lost(st);
    }
    if (++st->timeouts >= STORE_TIMEOUTS_TO_DROP && st->cmd.ac != NULL) {
        log_warn("store: redis missed %u deadlines in a row; reconnecting",
                 st->timeouts);
        st->timeouts = 0;
        stats_add(STATS_REDIS_CONN_LOST, 1);
        store_link_close(&st->cmd); /* pending ops get NULL, op included */
        store_schedule_retry(&st->cmd);
        return;                     /* OP may be freed by now */
    }
    op_maybe_free(op);
}
