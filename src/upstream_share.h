/*
 * upstream_share.h - private to the upstream pool: the process-wide cap
 * of one upstream's connections (upstream_share_new/free and the reason
 * for it are in upstream.h). Thread-safe: the pools of every worker
 * thread take and give slots of one share.
 *
 * A pool joins with a member embedded in itself and the event that wakes
 * it; the share never calls a pool, it only activates that event (which
 * is thread-safe under evthread).
 */
#ifndef HSP_UPSTREAM_SHARE_H
#define HSP_UPSTREAM_SHARE_H

#include <stdbool.h>
#include <sys/queue.h>

#include "upstream.h"

struct event;

/* A pool's place in a share. Its fields are the share's: a pool only
 * embeds it and passes it in. */
struct upstream_share_member {
    TAILQ_ENTRY(upstream_share_member) next;  /* among the share's
                                                 members, under its lock */
    struct event *kick;             /* borrowed: the pool's wake-up */
    bool          wants;            /* waits for a slot (under the lock) */
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
