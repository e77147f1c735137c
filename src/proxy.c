/*
 * proxy.c - one worker's HTTP front end: the evhttp server, its limits,
 * and the resources its requests borrow (the upstream pools and the
 * Redis store). Each request evhttp hands over is run by req/machine.c.
 */
#include "config.h"

#include "proxy.h"

#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/time.h>

#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>

#include "budget.h"
#include "client.h"
#include "conf.h"
#include "log.h"
#include "ready.h"
#include "req/flight.h"
#include "req/lost.h"
#include "req/machine.h"
#include "req/pending.h"
#include "req/unsettled.h"
#include "req/tracking.h"
#include "respond.h"
#include "route.h"
#include "store.h"
#include "tkeys.h"
#include "upstream.h"
#include "url.h"

#define PROXY_BODY_SLACK    (64 * 1024)
#define PROXY_LINE_SLACK    1024            /* method, path, version */

/*
 * A configuration and the env its requests borrow. A request keeps the
 * env it started with (req_env.use), so it runs to its end under one
 * configuration even when a reload swaps the proxy's current one: the
 * generation it used is freed, with its hold on the configuration, when
 * its last request ends. Used only on the worker's loop, so USERS needs
 * no lock; only the conf_ref count is shared with other threads.
 */
struct proxy_gen {
    struct req_env    env;          /* first: requests point at it */
    struct proxy     *px;           /* borrowed: the owner */
    struct conf_ref  *ref;          /* one hold on env.cf */
    size_t            users;        /* requests started with ENV, not done */
};

struct proxy {
    struct event_base   *base;      /* borrowed */
    struct proxy_gen    *gen;       /* owned: the configuration in force;
                                       older ones free themselves */
    struct evhttp       *http;      /* owned */
    struct evhttp_bound_socket *bound; /* owned by HTTP; NULL once stopped */
    struct upstream     *upstream;  /* owned: `upstream` */
    struct upstream     *lowlat;    /* owned: `upstream_lowlatency`, or NULL */
    struct store        *store;     /* owned: the shared Redis */
    struct flight_ctx   *flights;   /* owned: coalescing's tables */
    struct tracking     *tracking;  /* owned: the near cache, or NULL */
    struct tkeys        *keys;      /* owned: tenants' derived keys */
    struct pending_retry *pending;  /* owned: retries of invalidations */
    struct unsettled_retry *unsettled; /* owned: retries of idempotency
                                     * records */
    struct lost         *lost;      /* owned: the watch for lost data */
    struct budget       *budget;    /* owned: this worker's side of the
                                       shared upstream budget */
    struct req_set       reqs;      /* requests not yet answered */
    struct client_set   *clients;   /* owned: connection count, request
                                       deadlines; freed after HTTP */
};

static void on_client_request(struct evhttp_request *client, void *arg);

static struct upstream *
proxy_upstream_new(struct event_base *base, struct evdns_base *dns,
                   SSL_CTX *ctx, const char *url,
                   struct upstream_share *share, int64_t timeout_ms)
{
    struct url_upstream u;
    char                err[128];

    if (url_parse_upstream(url, &u, err, sizeof(err)) != 0) {
        log_err("proxy: upstream %s: %s", url, err);
        return NULL;
    }
    return upstream_new(base, dns, ctx, &u, share, timeout_ms);
}

static void
proxy_gen_free(struct proxy_gen *g)
{
    assert(g->users == 0);
    conf_ref_drop(g->ref);
    free(g);
}

/* req_env.use: counts G's requests; frees a replaced G after its last. */
static void
proxy_gen_use(const struct req_env *env, int delta)
{
    struct proxy_gen *g = (struct proxy_gen *)(uintptr_t)env;

    if (delta > 0) {
        g->users++;
        return;
    }
    assert(g->users > 0);
    if (--g->users == 0 && g->px->gen != g) {
        proxy_gen_free(g);
    }
}

/* A generation for REF (held anew) with the env of PX's resources. */
static struct proxy_gen *
proxy_gen_new(struct proxy *px, struct conf_ref *ref)
{
    struct proxy_gen *g = calloc(1, sizeof(*g));

    if (g == NULL) {
        return NULL;
    }
    g->px = px;
    g->ref = conf_ref_hold(ref);
    g->env.base = px->base;
    g->env.cf = conf_ref_conf(ref);
    g->env.use = proxy_gen_use;
    g->env.store = px->store;
    g->env.flights = px->flights;
    g->env.tracking = px->tracking;
    g->env.keys = px->keys;
    g->env.budget = px->budget;
    g->env.upstream = px->upstream;
    g->env.lowlat = px->lowlat;
    return g;
}

/*
 * evhttp's own limits sit above the proxy's: bodies past max_body, heads
 * past max_header_size and queries past max_query get the request
 * checks' 413, 431 and 414 in the upstream's format on a connection that
 * goes on. Past evhttp's limits (twice those, at least) evhttp would
 * answer with its own HTML page; the client set's lexer answers first,
 * in the upstream's format, and closes (client.h).
 */
static void
proxy_set_limits(struct proxy *px, const struct conf *cf)
{
    int64_t body = cf->max_body + (cf->max_body > PROXY_BODY_SLACK
                                       ? cf->max_body
                                       : PROXY_BODY_SLACK);
    size_t  head = 2 * (cf->max_header_size + cf->max_query) +
                   PROXY_LINE_SLACK;

    evhttp_set_max_body_size(px->http, (ev_ssize_t)body);
    evhttp_set_max_headers_size(px->http, (ev_ssize_t)head);
    if (px->clients != NULL) {
        client_set_limits(px->clients, head, body, cf->max_body);
    }
}

struct proxy *
proxy_new(struct event_base *base, struct evdns_base *dns,
          struct conf_ref *ref, SSL_CTX *ctx, const struct proxy_shared *sh,
          evutil_socket_t listen_fd, unsigned nworkers)
{
    const struct conf *cf = conf_ref_conf(ref);
    struct proxy      *px;
    struct store_opts   tls;
    struct timeval     tv;

    assert(nworkers > 0);
    px = calloc(1, sizeof(*px));
    if (px == NULL) {
        log_err("proxy: out of memory");
        evutil_closesocket(listen_fd);
        return NULL;
    }
    px->base = base;
    req_set_init(&px->reqs);

    /* upstream_connections bounds the whole process: the workers' pools
     * take their connections from one share (upstream.h). */
    px->upstream = proxy_upstream_new(base, dns, ctx, cf->upstream,
                                      sh->upstream, cf->upstream_timeout_ms);
    if (px->upstream == NULL) {
        goto fail;
    }
    if (cf->upstream_lowlatency[0] != '\0') {
        assert(sh->lowlat != NULL);
        px->lowlat = proxy_upstream_new(base, dns, ctx,
                                        cf->upstream_lowlatency, sh->lowlat,
                                        cf->upstream_timeout_ms);
        if (px->lowlat == NULL) {
            goto fail;
        }
    }
    tls.ca_file = cf->redis_ca_file;
    tls.cert_file = cf->redis_cert_file;
    tls.key_file = cf->redis_key_file;
    tls.sentinel_user = cf->redis_sentinel_user;
    tls.sentinel_password = cf->redis_sentinel_password;
    px->store = store_new(base, dns, cf->redis, &tls, cf->redis_timeout_ms);
    if (px->store == NULL) {
        goto fail;
    }
    px->flights = flight_ctx_new(base, cf, px->store);
    if (cf->near_cache > 0) {
        px->tracking = tracking_new(base, cf, px->store);
    }
    px->budget = budget_new(px->store, cf, sh->bl);
    px->pending = pending_retry_new(base, px->store);
    px->unsettled = unsettled_retry_new(base, px->store);
    px->lost = lost_new(base, px->store, px->tracking, cf);
    px->keys = tkeys_new(TKEYS_MAX);
    if (px->flights == NULL || (cf->near_cache > 0 && px->tracking == NULL) ||
        px->budget == NULL || px->pending == NULL || px->lost == NULL ||
        px->unsettled == NULL || px->keys == NULL) {
        log_err("proxy: out of memory");
        goto fail;
    }
    px->gen = proxy_gen_new(px, ref);
    if (px->gen == NULL) {
        log_err("proxy: out of memory");
        goto fail;
    }

    px->http = evhttp_new(base);
    if (px->http == NULL) {
        log_err("proxy: cannot create the HTTP server");
        goto fail;
    }
    /* Take every method, so that routes answer 405 in the upstream's
     * format instead of evhttp's 501 (PITFALLS §4.1.1). A TRACE is a
     * PURGE, which client.c has evhttp read as one. */
    evhttp_set_allowed_methods(px->http,
                               EVHTTP_REQ_GET | EVHTTP_REQ_HEAD |
                                   EVHTTP_REQ_POST | EVHTTP_REQ_PUT |
                                   EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS |
                                   EVHTTP_REQ_PATCH | EVHTTP_REQ_TRACE);
    evhttp_set_default_content_type(px->http, NULL);
    /* evhttp's timeout restarts with every byte: it catches idle and
     * stalled connections (and clients that do not read their answer);
     * the client set's deadline catches slow ones. */
    tv.tv_sec = (time_t)(cf->client_timeout_ms / 1000);
    tv.tv_usec = (suseconds_t)(cf->client_timeout_ms % 1000) * 1000;
    evhttp_set_timeout_tv(px->http, &tv);
    respond_set_keepalive(cf->client_timeout_ms);
    evhttp_set_gencb(px->http, on_client_request, px);
    /* max_connections bounds the process; each worker takes its share,
     * rounded up. */
    px->clients = client_set_new(base, px->http,
                                 (size_t)((cf->max_connections + nworkers -
                                           1) / nworkers),
                                 cf->client_timeout_ms);
    if (px->clients == NULL) {
        log_err("proxy: out of memory");
        goto fail;
    }
    proxy_set_limits(px, cf);
    px->bound = evhttp_accept_socket_with_handle(px->http, listen_fd);
    if (px->bound == NULL) {
        log_err("proxy: cannot accept on the listening socket");
        goto fail;
    }
    client_set_listener(px->clients,
                        evhttp_bound_socket_get_listener(px->bound));
    return px;

fail:
    if (px->bound == NULL) {
        evutil_closesocket(listen_fd);
    }
    proxy_free(px);
    return NULL;
}

int
proxy_set_conf(struct proxy *px, struct conf_ref *ref)
{
    const struct conf *cf = conf_ref_conf(ref);
    struct proxy_gen  *g, *old = px->gen;

    g = proxy_gen_new(px, ref);
    if (g == NULL) {
        log_err("proxy: out of memory: the old configuration stays for now");
        return -1;
    }
    px->gen = g;
    if (old->users == 0) {
        proxy_gen_free(old);
    }
    /* What the worker's resources copied at creation and may change. */
    budget_set_limits(px->budget, cf);
    upstream_set_timeout(px->upstream, cf->upstream_timeout_ms);
    if (px->lowlat != NULL) {
        upstream_set_timeout(px->lowlat, cf->upstream_timeout_ms);
    }
    store_set_timeout(px->store, cf->redis_timeout_ms);
    proxy_set_limits(px, cf);
    return 0;
}

void
proxy_stop_accepting(struct proxy *px)
{
    ready_stopping();               /* /readyz answers 503 from now */
    if (px->bound != NULL) {
        client_set_listener(px->clients, NULL);
        evhttp_del_accept_socket(px->http, px->bound);
        px->bound = NULL;
    }
}

size_t
proxy_inflight(const struct proxy *px)
{
    return px->reqs.n;
}

void
proxy_abort_all(struct proxy *px)
{
    machine_abort_all(&px->reqs);
}

void
proxy_free(struct proxy *px)
{
    if (px == NULL) {
        return;
    }
    proxy_abort_all(px);
    if (px->clients != NULL) {
        client_set_listener(px->clients, NULL);
    }
    if (px->http != NULL) {
        evhttp_free(px->http);      /* its connections report to CLIENTS */
    }
    client_set_free(px->clients);
    req_set_clear(&px->reqs);
    if (px->gen != NULL) {          /* older ones went with their requests */
        proxy_gen_free(px->gen);
    }
    lost_free(px->lost);
    pending_retry_free(px->pending);
    unsettled_retry_free(px->unsettled);
    tracking_free(px->tracking);
    tkeys_free(px->keys);
    flight_ctx_free(px->flights);
    budget_free(px->budget);
    store_free(px->store);
    upstream_free(px->upstream);
    upstream_free(px->lowlat);
    free(px);
}

/* ---- callbacks ---------------------------------------------------------- */

static void
on_client_request(struct evhttp_request *client, void *arg)
{
    /* What a request came as, when evhttp read it as another method. */
    static const enum route_method as_sent[] = {
        [CLIENT_SENT_AS_READ] = 0,
        [CLIENT_SENT_GET] = ROUTE_M_GET,
        [CLIENT_SENT_PURGE] = ROUTE_M_PURGE,
    };
    struct proxy    *px = arg;
    enum client_sent sent;
    const char      *reject = client_request_arrived(px->clients, client,
                                                     &sent);

    machine_start(&px->gen->env, &px->reqs, client, reject, as_sent[sent]);
}
