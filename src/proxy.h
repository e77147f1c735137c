/*
 * proxy.h - one worker's HTTP front end and the request lifecycle: route,
 * check, forward to the upstream, relay (SPEC §2, §7). One struct proxy
 * per worker thread, used only on that worker's event loop.
 */
#ifndef HSP_PROXY_H
#define HSP_PROXY_H

#include <stddef.h>

#include <event2/util.h>
#include <openssl/ssl.h>

struct budget_local;
struct conf_ref;
struct event_base;
struct evdns_base;
struct proxy;
struct upstream_share;

/* What every worker's proxy shares with the others: owned by main, made
 * before the first worker and freed after the last. */
struct proxy_shared {
    struct budget_local   *bl;          /* the fallback budget */
    struct upstream_share *upstream;    /* upstream_connections of
                                           `upstream` */
    struct upstream_share *lowlat;      /* ... of `upstream_lowlatency`;
                                           NULL when it is not set */
};

/*
 * Creates the front end on BASE, serving connections accepted on
 * LISTEN_FD (bound and listening; the proxy closes it when freed). The
 * proxy holds REF (conf_ref_hold) as its configuration until a newer one
 * replaces it. DNS, CTX (NULL when no upstream uses https) and SH (what
 * the workers share) are borrowed and must outlive the proxy. NWORKERS
 * divides max_connections between the workers. Returns NULL after
 * logging why.
 */
struct proxy *proxy_new(struct event_base *base, struct evdns_base *dns,
                        struct conf_ref *ref, SSL_CTX *ctx,
                        const struct proxy_shared *sh,
                        evutil_socket_t listen_fd, unsigned nworkers);

/*
 * Makes REF (held anew; the caller keeps its own hold) the configuration
 * of requests that start from now on (a reload). Requests in flight
 * finish under the configuration they started with, which is let go
 * after the last of them. The keys that need a restart must be the same
 * in REF as at proxy_new (conf_diff sees to it). Also applies what the
 * worker's resources copied: budget limits, upstream and Redis timeouts
 * of calls made from now on, and evhttp's body limit for new
 * connections. Returns 0, or -1 (logged) when out of memory: the old
 * configuration stays.
 */
int proxy_set_conf(struct proxy *px, struct conf_ref *ref);

/* Stops accepting new connections; requests in flight go on. */
void proxy_stop_accepting(struct proxy *px);

/* The number of requests not yet answered. */
size_t proxy_inflight(const struct proxy *px);

/*
 * Answers every request still in flight with 503 and abandons its
 * upstream call: the last step of a shutdown whose grace ran out.
 */
void proxy_abort_all(struct proxy *px);

/* Frees PX, its server and its upstream pools. NULL-safe. */
void proxy_free(struct proxy *px);

#endif /* HSP_PROXY_H */
