/*
 * store_sub.c - the subscriber side of a store: channels kept subscribed
 * on a connection of their own, and Redis's tracking of the keys the
 * call connection reads (client-side caching, RESP2 style).
 *
 * Each time the subscriber connection subscribes again, its channels'
 * callbacks hear "(re)subscribed": messages may have been missed, so
 * whatever waits for one should look again.
 *
 * Tracking: the subscriber connection learns its client id and
 * subscribes to __redis__:invalidate; the call connection then turns
 * CLIENT TRACKING on with REDIRECT to that id, so Redis tells us of every
 * change to a key we read. Each time either link goes down or comes back,
 * or the calls stop answering, the tracker hears "forget everything" (key
 * NULL): invalidations may have been lost.
 *
 * The subscriber link is an rlink in subscriber mode (store_link.h):
 * SUBSCRIBE's confirmations, the messages and the invalidations all
 * arrive at on_sub_message; SUBSCRIBE's callback (on_subscribed) hears
 * whether Redis refused the channel (NOPERM: noted, /readyz degraded,
 * the link kept, and the refused channels asked again every
 * STORE_SUB_RETRY_MS, so a right granted later is taken up); CLIENT ID,
 * sent before, has its reply callback. It has no deadline of its own, as
 * pub/sub has nothing to time: a frozen Redis is noticed by the calls
 * (store.c's deadlines), which tell this file (store_sub_forget,
 * store_sub_lost), and a lost connection by the link itself.
 *
 * Owns its link (store_link.c) and the channel names; store_sub_free
 * releases them. Borrows the store's call link for CLIENT TRACKING. The
 * store (store.c) calls in here; nothing here calls the store.
 */
#include "config.h"

#include "store_sub.h"

#include <stdlib.h>
#include <string.h>

#include <stdio.h>

#include <event2/event.h>
#include <hiredis/hiredis.h>

#include "log.h"
#include "ready.h"
#include "store_err.h"
#include "store_link.h"

#define STORE_SUB_CHANNELS_MAX 4
#define STORE_SUB_INVALIDATE   "__redis__:invalidate"
#define STORE_SUB_RETRY_MS     10000    /* a refused SUBSCRIBE, again */

struct store_channel {
    char             *name;         /* owned */
    store_msg_cb      cb;
    void             *arg;
    bool              invalidate;   /* Redis's tracking channel */
    bool              refused;      /* its SUBSCRIBE got an error reply */
    struct store_sub *sub;          /* its subscriber */
};

struct store_sub {
    struct store_link    link;      /* owned: the subscriber connection */
    struct store_link   *cmd;       /* borrowed: the store's call link */
    struct store_channel channels[STORE_SUB_CHANNELS_MAX];
    int                  nchannels;
    store_inval_cb       track_cb;  /* NULL unless store_sub_track */
    void                *track_arg;
    long long            sub_id;    /* CLIENT ID of the subscriber, or 0 */
    bool                 inval_subscribed;
    bool                 tracking;  /* CLIENT TRACKING on, confirmed */
    bool                 freeing;
    int                  refused;   /* channels refused; counted once in
                                     * ready.h while above 0 */
    struct event        *retry;     /* owned: refused channels, again */
};

static void on_retry(evutil_socket_t fd, short what, void *arg);

static void on_sub_link(struct store_link *link, enum store_link_event ev,
                        void *arg);
static void on_sub_message(struct store_link *link,
                           const redisReply *reply, void *arg);

struct store_sub *
store_sub_new(struct event_base *base, struct evdns_base *dns,
              const struct store_link_conf *conf, struct store_link *cmd)
{
    struct store_link_conf lc = *conf;
    struct store_sub      *sub;

    sub = calloc(1, sizeof(*sub));
    if (sub == NULL) {
        log_err("store: out of memory");
        return NULL;
    }
    sub->cmd = cmd;
    sub->retry = evtimer_new(base, on_retry, sub);
    if (sub->retry == NULL) {
        log_err("store: out of memory");
        free(sub);
        return NULL;
    }
    lc.subscriber = true;
    if (store_link_init(&sub->link, base, dns, &lc, "redis subscriber",
                        on_sub_link, on_sub_message, sub) != 0) {
        store_sub_free(sub);
        return NULL;
    }
    return sub;
}

void
store_sub_free(struct store_sub *sub)
{
    int i;

    if (sub == NULL) {
        return;
    }
    sub->freeing = true;
    store_link_stop(&sub->link);    /* pending callbacks get NULL */
    for (i = 0; i < sub->nchannels; i++) {
        free(sub->channels[i].name);
    }
    if (sub->refused > 0) {
        ready_redis_unsubscribed(-1);
    }
    event_free(sub->retry);
    free(sub);
}

void
store_sub_hold(struct store_sub *sub)
{
    store_link_hold(&sub->link);
}

int
store_sub_retarget(struct store_sub *sub, const char *host, uint16_t port)
{
    return store_link_retarget(&sub->link, host, port);
}

/* ---- subscriptions ------------------------------------------------------- */

void
store_sub_lost(struct store_sub *sub)
{
    int i;

    for (i = 0; i < sub->nchannels; i++) {
        if (!sub->channels[i].invalidate) {
            sub->channels[i].cb(NULL, 0, sub->channels[i].arg);
        }
    }
}

bool
store_sub_listening(const struct store_sub *sub)
{
    int i;

    if (!store_link_up(&sub->link)) {
        return false;
    }
    /* A wake channel Redis refused never delivers: nothing may wait for
     * it. (A refused invalidation channel keeps tracking off instead.) */
    for (i = 0; i < sub->nchannels; i++) {
        if (sub->channels[i].refused && !sub->channels[i].invalidate) {
            return false;
        }
    }
    return true;
}

void
store_sub_poll(struct store_sub *sub)
{
    if (store_link_up(&sub->link)) {
        store_link_poll(&sub->link);
    }
}

/* ---- tracking ------------------------------------------------------------ */

/* Tells the tracker that invalidations may have been lost. */
void
store_sub_track_lost(struct store_sub *sub)
{
    sub->tracking = false;
    if (sub->track_cb != NULL) {
        sub->track_cb(NULL, 0, sub->track_arg);
    }
}

void
store_sub_forget(struct store_sub *sub)
{
    if (sub->tracking && sub->track_cb != NULL) {
        /* A frozen Redis tells us nothing: forget what we hold. Tracking
         * itself stays on, and store_tracking() is false until a call
         * answers again. */
        sub->track_cb(NULL, 0, sub->track_arg);
    }
}

static void
on_tracking_reply(struct rlink *rl, redisReply *reply, void *privdata)
{
    struct store_sub *sub = privdata;

    (void)rl;
    if (reply == NULL || sub->freeing) {
        return;
    }
    if (reply->type == REDIS_REPLY_STATUS && strcmp(reply->str, "OK") == 0) {
        sub->tracking = true;
        /* Whatever was kept before now is not covered: start over. */
        if (sub->track_cb != NULL) {
            sub->track_cb(NULL, 0, sub->track_arg);
        }
        log_info("store: redis tracking on (near cache coherent)");
    } else {
        if (reply->type == REDIS_REPLY_ERROR) {
            store_err_note(rerr_classify(reply->str, reply->len),
                           "CLIENT TRACKING", reply->str);
        } else {
            log_warn("store: CLIENT TRACKING refused");
        }
    }
}

/* Turns tracking on for the call link, once both links are ready. */
void
store_sub_cmd_up(struct store_sub *sub)
{
    char        id[32];
    const char *off[3] = { "CLIENT", "TRACKING", "off" };
    const char *on[5] = { "CLIENT", "TRACKING", "on", "REDIRECT", id };

    if (sub->track_cb == NULL || sub->sub_id == 0 || !sub->inval_subscribed ||
        !store_link_up(sub->cmd)) {
        return;
    }
    sub->tracking = false;
    snprintf(id, sizeof(id), "%lld", sub->sub_id);
    /* OFF first: the redirect of a tracking already on cannot change. */
    (void)store_link_command(sub->cmd, 3, off, NULL, NULL, NULL);
    (void)store_link_command(sub->cmd, 5, on, NULL, on_tracking_reply, sub);
}

static void
on_client_id(struct rlink *rl, redisReply *reply, void *privdata)
{
    struct store_sub *sub = privdata;

    (void)rl;
    if (reply != NULL && reply->type == REDIS_REPLY_INTEGER &&
        !sub->freeing) {
        sub->sub_id = reply->integer;
    }
}

/* A message of __redis__:invalidate: an array of keys, or nil for all. */
static void
on_invalidate(struct store_channel *ch, const redisReply *reply)
{
    struct store_sub *sub = ch->arg;
    const redisReply *kind = reply->element[0], *keys = reply->element[2];
    size_t            i;

    if (strcmp(kind->str, "subscribe") == 0) {
        sub->inval_subscribed = true;
        store_sub_cmd_up(sub);
        return;
    }
    if (strcmp(kind->str, "message") != 0 || sub->track_cb == NULL) {
        return;
    }
    if (keys->type == REDIS_REPLY_ARRAY) {
        for (i = 0; i < keys->elements; i++) {
            if (keys->element[i]->type == REDIS_REPLY_STRING) {
                sub->track_cb(keys->element[i]->str, keys->element[i]->len,
                              sub->track_arg);
            }
        }
    } else if (keys->type == REDIS_REPLY_STRING) {
        sub->track_cb(keys->str, keys->len, sub->track_arg);
    } else {
        sub->track_cb(NULL, 0, sub->track_arg); /* FLUSHALL and the like */
    }
}

bool
store_sub_tracking(const struct store_sub *sub)
{
    return sub->tracking && store_link_up(sub->cmd) &&
           store_link_up(&sub->link);
}

/* ---- the subscriber connection ------------------------------------------- */

/* The channel of SUB named by REPLY's ["kind", "channel", ...], or NULL. */
static struct store_channel *
sub_channel(struct store_sub *sub, const redisReply *reply)
{
    const redisReply *name = reply->element[1];
    int               i;

    if (name->type != REDIS_REPLY_STRING) {
        return NULL;
    }
    for (i = 0; i < sub->nchannels; i++) {
        if (strlen(sub->channels[i].name) == name->len &&
            memcmp(sub->channels[i].name, name->str, name->len) == 0) {
            return &sub->channels[i];
        }
    }
    return NULL;
}

/*
 * The link runs this for the confirmation of each SUBSCRIBE and for
 * every message: ["subscribe"|"message", channel, count|payload]. The
 * channel names the entry, which lives as long as the subscriber.
 */
static void
on_sub_message(struct store_link *link, const redisReply *reply, void *arg)
{
    struct store_sub     *sub = arg;
    struct store_channel *ch;
    const redisReply     *kind;

    (void)link;
    if (sub->freeing || reply->type != REDIS_REPLY_ARRAY ||
        reply->elements < 3) {
        return;
    }
    kind = reply->element[0];
    if (kind->type != REDIS_REPLY_STRING ||
        (ch = sub_channel(sub, reply)) == NULL) {
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

/* Notes whether CH's SUBSCRIBE was refused, for /readyz. */
static void
channel_set_refused(struct store_channel *ch, bool refused)
{
    struct store_sub *sub = ch->sub;

    if (ch->refused == refused) {
        return;
    }
    ch->refused = refused;
    sub->refused += refused ? 1 : -1;
    if (sub->refused == (refused ? 1 : 0)) {
        ready_redis_unsubscribed(refused ? 1 : -1);
    }
}

/*
 * The answer to CH's SUBSCRIBE: its confirmation (on_sub_message has
 * handled it already), or an error reply, NOPERM for a channel the ACL
 * user may not use. That is noted and the link is kept: a refused wake
 * channel makes store_listening false, and a refused invalidation
 * channel keeps tracking off (no CLIENT TRACKING without it), so the
 * near cache serves nothing it could not keep coherent.
 */
static void
on_subscribed(struct rlink *rl, redisReply *reply, void *privdata)
{
    struct store_channel *ch = privdata;

    (void)rl;
    if (reply == NULL || ch->sub->freeing) {
        return;
    }
    if (reply->type != REDIS_REPLY_ERROR) {
        channel_set_refused(ch, false);
        return;
    }
    store_err_note(rerr_classify(reply->str, reply->len), "SUBSCRIBE",
                   reply->str);
    channel_set_refused(ch, true);
    if (!evtimer_pending(ch->sub->retry, NULL)) {
        /* An operator may grant the channel: ask again now and then. */
        struct timeval tv = { STORE_SUB_RETRY_MS / 1000,
                              (STORE_SUB_RETRY_MS % 1000) * 1000 };

        evtimer_add(ch->sub->retry, &tv);
    }
    if (!ch->invalidate) {
        ch->cb(NULL, 0, ch->arg);   /* no messages: waiters look again */
    }
}

static void
sub_send(struct store_sub *sub, struct store_channel *ch)
{
    const char *argv[2] = { "SUBSCRIBE", ch->name };

    /* The confirmation is a push (on_sub_message), then on_subscribed's;
     * a refusal is on_subscribed's alone. */
    (void)store_link_command(&sub->link, 2, argv, NULL, on_subscribed, ch);
}

/* The refused channels' SUBSCRIBE, again (a reconnect sends them all
 * anyway). */
static void
on_retry(evutil_socket_t fd, short what, void *arg)
{
    struct store_sub *sub = arg;
    int               i;

    (void)fd;
    (void)what;
    if (!store_link_up(&sub->link)) {
        return;
    }
    for (i = 0; i < sub->nchannels; i++) {
        if (sub->channels[i].refused) {
            sub_send(sub, &sub->channels[i]);
        }
    }
}

/* Asks the subscriber link's client id, for CLIENT TRACKING's REDIRECT. */
static void
sub_ask_id(struct store_sub *sub)
{
    const char *argv[2] = { "CLIENT", "ID" };

    (void)store_link_command(&sub->link, 2, argv, NULL, on_client_id, sub);
}

static void
on_sub_up(struct store_sub *sub)
{
    int i;

    if (sub->track_cb != NULL) {
        /* Before SUBSCRIBE: a subscribed connection runs nothing else. */
        sub_ask_id(sub);
    }
    for (i = 0; i < sub->nchannels; i++) {
        sub_send(sub, &sub->channels[i]);
    }
}

/* What the subscriber link tells: only coming up and going down matter. */
static void
on_sub_link(struct store_link *link, enum store_link_event ev, void *arg)
{
    struct store_sub *sub = arg;

    switch (ev) {
    case STORE_LINK_UP:
        on_sub_up(sub);
        break;
    case STORE_LINK_LOST:
        sub->sub_id = 0;
        sub->inval_subscribed = false;
        store_sub_track_lost(sub);    /* tracking redirects here: lost too */
        store_sub_lost(sub);
        break;
    case STORE_LINK_FAILED:
        break;
    }
}

/*
 * Adds channel NAME to those the subscriber link keeps subscribed, and
 * subscribes now if the link is up (else it connects, and subscribes all
 * once up). Redis's invalidation channel needs the link's client id
 * first. Returns 0, or -1 when out of room or memory.
 */
static int
channel_add(struct store_sub *sub, const char *name, store_msg_cb cb,
            void *arg, bool invalidate)
{
    struct store_channel *ch;

    if (sub->nchannels == STORE_SUB_CHANNELS_MAX) {
        return -1;
    }
    ch = &sub->channels[sub->nchannels];
    ch->name = strdup(name);
    if (ch->name == NULL) {
        return -1;
    }
    ch->cb = cb;
    ch->arg = arg;
    ch->invalidate = invalidate;
    ch->refused = false;
    ch->sub = sub;
    sub->nchannels++;
    if (!store_link_up(&sub->link)) {
        store_link_connect(&sub->link); /* subscribes once connected */
        return 0;
    }
    if (invalidate) {
        sub_ask_id(sub);
    }
    sub_send(sub, ch);
    return 0;
}

int
store_sub_add(struct store_sub *sub, const char *channel, store_msg_cb cb,
              void *arg)
{
    return channel_add(sub, channel, cb, arg, false);
}

int
store_sub_track(struct store_sub *sub, store_inval_cb cb, void *arg)
{
    if (sub->track_cb != NULL) {
        return -1;
    }
    sub->track_cb = cb;             /* before: on_sub_up asks CLIENT ID */
    sub->track_arg = arg;
    if (channel_add(sub, STORE_SUB_INVALIDATE, NULL, sub, true) != 0) {
        sub->track_cb = NULL;
        sub->track_arg = NULL;
        return -1;
    }
    return 0;
}
