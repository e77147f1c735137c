/*
 * uconn.c - one connection to the upstream (see uconn.h): a bufferevent
 * (plain or TLS) that writes one request's bytes and reads its answer
 * with uparse, then inflates a gzip body with gz.
 *
 * Owns: its bufferevent (and so the socket and SSL), its parser, and the
 * answer being read (fields, reason, body), which it lends to its owner
 * for the duration of the "answered" callback. Freed by uconn_free, which
 * the owner calls outside the connection's callbacks: a bufferevent is
 * never freed from inside its own callback, so a connection that must go
 * is stopped first (uconn_stop) and freed later.
 *
 * Why (SPEC §11, PITFALLS §4.7):
 *   - an answer is handed over only when it ended exactly where its
 *     framing said; bytes past the end in the same read fail the request:
 *     the upstream and we disagree about where its answer ended, so
 *     neither reading can be trusted;
 *   - a connection without a request keeps reading, and any byte or EOF
 *     on it is reported as lost: it is never handed to the next request;
 *   - reuse is only reported possible with nothing left in the input or
 *     output buffer: any other byte would be read as the next request's
 *     answer, maybe another tenant's.
 */
#include "config.h"

#include "uconn.h"

#include <assert.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/util.h>

#include "gz.h"
#include "log.h"
#include "tls.h"
#include "url.h"

#define UCONN_MAX_RESPONSE  (8 * 1024 * 1024) /* body: more is 502 */
#define UCONN_MAX_HEADERS   (64 * 1024)

struct uconn {
    const struct url_upstream *url;     /* borrowed: the pool's */
    struct uconn_cbs           cbs;     /* copied: the owner's door */
    void                      *arg;     /* borrowed, passed to CBS */
    struct bufferevent        *bev;     /* owned (owns the socket, SSL) */
    struct uparse             *parser;  /* owned */
    struct evbuffer           *wire;    /* borrowed: the request's bytes,
                                           until written or ended */
    bool                       busy;    /* has a request */
    unsigned                   served;  /* answers so far: >0 = reused */
    bool                       connected; /* connect (and TLS) done */
    bool                       oom;     /* lost part of the answer */
    struct evkeyvalq           headers; /* owned: the answer's fields */
    struct evbuffer           *body;    /* owned: the answer's body */
    char                      *reason;  /* owned, may be NULL */
};

static void on_conn_read(struct bufferevent *bev, void *arg);
static void on_conn_event(struct bufferevent *bev, short what, void *arg);
static void on_parse_status(void *arg, int status, const char *reason);
static void on_parse_field(void *arg, const char *name, const char *value);
static void on_parse_body(void *arg, const char *p, size_t len);

/* Drops what C holds of the answer being read. */
static void
clear_answer(struct uconn *c)
{
    evhttp_clear_headers(&c->headers);
    evbuffer_drain(c->body, evbuffer_get_length(c->body));
    free(c->reason);
    c->reason = NULL;
    c->oom = false;
}

struct uconn *
uconn_new(struct event_base *base, struct evdns_base *dns, SSL_CTX *ctx,
          const struct url_upstream *url, const struct uconn_cbs *cbs,
          void *arg)
{
    static const struct uparse_cbs pcbs = { on_parse_status, on_parse_field,
                                            on_parse_body };
    struct uparse_limits lim = { UCONN_MAX_HEADERS, UCONN_MAX_RESPONSE };
    struct uconn        *c;

    c = calloc(1, sizeof(*c));
    if (c == NULL) {
        return NULL;
    }
    c->url = url;
    c->cbs = *cbs;
    c->arg = arg;
    TAILQ_INIT(&c->headers);
    c->body = evbuffer_new();
    c->parser = uparse_new(&lim, &pcbs, c);
    if (url->tls) {
        c->bev = tls_bev_new(base, ctx, url->host);
    } else {
        c->bev = bufferevent_socket_new(base, -1,
                                        BEV_OPT_CLOSE_ON_FREE |
                                            BEV_OPT_DEFER_CALLBACKS);
    }
    if (c->body == NULL || c->parser == NULL || c->bev == NULL) {
        goto fail;
    }
    bufferevent_setcb(c->bev, on_conn_read, NULL, on_conn_event, c);
    bufferevent_enable(c->bev, EV_READ | EV_WRITE);
    /* Resolution (through DNS, asynchronous) and connect failures are
     * reported to on_conn_event, on the loop. */
    if (bufferevent_socket_connect_hostname(c->bev, dns, AF_UNSPEC,
                                            url->host, url->port) != 0) {
        goto fail;
    }
    return c;

fail:
    uconn_free(c);
    return NULL;
}

void
uconn_free(struct uconn *c)
{
    if (c == NULL) {
        return;
    }
    if (c->bev != NULL) {
        bufferevent_free(c->bev);
    }
    uparse_free(c->parser);
    if (c->body != NULL) {
        clear_answer(c);
        evbuffer_free(c->body);
    }
    free(c);
}

/* Queues the request's bytes on C's output. Returns 0, or -1. */
static int
write_wire(struct uconn *c)
{
    return evbuffer_add(bufferevent_get_output(c->bev),
                        evbuffer_pullup(c->wire, -1),
                        evbuffer_get_length(c->wire));
}

int
uconn_start(struct uconn *c, struct evbuffer *wire, bool head)
{
    assert(!c->busy);
    clear_answer(c);
    uparse_reset(c->parser, head);
    c->busy = true;
    c->wire = wire;
    if (c->connected && write_wire(c) != 0) {
        c->busy = false;
        c->wire = NULL;
        return -1;
    }
    return 0;
}

void
uconn_stop(struct uconn *c)
{
    bufferevent_setcb(c->bev, NULL, NULL, NULL, NULL);
    bufferevent_disable(c->bev, EV_READ | EV_WRITE);
    c->busy = false;
    c->wire = NULL;
}

/* Ends C's request with ERR: C holds none once its owner hears of it. */
static void
fail_request(struct uconn *c, enum upstream_error err, enum uparse_error kind,
             const char *why, bool resend)
{
    assert(c->busy);
    c->busy = false;
    c->wire = NULL;
    c->cbs.failed(c->arg, err, kind, why, resend);
}

static void
fail_proto(struct uconn *c, enum uparse_error kind)
{
    char why[96];

    snprintf(why, sizeof(why), "invalid upstream response: %s",
             uparse_error_name(kind));
    fail_request(c, UPSTREAM_EPROTO, kind, why, false);
}

/* Removes every field named NAME from HEADERS. */
static void
headers_remove_all(struct evkeyvalq *headers, const char *name)
{
    while (evhttp_remove_header(headers, name) == 0) {
    }
}

/* Decodes C's answer body as its Content-Encoding says. Returns
 * UPARSE_OK or the protocol error. */
static enum uparse_error
decode(struct uconn *c)
{
    unsigned char *out;
    size_t         len = evbuffer_get_length(c->body), outlen;
    enum gz_result r;

    switch (uparse_coding(c->parser)) {
    case UPARSE_CODING_IDENTITY:
        return UPARSE_OK;
    case UPARSE_CODING_OTHER:
        return UPARSE_UNREQUESTED_CODING;
    case UPARSE_CODING_GZIP:
        break;
    }
    /* An empty body (a HEAD, a 204, or a server that codes nothing) has
     * nothing to inflate. */
    if (len > 0) {
        r = gz_inflate(evbuffer_pullup(c->body, -1), len,
                       UCONN_MAX_RESPONSE, &out, &outlen);
        if (r != GZ_OK) {
            return r == GZ_BAD ? UPARSE_BAD_CODING : UPARSE_TOO_LARGE;
        }
        evbuffer_drain(c->body, len);
        r = evbuffer_add(c->body, out, outlen) == 0 ? GZ_OK : GZ_NOMEM;
        free(out);
        if (r != GZ_OK) {
            return UPARSE_TOO_LARGE;
        }
    }
    headers_remove_all(&c->headers, "Content-Encoding");
    headers_remove_all(&c->headers, "Content-Length");
    return UPARSE_OK;
}

/* C's answer ended where its framing said: hand it over. */
static void
complete(struct uconn *c)
{
    struct upstream_response resp;
    enum uparse_error        kind;
    bool                     reusable;

    if (c->oom) {
        fail_proto(c, UPARSE_TOO_LARGE);
        return;
    }
    kind = decode(c);
    if (kind != UPARSE_OK) {
        fail_proto(c, kind);
        return;
    }
    c->busy = false;
    c->wire = NULL;
    c->served++;
    reusable = uparse_reusable(c->parser) &&
               evbuffer_get_length(bufferevent_get_input(c->bev)) == 0 &&
               evbuffer_get_length(bufferevent_get_output(c->bev)) == 0;
    resp.status = uparse_status(c->parser);
    resp.reason = c->reason;
    resp.headers = &c->headers;
    resp.body = c->body;
    c->cbs.answered(c->arg, &resp, reusable,
                    uparse_keep_alive_timeout(c->parser));
    clear_answer(c);
}

/* Feeds what C has read to its parser; completes or fails the request
 * when the answer ends or is refused. */
static void
read_answer(struct uconn *c)
{
    struct evbuffer  *in = bufferevent_get_input(c->bev);
    enum uparse_error err;
    size_t            n, used;

    while ((n = evbuffer_get_contiguous_space(in)) > 0) {
        err = uparse_feed(c->parser,
                          (const char *)evbuffer_pullup(in, (ev_ssize_t)n), n,
                          &used);
        evbuffer_drain(in, used);
        if (err != UPARSE_OK) {
            fail_proto(c, err);
            return;
        }
        if (uparse_done(c->parser)) {
            break;
        }
    }
    if (!uparse_done(c->parser)) {
        return;
    }
    if (evbuffer_get_length(in) > 0) {
        /* More than the answer, in the same read: the upstream and we
         * disagree about where it ended. */
        fail_proto(c, uparse_excess_error(c->parser));
        return;
    }
    complete(c);
}

static void
on_conn_read(struct bufferevent *bev, void *arg)
{
    struct uconn *c = arg;

    if (!c->busy) {
        /* Bytes on an idle connection belong to no request: never let
         * the next one read them. */
        log_info("upstream: %s: %zu unexpected bytes on an idle "
                 "connection, closing it", c->url->host,
                 evbuffer_get_length(bufferevent_get_input(bev)));
        c->cbs.lost(c->arg);
        return;
    }
    read_answer(c);
}

static void
on_conn_event(struct bufferevent *bev, short what, void *arg)
{
    struct uconn     *c = arg;
    enum uparse_error err;
    char              why[256];
    int               dns_err, one = 1;

    if (what & BEV_EVENT_CONNECTED) {
        c->connected = true;
        if (!c->url->tls) {
            /* The head and body leave in one write; no Nagle wait for
             * the part of a large body after the first segment. */
            setsockopt(bufferevent_getfd(bev), IPPROTO_TCP, TCP_NODELAY,
                       &one, sizeof(one));
        }
        if (c->busy && write_wire(c) != 0) {
            fail_request(c, UPSTREAM_EUNREACHABLE, UPARSE_OK,
                         "out of memory", false);
        }
        return;
    }
    if (!c->busy) {
        c->cbs.lost(c->arg);        /* an idle connection closed: fine */
        return;
    }
    /* What was read before the close comes first. */
    if (evbuffer_get_length(bufferevent_get_input(bev)) > 0) {
        read_answer(c);
        if (!c->busy) {
            return;                 /* that ended the request */
        }
    }
    if (c->url->tls && tls_describe_error(bev, why, sizeof(why))) {
        fail_request(c, UPSTREAM_ETLS, UPARSE_OK, why, false);
        return;
    }
    if (!c->connected) {
        dns_err = bufferevent_socket_get_dns_error(bev);
        snprintf(why, sizeof(why), "cannot connect: %s",
                 dns_err != 0 ? evutil_gai_strerror(dns_err)
                 : (what & BEV_EVENT_EOF) ? "connection closed"
                 : evutil_socket_error_to_string(
                       evutil_socket_geterror(bufferevent_getfd(bev))));
        fail_request(c, UPSTREAM_EUNREACHABLE, UPARSE_OK, why, false);
        return;
    }
    if (uparse_started(c->parser)) {
        if (what & BEV_EVENT_EOF) {
            err = uparse_eof(c->parser);
            if (err == UPARSE_OK) {
                complete(c);        /* a body delimited by EOF */
            } else {
                fail_proto(c, err);
            }
            return;
        }
        fail_request(c, UPSTREAM_EUNREACHABLE, UPARSE_OK,
                     "connection lost during the answer", false);
        return;
    }
    /* Nothing of an answer: on a reused connection the owner may send the
     * request again. */
    fail_request(c, UPSTREAM_EUNREACHABLE, UPARSE_OK,
                 (what & BEV_EVENT_EOF) ? "connection closed before an answer"
                                        : "connection lost before an answer",
                 c->served > 0);
}

static void
on_parse_status(void *arg, int status, const char *reason)
{
    struct uconn *c = arg;

    if (reason != NULL) {
        c->reason = strdup(reason);
        c->oom = c->oom || c->reason == NULL;
    }
}

static void
on_parse_field(void *arg, const char *name, const char *value)
{
    struct uconn *c = arg;

    if (evhttp_add_header(&c->headers, name, value) != 0) {
        c->oom = true;
    }
}

static void
on_parse_body(void *arg, const char *p, size_t len)
{
    struct uconn *c = arg;

    if (evbuffer_add(c->body, p, len) != 0) {
        c->oom = true;
    }
}
