/*
 * upstream.c - keep-alive connection pool to one upstream (see upstream.h).
 *
 * Ownership: the pool owns its connections and its queued calls; a call
 * in flight is owned by the pool too and is handed to nobody: it is freed
 * right after its callback, or by upstream_cancel. Pool housekeeping
 * (freeing closed connections, starting queued calls) runs from a
 * deferred "kick" event, never from inside an evhttp callback, because
 * evhttp still touches a connection after calling its request callback.
 */
#include "config.h"

#include "upstream.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "log.h"
#include "tls.h"

#define UPSTREAM_MAX_RESPONSE  (8 * 1024 * 1024) /* body: more is 502 */
#define UPSTREAM_MAX_HEADERS   (64 * 1024)
#define UPSTREAM_GRACE_MS      1000  /* evhttp's own timeout, behind ours */

struct upstream_conn {
    TAILQ_ENTRY(upstream_conn) next;    /* in idle or graveyard */
    struct upstream          *up;       /* borrowed: the owning pool */
    struct evhttp_connection *evcon;    /* owned */
    struct upstream_call     *call;     /* in flight, or NULL */
    unsigned                  served;   /* responses so far: >0 = reused */
    int64_t                   timeout_ms; /* the pool's when it was set */
    bool                      dead;     /* buried: never used again */
    bool                      closed;   /* evhttp reported it closed */
    bool                      listed;   /* on idle or graveyard list */
    bool                      freeing;  /* inside evhttp_connection_free */
};

TAILQ_HEAD(upstream_conn_list, upstream_conn);

struct upstream_call {
    TAILQ_ENTRY(upstream_call) next;    /* in the pool's wait queue */
    struct upstream          *up;       /* borrowed */
    struct upstream_conn     *conn;     /* while in flight */
    struct evhttp_request    *req;      /* evhttp's, while in flight */
    struct event             *timer;    /* owned: deadline, or deferral */
    enum evhttp_cmd_type      method;
    char                     *uri;      /* owned */
    struct evkeyvalq          headers;  /* owned copy */
    char                     *request_id; /* owned */
    struct evbuffer          *body;     /* owned, may be empty */
    bool                      idempotent;
    bool                      queued;   /* on the wait queue */
    bool                      retried;  /* resent once already */
    int                       http_err; /* enum evhttp_request_error + 1 */
    enum upstream_error       deferred; /* error to report from the timer */
    upstream_done_cb          cb;
    void                     *arg;
};

TAILQ_HEAD(upstream_call_list, upstream_call);

struct upstream {
    struct event_base        *base;     /* borrowed */
    struct evdns_base        *dns;      /* borrowed, may be NULL */
    SSL_CTX                  *ctx;      /* borrowed, NULL for http */
    struct url_upstream       url;
    char                      host_header[URL_HOST_MAX + 8];
    unsigned                  max_conns;
    unsigned                  nconns;   /* connections that exist */
    int64_t                   timeout_ms;
    struct upstream_conn_list idle;     /* open, no request */
    struct upstream_conn_list graveyard;/* closed, to free */
    struct upstream_call_list waiting;  /* calls without a connection */
    struct event             *kick;     /* owned: deferred housekeeping */
};

static void call_dispatch(struct upstream_call *call);
static void call_finish(struct upstream_call *call, enum upstream_error err,
                        const struct upstream_response *resp,
                        const char *why);
static void on_kick(evutil_socket_t fd, short what, void *arg);
static void on_call_timer(evutil_socket_t fd, short what, void *arg);
static void on_request_done(struct evhttp_request *req, void *arg);
static void on_request_error(enum evhttp_request_error err, void *arg);
static void on_conn_close(struct evhttp_connection *evcon, void *arg);

struct upstream *
upstream_new(struct event_base *base, struct evdns_base *dns, SSL_CTX *ctx,
             const struct url_upstream *url, unsigned max_conns,
             int64_t timeout_ms)
{
    struct upstream *up;
    bool             v6 = strchr(url->host, ':') != NULL;
    bool             default_port;

    assert(max_conns > 0);
    assert(!url->tls || ctx != NULL);
    up = calloc(1, sizeof(*up));
    if (up == NULL) {
        log_err("upstream: out of memory");
        return NULL;
    }
    up->base = base;
    up->dns = dns;
    up->ctx = ctx;
    up->url = *url;
    up->max_conns = max_conns;
    up->timeout_ms = timeout_ms;
    TAILQ_INIT(&up->idle);
    TAILQ_INIT(&up->graveyard);
    TAILQ_INIT(&up->waiting);
    /* The Host header names the upstream, never the client's Host. */
    default_port = url->port == (url->tls ? 443 : 80);
    if (default_port) {
        snprintf(up->host_header, sizeof(up->host_header), "%s%s%s",
                 v6 ? "[" : "", url->host, v6 ? "]" : "");
    } else {
        snprintf(up->host_header, sizeof(up->host_header), "%s%s%s:%u",
                 v6 ? "[" : "", url->host, v6 ? "]" : "", url->port);
    }
    up->kick = event_new(base, -1, 0, on_kick, up);
    if (up->kick == NULL) {
        log_err("upstream: out of memory");
        free(up);
        return NULL;
    }
    return up;
}

/* Frees CONN and its evhttp connection (which drops, without callbacks,
 * any request still on it). */
static void
conn_free(struct upstream_conn *conn)
{
    struct upstream *up = conn->up;

    if (conn->listed) {
        TAILQ_REMOVE(conn->dead ? &up->graveyard : &up->idle, conn, next);
        conn->listed = false;
    }
    conn->freeing = true;
    evhttp_connection_free(conn->evcon);
    assert(up->nconns > 0);
    up->nconns--;
    free(conn);
}

void
upstream_set_timeout(struct upstream *up, int64_t timeout_ms)
{
    up->timeout_ms = timeout_ms;
}

void
upstream_free(struct upstream *up)
{
    struct upstream_conn *conn;

    if (up == NULL) {
        return;
    }
    assert(TAILQ_EMPTY(&up->waiting));
    while ((conn = TAILQ_FIRST(&up->idle)) != NULL) {
        conn_free(conn);
    }
    while ((conn = TAILQ_FIRST(&up->graveyard)) != NULL) {
        conn_free(conn);
    }
    assert(up->nconns == 0);
    event_free(up->kick);
    free(up);
}

const char *
upstream_host(const struct upstream *up)
{
    return up->url.host;
}

static void
upstream_kick(struct upstream *up)
{
    event_active(up->kick, 0, 0);
}

/* Marks CONN closed and schedules its release. Not yet freed: evhttp may
 * still be using it up the stack. */
static void
conn_bury(struct upstream_conn *conn)
{
    struct upstream *up = conn->up;

    if (conn->dead) {
        return;
    }
    if (conn->listed) {
        TAILQ_REMOVE(&up->idle, conn, next);
    }
    conn->dead = true;
    conn->listed = true;
    TAILQ_INSERT_TAIL(&up->graveyard, conn, next);
    upstream_kick(up);
}

/* evhttp's own timeout on CONN: a backstop behind the call's timer. */
static void
conn_set_timeout(struct upstream_conn *conn)
{
    int64_t        ms = conn->up->timeout_ms + UPSTREAM_GRACE_MS;
    struct timeval tv;

    tv.tv_sec = (time_t)(ms / 1000);
    tv.tv_usec = (suseconds_t)(ms % 1000) * 1000;
    evhttp_connection_set_timeout_tv(conn->evcon, &tv);
    conn->timeout_ms = conn->up->timeout_ms;
}

static struct upstream_conn *
conn_new(struct upstream *up)
{
    struct upstream_conn *conn;
    struct bufferevent   *bev = NULL;

    conn = calloc(1, sizeof(*conn));
    if (conn == NULL) {
        return NULL;
    }
    conn->up = up;
    if (up->url.tls) {
        bev = tls_bev_new(up->base, up->ctx, up->url.host);
        if (bev == NULL) {
            free(conn);
            return NULL;
        }
    }
    conn->evcon = evhttp_connection_base_bufferevent_new(
        up->base, up->dns, bev, up->url.host, up->url.port);
    if (conn->evcon == NULL) {
        if (bev != NULL) {
            bufferevent_free(bev);
        }
        free(conn);
        return NULL;
    }
    conn_set_timeout(conn);
    evhttp_connection_set_retries(conn->evcon, 0);
    evhttp_connection_set_max_body_size(conn->evcon, UPSTREAM_MAX_RESPONSE);
    evhttp_connection_set_max_headers_size(conn->evcon, UPSTREAM_MAX_HEADERS);
    evhttp_connection_set_closecb(conn->evcon, on_conn_close, conn);
    up->nconns++;
    return conn;
}

struct upstream_call *
upstream_send(struct upstream *up, const struct upstream_request *rq,
              upstream_done_cb cb, void *arg)
{
    struct upstream_call  *call;
    struct evkeyval       *h;
    struct timeval         tv;

    call = calloc(1, sizeof(*call));
    if (call == NULL) {
        return NULL;
    }
    call->up = up;
    call->method = rq->method;
    call->idempotent = rq->idempotent;
    call->cb = cb;
    call->arg = arg;
    TAILQ_INIT(&call->headers);
    call->uri = strdup(rq->uri);
    call->request_id = strdup(rq->request_id != NULL ? rq->request_id : "");
    call->body = evbuffer_new();
    call->timer = evtimer_new(up->base, on_call_timer, call);
    if (call->uri == NULL || call->request_id == NULL || call->body == NULL ||
        call->timer == NULL) {
        goto fail;
    }
    if (rq->headers != NULL) {
        TAILQ_FOREACH(h, rq->headers, next) {
            if (evhttp_add_header(&call->headers, h->key, h->value) != 0) {
                goto fail;
            }
        }
    }
    if (rq->body != NULL &&
        evbuffer_add(call->body, evbuffer_pullup(rq->body, -1),
                     evbuffer_get_length(rq->body)) != 0) {
        goto fail;
    }
    tv.tv_sec = (time_t)(up->timeout_ms / 1000);
    tv.tv_usec = (suseconds_t)(up->timeout_ms % 1000) * 1000;
    evtimer_add(call->timer, &tv);
    call_dispatch(call);
    return call;

fail:
    evhttp_clear_headers(&call->headers);
    free(call->uri);
    free(call->request_id);
    if (call->body != NULL) {
        evbuffer_free(call->body);
    }
    if (call->timer != NULL) {
        event_free(call->timer);
    }
    free(call);
    return NULL;
}

/* Reports ERR from the timer on the next loop turn, so that the callback
 * never runs inside upstream_send. */
static void
call_defer_error(struct upstream_call *call, enum upstream_error err)
{
    struct timeval zero = { 0, 0 };

    call->deferred = err;
    evtimer_add(call->timer, &zero);
}

/* Puts CALL on the wire over CONN. */
static void
call_start(struct upstream_call *call, struct upstream_conn *conn)
{
    struct upstream       *up = call->up;
    struct evhttp_request *req;
    struct evkeyvalq      *out;
    struct evkeyval       *h;
    size_t                 len = evbuffer_get_length(call->body);
    char                   clen[32];

    if (conn->timeout_ms != up->timeout_ms) {   /* opened before a reload */
        conn_set_timeout(conn);
    }
    req = evhttp_request_new(on_request_done, call);
    if (req == NULL) {
        goto fail;
    }
    evhttp_request_set_error_cb(req, on_request_error);
    out = evhttp_request_get_output_headers(req);
    evhttp_add_header(out, "Host", up->host_header);
    TAILQ_FOREACH(h, &call->headers, next) {
        evhttp_add_header(out, h->key, h->value);
    }
    if (call->request_id[0] != '\0') {
        evhttp_add_header(out, "X-Request-Id", call->request_id);
    }
    /* libevent 2.1.12 frames only POST and PUT bodies itself; a PATCH
     * would go out unframed (PITFALLS §4.1.2). */
    if (len > 0 || call->method == EVHTTP_REQ_PATCH ||
        call->method == EVHTTP_REQ_POST || call->method == EVHTTP_REQ_PUT) {
        snprintf(clen, sizeof(clen), "%zu", len);
        evhttp_remove_header(out, "Content-Length");
        evhttp_add_header(out, "Content-Length", clen);
        evbuffer_add(evhttp_request_get_output_buffer(req),
                     evbuffer_pullup(call->body, -1), len);
    }
    conn->call = call;
    call->conn = conn;
    call->req = req;
    if (evhttp_make_request(conn->evcon, req, call->method, call->uri) != 0) {
        /* evhttp has freed REQ already. */
        conn->call = NULL;
        call->conn = NULL;
        call->req = NULL;
        conn_bury(conn);
        call_defer_error(call, UPSTREAM_EUNREACHABLE);
    }
    return;

fail:
    conn_bury(conn);
    call_defer_error(call, UPSTREAM_EUNREACHABLE);
}

/* Finds CALL a connection: an idle one, a new one, or a place in line. */
static void
call_dispatch(struct upstream_call *call)
{
    struct upstream      *up = call->up;
    struct upstream_conn *conn;

    conn = TAILQ_FIRST(&up->idle);
    if (conn != NULL) {
        TAILQ_REMOVE(&up->idle, conn, next);
        conn->listed = false;
        call_start(call, conn);
        return;
    }
    if (up->nconns < up->max_conns) {
        conn = conn_new(up);
        if (conn == NULL) {
            log_err("upstream: cannot create a connection to %s",
                    up->url.host);
            call_defer_error(call, UPSTREAM_EUNREACHABLE);
            return;
        }
        call_start(call, conn);
        return;
    }
    call->queued = true;
    TAILQ_INSERT_TAIL(&up->waiting, call, next);
}

static void
call_free(struct upstream_call *call)
{
    assert(!call->queued && call->conn == NULL);
    event_free(call->timer);
    evhttp_clear_headers(&call->headers);
    evbuffer_free(call->body);
    free(call->uri);
    free(call->request_id);
    free(call);
}

static void
call_finish(struct upstream_call *call, enum upstream_error err,
            const struct upstream_response *resp, const char *why)
{
    call->cb(err, resp, why, call->arg);
    call_free(call);
}

/* Takes CALL off its connection or queue; a request on the wire is cut
 * off by freeing its connection (evhttp then drops it silently). */
static void
call_detach(struct upstream_call *call)
{
    struct upstream_conn *conn = call->conn;

    if (call->queued) {
        TAILQ_REMOVE(&call->up->waiting, call, next);
        call->queued = false;
    }
    if (conn != NULL) {
        conn->call = NULL;
        call->conn = NULL;
        call->req = NULL;
        conn_free(conn);
        upstream_kick(call->up);    /* a slot is free for the queue */
    }
}

void
upstream_cancel(struct upstream_call *call)
{
    call_detach(call);
    call_free(call);
}

static void
on_call_timer(evutil_socket_t fd, short what, void *arg)
{
    struct upstream_call *call = arg;

    if (call->deferred != UPSTREAM_OK) {
        call_finish(call, call->deferred, NULL, "cannot connect");
        return;
    }
    call_detach(call);
    call_finish(call, UPSTREAM_ETIMEOUT, NULL, "upstream timeout");
}

static void
on_request_error(enum evhttp_request_error err, void *arg)
{
    struct upstream_call *call = arg;

    call->http_err = (int)err + 1;
}

/* Classifies a failed request on CONN. */
static enum upstream_error
conn_error(struct upstream_conn *conn, int http_err, char *why, size_t cap)
{
    struct bufferevent *bev = evhttp_connection_get_bufferevent(conn->evcon);

    if (conn->up->url.tls && tls_describe_error(bev, why, cap)) {
        return UPSTREAM_ETLS;
    }
    switch (http_err - 1) {
    case EVREQ_HTTP_TIMEOUT:
        snprintf(why, cap, "upstream timeout");
        return UPSTREAM_ETIMEOUT;
    case EVREQ_HTTP_INVALID_HEADER:
    case EVREQ_HTTP_DATA_TOO_LONG:
        snprintf(why, cap, "invalid or oversized upstream response");
        return UPSTREAM_EPROTO;
    default:
        snprintf(why, cap, "%s", conn->served == 0
                                     ? "cannot connect or no response"
                                     : "connection lost");
        return UPSTREAM_EUNREACHABLE;
    }
}

static void
on_request_done(struct evhttp_request *req, void *arg)
{
    struct upstream_call     *call = arg;
    struct upstream_conn     *conn = call->conn;
    struct upstream          *up = call->up;
    struct upstream_response  resp;
    enum upstream_error       err;
    const char               *connection;
    char                      why[256];
    bool                      stale_keepalive;

    assert(conn != NULL && conn->call == call);
    conn->call = NULL;
    call->conn = NULL;
    call->req = NULL;

    if (req == NULL || evhttp_request_get_response_code(req) == 0) {
        err = conn_error(conn, call->http_err, why, sizeof(why));
        stale_keepalive = conn->served > 0 && err == UPSTREAM_EUNREACHABLE;

        conn_bury(conn);
        /* A keep-alive connection the upstream closed just as we sent:
         * nothing reached it, so an idempotent request is resent once
         * on a fresh connection (PITFALLS §4.1.7). */
        if (stale_keepalive && call->idempotent && !call->retried) {
            call->retried = true;
            call->http_err = 0;
            call_dispatch(call);
            return;
        }
        evtimer_del(call->timer);
        log_warn("upstream: %s: %s", up->url.host, why);
        call_finish(call, err, NULL, why);
        return;
    }

    conn->served++;
    connection = evhttp_find_header(evhttp_request_get_input_headers(req),
                                    "Connection");
    evtimer_del(call->timer);
    resp.status = evhttp_request_get_response_code(req);
    resp.headers = evhttp_request_get_input_headers(req);
    resp.body = evhttp_request_get_input_buffer(req);
    call_finish(call, UPSTREAM_OK, &resp, NULL);

    /* Back to the pool only after the callback, so that a call it starts
     * never reuses this connection inside evhttp's own callback. */
    if (conn->closed ||
        (connection != NULL && strcasecmp(connection, "close") == 0)) {
        conn_bury(conn);
    } else if (!conn->dead) {
        conn->listed = true;
        TAILQ_INSERT_HEAD(&up->idle, conn, next);
    }
    upstream_kick(up);
}

static void
on_conn_close(struct evhttp_connection *evcon, void *arg)
{
    struct upstream_conn *conn = arg;

    if (conn->freeing) {
        return;
    }
    conn->closed = true;
    /* Closed by the peer or by evhttp after an error. A connection that
     * still carries a call is buried by the request callback. */
    if (conn->call == NULL) {
        conn_bury(conn);
    }
}

static void
on_kick(evutil_socket_t fd, short what, void *arg)
{
    struct upstream      *up = arg;
    struct upstream_conn *conn;
    struct upstream_call *call;

    while ((conn = TAILQ_FIRST(&up->graveyard)) != NULL) {
        conn_free(conn);
    }
    while ((call = TAILQ_FIRST(&up->waiting)) != NULL &&
           (!TAILQ_EMPTY(&up->idle) || up->nconns < up->max_conns)) {
        TAILQ_REMOVE(&up->waiting, call, next);
        call->queued = false;
        call_dispatch(call);
    }
}
