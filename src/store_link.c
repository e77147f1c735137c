/*
 * store_link.c - one Redis connection (hiredis async on libevent) that
 * reconnects by itself: a handshake of AUTH, SELECT and PING queued
 * first, every reply of it checked, and the link up only once all were
 * answered without an error (a wrong password never looks connected; a
 * refused handshake drops the connection and retries with backoff, and
 * /readyz says why, ready.h); a retry timer with
 * exponential backoff and a quarter of jitter, so workers and instances
 * spread out. The owner resets the backoff when Redis answers, not when
 * it accepts a connection: a Redis that accepts but never answers is
 * tried less and less often.
 *
 * Owns its hiredis context (hiredis frees it after a failed connect or a
 * disconnect, PITFALLS §4.3.2; we free it with redisAsyncFree when we
 * drop it) and its retry timer; store_link_stop releases both. Calls
 * nothing of the store: events go up through the owner's callback.
 */
#include "config.h"

#include "store_link.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <hiredis/hiredis.h>
#include <hiredis/async.h>
#include <hiredis/adapters/libevent.h>

#include "log.h"
#include "ready.h"
#include "stats.h"
#include "store_err.h"
#include "url.h"

#define STORE_LINK_BACKOFF_MIN_MS 100
#define STORE_LINK_BACKOFF_MAX_MS 5000

static void on_connect(const redisAsyncContext *ac, int status);
static void on_disconnect(const redisAsyncContext *ac, int status);
static void on_retry(evutil_socket_t fd, short what, void *arg);
static void on_handshake(redisAsyncContext *ac, void *reply, void *privdata);

int
store_link_init(struct store_link *link, struct event_base *base,
                const struct url_redis *url, const char *name,
                store_link_cb cb, void *arg)
{
    link->base = base;
    link->url = url;
    link->name = name;
    link->backoff_ms = STORE_LINK_BACKOFF_MIN_MS;
    link->cb = cb;
    link->arg = arg;
    link->retry = evtimer_new(base, on_retry, link);
    return link->retry != NULL ? 0 : -1;
}

/* Drops LINK's connection now, if any; its pending callbacks get NULL. */
static void
link_close(struct store_link *link)
{
    redisAsyncContext *ac = link->ac;

    link->ac = NULL;
    link->connected = false;
    link->handshake = 0;
    if (ac != NULL) {
        redisAsyncFree(ac);
    }
}

/* Notes whether LINK's last handshake was refused, for /readyz. */
static void
link_set_refused(struct store_link *link, bool refused)
{
    if (link->refused != refused) {
        link->refused = refused;
        ready_redis_refused(refused ? 1 : -1);
    }
}

/* The handshake's commands, for on_handshake's privdata (not const:
 * hiredis takes a void *). */
static char link_cmd_auth[] = "AUTH";
static char link_cmd_select[] = "SELECT";
static char link_cmd_ping[] = "PING";

/* Queues one handshake command of LINK (ARGV; WHAT names it). */
static void
link_handshake(struct store_link *link, char *what, int argc,
               const char **argv)
{
    if (redisAsyncCommandArgv(link->ac, on_handshake, what, argc, argv,
                              NULL) == REDIS_OK) {
        link->handshake++;
    }
}

static void
link_schedule_retry(struct store_link *link)
{
    struct timeval tv;
    unsigned       ms = link->backoff_ms;

    if (link->stopped) {
        return;
    }
    /* Up to a quarter of jitter, so workers and instances spread out. */
    ms += (unsigned)(rand() % (int)(ms / 4 + 1));
    tv.tv_sec = ms / 1000;
    tv.tv_usec = (suseconds_t)(ms % 1000) * 1000;
    evtimer_add(link->retry, &tv);
    link->backoff_ms = link->backoff_ms * 2 > STORE_LINK_BACKOFF_MAX_MS
                           ? STORE_LINK_BACKOFF_MAX_MS
                           : link->backoff_ms * 2;
}

void
store_link_connect(struct store_link *link)
{
    const struct url_redis *url = link->url;
    redisAsyncContext      *ac;

    ac = url->unix_socket ? redisAsyncConnectUnix(url->path)
                          : redisAsyncConnect(url->host, url->port);
    if (ac == NULL) {
        log_err("store: out of memory");
        link_schedule_retry(link);
        return;
    }
    if (ac->err != 0) {
        stats_add(STATS_REDIS_CONNECT_FAILED, 1);
        log_warn("store: cannot connect to %s: %s", link->name, ac->errstr);
        redisAsyncFree(ac);
        link_schedule_retry(link);
        return;
    }
    ac->data = link;
    if (redisLibeventAttach(ac, link->base) != REDIS_OK) {
        log_err("store: cannot attach %s to the event loop", link->name);
        redisAsyncFree(ac);
        link_schedule_retry(link);
        return;
    }
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    link->ac = ac;
    link->connected = false;
    link->cb(link, STORE_LINK_CONNECTING, link->arg);
    /* Queued now, sent first once connected; the link is up once all
     * are answered (on_handshake). PING last: a Redis that wants a
     * password we do not have says NOAUTH to it. */
    link->handshake = 0;
    if (url->password[0] != '\0') {
        const char *argv[3] = { "AUTH", url->user, url->password };

        if (url->user[0] != '\0') {
            link_handshake(link, link_cmd_auth, 3, argv);
        } else {
            argv[1] = url->password;
            link_handshake(link, link_cmd_auth, 2, argv);
        }
    }
    if (url->db != 0) {
        char        db[16];
        const char *argv[2] = { "SELECT", db };

        snprintf(db, sizeof(db), "%d", url->db);
        link_handshake(link, link_cmd_select, 2, argv);
    }
    {
        const char *argv[1] = { "PING" };

        link_handshake(link, link_cmd_ping, 1, argv);
    }
}

bool
store_link_up(const struct store_link *link)
{
    return link->ac != NULL && link->connected;
}

void
store_link_reset_backoff(struct store_link *link)
{
    link->backoff_ms = STORE_LINK_BACKOFF_MIN_MS;
}

void
store_link_drop(struct store_link *link)
{
    link_close(link);
    link_schedule_retry(link);
}

void
store_link_stop(struct store_link *link)
{
    link->stopped = true;
    link_close(link);               /* pending callbacks get NULL */
    link_set_refused(link, false);
    if (link->retry != NULL) {
        event_free(link->retry);
        link->retry = NULL;
    }
}

/* ---- callbacks ----------------------------------------------------------- */

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
        link_schedule_retry(link);
        link->cb(link, STORE_LINK_FAILED, link->arg);
        return;
    }
    /* Not up yet: the handshake's replies say (on_handshake). */
    log_debug("store: %s accepted the connection; handshake sent",
              link->name);
}

/*
 * A reply of the handshake (PRIVDATA names the command). An error means
 * Redis refused the link: noted by kind (a refused AUTH, or a NOAUTH to
 * PING, is auth), the connection dropped and tried again with backoff,
 * and /readyz told. The last good reply makes the link up.
 */
static void
on_handshake(redisAsyncContext *ac, void *r, void *privdata)
{
    struct store_link *link = ac->data;
    redisReply        *reply = r;
    const char        *what = privdata;

    if (reply == NULL || link->stopped || link->ac != ac) {
        return;                     /* the connection went: others say */
    }
    if (reply->type == REDIS_REPLY_ERROR) {
        store_err_note(what == link_cmd_auth
                           ? RERR_AUTH
                           : rerr_classify(reply->str, reply->len),
                       what, reply->str);
        stats_add(STATS_REDIS_CONNECT_FAILED, 1);
        link_set_refused(link, true);
        store_link_drop(link);      /* freed after this callback returns */
        link->cb(link, STORE_LINK_FAILED, link->arg);
        return;
    }
    assert(link->handshake > 0);
    if (--link->handshake > 0) {
        return;
    }
    link->connected = true;
    link_set_refused(link, false);
    log_info("store: connected to %s", link->name);
    link->cb(link, STORE_LINK_UP, link->arg);
}

static void
on_disconnect(const redisAsyncContext *ac, int status)
{
    struct store_link *link = ac->data;

    if (link->stopped || link->ac != ac) {
        return;                     /* dropped by us: retry is scheduled */
    }
    link->ac = NULL;
    link->connected = false;
    stats_add(STATS_REDIS_CONN_LOST, 1);
    log_warn("store: %s connection lost%s%s", link->name,
             status != REDIS_OK ? ": " : "",
             status != REDIS_OK ? ac->errstr : "");
    link_schedule_retry(link);
    link->cb(link, STORE_LINK_LOST, link->arg);
}

static void
on_retry(evutil_socket_t fd, short what, void *arg)
{
    struct store_link *link = arg;

    if (link->ac == NULL) {
        store_link_connect(link);
    }
}
