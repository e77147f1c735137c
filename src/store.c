/*
 * store.c - the store and its nodes: their making and release, what
 * their links tell, and the public face of store.h but for the calls
 * (store_call.c).
 *
 * A store has one node (store_int.h) for redis://, rediss://, unix:// and
 * redis-sentinel:// (whose master store_sentinel.c finds and follows),
 * and one per cluster master for redis-cluster:// (store_cluster.c reads
 * the slot map and adds a node for each master it names; the seeds are
 * nodes from the start). Each node has its call link, its subscriber
 * (every channel of the store, and the tracking of what its call link
 * reads: Redis invalidates only what a connection read, so each node
 * tracks for itself) and its watch.
 *
 * The connection itself (connect, TLS, AUTH, SELECT, reconnect with
 * backoff that resets only once Redis answers) is store_link.c's, on an
 * rlink; subscriptions and tracking store_sub.c's; what the store watches
 * about a Redis (its role, its eviction policy, its clock)
 * store_watch.c's. This file owns the store and its nodes and calls down
 * into them; they tell it what happens through callbacks only.
 */
#include "config.h"

#include "store.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/dns.h>
#include <event2/event.h>
#include <hiredis/hiredis.h>

#include "log.h"
#include "ready.h"
#include "store_cluster.h"
#include "store_int.h"
#include "store_link.h"
#include "store_script.h"
#include "store_sentinel.h"
#include "store_sub.h"
#include "store_watch.h"
#include "url.h"

static void on_cmd_link(struct store_link *link, enum store_link_event ev,
                        void *arg);

_Static_assert(STORE_SHARDS_MAX == STORE_NODES_MAX,
               "a shard is a node (store_shards)");

static char *
store_strdup(const char *s)
{
    return s != NULL && s[0] != '\0' ? strdup(s) : NULL;
}

static void
node_free(struct store_node *n)
{
    if (n == NULL) {
        return;
    }
    store_call_flush(n, false);     /* held calls get NULL */
    store_link_stop(&n->cmd);       /* pending callbacks get NULL */
    store_watch_free(n->watch);
    store_sub_free(n->sub);
    if (n->retry != NULL) {
        event_free(n->retry);
    }
    free(n);
}

/*
 * Adds a node to ST for HOST:PORT (NULL: the store's own URL, for a
 * store of one node), with the store's channels and tracking, and starts
 * connecting it. Returns it, or NULL (logged) when the table is full or
 * something could not be made.
 */
static struct store_node *
node_add(struct store *st, const char *host, uint16_t port)
{
    struct store_link_conf lc;
    struct store_node     *n;
    int                    i;

    if (st->nnodes == STORE_NODES_MAX) {
        log_err("store: more than %d redis nodes; %s:%u left out",
                STORE_NODES_MAX, host != NULL ? host : "", port);
        return NULL;
    }
    n = calloc(1, sizeof(*n));
    if (n == NULL) {
        log_err("store: out of memory");
        return NULL;
    }
    n->st = st;
    n->url = st->url;
    n->held_tail = &n->held;
    snprintf(n->name, sizeof(n->name), "redis");
    if (host != NULL) {             /* a cluster node: plain to its link */
        snprintf(n->url.host, sizeof(n->url.host), "%s", host);
        n->url.port = port;
        n->url.cluster = false;
        n->url.nseeds = 0;
        snprintf(n->name, sizeof(n->name), "redis %s:%u", host, port);
    }
    memset(&lc, 0, sizeof(lc));
    lc.url = &n->url;
    lc.ca_file = st->ca_file;
    lc.cert_file = st->cert_file;
    lc.key_file = st->key_file;
    lc.timeout_ms = 0;              /* the store's timers: store_call.c */
    if (store_link_init(&n->cmd, st->base, st->dns, &lc, n->name,
                        on_cmd_link, NULL, n) != 0 ||
        (n->sub = store_sub_new(st->base, st->dns, &lc, &n->cmd)) == NULL ||
        (n->watch = store_watch_new(st->base, &n->cmd,
                                    st->clu != NULL)) == NULL) {
        node_free(n);               /* they logged why */
        return NULL;
    }
    for (i = 0; i < st->nchans; i++) {
        if (store_sub_add(n->sub, st->chans[i].name, st->chans[i].cb,
                          st->chans[i].arg) != 0) {
            node_free(n);
            return NULL;
        }
    }
    if (st->track_cb != NULL &&
        store_sub_track(n->sub, st->track_cb, st->track_arg) != 0) {
        node_free(n);
        return NULL;
    }
    st->nodes[st->nnodes++] = n;
    return n;
}

/* store_cluster_add_cb: a master the slot map (or a MOVED) names. */
static struct store_node *
store_on_new_node(void *arg, const char *host, uint16_t port)
{
    struct store      *st = arg;
    struct store_node *n = node_add(st, host, port);

    if (n != NULL) {
        store_link_connect(&n->cmd);
    }
    return n;
}

struct store *
store_new(struct event_base *base, struct evdns_base *dns, const char *url,
          const struct store_opts *tls, int64_t timeout_ms)
{
    struct store *st;
    char          err[128];
    int           i;

    st = calloc(1, sizeof(*st));
    if (st == NULL) {
        log_err("store: out of memory");
        return NULL;
    }
    if (url_parse_redis(url, &st->url, err, sizeof(err)) != 0) {
        log_err("store: redis URL: %s", err);
        free(st);
        return NULL;
    }
    st->base = base;
    st->timeout_ms = timeout_ms;
    ready_redis_store(1);           /* store_free uncounts it */
    if (dns == NULL && !st->url.unix_socket) {
        /* No resolver from the worker: one of our own, for addresses
         * and /etc/hosts at least. */
        dns = evdns_base_new(base, 0);
        if (dns != NULL) {
            (void)evdns_base_load_hosts(dns, NULL);
            st->own_dns = true;
        }
    }
    st->dns = dns;
    if (tls != NULL) {
        st->ca_file = store_strdup(tls->ca_file);
        st->cert_file = store_strdup(tls->cert_file);
        st->key_file = store_strdup(tls->key_file);
    }
    if (st->url.cluster) {
        st->clu = store_cluster_new(base, st, store_on_new_node, st);
        if (st->clu == NULL) {
            store_free(st);
            return NULL;
        }
        for (i = 0; i < st->url.nseeds; i++) {
            if (node_add(st, st->url.seeds[i].host,
                         st->url.seeds[i].port) == NULL) {
                store_free(st);
                return NULL;
            }
        }
    } else if (node_add(st, NULL, 0) == NULL) {
        store_free(st);
        return NULL;
    }
    if (st->url.sentinel) {
        struct store_sentinel_conf sc = {
            .url = &st->url, .ca_file = st->ca_file,
            .cert_file = st->cert_file, .key_file = st->key_file,
            .user = tls != NULL ? tls->sentinel_user : NULL,
            .password = tls != NULL ? tls->sentinel_password : NULL,
            .cmd = &st->nodes[0]->cmd, .sub = st->nodes[0]->sub,
        };

        /* The links stay held until the sentinels name the master. */
        st->sent = store_sentinel_new(base, dns, &sc);
        if (st->sent == NULL) {
            store_free(st);
            return NULL;
        }
    }
    for (i = 0; i < st->nnodes; i++) {
        store_link_connect(&st->nodes[i]->cmd);
    }
    return st;
}

void
store_set_timeout(struct store *st, int64_t timeout_ms)
{
    st->timeout_ms = timeout_ms;
}

void
store_free(struct store *st)
{
    int i;

    if (st == NULL) {
        return;
    }
    st->freeing = true;
    for (i = 0; i < st->nnodes; i++) {
        store_call_flush(st->nodes[i], false);  /* held calls get NULL */
        store_link_stop(&st->nodes[i]->cmd);    /* pending ones too */
    }
    store_sentinel_free(st->sent);
    for (i = 0; i < st->nnodes; i++) {
        node_free(st->nodes[i]);
    }
    store_cluster_free(st->clu);
    store_health(st);
    ready_redis_store(-1);          /* store_new counted it */
    if (st->own_dns) {
        evdns_base_free(st->dns, 0);
    }
    free(st->ca_file);
    free(st->cert_file);
    free(st->key_file);
    free(st);
}

/* What a node's call link tells: the store's health follows it, and so
 * does tracking, whose CLIENT TRACKING lives on this link. */
static void
on_cmd_link(struct store_link *link, enum store_link_event ev, void *arg)
{
    struct store_node *n = arg;
    struct store      *st = n->st;

    switch (ev) {
    case STORE_LINK_UP: {
        if (st->sent != NULL && !store_sentinel_up(st->sent)) {
            return;                 /* a replica: no call goes there */
        }

        n->healthy = true;
        store_health(st);
        /* First its clock (TIME, before the scripts load: a quick
         * answer), what it is, and may it evict. */
        store_watch_up(n->watch);
        store_script_load_all(link);
        store_sub_cmd_up(n->sub);
        store_call_flush(n, true);  /* after SCRIPT LOAD: no NOSCRIPT */
        if (st->clu != NULL) {
            store_cluster_node_up(st->clu, n);
        }
        break;
    }
    case STORE_LINK_FAILED:
        store_call_flush(n, false);
        store_health(st);
        store_sentinel_doubt(st->sent, "cannot connect to the master");
        if (st->clu != NULL && !st->freeing) {
            store_cluster_node_lost(st->clu, n);
        }
        break;
    case STORE_LINK_LOST:
        store_call_flush(n, false);
        store_watch_lost(n->watch);
        store_health(st);
        store_sub_track_lost(n->sub);
        store_sentinel_doubt(st->sent, "the master's link was lost");
        if (st->clu != NULL && !st->freeing) {
            store_cluster_node_lost(st->clu, n);
        }
        break;
    }
}

/* ---- calls: store_call.c ------------------------------------------------ */

struct store_op *
store_eval(struct store *st, struct store_script *script, int nkeys,
           int argc, const char *const *argv, const size_t *lens,
           store_cb cb, void *arg)
{
    return store_call_eval(st, script, nkeys, argc, argv, lens, cb, arg);
}

void
store_cancel(struct store_op *op)
{
    store_call_cancel(op);
}

bool
store_available(const struct store *st)
{
    return store_call_available(st);
}

void
store_ignore(struct redisReply *reply, void *arg)
{
    (void)reply;
    (void)arg;
}

/* ---- subscriptions and tracking: store_sub.c, on every node ----------- */

int
store_subscribe(struct store *st, const char *channel, store_msg_cb cb,
                void *arg)
{
    struct store_chan *ch;
    int                i;

    if (st->nchans == STORE_CHANNELS_MAX ||
        strlen(channel) >= sizeof(st->chans[0].name)) {
        return -1;
    }
    ch = &st->chans[st->nchans];
    snprintf(ch->name, sizeof(ch->name), "%s", channel);
    ch->cb = cb;
    ch->arg = arg;
    for (i = 0; i < st->nnodes; i++) {
        if (store_sub_add(st->nodes[i]->sub, channel, cb, arg) != 0) {
            return -1;
        }
    }
    st->nchans++;
    return 0;
}

int
store_track(struct store *st, store_inval_cb cb, void *arg)
{
    int i;

    if (st->track_cb != NULL) {
        return -1;
    }
    for (i = 0; i < st->nnodes; i++) {
        if (store_sub_track(st->nodes[i]->sub, cb, arg) != 0) {
            return -1;
        }
    }
    st->track_cb = cb;
    st->track_arg = arg;
    return 0;
}

/* Whether invalidations flow from every node that serves slots: a near
 * cache is coherent only if each key it holds will be invalidated. */
bool
store_tracking(const struct store *st)
{
    int i, serving = 0;

    for (i = 0; i < st->nnodes; i++) {
        const struct store_node *n = st->nodes[i];

        if (st->clu != NULL && !store_cluster_serves(st->clu, n)) {
            continue;
        }
        if (!n->healthy || !store_sub_tracking(n->sub)) {
            return false;
        }
        serving++;
    }
    return serving > 0;
}

/* Whether a message can arrive: in a Cluster, a PUBLISH reaches the
 * subscribers of every node (the cluster bus carries it), so any node
 * listening will do. */
bool
store_listening(const struct store *st)
{
    int i;

    for (i = 0; i < st->nnodes; i++) {
        if (store_sub_listening(st->nodes[i]->sub)) {
            return true;
        }
    }
    return false;
}

/* The smallest offset known: a deadline in Redis's clock computed with
 * it falls no later on any node than it would with that node's own
 * (SPEC §12: a claim that arrives late is refused, never taken). */
bool
store_clock_offset(const struct store *st, int64_t *offset_ms)
{
    int64_t o, least = 0;
    bool    known = false;
    int     i;

    for (i = 0; i < st->nnodes; i++) {
        if (store_watch_clock(st->nodes[i]->watch, &o) &&
            (!known || o < least)) {
            least = o;
            known = true;
        }
    }
    if (known) {
        *offset_ms = least;
    }
    return known;
}

void
store_poll(struct store *st)
{
    int i;

    for (i = 0; i < st->nnodes; i++) {
        store_sub_poll(st->nodes[i]->sub);
    }
}

/* ---- shards: one Redis, or a Cluster's nodes --------------------------- */

int
store_shards(const struct store *st)
{
    return st->clu != NULL ? st->nnodes : 1;
}

bool
store_shard_tag(const struct store *st, int i, char *tag, size_t cap)
{
    if (st->clu == NULL) {
        snprintf(tag, cap, "%s", "");
        return i == 0;
    }
    return store_cluster_tag(st->clu, i, tag, cap);
}
