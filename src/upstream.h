/*
 * upstream.h - a bounded keep-alive pool of HTTP(S) connections to one
 * upstream, for one worker's event loop.
 *
 * evhttp runs one request at a time on a connection (no pipelining), so
 * the pool holds up to `upstream_connections` connections and queues the
 * calls beyond that in its own FIFO. Every call is bounded by the
 * upstream timeout, queueing included. A TLS connection is single-life:
 * once closed it is freed and a new one (fresh SSL) replaces it.
 */
#ifndef HSP_UPSTREAM_H
#define HSP_UPSTREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/http.h>
#include <openssl/ssl.h>

#include "url.h"

struct event_base;
struct evdns_base;
struct evbuffer;
struct evkeyvalq;
struct upstream;
struct upstream_call;

enum upstream_error {
    UPSTREAM_OK = 0,                /* a response arrived (any status) */
    UPSTREAM_EUNREACHABLE,          /* connect failed or no response */
    UPSTREAM_ETLS,                  /* TLS handshake or verification */
    UPSTREAM_ETIMEOUT,              /* no full answer in time */
    UPSTREAM_EPROTO                 /* malformed or oversized response */
};

/* What to send. Everything is copied by upstream_send. */
struct upstream_request {
    enum evhttp_cmd_type    method;
    const char             *uri;        /* path and query, as received */
    const struct evkeyvalq *headers;    /* end-to-end headers to pass on */
    const char             *request_id; /* sent as X-Request-Id */
    struct evbuffer        *body;       /* may be NULL; copied */
    bool                    idempotent; /* may be resent once on a stale
                                           keep-alive connection */
};

/* A response, borrowed: valid only while the done callback runs. */
struct upstream_response {
    int               status;
    struct evkeyvalq *headers;      /* the upstream's response headers */
    struct evbuffer  *body;         /* may be drained by the callback */
};

/*
 * Runs exactly once per call that was not cancelled, on the loop and
 * never from inside upstream_send. RESP is non-NULL only for UPSTREAM_OK;
 * WHY is a short description of an error (for logs), else NULL.
 */
typedef void (*upstream_done_cb)(enum upstream_error err,
                                 const struct upstream_response *resp,
                                 const char *why, void *arg);

/*
 * Creates the pool for the upstream at URL on BASE. DNS (may be NULL:
 * blocking resolution) and CTX (needed when URL->tls) are borrowed and
 * must outlive the pool. Returns NULL after logging why.
 */
struct upstream *upstream_new(struct event_base *base, struct evdns_base *dns,
                              SSL_CTX *ctx, const struct url_upstream *url,
                              unsigned max_conns, int64_t timeout_ms);

/*
 * Frees UP and its connections. Every call must have completed or been
 * cancelled. NULL-safe.
 */
void upstream_free(struct upstream *up);

/*
 * Sets the timeout of calls sent from now on (a reload); calls in flight
 * keep theirs. Only on UP's loop.
 */
void upstream_set_timeout(struct upstream *up, int64_t timeout_ms);

/*
 * Sends RQ and calls CB(…, ARG) when it completes. Returns the call
 * handle, valid until CB runs or upstream_cancel, or NULL when out of
 * memory (CB will not run).
 */
struct upstream_call *upstream_send(struct upstream *up,
                                    const struct upstream_request *rq,
                                    upstream_done_cb cb, void *arg);

/*
 * Abandons CALL: its callback will not run, and a request already on the
 * wire is cut off with its connection. Frees CALL.
 */
void upstream_cancel(struct upstream_call *call);

/* Host name of the upstream, for logs. Borrowed from UP. */
const char *upstream_host(const struct upstream *up);

#endif /* HSP_UPSTREAM_H */
