/*
 * req/tracking.h - the near cache's coherence (SPEC §4, §6): a worker
 * keeps hot entries in memory (near.c, a plain LRU), and Redis tells it
 * (CLIENT TRACKING) of every change to a key it read.
 *
 * An entry goes in only if it was read while tracking was on and no
 * invalidation at all arrived between sending the read and its reply (a
 * change made just after the read could otherwise be reported before the
 * reply and then be missed); anything that may lose an invalidation (a
 * link down, a frozen Redis caught by the heartbeat) empties it. Before
 * answering from it, the worker reads the invalidations already waiting
 * in its socket: a PATCH answered through another instance has had its
 * invalidation sent before that instance got its reply, so a read that
 * follows the PATCH finds it.
 *
 * Ownership: a worker's proxy makes its tracking when near_cache is on
 * (env.tracking is NULL otherwise: every call here then does nothing)
 * and frees it; it owns the near cache and the heartbeat timer.
 */
#ifndef HSP_REQ_TRACKING_H
#define HSP_REQ_TRACKING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cache_entry;
struct conf;
struct redisReply;
struct event_base;
struct store;
struct store_op;
struct tracking;

/* What a read saw when it was sent: may its reply go in? */
struct tracking_seen {
    bool     ok;                    /* tracking was on */
    uint64_t seq;                   /* invalidations seen by then */
};

struct tracking *tracking_new(struct event_base *base, const struct conf *cf,
                              struct store *st);
void             tracking_free(struct tracking *t);

/* Notes, as a read is sent, what must still hold when it replies. */
void tracking_begin(const struct tracking *t, const struct store *st,
                    struct tracking_seen *seen);

/*
 * The near cache's entry of (HASH, FIELD), decoded into E, once the
 * invalidations waiting in the socket were read; false when there is
 * none, or tracking is off. E points into the near cache: use it before
 * the next call here.
 */
bool tracking_get(struct tracking *t, const char *hash, const char *field,
                  struct cache_entry *e);

/* Keeps the fresh entry V (LEN bytes) of (HASH, FIELD), read as SEEN,
 * if nothing may have changed it since; BGEN: its blocks generation. */
void tracking_put(struct tracking *t, const struct tracking_seen *seen,
                  const char *hash, const char *field, const char *bgen,
                  const char *v, size_t len);

/* Empties the near cache (Redis lost data: what it held may be gone). */
void tracking_clear(struct tracking *t);

/*
 * A write's barrier (a PATCH's, a PURGE's): a call on the same link as
 * the write of KEY, whose reply proves the write's invalidations went
 * out; NULL when there is nothing to wait for (no near cache) or Redis
 * is away. KEY routes it: on a Redis Cluster, to the master that took
 * the write (a keyless call would go to any master, and prove nothing
 * of another's invalidations). CB(ARG) gets the reply.
 */
struct store_op *tracking_barrier(struct tracking *t, struct store *st,
                                  const char *key,
                                  void (*cb)(struct redisReply *, void *),
                                  void *arg);

#endif /* HSP_REQ_TRACKING_H */
