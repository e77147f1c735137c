/*
 * store_sentinel.h - private to the store (store*.c): where the master
 * of a redis-sentinel:// store is (SPEC §12). It asks the sentinels of
 * the URL in turn (`SENTINEL get-master-addr-by-name`), listens on one of
 * them for `+switch-master`, and moves the store's links (its call link
 * and its subscriber, held until then) to each address the master is
 * found at; once the call link is up there, it checks that Redis said
 * it is the master (HELLO's role, rlink_server). While the master is in
 * doubt the links are held: no reconnect to an address that may now be
 * a replica. Every talk with a sentinel goes through an rlink of its own
 * (names through evdns, never blocking).
 *
 * Per worker, as the store is: each worker's links move on their own
 * loop, with no lock and no message between threads; what /readyz and
 * /metrics show is summed process-wide in ready.h and stats.h.
 *
 * The store (store.c) owns one and tells it what its call link does;
 * it borrows the store's links and calls nothing of the store itself.
 */
#ifndef HSP_STORE_SENTINEL_H
#define HSP_STORE_SENTINEL_H

#include <stdbool.h>
#include <stdint.h>

struct event_base;
struct evdns_base;
struct store_link;
struct store_sub;
struct url_redis;
struct store_sentinel;

/* What a store's sentinels need: plain value, strings copied. */
struct store_sentinel_conf {
    const struct url_redis *url;    /* seeds, master name, tls; copied */
    const char *user;               /* the sentinels' ACL user, or ""/NULL */
    const char *password;           /* their password, or ""/NULL: none */
    const char *ca_file;            /* rediss-sentinel://: as the store's */
    const char *cert_file;
    const char *key_file;
    struct store_link *cmd;         /* borrowed: the store's call link */
    struct store_sub  *sub;         /* borrowed: its subscriber */
};

/*
 * Starts finding the master of CONF on BASE (names through DNS; both
 * borrowed, as are CONF's links, and must outlive it): asks the
 * sentinels and listens to them. Returns NULL after logging why.
 */
struct store_sentinel *store_sentinel_new(struct event_base *base,
                                          struct evdns_base *dns,
                                          const struct store_sentinel_conf *conf);

/* Frees S (NULL is fine); /readyz forgets it. The links stay as they
 * are. */
void store_sentinel_free(struct store_sentinel *s);

/*
 * The call link came up: whether the store may use it. Not when its
 * Redis said it is a replica (a sentinel that has not seen a failover
 * yet): the links are then held (the owner hears STORE_LINK_LOST inside
 * this call) and the sentinels asked again soon, not at once. A Redis
 * that did not say (no HELLO: Redis < 6) is taken at its word until a
 * READONLY reply.
 */
bool store_sentinel_up(struct store_sentinel *s);

/*
 * The master is in doubt (WHY, for the log: a lost link, a failed
 * connect, READONLY): the links are held and the sentinels asked now,
 * unless they are being asked already. NULL S (not Sentinel), or a drop
 * S made itself while moving the links: nothing happens.
 */
void store_sentinel_doubt(struct store_sentinel *s, const char *why);

#endif /* HSP_STORE_SENTINEL_H */
