/*
 * store_int.h - private to the store's own files (store.c, store_call.c):
 * a store and its nodes. A node is one Redis the store talks to: its call
 * link, its subscriber (channels, and the tracking of what the call link
 * reads) and its watch. A redis://, rediss://, unix:// or
 * redis-sentinel:// store has one node; a redis-cluster:// store one per
 * master its slot map names, and one per seed until then
 * (store_cluster.h routes the calls among them).
 *
 * Ownership: the store owns its nodes (st->nodes, freed by store_free
 * only: a node that no longer serves slots keeps its links, idle, so an
 * op may always point at its node), each node its links, subscriber and
 * watch, and each op its copies of the arguments; an op is freed once
 * its caller has had its answer and its link is done with it
 * (store_call.c).
 */
#ifndef HSP_STORE_INT_H
#define HSP_STORE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cmap.h"
#include "store_notify.h"
#include "store_link.h"
#include "url.h"

#define STORE_NODES_MAX 80          /* store.h's STORE_SHARDS_MAX */
#define STORE_CHANNELS_MAX 4

struct event;
struct store_cluster;
struct store_op;
struct store_script;
struct store_sentinel;
struct store_sub;
struct store_watch;

struct store_node {
    struct store       *st;         /* borrowed: its store */
    struct url_redis    url;        /* where it is: the store's URL with
                                     * this node's host and port */
    char                name[URL_HOST_MAX + 16]; /* for logs: "redis"
                                     * or "redis host:port" */
    struct store_link   cmd;        /* owned: calls */
    struct store_sub   *sub;        /* owned: subscriptions, tracking */
    struct store_watch *watch;      /* owned: what we watch of it */
    bool                healthy;    /* last call answered */
    unsigned            timeouts;   /* consecutive missed deadlines */
    bool                counted_up; /* store_cluster_reach told */
    struct store_op    *held;       /* calls made while its link's first
                                     * connect was under way, oldest
                                     * first: sent once it is up */
    struct store_op   **held_tail;
    struct event       *retry;      /* owned, made when first needed:
                                     * sends the held calls again after
                                     * TRYAGAIN or CLUSTERDOWN */
};

/* A channel the store keeps subscribed on every node (store_subscribe). */
struct store_chan {
    char         name[128];
    store_msg_cb cb;
    void        *arg;
};

struct store {
    struct event_base     *base;    /* borrowed */
    struct evdns_base     *dns;     /* borrowed, or owned when own_dns */
    bool                   own_dns;
    struct url_redis       url;
    char                  *ca_file; /* owned copies: for nodes added */
    char                  *cert_file;
    char                  *key_file;
    int64_t                timeout_ms;
    bool                   freeing;
    bool                   counted_up;  /* counted in ready_redis_up */
    struct store_node     *nodes[STORE_NODES_MAX]; /* owned */
    int                    nnodes;
    struct store_sentinel *sent;    /* owned: redis-sentinel:// only */
    struct store_cluster  *clu;     /* owned: redis-cluster:// only */
    struct store_chan      chans[STORE_CHANNELS_MAX];
    int                    nchans;
    store_inval_cb         track_cb;    /* NULL until store_track */
    void                  *track_arg;
};

/* store_call.c: store_eval, store_cancel and store_available of
 * store.h, which store.c forwards here. */
struct store_op *store_call_eval(struct store *st,
                                 struct store_script *script, int nkeys,
                                 int argc, const char *const *argv,
                                 const size_t *lens, store_cb cb, void *arg);
void store_call_cancel(struct store_op *op);
bool store_call_available(const struct store *st);

/* store_call.c: tells /readyz whether ST's calls are usable now (on
 * every node that serves slots). */
void store_health(struct store *st);

/* store_call.c: NODE's link came up (SEND: send its held calls) or its
 * connect failed or the store goes (fail them). */
void store_call_flush(struct store_node *node, bool send);

_Static_assert(STORE_NODES_MAX >= CMAP_NODES_MAX + URL_SENTINELS_MAX,
               "room for every master and every seed");

#endif /* HSP_STORE_INT_H */
