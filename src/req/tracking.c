/*
 * req/tracking.c - the near cache's coherence (req/tracking.h).
 */
#include "config.h"

#include "req/tracking.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>

#include <event2/event.h>

#include "cache.h"
#include "conf.h"
#include "key.h"
#include "near.h"
#include "script.h"
#include "store.h"

#define TRACKING_PING_MS  200       /* the heartbeat */
#define TRACKING_KEY_MAX  (KEY_MAX + KEY_FIELD_MAX + 2)

struct tracking {
    struct store  *store;           /* borrowed */
    struct near   *near;            /* owned */
    uint64_t       inval_seq;       /* invalidations seen */
    struct event  *ping;            /* owned: the heartbeat */
};

/* Redis's tracking: KEY changed (or, KEY NULL, anything may have). */
static void
tracking_on_invalidation(const char *key, size_t len, void *arg)
{
    struct tracking *t = arg;

    t->inval_seq++;
    if (key == NULL) {
        near_clear(t->near);
    } else {
        near_invalidate(t->near, key, len);
    }
}

/*
 * The heartbeat: a worker answering from its near cache may not call
 * Redis for a long while, and a Redis that stopped answering sends no
 * invalidations. A missed deadline here empties the near cache (store.c
 * reports tracking lost) until Redis answers again.
 */
static void
tracking_on_ping(evutil_socket_t fd, short what, void *arg)
{
    struct tracking *t = arg;

    (void)script_ping(t->store, store_ignore, NULL);
}

struct tracking *
tracking_new(struct event_base *base, const struct conf *cf,
             struct store *st)
{
    struct tracking *t = calloc(1, sizeof(*t));
    struct timeval   tv = { 0, TRACKING_PING_MS * 1000 };

    assert(cf->near_cache > 0);
    if (t == NULL) {
        return NULL;
    }
    t->store = st;
    t->near = near_new((size_t)cf->near_cache);
    t->ping = event_new(base, -1, EV_PERSIST, tracking_on_ping, t);
    if (t->near == NULL || t->ping == NULL ||
        store_track(st, tracking_on_invalidation, t) != 0) {
        tracking_free(t);
        return NULL;
    }
    evtimer_add(t->ping, &tv);
    return t;
}

void
tracking_free(struct tracking *t)
{
    if (t == NULL) {
        return;
    }
    if (t->ping != NULL) {
        event_free(t->ping);
    }
    near_free(t->near);
    free(t);
}

void
tracking_begin(const struct tracking *t, const struct store *st,
               struct tracking_seen *seen)
{
    /* The read is tracked if tracking is on when it is sent. */
    seen->ok = store_tracking(st);
    seen->seq = t != NULL ? t->inval_seq : 0;
}

/* The near cache's key of (HASH, FIELD). */
static size_t
tracking_key(const char *hash, const char *field, char *out, size_t cap)
{
    int n = snprintf(out, cap, "%s%c%s", hash, '\0', field);

    assert(n > 0 && (size_t)n < cap);
    return (size_t)n;
}

bool
tracking_get(struct tracking *t, const char *hash, const char *field,
             struct cache_entry *e)
{
    char        key[TRACKING_KEY_MAX];
    const char *v;
    size_t      klen, vlen;

    if (t == NULL || !store_tracking(t->store)) {
        return false;
    }
    klen = tracking_key(hash, field, key, sizeof(key));
    if (near_get(t->near, key, klen, &vlen) == NULL) {
        return false;               /* a miss costs no read of the socket */
    }
    /* Invalidations already in the socket first: one may be this entry's
     * (a PATCH answered through another instance, SPEC §4). */
    store_poll(t->store);
    if (!store_tracking(t->store)) {
        return false;
    }
    v = near_get(t->near, key, klen, &vlen);
    return v != NULL && cache_entry_decode(v, vlen, e) == 0;
}

void
tracking_put(struct tracking *t, const struct tracking_seen *seen,
             const char *hash, const char *field, const char *bgen,
             const char *v, size_t len)
{
    char   key[TRACKING_KEY_MAX];
    size_t klen;

    if (t == NULL || !seen->ok || t->inval_seq != seen->seq ||
        !store_tracking(t->store)) {
        return;
    }
    klen = tracking_key(hash, field, key, sizeof(key));
    near_put(t->near, key, klen, v, len, hash, bgen);
}

void
tracking_clear(struct tracking *t)
{
    if (t != NULL) {
        near_clear(t->near);
    }
}

struct store_op *
tracking_barrier(struct tracking *t, struct store *st, const char *key,
                 void (*cb)(struct redisReply *, void *), void *arg)
{
    if (t == NULL) {
        return NULL;
    }
    return script_ping_at(st, key, cb, arg);
}
