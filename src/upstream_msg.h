/*
 * upstream_msg.h - what passes between the upstream pool (upstream.h) and
 * the layers under it (uconn, upstream_wire): a request to the upstream,
 * its answer and its errors. Plain value types; no functions.
 */
#ifndef HSP_UPSTREAM_MSG_H
#define HSP_UPSTREAM_MSG_H

#include <stdbool.h>

#include <event2/http.h>

struct evbuffer;
struct evkeyvalq;

enum upstream_error {
    UPSTREAM_OK = 0,                /* a response arrived (any status) */
    UPSTREAM_EUNREACHABLE,          /* connect failed or no response */
    UPSTREAM_ETLS,                  /* TLS handshake or verification */
    UPSTREAM_ETIMEOUT,              /* no full answer in time */
    UPSTREAM_EPROTO                 /* malformed, oversized or in a coding
                                       not asked for (WHY names the kind) */
};

/* What to send. Everything is copied by upstream_send. */
struct upstream_request {
    enum evhttp_cmd_type    method;
    const char             *uri;        /* path and query, as received */
    const struct evkeyvalq *headers;    /* end-to-end headers to pass on;
                                           Host, Content-Length, framing,
                                           hop-by-hop and Accept-Encoding
                                           are the pool's own, not these */
    const char             *request_id; /* sent as X-Request-Id */
    struct evbuffer        *body;       /* may be NULL; copied */
    bool                    idempotent; /* may be resent once on a stale
                                           keep-alive connection */
};

/*
 * A final response, borrowed: valid only while the done callback runs.
 * A gzip body is inflated already, and its Content-Encoding and
 * Content-Length are not among HEADERS.
 */
struct upstream_response {
    int               status;
    const char       *reason;       /* the upstream's reason phrase, only
                                       visible ASCII and SP; NULL when it
                                       was empty or anything else */
    struct evkeyvalq *headers;      /* the upstream's response headers */
    struct evbuffer  *body;         /* may be drained by the callback */
};

#endif /* HSP_UPSTREAM_MSG_H */
