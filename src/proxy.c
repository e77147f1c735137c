/*
 * proxy.c - one worker's HTTP front end: the evhttp server, its limits,
 * and the resources its requests borrow (the upstream pools and the
 * Redis store). Each request evhttp hands over is run by req.c.
 */
#include "config.h"

#include "proxy.h"

#include <assert.h>
#include <stdlib.h>
#include <sys/time.h>

#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>

#include "budget.h"
#include "client.h"
#include "conf.h"
#include "log.h"
#include "lookup.h"
#include "req.h"
#include "store.h"
#include "upstream.h"
#include "url.h"

#define PROXY_BODY_SLACK    (64 * 1024)
#define PROXY_LINE_SLACK    1024            /* method, path, version */

struct proxy {
    struct event_base   *base;      /* borrowed */
    const struct conf   *cf;        /* borrowed */
    struct evhttp       *http;      /* owned */
    struct evhttp_bound_socket *bound; /* owned by HTTP; NULL once stopped */
    struct upstream     *upstream;  /* owned: `upstream` */
    struct upstream     *lowlat;    /* owned: `upstream_lowlatency`, or NULL */
    struct store        *store;     /* owned: the shared Redis */
    struct lookup_ctx   *lookup;    /* owned: the read path's tables */
    struct budget       *budget;    /* owned: this worker's side of the
                                       shared upstream budget */
    struct req_env       env;       /* what requests borrow of the above */
    struct req_set       reqs;      /* requests not yet answered */
    struct client_set   *clients;   /* owned: connection count, request
                                       deadlines; freed after HTTP */
};

static void on_client_request(struct evhttp_request *client, void *arg);

static struct upstream *
proxy_upstream_new(struct event_base *base, struct evdns_base *dns,
                   SSL_CTX *ctx, const char *url, unsigned conns,
                   int64_t timeout_ms)
{
    struct url_upstream u;
    char                err[128];

    if (url_parse_upstream(url, &u, err, sizeof(err)) != 0) {
        log_err("proxy: upstream %s: %s", url, err);
        return NULL;
    }
    return upstream_new(base, dns, ctx, &u, conns, timeout_ms);
}

struct proxy *
proxy_new(struct event_base *base, struct evdns_base *dns,
          const struct conf *cf, SSL_CTX *ctx, struct budget_local *bl,
          evutil_socket_t listen_fd, unsigned nworkers)
{
    struct proxy *px;
    unsigned      conns;
    struct timeval tv;

    assert(nworkers > 0);
    px = calloc(1, sizeof(*px));
    if (px == NULL) {
        log_err("proxy: out of memory");
        evutil_closesocket(listen_fd);
        return NULL;
    }
    px->base = base;
    px->cf = cf;
    req_set_init(&px->reqs);

    /* upstream_connections bounds the whole process: each worker gets
     * its share, rounded up so that none gets zero. */
    conns = (unsigned)((cf->upstream_connections + nworkers - 1) / nworkers);
    px->upstream = proxy_upstream_new(base, dns, ctx, cf->upstream, conns,
                                      cf->upstream_timeout_ms);
    if (px->upstream == NULL) {
        goto fail;
    }
    if (cf->upstream_lowlatency[0] != '\0') {
        px->lowlat = proxy_upstream_new(base, dns, ctx,
                                        cf->upstream_lowlatency, conns,
                                        cf->upstream_timeout_ms);
        if (px->lowlat == NULL) {
            goto fail;
        }
    }
    px->store = store_new(base, cf->redis, cf->redis_timeout_ms);
    if (px->store == NULL) {
        goto fail;
    }
    px->lookup = lookup_ctx_new(base, cf, px->store);
    px->budget = budget_new(px->store, cf, bl);
    if (px->lookup == NULL || px->budget == NULL) {
        log_err("proxy: out of memory");
        goto fail;
    }
    px->env.base = base;
    px->env.cf = cf;
    px->env.store = px->store;
    px->env.lookup = px->lookup;
    px->env.budget = px->budget;
    px->env.upstream = px->upstream;
    px->env.lowlat = px->lowlat;

    px->http = evhttp_new(base);
    if (px->http == NULL) {
        log_err("proxy: cannot create the HTTP server");
        goto fail;
    }
    /* Take every method, so that routes answer 405 in the upstream's
     * format instead of evhttp's 501 (PITFALLS §4.1.1). */
    evhttp_set_allowed_methods(px->http,
                               EVHTTP_REQ_GET | EVHTTP_REQ_HEAD |
                                   EVHTTP_REQ_POST | EVHTTP_REQ_PUT |
                                   EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS |
                                   EVHTTP_REQ_PATCH);
    evhttp_set_default_content_type(px->http, NULL);
    /* evhttp answers a body over its limit with its own HTML page and no
     * hook, so its limit sits above max_body: bodies between the two get
     * our 413 in the upstream's format, and only absurd ones (evhttp's
     * limit, twice max_body at least) get evhttp's page and a close. */
    evhttp_set_max_body_size(px->http,
                             (ev_ssize_t)(cf->max_body +
                                          (cf->max_body > PROXY_BODY_SLACK
                                               ? cf->max_body
                                               : PROXY_BODY_SLACK)));
    /* The same for the request line and headers: the request checks
     * answer max_query and max_header_size in the upstream's format
     * (414, 431), so evhttp's limit, past which it answers 400 with its
     * own page and closes, sits at twice what those allow. */
    evhttp_set_max_headers_size(px->http,
                                (ev_ssize_t)(2 * (cf->max_header_size +
                                                  cf->max_query) +
                                             PROXY_LINE_SLACK));
    /* evhttp's timeout restarts with every byte: it catches idle and
     * stalled connections (and clients that do not read their answer);
     * the client set's deadline catches slow ones. */
    tv.tv_sec = (time_t)(cf->client_timeout_ms / 1000);
    tv.tv_usec = (suseconds_t)(cf->client_timeout_ms % 1000) * 1000;
    evhttp_set_timeout_tv(px->http, &tv);
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

void
proxy_stop_accepting(struct proxy *px)
{
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
    req_abort_all(&px->reqs);
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
    lookup_ctx_free(px->lookup);
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
    struct proxy *px = arg;

    const char   *reject = client_request_arrived(px->clients, client);

    req_start(&px->env, &px->reqs, client, reject);
}
