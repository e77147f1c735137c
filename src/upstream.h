/*
 * upstream.h - a bounded keep-alive pool of HTTP(S)/1.1 connections to
 * one upstream, for one worker's event loop, with its own client: the
 * request head is written here and the answer read by uparse (SPEC §11
 * "Upstream framing"; evhttp's client misframed answers, PITFALLS §4.7).
 *
 * One request at a time per connection (no pipelining): the pool holds
 * up to `upstream_connections` connections and queues the calls beyond
 * that in its own FIFO. Every call is bounded by the upstream timeout,
 * queueing and one retry included. A connection is reused only after an
 * answer that ended exactly where its framing said, on HTTP/1.1 without
 * "Connection: close", and only while well inside the upstream's idle
 * timeout; a TLS connection is single-life (a fresh SSL per connection).
 *
 * Answers are handed over decoded: the proxy asks for gzip itself
 * (`Accept-Encoding: gzip` replaces the client's) and inflates it; any
 * other coding, and every framing or field the parser refuses, is
 * UPSTREAM_EPROTO, counted by kind in heavyset_upstream_protocol_errors_
 * total. 1xx interim answers are consumed; only the final one is handed
 * over.
 */
#ifndef HSP_UPSTREAM_H
#define HSP_UPSTREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

#include "upstream_msg.h"
#include "url.h"

struct event_base;
struct evdns_base;
struct upstream;
struct upstream_call;
struct upstream_share;

/*
 * Runs exactly once per call that was not cancelled, on the loop and
 * never from inside upstream_send. RESP is non-NULL only for UPSTREAM_OK;
 * WHY is a short description of an error (for logs), else NULL.
 */
typedef void (*upstream_done_cb)(enum upstream_error err,
                                 const struct upstream_response *resp,
                                 const char *why, void *arg);

/*
 * Creates the pool for the upstream at URL on BASE, its connections
 * counted against SHARE. DNS (may be NULL: blocking resolution), CTX
 * (needed when URL->tls) and SHARE are borrowed and must outlive the
 * pool. Returns NULL after logging why.
 */
struct upstream *upstream_new(struct event_base *base, struct evdns_base *dns,
                              SSL_CTX *ctx, const struct url_upstream *url,
                              struct upstream_share *share,
                              int64_t timeout_ms);

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
 * handle, valid until CB runs or upstream_cancel, or NULL (CB will not
 * run) when out of memory or when RQ cannot be written as a request: a
 * method outside GET..PATCH, or a URI holding SP, CR or LF.
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
