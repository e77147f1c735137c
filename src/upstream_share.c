/*
 * upstream_share.c - the process-wide cap of one upstream's connections,
 * shared by the pools of every worker thread (see upstream.h for why it
 * is shared, upstream_share.h for its verbs).
 *
 * Owns: its lock and counters; the members are borrowed (embedded in
 * their pools), and a pool leaves before it is freed. Created by main
 * before the workers, freed by upstream_share_free after the last pool.
 * It never calls a pool: it wakes one by activating its kick event.
 */
#include "config.h"

#include "upstream_share.h"

#include <assert.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include <event2/event.h>

TAILQ_HEAD(upstream_share_list, upstream_share_member);

struct upstream_share {
    pthread_mutex_t            lock;    /* guards all but NWANT's reads */
    unsigned                   max;
    unsigned                   used;    /* slots held by live connections */
    atomic_uint                nwant;   /* members with WANTS set: written
                                           under LOCK, read without it as
                                           a hint that publishes nothing
                                           else, so every access is
                                           relaxed */
    struct upstream_share_list members; /* every pool that counts */
};

/* M's WANTS: relaxed, see upstream_share.h. */
static bool
wants(const struct upstream_share_member *m)
{
    return atomic_load_explicit(&m->wants, memory_order_relaxed);
}

struct upstream_share *
upstream_share_new(unsigned max_conns)
{
    struct upstream_share *s = calloc(1, sizeof(*s));

    assert(max_conns > 0);
    if (s == NULL || pthread_mutex_init(&s->lock, NULL) != 0) {
        free(s);
        return NULL;
    }
    s->max = max_conns;
    atomic_init(&s->nwant, 0);
    TAILQ_INIT(&s->members);
    return s;
}

void
upstream_share_free(struct upstream_share *s)
{
    if (s == NULL) {
        return;
    }
    assert(TAILQ_EMPTY(&s->members) && s->used == 0);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

void
upstream_share_join(struct upstream_share *s, struct upstream_share_member *m,
                    struct event *kick)
{
    m->kick = kick;
    atomic_init(&m->wants, false);
    pthread_mutex_lock(&s->lock);
    TAILQ_INSERT_TAIL(&s->members, m, next);
    pthread_mutex_unlock(&s->lock);
}

/* Clears M's WANTS. Under S's lock. */
static void
unwant_locked(struct upstream_share *s, struct upstream_share_member *m)
{
    if (wants(m)) {
        atomic_store_explicit(&m->wants, false, memory_order_relaxed);
        atomic_fetch_sub_explicit(&s->nwant, 1, memory_order_relaxed);
    }
}

void
upstream_share_leave(struct upstream_share *s,
                     struct upstream_share_member *m)
{
    pthread_mutex_lock(&s->lock);
    TAILQ_REMOVE(&s->members, m, next);
    unwant_locked(s, m);
    pthread_mutex_unlock(&s->lock);
}

bool
upstream_share_wanted(const struct upstream_share *s,
                      const struct upstream_share_member *m)
{
    return atomic_load_explicit(&s->nwant, memory_order_relaxed) >
           (wants(m) ? 1u : 0u);
}

/* Wakes the other members (from this thread: event_active is thread-safe
 * under evthread) so that one with an idle connection gives it back. */
bool
upstream_share_take(struct upstream_share *s, struct upstream_share_member *m)
{
    struct upstream_share_member *p;
    bool                          ok;

    pthread_mutex_lock(&s->lock);
    ok = s->used < s->max;
    if (ok) {
        s->used++;
    } else {
        if (!wants(m)) {
            atomic_store_explicit(&m->wants, true, memory_order_relaxed);
            atomic_fetch_add_explicit(&s->nwant, 1, memory_order_relaxed);
        }
        TAILQ_FOREACH(p, &s->members, next) {
            if (p != m) {
                event_active(p->kick, 0, 0);
            }
        }
    }
    pthread_mutex_unlock(&s->lock);
    return ok;
}

void
upstream_share_give(struct upstream_share *s)
{
    struct upstream_share_member *p;

    pthread_mutex_lock(&s->lock);
    assert(s->used > 0);
    s->used--;
    TAILQ_FOREACH(p, &s->members, next) {
        if (wants(p)) {
            unwant_locked(s, p);
            event_active(p->kick, 0, 0);
            /* Next time the member after it comes first. */
            TAILQ_REMOVE(&s->members, p, next);
            TAILQ_INSERT_TAIL(&s->members, p, next);
            break;
        }
    }
    pthread_mutex_unlock(&s->lock);
}

void
upstream_share_unwant(struct upstream_share *s,
                      struct upstream_share_member *m)
{
    /* Read without the lock first: only this member's own pool sets
     * WANTS, so a pool that does not want costs no lock. */
    if (!wants(m)) {
        return;
    }
    pthread_mutex_lock(&s->lock);
    unwant_locked(s, m);
    pthread_mutex_unlock(&s->lock);
}
