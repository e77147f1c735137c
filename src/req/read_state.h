/*
 * req/read_state.h - the read path's own state, kept in a request's
 * path-state storage (req/req.h), for the read path's two files: read.c
 * (its handlers) and answer.c (its answers). Nothing else includes it,
 * so no other code can name these fields.
 *
 * Ownership: STALE is owned, freed by read_finish (read.h) when the
 * request ends; the flight member is borrowed by the flight it joined,
 * until the flight releases it or it leaves.
 */
#ifndef HSP_REQ_READ_STATE_H
#define HSP_REQ_READ_STATE_H

#include <assert.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cache.h"
#include "key.h"
#include "req/flight.h"
#include "req/reply.h"
#include "req/req.h"
#include "req/tracking.h"
#include "stats.h"

/* How a read uses the cache: decided once, at RECV. */
enum read_mode {
    READ_BYPASS,        /* parameters the key cannot hold: straight through,
                           for the upstream to judge */
    READ_REFRESH,       /* nothing cached may answer it (no-cache, no-store,
                           or the route's TTL is off): fetched under the
                           fetch lock, so identical refreshes coalesce */
    READ_LOOKUP         /* the near cache, Redis, then the upstream */
};

struct read_state {
    enum read_mode          mode;
    struct cache_directives dir;
    struct key_query        q;
    struct key_entry        key;
    bool                    may_store;  /* the answer may be stored */
    char                    epoch[REQ_EPOCH_MAX];   /* seen by the lookup */
    char                    bgen[REQ_EPOCH_MAX];
    enum stats_cache        x_cache;    /* MISS or BYPASS, once decided */
    enum reply_fwd          fwd;        /* why it goes upstream */
    enum reply_detail       detail;     /* Cache-Status detail= */
    struct flight_member    fl;         /* its flight and fetch lock */
    struct tracking_seen    seen;       /* its lookup, for the near cache */
    bool                    revalidate; /* serve STALE, refresh behind */
    bool                    waited;     /* was woken by another's fetch */
    char                   *stale;      /* owned: an expired entry that
                                           may still be served, or NULL */
    size_t                  stale_len;
};

static_assert(sizeof(struct read_state) <= REQ_PATH_STATE_MAX,
              "the read state fits a request's path-state storage");

/* R's read state. */
static inline struct read_state *
read_state(struct req *r)
{
    return (struct read_state *)(void *)r->ps.bytes;
}

#endif /* HSP_REQ_READ_STATE_H */
