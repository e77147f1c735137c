/*
 * store_sentinel.c - where a redis-sentinel:// store's master is
 * (store_sentinel.h).
 *
 * Asking: one sentinel at a time, on a fresh rlink per sentinel (asking
 * is rare: at start, after a lost link, a READONLY or a replica found),
 * starting with the one that answered last; each has SENT_TIMEOUT_MS to
 * connect and answer, then the next is tried. A round where none answers
 * still tells the owner the last address known (its role is checked
 * there: a master that is fine keeps serving while the sentinels are
 * away) and another round follows, with backoff up to SENT_AGAIN_MAX_MS.
 *
 * Listening: a subscriber rlink on one sentinel, subscribed to
 * +switch-master ("name old-ip old-port new-ip new-port"); a message for
 * our master moves the links at once. Each time it (re)subscribes the
 * sentinels are asked again, since announcements may have been missed.
 * When it fails the next sentinel is tried, after SENT_LISTEN_RETRY_MS;
 * a PING every SENT_PING_MS, due within SENT_TIMEOUT_MS, finds a
 * sentinel that went silent without closing. Each worker starts
 * listening on a sentinel of its own draw, which spreads the fleet.
 *
 * Owns its copies of the conf strings, both rlinks and its three timers.
 */
#include "config.h"

#include "store_sentinel.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <hiredis/hiredis.h>

#include "log.h"
#include "lograte.h"
#include "ready.h"
#include "rlink.h"
#include "stats.h"
#include "store_link.h"
#include "store_sub.h"
#include "url.h"

#define SENT_TIMEOUT_MS      500    /* a sentinel's connect, and answer */
#define SENT_AGAIN_MIN_MS    100    /* first delay before a new round */
#define SENT_AGAIN_MAX_MS    1000   /* longest: within SPEC §12's 2 s */
#define SENT_LISTEN_RETRY_MS 250
#define SENT_PING_MS         2000   /* a silent listened sentinel: found
                                     * within this + SENT_TIMEOUT_MS */
#define SENT_CHANNEL         "+switch-master"

struct store_sentinel {
    struct event_base *base;        /* borrowed */
    struct evdns_base *dns;         /* borrowed */
    struct url_seed    seeds[URL_SENTINELS_MAX];
    int                nseeds;
    char               master[URL_MASTER_MAX];
    bool               tls;
    char              *strings[5];  /* owned: user, password, CA, cert,
                                     * key (NULL: none) */
    struct store_link *cmd;         /* borrowed: the store's links */
    struct store_sub  *sub;
    bool               moving;      /* moving or holding the links: their
                                     * drops are our own */
    struct rlink      *ask;         /* owned: the sentinel asked, or NULL */
    int                ask_seed;
    int                ask_tried;   /* sentinels tried this round */
    unsigned           ask_epoch;   /* EPOCH when the round began */
    struct event      *again;       /* owned: the next round */
    unsigned           again_ms;
    int64_t            round_ms;    /* when the last round began, or 0 */
    struct rlink      *listen;      /* owned: on +switch-master, or NULL */
    int                listen_seed;
    struct event      *relisten;    /* owned */
    struct event      *ping;        /* owned: the listened one alive? */
    unsigned           epoch;       /* +switch-master messages for us */
    char               host[URL_HOST_MAX]; /* last told; "" none */
    uint16_t           port;
    bool               confirmed;   /* counted in ready.h */
};

/* Sentinel faults, logged at most once per LOGRATE_PERIOD_MS. */
static struct lograte       sent_logs;
static const struct timeval sent_ping_tv = { SENT_PING_MS / 1000,
                                             SENT_PING_MS % 1000 * 1000 };

static void sent_ask(struct store_sentinel *s, const char *why);
static void sent_ask_next(struct store_sentinel *s);
static void sent_ask_later(struct store_sentinel *s);
static void sent_listen(struct store_sentinel *s);
static void on_ask_event(struct rlink *rl, enum rlink_event ev,
                         enum rlink_reason reason, enum rerr_kind kind,
                         const char *detail, void *arg);
static void on_listen_event(struct rlink *rl, enum rlink_event ev,
                            enum rlink_reason reason, enum rerr_kind kind,
                            const char *detail, void *arg);
static void on_listen_message(struct rlink *rl, struct redisReply *msg,
                              void *arg);
static void on_again(evutil_socket_t fd, short what, void *arg);
static void on_relisten(evutil_socket_t fd, short what, void *arg);
static void on_ping(evutil_socket_t fd, short what, void *arg);

/* Copies S into *OUT (NULL for NULL or ""). */
static int
sent_keep(const char *s, char **out)
{
    *out = NULL;
    if (s == NULL || s[0] == '\0') {
        return 0;
    }
    *out = strdup(s);
    return *out != NULL ? 0 : -1;
}

struct store_sentinel *
store_sentinel_new(struct event_base *base, struct evdns_base *dns,
                   const struct store_sentinel_conf *conf)
{
    const struct url_redis *url = conf->url;
    struct store_sentinel  *s = calloc(1, sizeof(*s));

    if (s == NULL) {
        log_err("store: out of memory");
        return NULL;
    }
    s->base = base;
    s->dns = dns;
    s->nseeds = url->nseeds;
    memcpy(s->seeds, url->seeds, sizeof(s->seeds));
    memcpy(s->master, url->master, sizeof(s->master));
    s->tls = url->tls;
    s->cmd = conf->cmd;
    s->sub = conf->sub;
    s->again_ms = SENT_AGAIN_MIN_MS;
    ready_sentinel_store(1, s->master, s->nseeds);
    s->listen_seed = (int)((unsigned long)random() % (unsigned)s->nseeds);
    s->again = evtimer_new(base, on_again, s);
    s->relisten = evtimer_new(base, on_relisten, s);
    s->ping = event_new(base, -1, EV_PERSIST, on_ping, s);
    if (s->again == NULL || s->relisten == NULL || s->ping == NULL ||
        dns == NULL ||
        sent_keep(conf->user, &s->strings[0]) != 0 ||
        sent_keep(conf->password, &s->strings[1]) != 0 ||
        sent_keep(conf->ca_file, &s->strings[2]) != 0 ||
        sent_keep(conf->cert_file, &s->strings[3]) != 0 ||
        sent_keep(conf->key_file, &s->strings[4]) != 0) {
        log_err("store: sentinel: out of memory, or no DNS base");
        store_sentinel_free(s);
        return NULL;
    }
    sent_ask(s, "start");
    sent_listen(s);
    event_add(s->ping, &sent_ping_tv);
    return s;
}

/* Notes whether the owner's link is on a master it confirmed. */
static void
sent_set_confirmed(struct store_sentinel *s, bool confirmed)
{
    if (s->confirmed != confirmed) {
        s->confirmed = confirmed;
        ready_sentinel_confirmed(confirmed ? 1 : -1);
    }
}

void
store_sentinel_free(struct store_sentinel *s)
{
    struct event *timers[3];
    struct rlink *rl;
    size_t        i;

    if (s == NULL) {
        return;
    }
    rl = s->ask;
    s->ask = NULL;                  /* its callbacks get NULL: ignored */
    rlink_free(rl);
    rl = s->listen;
    s->listen = NULL;
    rlink_free(rl);
    timers[0] = s->again;
    timers[1] = s->relisten;
    timers[2] = s->ping;
    for (i = 0; i < 3; i++) {
        if (timers[i] != NULL) {
            event_free(timers[i]);
        }
    }
    for (i = 0; i < sizeof(s->strings) / sizeof(s->strings[0]); i++) {
        free(s->strings[i]);
    }
    sent_set_confirmed(s, false);
    ready_sentinel_store(-1, s->master, s->nseeds);
    free(s);
}

/* A new rlink to sentinel SEED: the sentinels' credentials, TLS files. */
static struct rlink *
sent_link(struct store_sentinel *s, int seed, bool subscriber,
          rlink_event_cb cb, rlink_message_cb msg_cb)
{
    struct rlink_conf rc;
    struct rlink     *rl;
    char              err[256];

    memset(&rc, 0, sizeof(rc));
    rc.transport = s->tls ? RLINK_TLS : RLINK_TCP;
    rc.host = s->seeds[seed].host;
    rc.port = s->seeds[seed].port;
    rc.user = s->strings[0];
    rc.password = s->strings[1];
    if (s->tls) {
        rc.ca_file = s->strings[2];
        rc.cert_file = s->strings[3];
        rc.key_file = s->strings[4];
    }
    rc.timeout_ms = SENT_TIMEOUT_MS; /* a listener's: its PINGs */
    rc.connect_timeout_ms = SENT_TIMEOUT_MS;
    rc.subscriber = subscriber;
    rc.autostart = true;
    rl = rlink_new(s->base, s->dns, &rc, cb, msg_cb, s, err, sizeof(err));
    if (rl == NULL) {
        log_err("store: sentinel %s:%u: %s", rc.host, (unsigned)rc.port,
                err);
    }
    return rl;
}

/* Sentinel SEED failed us (WHAT: why, for the log): counted, logged
 * (rate limited) and shown by /readyz as unreachable. */
static void
sent_fault(struct store_sentinel *s, int seed, const char *what)
{

    stats_add(STATS_SENTINEL_ERRORS, 1);
    ready_sentinel_reach(seed, false);
    log_rated(&sent_logs, LOG_WARN, "store: sentinel %s:%u for master %s: %s",
              s->seeds[seed].host, (unsigned)s->seeds[seed].port, s->master,
              what);
}

/* Holds the store's links: no reconnect until sent_tell names where. */
static void
sent_hold(struct store_sentinel *s)
{
    s->moving = true;
    store_link_hold(s->cmd);        /* its LOST comes back: ignored */
    store_sub_hold(s->sub);
    s->moving = false;
}

/*
 * The master is at HOST:PORT: remember it, count a move, and move the
 * links there, unless they are there already and not held.
 */
static void
sent_tell(struct store_sentinel *s, const char *host, uint16_t port)
{
    char where[URL_HOST_MAX];

    if (ready_sentinel_master(host, port)) {
        stats_add(STATS_REDIS_FAILOVERS, 1);
    }
    if (strcmp(s->host, host) == 0 && s->port == port && !s->cmd->held) {
        return;
    }
    if (strcmp(s->host, host) != 0 || s->port != port) {
        log_info("store: sentinel: master %s is at %s:%u", s->master, host,
                 (unsigned)port);
    }
    snprintf(where, sizeof(where), "%s", host);   /* HOST may be s->host */
    snprintf(s->host, sizeof(s->host), "%s", where);
    s->port = port;
    sent_set_confirmed(s, false);   /* until its role is checked */
    s->moving = true;
    if (store_link_retarget(s->cmd, where, port) != 0 ||
        store_sub_retarget(s->sub, where, port) != 0) {
        log_err("store: sentinel: cannot move to %s:%u: out of memory",
                where, (unsigned)port);
    }
    s->moving = false;
}

/* ---- asking -------------------------------------------------------------- */

/* Asks the sentinels now, unless a round is under way. */
static void
sent_ask(struct store_sentinel *s, const char *why)
{
    if (s->ask != NULL) {
        return;                     /* a round is under way */
    }
    log_debug("store: sentinel: asking where master %s is (%s)", s->master,
              why);
    s->round_ms = lograte_now_ms();
    event_del(s->again);
    s->ask_tried = 0;
    s->ask_epoch = s->epoch;
    sent_ask_next(s);
}

void
store_sentinel_doubt(struct store_sentinel *s, const char *why)
{
    if (s == NULL || s->moving) {
        return;
    }
    sent_set_confirmed(s, false);
    sent_hold(s);
    /* Not again at once after a round that just began: a master that
     * refuses connections would have the sentinels asked in a loop. */
    if (s->round_ms != 0 &&
        lograte_now_ms() - s->round_ms < (int64_t)s->again_ms) {
        sent_ask_later(s);
    } else {
        sent_ask(s, why);
    }
}

/* Asks again later (backoff): the master is not confirmed. */
static void
sent_ask_later(struct store_sentinel *s)
{
    if (s->ask == NULL && !evtimer_pending(s->again, NULL)) {
        struct timeval tv = { (time_t)(s->again_ms / 1000),
                              (suseconds_t)(s->again_ms % 1000) * 1000 };

        evtimer_add(s->again, &tv);
        s->again_ms = s->again_ms * 2 > SENT_AGAIN_MAX_MS
                          ? SENT_AGAIN_MAX_MS
                          : s->again_ms * 2;
    }
}

/* A round ended with no answer: the last address, if any, and a later
 * round. */
static void
sent_round_failed(struct store_sentinel *s)
{
    s->ask = NULL;
    if (s->host[0] != '\0') {
        sent_tell(s, s->host, s->port);
    }
    sent_ask_later(s);
}

bool
store_sentinel_up(struct store_sentinel *s)
{
    struct rlink_server server;

    store_link_server(s->cmd, &server);
    if (server.role == RLINK_ROLE_REPLICA) {
        log_warn("store: sentinel: %s:%u, named master of %s, is a "
                 "replica; asking again", s->host, (unsigned)s->port,
                 s->master);
        sent_set_confirmed(s, false);
        sent_hold(s);
        sent_ask_later(s);
        return false;
    }
    sent_set_confirmed(s, true);
    s->again_ms = SENT_AGAIN_MIN_MS;
    return true;
}

/* Asks the sentinel after the last one tried, or ends the round. */
static void
sent_ask_next(struct store_sentinel *s)
{
    while (s->ask_tried < s->nseeds) {
        s->ask_tried++;
        s->ask = sent_link(s, s->ask_seed, false, on_ask_event, NULL);
        if (s->ask != NULL) {
            return;                 /* on_ask_event goes on */
        }
        s->ask_seed = (s->ask_seed + 1) % s->nseeds;
    }
    sent_round_failed(s);
}

/* The sentinel asked failed (WHAT): drop its link, try the next. */
static void
sent_ask_failed(struct store_sentinel *s, const char *what)
{
    struct rlink *rl = s->ask;

    s->ask = NULL;
    sent_fault(s, s->ask_seed, what);
    rlink_free(rl);                 /* safe inside its callbacks */
    s->ask_seed = (s->ask_seed + 1) % s->nseeds;
    sent_ask_next(s);
}

/* The reply to SENTINEL get-master-addr-by-name: [ip, port], or nil
 * when that sentinel monitors no such master. */
static void
on_ask_reply(struct rlink *rl, redisReply *reply, void *arg)
{
    struct store_sentinel *s = arg;
    char                   host[URL_HOST_MAX];
    long                   port;

    if (rl != s->ask) {
        return;                     /* a link already given up, or freed */
    }
    if (reply == NULL) {
        sent_ask_failed(s, "no answer");
        return;
    }
    if (reply->type == REDIS_REPLY_ERROR) {
        sent_ask_failed(s, reply->str);
        return;
    }
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2 ||
        reply->element[0]->type != REDIS_REPLY_STRING ||
        reply->element[1]->type != REDIS_REPLY_STRING ||
        reply->element[0]->len == 0 ||
        reply->element[0]->len >= sizeof(host) ||
        (port = strtol(reply->element[1]->str, NULL, 10)) < 1 ||
        port > 65535) {
        sent_ask_failed(s, "it does not know the master (or answered "
                        "something else)");
        return;
    }
    memcpy(host, reply->element[0]->str, reply->element[0]->len);
    host[reply->element[0]->len] = '\0';
    ready_sentinel_reach(s->ask_seed, true);
    s->ask = NULL;
    rlink_free(rl);
    if (s->ask_epoch != s->epoch) {
        /* A +switch-master came meanwhile: the sentinel asked may not
         * have heard of it yet, and the links moved already. */
        return;
    }
    sent_tell(s, host, (uint16_t)port);
}

static void
on_ask_event(struct rlink *rl, enum rlink_event ev, enum rlink_reason reason,
             enum rerr_kind kind, const char *detail, void *arg)
{
    struct store_sentinel *s = arg;
    const char *argv[3] = { "SENTINEL", "get-master-addr-by-name", NULL };
    char        what[300];

    (void)kind;
    if (rl != s->ask) {
        return;
    }
    if (ev == RLINK_UP) {
        argv[2] = s->master;
        if (rlink_command(rl, 3, argv, NULL, on_ask_reply, s) != 0) {
            sent_ask_failed(s, "cannot send");
        }
        return;
    }
    snprintf(what, sizeof(what), "%s: %s", rlink_reason_name(reason),
             detail);
    sent_ask_failed(s, what);
}

static void
on_again(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    sent_ask(arg, "the master was not confirmed");
}

/* ---- listening ----------------------------------------------------------- */

/* Subscribes to +switch-master on the sentinel LISTEN_SEED names. */
static void
sent_listen(struct store_sentinel *s)
{
    s->listen = sent_link(s, s->listen_seed, true, on_listen_event,
                          on_listen_message);
    if (s->listen == NULL) {
        struct timeval tv = { 0, SENT_LISTEN_RETRY_MS * 1000 };

        evtimer_add(s->relisten, &tv);
    }
}

static void
on_relisten(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    sent_listen(arg);
}

/* The PONG of the listened sentinel, or NULL: the link drops itself. */
static void
on_pong(struct rlink *rl, redisReply *reply, void *arg)
{
    (void)rl, (void)reply, (void)arg;
}

static void
on_ping(evutil_socket_t fd, short what, void *arg)
{
    struct store_sentinel *s = arg;
    const char            *argv[1] = { "PING" };

    (void)fd;
    (void)what;
    if (s->listen != NULL && rlink_up(s->listen)) {
        (void)rlink_command(s->listen, 1, argv, NULL, on_pong, s);
    }
}

static void
on_listen_event(struct rlink *rl, enum rlink_event ev,
                enum rlink_reason reason, enum rerr_kind kind,
                const char *detail, void *arg)
{
    struct store_sentinel *s = arg;
    const char            *argv[2] = { "SUBSCRIBE", SENT_CHANNEL };
    struct timeval         tv = { 0, SENT_LISTEN_RETRY_MS * 1000 };
    char                   why[300];

    (void)kind;
    if (ev == RLINK_UP && rlink_command(rl, 2, argv, NULL, NULL, NULL) == 0) {
        ready_sentinel_reach(s->listen_seed, true);
        return;                     /* the confirmation asks again */
    }
    snprintf(why, sizeof(why), "listening for %s: %s: %s", SENT_CHANNEL,
             rlink_reason_name(reason), detail);
    sent_fault(s, s->listen_seed, why);
    s->listen = NULL;
    rlink_free(rl);
    s->listen_seed = (s->listen_seed + 1) % s->nseeds;
    evtimer_add(s->relisten, &tv);
}

/*
 * Reads "name old-ip old-port new-ip new-port" at TEXT (LEN bytes): the
 * new address into HOST (URL_HOST_MAX bytes) and *PORT when NAME is S's
 * master. Returns whether it is.
 */
static bool
sent_parse_switch(const struct store_sentinel *s, const char *text,
                  size_t len, char *host, uint16_t *port)
{
    char  buf[URL_MASTER_MAX + 2 * URL_HOST_MAX + 32];
    char  name[URL_MASTER_MAX], oldh[URL_HOST_MAX], newh[URL_HOST_MAX];
    long  oldp, newp;

    if (len >= sizeof(buf)) {
        return false;
    }
    memcpy(buf, text, len);
    buf[len] = '\0';
    if (sscanf(buf, "%63s %255s %ld %255s %ld", name, oldh, &oldp, newh,
               &newp) != 5 ||
        strcmp(name, s->master) != 0 || newp < 1 || newp > 65535) {
        return false;
    }
    memcpy(host, newh, sizeof(newh));
    *port = (uint16_t)newp;
    return true;
}

static void
on_listen_message(struct rlink *rl, struct redisReply *msg, void *arg)
{
    struct store_sentinel *s = arg;
    char                   host[URL_HOST_MAX];
    uint16_t               port;

    (void)rl;
    if (msg->type != REDIS_REPLY_ARRAY || msg->elements < 3 ||
        msg->element[0]->type != REDIS_REPLY_STRING) {
        return;
    }
    if (strcmp(msg->element[0]->str, "subscribe") == 0) {
        /* (Re)subscribed: an announcement may have been missed. */
        sent_ask(s, "listening to a sentinel again");
        return;
    }
    if (strcmp(msg->element[0]->str, "message") == 0 &&
        msg->element[2]->type == REDIS_REPLY_STRING &&
        sent_parse_switch(s, msg->element[2]->str, msg->element[2]->len,
                          host, &port)) {
        log_warn("store: sentinel: +switch-master: master %s moved to "
                 "%s:%u", s->master, host, (unsigned)port);
        s->epoch++;                 /* answers asked before: stale */
        s->again_ms = SENT_AGAIN_MIN_MS;
        sent_tell(s, host, port);
    }
}
