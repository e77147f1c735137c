/*
 * req/lost.c - noticing a Redis that lost its data (req/lost.h).
 */
#include "config.h"

#include "req/lost.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <event2/event.h>

#include "conf.h"
#include "key.h"
#include "log.h"
#include "req/tracking.h"
#include "script.h"
#include "stats.h"
#include "store.h"

#define LOST_TICK_MS 1000

struct lost {
    struct store    *store;         /* borrowed */
    struct tracking *tracking;      /* borrowed; NULL: no near cache */
    struct event    *tick;          /* owned */
    struct store_op *op;            /* the marker call in flight */
    int64_t          last;          /* the marker's last value, 0: none */
    char             key[KEY_MAX];
};

static void
lost_on_reply(struct redisReply *reply, void *arg)
{
    struct lost *l = arg;
    int64_t      v;

    l->op = NULL;
    if (script_count_reply(reply, &v) != 0) {
        return;                     /* Redis away: the store says so */
    }
    if (l->last > 0 && v <= l->last) {
        stats_add(STATS_REDIS_DATA_LOST, 1);
        tracking_clear(l->tracking);
        log_err("store: redis lost its data (its marker went from %" PRId64
                " back to %" PRId64 "): a restart without persistence, "
                "FLUSHALL or a failover to a lagging replica; this "
                "worker's near cache is emptied, and Idempotency-Key "
                "records may be gone", l->last, v);
    }
    l->last = v;
}

static void
lost_on_tick(evutil_socket_t fd, short what, void *arg)
{
    struct lost *l = arg;

    if (l->op == NULL) {
        l->op = script_marker(l->store, l->key, lost_on_reply, l);
    }
}

struct lost *
lost_new(struct event_base *base, struct store *st, struct tracking *t,
         const struct conf *cf)
{
    struct lost   *l = calloc(1, sizeof(*l));
    struct timeval tv = { LOST_TICK_MS / 1000, (LOST_TICK_MS % 1000) * 1000 };

    if (l == NULL) {
        return NULL;
    }
    l->store = st;
    l->tracking = t;
    snprintf(l->key, sizeof(l->key), "%s:" KEY_SCHEMA ":marker",
             cf->redis_prefix);
    l->tick = event_new(base, -1, EV_PERSIST, lost_on_tick, l);
    if (l->tick == NULL) {
        free(l);
        return NULL;
    }
    evtimer_add(l->tick, &tv);
    return l;
}

void
lost_free(struct lost *l)
{
    if (l == NULL) {
        return;
    }
    if (l->op != NULL) {
        store_cancel(l->op);
    }
    event_free(l->tick);
    free(l);
}
