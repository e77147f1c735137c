/*
 * proxy.c - the request lifecycle, as one explicit state machine.
 *
 *   RECV --(local answer)--------------------------------> DONE
 *   RECV --(forward)--> FETCH --(response or error)------> DONE
 *                        FETCH --(shutdown grace ran out)-> DONE
 *
 * Only req_step() changes a request's state or answers the client, and it
 * answers exactly once. A request lives from the evhttp callback until
 * DONE; the upstream call it may hold is cancelled or completed by then.
 */
#include "config.h"

#include "proxy.h"

#include <assert.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>

#include "conf.h"
#include "http.h"
#include "json.h"
#include "log.h"
#include "route.h"
#include "upstream.h"
#include "url.h"

#include <json-c/json.h>

#define PROXY_HEADERS_MAX     (32 * 1024)   /* request line + headers */
#define PROXY_CLIENT_IDLE_S   60            /* keep-alive idle timeout */
#define PROXY_ERROR_BODY_MAX  512
#define PROXY_BODY_SLACK      (64 * 1024)

enum req_state {
    REQ_RECV,           /* just arrived: route, check, decide */
    REQ_FETCH,          /* waiting for the upstream */
    REQ_DONE            /* answered; the request is freed */
};

enum req_event {
    REQ_EV_START,       /* evhttp handed us the request */
    REQ_EV_UPSTREAM,    /* the upstream call completed */
    REQ_EV_ABORT        /* shutdown: answer now */
};

/* What REQ_EV_UPSTREAM carries. */
struct req_upstream_result {
    enum upstream_error             err;
    const struct upstream_response *resp;   /* NULL unless err is OK */
    const char                     *why;
};

struct req {
    TAILQ_ENTRY(req)       next;    /* in the proxy's in-flight list */
    struct proxy          *px;      /* borrowed: the owning worker */
    struct evhttp_request *client;  /* evhttp's; NULL once answered */
    enum req_state         state;
    struct route_match     route;
    enum route_method      method;
    const char            *method_name; /* static string */
    struct upstream_call  *call;    /* while in FETCH */
    struct timespec        start;
    char request_id[HTTP_REQUEST_ID_MAX + 1];
};

TAILQ_HEAD(req_list, req);

struct proxy {
    struct event_base   *base;      /* borrowed */
    const struct conf   *cf;        /* borrowed */
    struct evhttp       *http;      /* owned */
    struct evhttp_bound_socket *bound; /* owned by HTTP; NULL once stopped */
    struct upstream     *upstream;  /* owned: `upstream` */
    struct upstream     *lowlat;    /* owned: `upstream_lowlatency`, or NULL */
    struct req_list      inflight;  /* requests not yet answered */
    size_t               ninflight;
};

static void req_step(struct req *r, enum req_event ev, const void *data);
static void on_client_request(struct evhttp_request *client, void *arg);
static void on_upstream_done(enum upstream_error err,
                             const struct upstream_response *resp,
                             const char *why, void *arg);

/* libevent's command type as a route method bit. */
static const struct {
    enum evhttp_cmd_type cmd;
    enum route_method    method;
    const char          *name;
} proxy_methods[] = {
    { EVHTTP_REQ_GET, ROUTE_M_GET, "GET" },
    { EVHTTP_REQ_HEAD, ROUTE_M_HEAD, "HEAD" },
    { EVHTTP_REQ_POST, ROUTE_M_POST, "POST" },
    { EVHTTP_REQ_PUT, ROUTE_M_PUT, "PUT" },
    { EVHTTP_REQ_DELETE, ROUTE_M_DELETE, "DELETE" },
    { EVHTTP_REQ_OPTIONS, ROUTE_M_OPTIONS, "OPTIONS" },
    { EVHTTP_REQ_PATCH, ROUTE_M_PATCH, "PATCH" },
};

static enum route_method
proxy_method(enum evhttp_cmd_type cmd, const char **name)
{
    size_t i;

    for (i = 0; i < sizeof(proxy_methods) / sizeof(proxy_methods[0]); i++) {
        if (proxy_methods[i].cmd == cmd) {
            *name = proxy_methods[i].name;
            return proxy_methods[i].method;
        }
    }
    *name = "OTHER";
    return ROUTE_M_OTHER;
}

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
          const struct conf *cf, SSL_CTX *ctx, evutil_socket_t listen_fd,
          unsigned nworkers)
{
    struct proxy *px;
    unsigned      conns;

    assert(nworkers > 0);
    px = calloc(1, sizeof(*px));
    if (px == NULL) {
        log_err("proxy: out of memory");
        evutil_closesocket(listen_fd);
        return NULL;
    }
    px->base = base;
    px->cf = cf;
    TAILQ_INIT(&px->inflight);

    /* upstream_connections bounds the whole process: each worker gets
     * its share, rounded up so that none gets zero. */
    conns = (unsigned)((cf->upstream_connections + nworkers - 1) / nworkers);
    px->upstream = proxy_upstream_new(base, dns, ctx, cf->upstream, conns,
                                      cf->upstream_timeout_ms);
    if (px->upstream == NULL) {
        evutil_closesocket(listen_fd);
        goto fail;
    }
    if (cf->upstream_lowlatency[0] != '\0') {
        px->lowlat = proxy_upstream_new(base, dns, ctx,
                                        cf->upstream_lowlatency, conns,
                                        cf->upstream_timeout_ms);
        if (px->lowlat == NULL) {
            evutil_closesocket(listen_fd);
            goto fail;
        }
    }

    px->http = evhttp_new(base);
    if (px->http == NULL) {
        log_err("proxy: cannot create the HTTP server");
        evutil_closesocket(listen_fd);
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
    evhttp_set_max_headers_size(px->http, PROXY_HEADERS_MAX);
    evhttp_set_timeout(px->http, PROXY_CLIENT_IDLE_S);
    evhttp_set_gencb(px->http, on_client_request, px);
    px->bound = evhttp_accept_socket_with_handle(px->http, listen_fd);
    if (px->bound == NULL) {
        log_err("proxy: cannot accept on the listening socket");
        evutil_closesocket(listen_fd);
        goto fail;
    }
    return px;

fail:
    proxy_free(px);
    return NULL;
}

void
proxy_stop_accepting(struct proxy *px)
{
    if (px->bound != NULL) {
        evhttp_del_accept_socket(px->http, px->bound);
        px->bound = NULL;
    }
}

size_t
proxy_inflight(const struct proxy *px)
{
    return px->ninflight;
}

void
proxy_abort_all(struct proxy *px)
{
    struct req *r;

    while ((r = TAILQ_FIRST(&px->inflight)) != NULL) {
        req_step(r, REQ_EV_ABORT, NULL);
    }
}

void
proxy_free(struct proxy *px)
{
    if (px == NULL) {
        return;
    }
    proxy_abort_all(px);
    if (px->http != NULL) {
        evhttp_free(px->http);
    }
    upstream_free(px->upstream);
    upstream_free(px->lowlat);
    free(px);
}

/* ---- answering ---------------------------------------------------------- */

static void
req_common_headers(struct req *r, struct evkeyvalq *out)
{
    evhttp_remove_header(out, "X-Request-Id");
    evhttp_add_header(out, "X-Request-Id", r->request_id);
}

/*
 * Answers R with an error the proxy makes itself, in the upstream's
 * payload (SPEC §7). ALLOW, when not NULL, is sent as the Allow header.
 */
static void
req_reply_error(struct req *r, int status, const char *msg, const char *allow)
{
    struct evkeyvalq *out = evhttp_request_get_output_headers(r->client);
    struct evbuffer  *body;
    char              buf[PROXY_ERROR_BODY_MAX];
    int               len;

    len = http_error_body(buf, sizeof(buf), status, &msg, 1);
    assert(len > 0);
    evhttp_add_header(out, "Content-Type", "application/json");
    if (allow != NULL) {
        evhttp_add_header(out, "Allow", allow);
    }
    req_common_headers(r, out);
    body = evbuffer_new();
    if (body != NULL) {
        evbuffer_add(body, buf, (size_t)len);
    }
    evhttp_send_reply(r->client, status, http_reason(status), body);
    if (body != NULL) {
        evbuffer_free(body);
    }
    r->client = NULL;
}

/* Relays the upstream's answer: status, end-to-end headers, body. */
static void
req_reply_relay(struct req *r, const struct upstream_response *resp)
{
    struct evkeyvalq *out = evhttp_request_get_output_headers(r->client);
    const char       *conn = evhttp_find_header(resp->headers, "Connection");
    struct evkeyval  *h;

    TAILQ_FOREACH(h, resp->headers, next) {
        /* evhttp frames the body it sends, so Content-Length goes too
         * (PITFALLS §4.1.4). */
        if (http_is_hop_by_hop(h->key, conn) ||
            strcasecmp(h->key, "Content-Length") == 0) {
            continue;
        }
        evhttp_add_header(out, h->key, h->value);
    }
    req_common_headers(r, out);
    evhttp_send_reply(r->client, resp->status, http_reason(resp->status),
                      resp->body);
    r->client = NULL;
}

static void
req_reply_json(struct req *r, int status, const char *json)
{
    struct evkeyvalq *out = evhttp_request_get_output_headers(r->client);
    struct evbuffer  *body = evbuffer_new();

    evhttp_add_header(out, "Content-Type", "application/json");
    evhttp_add_header(out, "Cache-Control", "no-store");
    req_common_headers(r, out);
    if (body != NULL) {
        evbuffer_add(body, json, strlen(json));
    }
    evhttp_send_reply(r->client, status, http_reason(status), body);
    if (body != NULL) {
        evbuffer_free(body);
    }
    r->client = NULL;
}

/* ---- the token (SPEC §3) ----------------------------------------------- */

/*
 * Whether R carries a token: the x-hs-token header, else a `token` query
 * parameter, else a `token` string in a JSON object body. The token is
 * only looked at, never kept: it travels upstream as the client sent it.
 */
static bool
req_has_token(struct req *r)
{
    struct evkeyvalq *in = evhttp_request_get_input_headers(r->client);
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(r->client);
    const char       *v, *query;
    struct evbuffer  *body;
    bool              found = false;

    v = evhttp_find_header(in, "x-hs-token");
    if (v != NULL && v[0] != '\0') {
        return true;
    }
    query = uri != NULL ? evhttp_uri_get_query(uri) : NULL;
    if (query != NULL) {
        struct evkeyvalq params;

        TAILQ_INIT(&params);
        if (evhttp_parse_query_str(query, &params) == 0) {
            v = evhttp_find_header(&params, "token");
            found = v != NULL && v[0] != '\0';
        }
        evhttp_clear_headers(&params);
        if (found) {
            return true;
        }
    }
    body = evhttp_request_get_input_buffer(r->client);
    if (evbuffer_get_length(body) > 0) {
        struct json_object *root;
        char                err[128];
        size_t              len = evbuffer_get_length(body);

        root = json_parse_strict((const char *)evbuffer_pullup(body, -1), len,
                                 err, sizeof(err));
        v = json_get_string(root, "token");
        found = v != NULL && v[0] != '\0';
        json_object_put(root);
    }
    return found;
}

/* ---- the state machine ------------------------------------------------- */

/* Builds the end-to-end request headers to pass upstream into OUT. */
static void
req_forward_headers(struct req *r, struct evkeyvalq *out)
{
    struct evkeyvalq *in = evhttp_request_get_input_headers(r->client);
    const char       *conn = evhttp_find_header(in, "Connection");
    struct evkeyval  *h;

    TAILQ_FOREACH(h, in, next) {
        if (http_is_hop_by_hop(h->key, conn) ||
            strcasecmp(h->key, "Host") == 0 ||
            strcasecmp(h->key, "Content-Length") == 0 ||
            strcasecmp(h->key, "Expect") == 0 ||
            strcasecmp(h->key, "X-Request-Id") == 0) {
            continue;
        }
        evhttp_add_header(out, h->key, h->value);
    }
}

/* RECV: route and check R, then answer it or send it upstream. */
static enum req_state
req_on_recv(struct req *r)
{
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(r->client);
    struct upstream_request  rq;
    struct evkeyvalq         headers;
    enum route_result        rr;
    struct upstream         *up;
    const char              *path;
    char                     allow[64];

    path = uri != NULL ? evhttp_uri_get_path(uri) : NULL;
    if (path == NULL || path[0] == '\0') {
        req_reply_error(r, 400, "invalid request target", NULL);
        return REQ_DONE;
    }
    rr = route_match(path, r->method, &r->route);
    if (rr == ROUTE_NOT_FOUND) {
        char msg[160];

        /* NestJS's wording, which the upstream uses for unknown routes. */
        snprintf(msg, sizeof(msg), "Cannot %s %.128s", r->method_name, path);
        req_reply_error(r, 404, msg, NULL);
        return REQ_DONE;
    }
    if (rr == ROUTE_BAD_METHOD) {
        route_allow_header(r->route.allowed, allow, sizeof(allow));
        req_reply_error(r, 405, "method not allowed", allow);
        return REQ_DONE;
    }
    if (r->route.id == ROUTE_HEALTHZ) {
        req_reply_json(r, 200, "{\"status\":\"ok\"}");
        return REQ_DONE;
    }
    assert(r->route.upstream_api);
    if (evbuffer_get_length(evhttp_request_get_input_buffer(r->client)) >
        (size_t)r->px->cf->max_body) {
        req_reply_error(r, 413, "request body too large", NULL);
        return REQ_DONE;
    }
    if (!req_has_token(r)) {
        req_reply_error(r, 401, "token should not be empty", NULL);
        return REQ_DONE;
    }

    up = r->route.id == ROUTE_QUERY_CRM && r->px->lowlat != NULL
             ? r->px->lowlat
             : r->px->upstream;
    TAILQ_INIT(&headers);
    req_forward_headers(r, &headers);
    memset(&rq, 0, sizeof(rq));
    rq.method = evhttp_request_get_command(r->client);
    rq.uri = evhttp_request_get_uri(r->client);
    rq.headers = &headers;
    rq.request_id = r->request_id;
    rq.body = evhttp_request_get_input_buffer(r->client);
    rq.idempotent = r->method == ROUTE_M_GET;
    r->call = upstream_send(up, &rq, on_upstream_done, r);
    evhttp_clear_headers(&headers);
    if (r->call == NULL) {
        req_reply_error(r, 502, "upstream unreachable", NULL);
        return REQ_DONE;
    }
    return REQ_FETCH;
}

/* FETCH: relay the upstream's answer, or say why there is none. */
static enum req_state
req_on_fetch(struct req *r, const struct req_upstream_result *res)
{
    r->call = NULL;                 /* freed by upstream after this */
    switch (res->err) {
    case UPSTREAM_OK:
        req_reply_relay(r, res->resp);
        break;
    case UPSTREAM_ETIMEOUT:
        req_reply_error(r, 504, "upstream timeout", NULL);
        break;
    case UPSTREAM_ETLS:
        req_reply_error(r, 502, "upstream TLS verification failed", NULL);
        break;
    case UPSTREAM_EPROTO:
        req_reply_error(r, 502, "invalid upstream response", NULL);
        break;
    case UPSTREAM_EUNREACHABLE:
        req_reply_error(r, 502, "upstream unreachable", NULL);
        break;
    }
    return REQ_DONE;
}

static const char *const req_state_names[] = {
    [REQ_RECV] = "recv", [REQ_FETCH] = "fetch", [REQ_DONE] = "done",
};

static void
req_free(struct req *r)
{
    assert(r->client == NULL && r->call == NULL);
    TAILQ_REMOVE(&r->px->inflight, r, next);
    r->px->ninflight--;
    free(r);
}

static void
req_step(struct req *r, enum req_event ev, const void *data)
{
    enum req_state next = r->state;

    switch (r->state) {
    case REQ_RECV:
        assert(ev == REQ_EV_START || ev == REQ_EV_ABORT);
        if (ev == REQ_EV_ABORT) {
            req_reply_error(r, 503, "shutting down", NULL);
            next = REQ_DONE;
            break;
        }
        next = req_on_recv(r);
        break;
    case REQ_FETCH:
        assert(ev == REQ_EV_UPSTREAM || ev == REQ_EV_ABORT);
        if (ev == REQ_EV_ABORT) {
            upstream_cancel(r->call);
            r->call = NULL;
            req_reply_error(r, 503, "shutting down", NULL);
            next = REQ_DONE;
            break;
        }
        next = req_on_fetch(r, data);
        break;
    case REQ_DONE:
        assert(!"event on a finished request");
        return;
    }
    log_debug("proxy: request %s: %s -> %s", r->request_id,
              req_state_names[r->state], req_state_names[next]);
    r->state = next;
    if (next == REQ_DONE) {
        req_free(r);
    }
}

/* ---- callbacks ---------------------------------------------------------- */

static void
on_client_request(struct evhttp_request *client, void *arg)
{
    struct proxy *px = arg;
    struct req   *r;
    const char   *id;

    r = calloc(1, sizeof(*r));
    if (r == NULL) {
        log_err("proxy: out of memory");
        evhttp_send_error(client, 503, "Service Unavailable");
        return;
    }
    r->px = px;
    r->client = client;
    r->state = REQ_RECV;
    r->method = proxy_method(evhttp_request_get_command(client),
                             &r->method_name);
    clock_gettime(CLOCK_MONOTONIC, &r->start);
    id = evhttp_find_header(evhttp_request_get_input_headers(client),
                            "X-Request-Id");
    if (id != NULL && http_request_id_valid(id)) {
        snprintf(r->request_id, sizeof(r->request_id), "%s", id);
    } else if (http_request_id_new(r->request_id, sizeof(r->request_id)) !=
               0) {
        snprintf(r->request_id, sizeof(r->request_id), "%lx-%lx",
                 (unsigned long)r->start.tv_sec,
                 (unsigned long)r->start.tv_nsec);
    }
    TAILQ_INSERT_TAIL(&px->inflight, r, next);
    px->ninflight++;
    req_step(r, REQ_EV_START, NULL);
}

static void
on_upstream_done(enum upstream_error err, const struct upstream_response *resp,
                 const char *why, void *arg)
{
    struct req                *r = arg;
    struct req_upstream_result res = { err, resp, why };

    req_step(r, REQ_EV_UPSTREAM, &res);
}
