/*
 * worker.h - a worker thread: its own event loop, resolver, listening
 * socket, HTTP front end and upstream pools. Workers share nothing but
 * the read-only configuration and TLS context.
 */
#ifndef HSP_WORKER_H
#define HSP_WORKER_H

#include <stdint.h>

#include <event2/util.h>
#include <openssl/ssl.h>

struct conf_ref;
struct proxy_shared;
struct worker;

/*
 * Builds worker ID and starts its thread. Takes ownership of LISTEN_FD
 * (closed on failure too). The worker holds REF (conf_ref_hold) for as
 * long as it uses it; CTX and SH (what the workers share) are borrowed
 * and must outlive the worker. Returns NULL after logging why.
 */
struct worker *worker_start(unsigned id, struct conf_ref *ref, SSL_CTX *ctx,
                            const struct proxy_shared *sh,
                            evutil_socket_t listen_fd, unsigned nworkers);

/*
 * Asks W to stop: it stops accepting, lets requests in flight finish for
 * up to GRACE_MS, answers the rest 503, and ends its loop. Callable from
 * any thread; returns at once.
 */
void worker_stop(struct worker *w, int64_t grace_ms);

/*
 * Hands W the configuration REF (held anew; the caller keeps its hold),
 * for requests that start after the worker's loop takes it, between two
 * callbacks. Callable from any thread; returns at once.
 */
void worker_reload(struct worker *w, struct conf_ref *ref);

/* Waits for W's thread to end and frees W. NULL-safe. */
void worker_join(struct worker *w);

#endif /* HSP_WORKER_H */
