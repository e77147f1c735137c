/*
 * req/lost.h - noticing a Redis that lost its data (SPEC §12): a restart
 * without persistence, a FLUSHALL, a failover to a replica that lagged.
 *
 * Every worker raises a marker counter in Redis once a second (script.c's
 * MARKER) and remembers the value it got. Every proxy's workers raise the
 * same counter, so the values one worker sees only grow, unless Redis
 * lost what it held: a value not above the last one means it did. The
 * worker then empties its near cache (what it copied may be gone from
 * Redis, and Redis will not say so), logs it and counts it
 * (heavyset_redis_data_losses_total): Idempotency-Key records and the
 * guards of fills may be gone with it, and an operator should know.
 *
 * Ownership: a worker's proxy makes and frees its lost watch; the watch
 * owns its timer and borrows the store and the tracking (NULL when the
 * near cache is off).
 */
#ifndef HSP_REQ_LOST_H
#define HSP_REQ_LOST_H

struct conf;
struct event_base;
struct lost;
struct store;
struct tracking;

/* A worker's watch on BASE over ST, with the marker under CF's
 * redis_prefix. NULL when out of memory. */
struct lost *lost_new(struct event_base *base, struct store *st,
                      struct tracking *t, const struct conf *cf);
void         lost_free(struct lost *l);

#endif /* HSP_REQ_LOST_H */
