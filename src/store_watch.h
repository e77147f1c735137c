/*
 * store_watch.h - private to the store (store*.c): what the store
 * watches about the Redis its call link reaches (SPEC §12). Whether it
 * is a master a redis:// store can use: a replica refuses every write,
 * a cluster node or a sentinel wants another URL form; each is logged
 * (rate limited), counted, and told to /readyz (ready.h) for as long as
 * the link is up on it. And whether its maxmemory-policy may evict the
 * proxy's keys, at each connect and every 10 s (it may change at
 * runtime): logged when it changes, shown by /readyz and by a gauge.
 * And Redis's clock against ours (TIME), at each connect and every 10 s,
 * so that an Idempotency-Key claim can carry a deadline in Redis's clock
 * from the first one on.
 *
 * The store (store.c) owns a watch and tells it when its call link comes
 * up or goes down; the watch reads that link and calls nothing of the
 * store.
 */
#ifndef HSP_STORE_WATCH_H
#define HSP_STORE_WATCH_H

#include <stdbool.h>
#include <stdint.h>

/* A TIME answered later than this teaches nothing of Redis's clock (so
 * the offset learned is off by half of it at most: req.h's
 * REQ_CLOCK_ERROR_MS, which a deadline in Redis's clock allows for). */
#define STORE_WATCH_RTT_MAX_MS 50

struct event_base;
struct store_link;
struct store_watch;

/* A watch of the Redis CMD reaches, on BASE; both borrowed, and must
 * outlive it. CLUSTER: CMD leads to a node of a redis-cluster:// store,
 * which must be a cluster node. Returns NULL (after logging) when out of
 * memory. */
struct store_watch *store_watch_new(struct event_base *base,
                                    struct store_link *cmd, bool cluster);

/* Frees W (NULL is fine); what it told /readyz is taken back. */
void store_watch_free(struct store_watch *w);

/* The call link came up: look at the Redis it reached. */
void store_watch_up(struct store_watch *w);

/*
 * How far Redis's clock (TIME) is ahead of our wall clock, in ms, into
 * *OFFSET_MS, as last learned from a TIME answered within
 * STORE_WATCH_RTT_MAX_MS; false (nothing written) before the first.
 */
bool store_watch_clock(const struct store_watch *w, int64_t *offset_ms);

/*
 * How many replicas of the Redis CMD reaches a durable script waits for,
 * from what INFO replication says at connect and every
 * STORE_WATCH_PERIOD_MS (store_replicas_seen, store_policy.h: a fall
 * counts only once it has lasted): -1 until known.
 */
int store_watch_replicas(const struct store_watch *w);

/* The call link went down: what was seen of that Redis no longer
 * holds. */
void store_watch_lost(struct store_watch *w);

#endif /* HSP_STORE_WATCH_H */
