/*
 * upstream_share.h - the process-wide cap of one upstream's connections,
 * created by main and used by the upstream pools (upstream.c) of every
 * worker thread, which take and give slots of one share. Thread-safe.
 *
 * A pool joins with a member embedded in itself and the event that wakes
 * it; the share never calls a pool, it only activates that event (which
 * is thread-safe under evthread).
 */
#ifndef HSP_UPSTREAM_SHARE_H
#define HSP_UPSTREAM_SHARE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <sys/queue.h>

struct event;
struct upstream_share;

/*
 * The process-wide cap of one upstream's connections (upstream_connections),
 * shared by the pools of every worker thread. A fixed share per worker
 * would leave the busier worker queueing while the other's connections
 * sit unused, and SO_REUSEPORT never splits clients evenly (64 clients on
 * 2 workers came 33/32 to 38/27): a pool takes a slot while the process
 * is under the cap, and a pool that cannot is woken when another gives
 * one back, which an idle or finishing connection then does.
 * Created by main before the workers, freed after the last pool; NULL
 * when out of memory.
 */
struct upstream_share *upstream_share_new(unsigned max_conns);
void upstream_share_free(struct upstream_share *share);

/* A pool's place in a share. Its fields are the share's: a pool only
 * embeds it and passes it in. */
struct upstream_share_member {
    TAILQ_ENTRY(upstream_share_member) next;  /* among the share's
                                                 members, under its lock */
    struct event *kick;             /* borrowed: the pool's wake-up */
    atomic_bool   wants;            /* waits for a slot: written under the
                                     * share's lock (by any thread: a give
                                     * clears another pool's), read
                                     * without it by the owner as a hint,
                                     * so every access is relaxed */
};

/*
 * Makes M, whose pool is woken by KICK (borrowed, must outlive M's
 * membership), count against S. M is the caller's until
 * upstream_share_leave.
 */
void upstream_share_join(struct upstream_share *s,
                         struct upstream_share_member *m, struct event *kick);

/* Takes M out of S; it no longer waits for a slot. */
void upstream_share_leave(struct upstream_share *s,
                          struct upstream_share_member *m);

/*
 * Takes a slot for a new connection. When there is none, M is marked as
 * wanting one and every other member is woken so that one with an idle
 * connection gives it back. Returns whether a slot was taken.
 */
bool upstream_share_take(struct upstream_share *s,
                         struct upstream_share_member *m);

/* Gives a slot back, and wakes one member that waits for one. */
void upstream_share_give(struct upstream_share *s);

/* M no longer waits for a slot (it was served meanwhile). */
void upstream_share_unwant(struct upstream_share *s,
                           struct upstream_share_member *m);

/* Whether a member other than M waits for a slot: a hint, read without
 * the lock. */
bool upstream_share_wanted(const struct upstream_share *s,
                           const struct upstream_share_member *m);

#endif /* HSP_UPSTREAM_SHARE_H */
