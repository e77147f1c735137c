/* worker.c - one event loop per thread, and its graceful stop. */
#include "config.h"

#include "worker.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/dns.h>
#include <event2/event.h>

#include "conf.h"
#include "log.h"
#include "proxy.h"

#define WORKER_DRAIN_TICK_MS 20
#define WORKER_FLUSH_MS      100    /* loop turns left to write answers */
#define WORKER_RELOAD_RETRY_MS 100  /* after a swap that ran out of memory */

struct worker {
    unsigned           id;
    pthread_t          thread;
    bool               started;     /* THREAD is joinable */
    struct event_base *base;        /* owned */
    struct evdns_base *dns;         /* owned, may be NULL */
    struct proxy      *proxy;       /* owned */
    struct event      *stop;        /* owned: activated by worker_stop */
    struct event      *drain;       /* owned: polls the in-flight count */
    struct event      *reload;      /* owned: activated by worker_reload */
    pthread_mutex_t    lock;        /* guards PENDING */
    struct conf_ref   *pending;     /* held: the next configuration */
    int64_t            grace_ms;    /* written before STOP is activated */
    struct timespec    deadline;    /* end of the grace period */
};

static void *worker_main(void *arg);
static void on_stop(evutil_socket_t fd, short what, void *arg);
static void on_drain_tick(evutil_socket_t fd, short what, void *arg);
static void on_reload(evutil_socket_t fd, short what, void *arg);

static void
worker_free(struct worker *w)
{
    proxy_free(w->proxy);
    if (w->stop != NULL) {
        event_free(w->stop);
    }
    if (w->drain != NULL) {
        event_free(w->drain);
    }
    if (w->reload != NULL) {
        event_free(w->reload);
    }
    conf_ref_drop(w->pending);
    pthread_mutex_destroy(&w->lock);
    if (w->dns != NULL) {
        evdns_base_free(w->dns, 0);
    }
    if (w->base != NULL) {
        event_base_free(w->base);
    }
    free(w);
}

/*
 * The worker's loop. With the epoll changelist, the many enable/disable
 * pairs evhttp makes per request in one loop turn cost one epoll_ctl at
 * most, instead of up to four; the fds we use are never dup'd, which is
 * the changelist's one caveat.
 */
static struct event_base *
worker_base_new(void)
{
    struct event_config *cfg = event_config_new();
    struct event_base   *base;

    if (cfg == NULL) {
        return NULL;
    }
    event_config_set_flag(cfg, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
    base = event_base_new_with_config(cfg);
    event_config_free(cfg);
    return base;
}

struct worker *
worker_start(unsigned id, struct conf_ref *ref, SSL_CTX *ctx,
             const struct proxy_shared *sh, evutil_socket_t listen_fd,
             unsigned nworkers)
{
    struct worker *w;
    int            rc;

    w = calloc(1, sizeof(*w));
    if (w == NULL) {
        log_err("worker: out of memory");
        evutil_closesocket(listen_fd);
        return NULL;
    }
    w->id = id;
    pthread_mutex_init(&w->lock, NULL);
    w->base = worker_base_new();
    if (w->base == NULL) {
        log_err("worker %u: cannot create an event base", id);
        evutil_closesocket(listen_fd);
        goto fail;
    }
    /* Non-blocking name resolution for upstream connects (PITFALLS
     * §4.1.11); /etc/hosts is honoured. Without it evhttp would block. */
    w->dns = evdns_base_new(w->base, EVDNS_BASE_INITIALIZE_NAMESERVERS);
    if (w->dns == NULL) {
        log_warn("worker %u: no resolver configuration; using blocking "
                 "name resolution", id);
    }
    w->stop = event_new(w->base, -1, 0, on_stop, w);
    w->drain = event_new(w->base, -1, 0, on_drain_tick, w);
    w->reload = event_new(w->base, -1, 0, on_reload, w);
    if (w->stop == NULL || w->drain == NULL || w->reload == NULL) {
        log_err("worker %u: out of memory", id);
        evutil_closesocket(listen_fd);
        goto fail;
    }
    w->proxy = proxy_new(w->base, w->dns, ref, ctx, sh, listen_fd, nworkers);
    if (w->proxy == NULL) {
        goto fail;
    }
    rc = pthread_create(&w->thread, NULL, worker_main, w);
    if (rc != 0) {
        log_err("worker %u: cannot start a thread: %s", id, strerror(rc));
        goto fail;
    }
    w->started = true;
    return w;

fail:
    worker_free(w);
    return NULL;
}

void
worker_stop(struct worker *w, int64_t grace_ms)
{
    w->grace_ms = grace_ms;
    event_active(w->stop, 0, 0);    /* thread-safe with evthread enabled */
}

void
worker_reload(struct worker *w, struct conf_ref *ref)
{
    struct conf_ref *old;

    /* A second reload before the worker ran the first replaces it: only
     * the newest configuration matters. */
    pthread_mutex_lock(&w->lock);
    old = w->pending;
    w->pending = conf_ref_hold(ref);
    pthread_mutex_unlock(&w->lock);
    conf_ref_drop(old);
    event_active(w->reload, 0, 0);  /* thread-safe with evthread enabled */
}

void
worker_join(struct worker *w)
{
    if (w == NULL) {
        return;
    }
    if (w->started) {
        pthread_join(w->thread, NULL);
    }
    worker_free(w);
}

static void *
worker_main(void *arg)
{
    struct worker *w = arg;

    log_debug("worker %u: running", w->id);
    if (event_base_dispatch(w->base) < 0) {
        log_err("worker %u: event loop failed", w->id);
    }
    log_debug("worker %u: stopped", w->id);
    return NULL;
}

static bool
worker_past(const struct timespec *t)
{
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    return now.tv_sec > t->tv_sec ||
           (now.tv_sec == t->tv_sec && now.tv_nsec >= t->tv_nsec);
}

static void
on_stop(evutil_socket_t fd, short what, void *arg)
{
    struct worker *w = arg;
    struct timeval zero = { 0, 0 };

    proxy_stop_accepting(w->proxy);
    clock_gettime(CLOCK_MONOTONIC, &w->deadline);
    w->deadline.tv_sec += (time_t)(w->grace_ms / 1000);
    w->deadline.tv_nsec += (long)(w->grace_ms % 1000) * 1000000L;
    if (w->deadline.tv_nsec >= 1000000000L) {
        w->deadline.tv_sec++;
        w->deadline.tv_nsec -= 1000000000L;
    }
    event_add(w->drain, &zero);
}

static void
on_drain_tick(evutil_socket_t fd, short what, void *arg)
{
    struct worker *w = arg;
    struct timeval tick = { 0, WORKER_DRAIN_TICK_MS * 1000 };
    struct timeval flush = { 0, WORKER_FLUSH_MS * 1000 };

    if (proxy_inflight(w->proxy) > 0 && !worker_past(&w->deadline)) {
        event_add(w->drain, &tick);
        return;
    }
    if (proxy_inflight(w->proxy) > 0) {
        log_warn("worker %u: %zu requests still in flight at the end of "
                 "the grace period", w->id, proxy_inflight(w->proxy));
        proxy_abort_all(w->proxy);
    }
    /* An answer given in this loop turn (the 503s above, or the last
     * request's) is only queued: exiting now would close its connection
     * unwritten. A short bounded while lets the loop write it. */
    event_base_loopexit(w->base, &flush);
}

/* Between two callbacks of the loop, so no request is mid-step. */
static void
on_reload(evutil_socket_t fd, short what, void *arg)
{
    const struct timeval retry = { 0, WORKER_RELOAD_RETRY_MS * 1000 };
    struct worker       *w = arg;
    struct conf_ref     *ref;

    pthread_mutex_lock(&w->lock);
    ref = w->pending;
    w->pending = NULL;
    pthread_mutex_unlock(&w->lock);
    if (ref == NULL) {
        return;
    }
    if (proxy_set_conf(w->proxy, ref) == 0) {
        log_debug("worker %u: new configuration in force", w->id);
        conf_ref_drop(ref);         /* the proxy holds its own */
        return;
    }
    /* Out of memory: main already holds REF in force, so this worker must
     * not stay on the old one for good. Try again shortly, unless a newer
     * configuration arrived meanwhile (it replaces REF). */
    pthread_mutex_lock(&w->lock);
    if (w->pending == NULL) {
        w->pending = ref;
        ref = NULL;
    }
    pthread_mutex_unlock(&w->lock);
    conf_ref_drop(ref);
    log_warn("worker %u: trying the new configuration again in %d ms",
             w->id, WORKER_RELOAD_RETRY_MS);
    event_add(w->reload, &retry);
}
