/*
 * uconn.h - one HTTP/1.1 connection to the upstream, carrying one
 * request at a time: connect (and TLS), write the request's bytes, read
 * the answer with uparse and inflate a gzip body with gz. Private to the
 * pool (upstream.c), which decides what a connection is used for.
 *
 * It knows nothing of pools, calls, queues, retries or idle lives: it
 * reports each outcome through the callbacks its owner gives at creation
 * (as uparse reports to it), never by calling the owner by name. They run
 * on the loop, from the connection's own bufferevent callbacks, never
 * from inside a uconn_ call; at most one runs per event.
 */
#ifndef HSP_UCONN_H
#define HSP_UCONN_H

#include <stdbool.h>
#include <stdint.h>

#include <openssl/ssl.h>

#include "uparse.h"
#include "upstream_msg.h"

struct event_base;
struct evdns_base;
struct evbuffer;
struct url_upstream;
struct uconn;                       /* opaque */

struct uconn_cbs {
    /*
     * The request's answer ended where its framing said and is decoded.
     * RESP is borrowed for the duration of the callback. REUSABLE: as far
     * as the answer goes the connection may carry another request
     * (uparse_reusable, and no byte left to read or to write); KA: the
     * answer's Keep-Alive timeout=, in seconds, or -1.
     */
    void (*answered)(void *arg, const struct upstream_response *resp,
                     bool reusable, int64_t ka);
    /*
     * The request failed with ERR. KIND is the protocol error to count,
     * or UPARSE_OK; WHY says what went wrong (for logs), borrowed. RESEND:
     * nothing of an answer arrived on a connection that had been answered
     * on before, so the upstream may have closed it as we wrote and never
     * seen the request.
     */
    void (*failed)(void *arg, enum upstream_error err, enum uparse_error kind,
                   const char *why, bool resend);
    /* The connection, without a request, closed or sent bytes: it must
     * never be used again. */
    void (*lost)(void *arg);
};

/*
 * Starts connecting to URL on BASE. DNS (may be NULL: blocking
 * resolution), CTX (needed when URL->tls) and URL are borrowed and must
 * outlive the connection; CBS is copied; ARG is passed to it. Returns a
 * connection the caller frees with uconn_free, or NULL when out of memory
 * or when the connect cannot even start.
 */
struct uconn *uconn_new(struct event_base *base, struct evdns_base *dns,
                        SSL_CTX *ctx, const struct url_upstream *url,
                        const struct uconn_cbs *cbs, void *arg);

/* Frees C, closing its socket. Never from inside C's own callbacks (stop
 * it there and free it later). NULL-safe. */
void uconn_free(struct uconn *c);

/*
 * Puts the request whose bytes are WIRE on C, which must have none: it is
 * written now if C is connected, else once it is. WIRE is borrowed until
 * an outcome is reported or uconn_stop; HEAD: it is a HEAD (the answer
 * has no body). Returns 0, or -1 when the bytes cannot be queued (out of
 * memory): C holds no request then.
 */
int uconn_start(struct uconn *c, struct evbuffer *wire, bool head);

/* Takes C out of use for good: no more callbacks, reads or writes; a
 * request on it is abandoned. The socket closes when C is freed. */
void uconn_stop(struct uconn *c);

#endif /* HSP_UCONN_H */
