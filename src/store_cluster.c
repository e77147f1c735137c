/*
 * store_cluster.c - the slot map of a redis-cluster:// store
 * (store_cluster.h).
 *
 * The map is an array of node indexes (into the store's node table), one
 * per slot, -1 where no reachable master is known. It is read whole from
 * `CLUSTER SLOTS` (cmap.h parses it) and patched slot by slot by MOVED
 * replies between reads. Reads go over a node's call link, which has no
 * deadline of its own: a read unanswered for STORE_CLUSTER_READ_MAX_MS
 * is taken for lost, so a frozen node cannot keep the map from being
 * read elsewhere.
 */
#include "config.h"

#include "store_cluster.h"

#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <event2/util.h>
#include <hiredis/hiredis.h>

#include "cmap.h"
#include "slot.h"
#include "log.h"
#include "lograte.h"
#include "ready.h"
#include "stats.h"
#include "store_int.h"

struct store_cluster {
    struct event_base    *base;     /* borrowed */
    struct store         *st;       /* borrowed */
    store_cluster_add_cb  add;
    void                 *arg;
    struct event         *timer;    /* owned: the next map read */
    bool                  mapped;   /* a map was read */
    int64_t               read_ms;  /* when the last read left (or was
                                     * tried, no node up), or 0 */
    bool                  reading;  /* a read is in flight */
    bool                  want;     /* a read is wanted soon */
    int16_t               owner[SLOT_COUNT]; /* node index, or -1 */
    bool                  serves[STORE_NODES_MAX]; /* owns a slot */
    struct ready_cluster  told;     /* what ready.h holds from us */
    char                  tagbuf[STORE_NODES_MAX][16]; /* store_cluster_tag */
    bool                  tags[STORE_NODES_MAX];       /* tagbuf[i] set */
};

static void cluster_on_timer(evutil_socket_t fd, short what, void *arg);
static void cluster_told(struct store_cluster *c);

static int64_t
cluster_now_ms(void)
{
    struct timeval tv;

    evutil_gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

struct store_cluster *
store_cluster_new(struct event_base *base, struct store *st,
                  store_cluster_add_cb add, void *arg)
{
    struct store_cluster *c = calloc(1, sizeof(*c));
    int                   i;

    if (c == NULL ||
        (c->timer = evtimer_new(base, cluster_on_timer, c)) == NULL) {
        log_err("store: out of memory");
        free(c);
        return NULL;
    }
    c->base = base;
    c->st = st;
    c->add = add;
    c->arg = arg;
    for (i = 0; i < SLOT_COUNT; i++) {
        c->owner[i] = -1;
    }
    ready_cluster_store(1);
    return c;
}

void
store_cluster_free(struct store_cluster *c)
{
    if (c == NULL) {
        return;
    }
    ready_cluster_add(&c->told, -1);
    ready_cluster_store(-1);
    event_free(c->timer);
    free(c);
}

struct store_node *
store_cluster_route(const struct store_cluster *c, unsigned slot)
{
    int i = slot < SLOT_COUNT ? c->owner[slot] : -1;

    return i >= 0 ? c->st->nodes[i] : NULL;
}

bool
store_cluster_serves(const struct store_cluster *c,
                     const struct store_node *node)
{
    int i;

    if (!c->mapped) {
        return true;
    }
    for (i = 0; i < c->st->nnodes; i++) {
        if (c->st->nodes[i] == node) {
            return c->serves[i];
        }
    }
    return false;
}

/* The index of the node at HOST:PORT in the store's table, made when
 * CREATE and not there yet; -1 when absent or it cannot be made. */
static int
cluster_node(struct store_cluster *c, const char *host, uint16_t port,
             bool create)
{
    struct store_node *n;
    int                i;

    for (i = 0; i < c->st->nnodes; i++) {
        n = c->st->nodes[i];
        if (n->url.port == port && strcasecmp(n->url.host, host) == 0) {
            return i;
        }
    }
    if (!create || c->add(c->arg, host, port) == NULL) {
        return -1;
    }
    return c->st->nnodes - 1;
}

/* ---- reading the map ------------------------------------------------------ */

/* Arms the timer for the next read: soon when one is wanted (no sooner
 * than STORE_CLUSTER_REFRESH_MIN_MS after the last), else in a while. */
static void
cluster_schedule(struct store_cluster *c)
{
    int64_t        now = cluster_now_ms(), wait;
    struct timeval tv;
    int            i;
    bool           away = false;

    for (i = 0; i < c->st->nnodes; i++) {
        away = away || (c->serves[i] && !store_link_up(&c->st->nodes[i]->cmd));
    }
    if (c->want || !c->mapped) {
        wait = c->read_ms + STORE_CLUSTER_REFRESH_MIN_MS - now;
    } else {
        wait = away ? STORE_CLUSTER_REFRESH_MS : STORE_CLUSTER_PERIOD_MS;
    }
    wait = wait < 0 ? 0 : wait;
    tv.tv_sec = (time_t)(wait / 1000);
    tv.tv_usec = (suseconds_t)(wait % 1000) * 1000;
    evtimer_add(c->timer, &tv);
}

/* Applies MAP, as a node answered it: its masters become nodes (made
 * through the add callback when new), each slot points at its master. */
static void
cluster_apply(struct store_cluster *c, const struct cmap *map)
{
    int16_t idx[CMAP_NODES_MAX];
    int     i;

    for (i = 0; i < map->nnodes; i++) {
        idx[i] = (int16_t)cluster_node(c, map->nodes[i].host,
                                       map->nodes[i].port, true);
    }
    memset(c->serves, 0, sizeof(c->serves));
    for (i = 0; i < SLOT_COUNT; i++) {
        c->owner[i] = map->owner[i] >= 0 ? idx[map->owner[i]] : -1;
        if (c->owner[i] >= 0) {
            c->serves[c->owner[i]] = true;
        }
    }
    c->mapped = true;
    stats_add(STATS_REDIS_CLUSTER_REFRESHES, 1);
}

struct cluster_read {
    struct store_cluster *c;
    char                  host[URL_HOST_MAX];   /* the node asked */
};

static void
cluster_on_slots(struct rlink *rl, redisReply *reply, void *privdata)
{
    static struct lograte logs;
    struct cluster_read  *rd = privdata;
    struct store_cluster *c = rd->c;
    struct cmap          *map;
    char                  err[128];

    (void)rl;
    c->reading = false;
    if (c->st->freeing || reply == NULL) {
        free(rd);
        return;                     /* the link went: try another later */
    }
    map = malloc(sizeof(*map));
    if (map == NULL) {
        free(rd);
        return;
    }
    if (reply->type == REDIS_REPLY_ERROR) {
        snprintf(err, sizeof(err), "%s", reply->str);
    }
    if (reply->type != REDIS_REPLY_ERROR &&
        cmap_parse_slots(reply, rd->host, map, err, sizeof(err)) == 0) {
        cluster_apply(c, map);
        c->want = false;
    } else {
        log_rated(&logs, LOG_WARN, "store: cannot read the cluster's slot "
                  "map from %s: %s", rd->host, err);
    }
    free(map);
    free(rd);
    cluster_told(c);
    cluster_schedule(c);
}

/* Reads the map over the first node whose call link is up, if no read
 * is in flight (or the one in flight is too old to wait for). */
static void
cluster_read(struct store_cluster *c)
{
    const char          *argv[2] = { "CLUSTER", "SLOTS" };
    struct cluster_read *rd;
    int64_t              now = cluster_now_ms();
    int                  i;

    if (c->reading && now - c->read_ms < STORE_CLUSTER_READ_MAX_MS) {
        return;
    }
    for (i = 0; i < c->st->nnodes; i++) {
        struct store_node *n = c->st->nodes[i];

        if (!store_link_up(&n->cmd)) {
            continue;
        }
        rd = malloc(sizeof(*rd));
        if (rd == NULL) {
            return;
        }
        rd->c = c;
        snprintf(rd->host, sizeof(rd->host), "%s", n->url.host);
        if (store_link_command(&n->cmd, 2, argv, NULL, cluster_on_slots,
                               rd) != 0) {
            free(rd);
            continue;
        }
        c->reading = true;
        c->read_ms = now;
        return;
    }
    c->read_ms = now;               /* no node up: try again in a while,
                                     * not at once (cluster_schedule) */
}

static void
cluster_on_timer(evutil_socket_t fd, short what, void *arg)
{
    struct store_cluster *c = arg;

    (void)fd;
    (void)what;
    cluster_read(c);
    cluster_schedule(c);            /* the next, should this one fail */
}

/* Wants the map read again soon. */
static void
cluster_want(struct store_cluster *c)
{
    if (!c->want) {
        c->want = true;
        evtimer_del(c->timer);
        cluster_schedule(c);
    }
}

struct store_node *
store_cluster_moved(struct store_cluster *c, unsigned slot, const char *host,
                    uint16_t port)
{
    int i = cluster_node(c, host, port, true);

    stats_add(STATS_REDIS_REDIRECTS_MOVED, 1);
    cluster_want(c);
    if (i < 0 || slot >= SLOT_COUNT) {
        return NULL;
    }
    c->owner[slot] = (int16_t)i;
    c->serves[i] = true;
    return c->st->nodes[i];
}

struct store_node *
store_cluster_ask(struct store_cluster *c, const char *host, uint16_t port)
{
    int i = cluster_node(c, host, port, true);

    stats_add(STATS_REDIS_REDIRECTS_ASK, 1);
    return i >= 0 ? c->st->nodes[i] : NULL;
}

/* The first "m<n>" whose slot node I serves, remembered per node until
 * the map moves it: 16384 tries at most for a node of one slot, and
 * usually a handful. */
bool
store_cluster_tag(struct store_cluster *c, int i, char *tag, size_t cap)
{
    char     t[16];
    unsigned n;

    if (i < 0 || i >= c->st->nnodes || !c->mapped || !c->serves[i]) {
        return false;
    }
    if (!c->tags[i] || c->owner[slot_of(c->tagbuf[i],
                                            strlen(c->tagbuf[i]))] != i) {
        for (n = 0, c->tags[i] = false; n < (1u << 20); n++) {
            snprintf(t, sizeof(t), "m%u", n);
            if (c->owner[slot_of(t, strlen(t))] == i) {
                memcpy(c->tagbuf[i], t, sizeof(t));
                c->tags[i] = true;
                break;
            }
        }
    }
    if (!c->tags[i]) {
        return false;
    }
    snprintf(tag, cap, "%s", c->tagbuf[i]);
    return true;
}

/* ---- what /readyz shows ----------------------------------------------- */

/* Tells ready.h how many masters serve slots, how many of them are
 * reachable, and how many slots those serve: the change since last. */
static void
cluster_told(struct store_cluster *c)
{
    struct ready_cluster now = { 0, 0, 0 };
    bool                 up[STORE_NODES_MAX];
    int                  i;

    for (i = 0; i < c->st->nnodes; i++) {
        up[i] = store_link_up(&c->st->nodes[i]->cmd);
        if (c->serves[i]) {
            now.nodes++;
            now.reachable += up[i];
        }
    }
    for (i = 0; i < SLOT_COUNT; i++) {
        now.slots += c->owner[i] >= 0 && up[c->owner[i]];
    }
    ready_cluster_add(&c->told, -1);
    c->told = now;
    ready_cluster_add(&c->told, 1);
}

void
store_cluster_node_up(struct store_cluster *c, struct store_node *node)
{
    (void)node;
    if (!c->mapped || c->want) {
        cluster_read(c);            /* the first link up reads the map */
    }
    cluster_told(c);
    if (!evtimer_pending(c->timer, NULL)) {
        cluster_schedule(c);
    }
}

void
store_cluster_node_lost(struct store_cluster *c, struct store_node *node)
{
    cluster_told(c);
    if (store_cluster_serves(c, node)) {
        /* Its slots may be a promoted replica's now: look again soon,
         * and every STORE_CLUSTER_REFRESH_MS while it is away. */
        cluster_want(c);
    }
}
