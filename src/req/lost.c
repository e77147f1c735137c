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
#include <string.h>

#include <event2/event.h>

#include "conf.h"
#include "key.h"
#include "log.h"
#include "req/tracking.h"
#include "script.h"
#include "stats.h"
#include "store.h"

#define LOST_TICK_MS 1000

struct lost;

/* The marker on one shard: one Redis, or one master of a Cluster, each
 * of which can lose its data on its own. */
struct lost_shard {
    struct lost     *l;             /* borrowed: its watch */
    struct store_op *op;            /* the marker call in flight */
    int64_t          last;          /* the marker's last value, 0: none */
    char             tag[16];       /* the hash tag its key had */
};

struct lost {
    struct store     *store;        /* borrowed */
    struct tracking  *tracking;     /* borrowed; NULL: no near cache */
    struct event     *tick;         /* owned */
    char              prefix[KEY_MAX];
    struct lost_shard shards[STORE_SHARDS_MAX];
};

static void
lost_on_reply(struct redisReply *reply, void *arg)
{
    struct lost_shard *sh = arg;
    struct lost       *l = sh->l;
    int64_t            v;

    sh->op = NULL;
    if (script_count_reply(reply, &v) != 0) {
        return;                     /* Redis away: the store says so */
    }
    if (sh->last > 0 && v <= sh->last) {
        stats_add(STATS_REDIS_DATA_LOST, 1);
        tracking_clear(l->tracking);
        log_err("store: redis lost its data (its marker went from %" PRId64
                " back to %" PRId64 "): a restart without persistence, "
                "FLUSHALL or a failover to a lagging replica; this "
                "worker's near cache is emptied, and Idempotency-Key "
                "records may be gone", sh->last, v);
    }
    sh->last = v;
}

/* Raises the marker of each shard (outside a Cluster, "<prefix>:marker"
 * as ever; in one, "<prefix>:{<tag>}:marker" with a tag that lands on
 * that master). A shard whose tag changed (its slots moved) starts
 * afresh: the counter under the new key owes nothing to the old one. */
static void
lost_on_tick(evutil_socket_t fd, short what, void *arg)
{
    struct lost *l = arg;
    char         tag[16], key[KEY_MAX + 32];
    int          i, n = store_shards(l->store);

    (void)fd;
    (void)what;
    for (i = 0; i < n && i < STORE_SHARDS_MAX; i++) {
        struct lost_shard *sh = &l->shards[i];

        if (sh->op != NULL ||
            !store_shard_tag(l->store, i, tag, sizeof(tag))) {
            continue;
        }
        if (strcmp(tag, sh->tag) != 0) {
            memcpy(sh->tag, tag, sizeof(tag));
            sh->last = 0;
        }
        if (tag[0] == '\0') {
            snprintf(key, sizeof(key), "%s:marker", l->prefix);
        } else {
            snprintf(key, sizeof(key), "%s:{%s}:marker", l->prefix, tag);
        }
        sh->op = script_marker(l->store, key, lost_on_reply, sh);
    }
}

struct lost *
lost_new(struct event_base *base, struct store *st, struct tracking *t,
         const struct conf *cf)
{
    struct lost   *l = calloc(1, sizeof(*l));
    struct timeval tv = { LOST_TICK_MS / 1000, (LOST_TICK_MS % 1000) * 1000 };
    int            i;

    if (l == NULL) {
        return NULL;
    }
    l->store = st;
    l->tracking = t;
    for (i = 0; i < STORE_SHARDS_MAX; i++) {
        l->shards[i].l = l;
    }
    snprintf(l->prefix, sizeof(l->prefix), "%s:" KEY_SCHEMA,
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
    int i;

    if (l == NULL) {
        return;
    }
    for (i = 0; i < STORE_SHARDS_MAX; i++) {
        if (l->shards[i].op != NULL) {
            store_cancel(l->shards[i].op);
        }
    }
    event_free(l->tick);
    free(l);
}
