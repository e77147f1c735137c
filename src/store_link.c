/*
 * store_link.c - one Redis connection (hiredis async on libevent) that
 * reconnects by itself: AUTH and SELECT queued first, a retry timer with
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

#include <stdlib.h>

#include <event2/event.h>
#include <hiredis/hiredis.h>
#include <hiredis/async.h>
#include <hiredis/adapters/libevent.h>

#include "log.h"
#include "stats.h"
#include "url.h"

#define STORE_LINK_BACKOFF_MIN_MS 100
#define STORE_LINK_BACKOFF_MAX_MS 5000

static void on_connect(const redisAsyncContext *ac, int status);
static void on_disconnect(const redisAsyncContext *ac, int status);
static void on_retry(evutil_socket_t fd, short what, void *arg);

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
    if (ac != NULL) {
        redisAsyncFree(ac);
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
    /* Queued now, sent first once connected. A refusal shows as failed
     * calls, which fail open. */
    if (url->user[0] != '\0') {
        redisAsyncCommand(ac, NULL, NULL, "AUTH %s %s", url->user,
                          url->password);
    } else if (url->password[0] != '\0') {
        redisAsyncCommand(ac, NULL, NULL, "AUTH %s", url->password);
    }
    if (url->db != 0) {
        redisAsyncCommand(ac, NULL, NULL, "SELECT %d", url->db);
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
    link->connected = true;
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
