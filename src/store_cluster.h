/*
 * store_cluster.h - private to the store (store*.c): which node of a
 * redis-cluster:// store serves each hash slot (SPEC §12). It reads the
 * slot map (`CLUSTER SLOTS`) over a node's call link as soon as one is up,
 * again after a `MOVED` (at most every STORE_CLUSTER_REFRESH_MIN_MS, one
 * read at a time), every STORE_CLUSTER_REFRESH_MS while a master that
 * serves slots is unreachable (a replica may have taken its slots over),
 * and every STORE_CLUSTER_PERIOD_MS. Each master the map names becomes a
 * node of the store (created through the add callback, so the store's
 * files never call each other in a loop); a `MOVED` points its slot at
 * the node it names at once, before the map is read again.
 *
 * What /readyz and /metrics show of the topology (nodes known and
 * reachable, slots served, refreshes, redirections) is counted here,
 * process-wide in ready.h and stats.h.
 *
 * Per worker, as the store is. The store (store.c) owns one and tells it
 * when a node's call link comes up or goes down; it reads the store's
 * node table (store_int.h) and never frees a node.
 */
#ifndef HSP_STORE_CLUSTER_H
#define HSP_STORE_CLUSTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define STORE_CLUSTER_REFRESH_MIN_MS 100    /* between two map reads */
#define STORE_CLUSTER_REFRESH_MS     1000   /* while a master is away */
#define STORE_CLUSTER_PERIOD_MS      10000  /* otherwise */
#define STORE_CLUSTER_READ_MAX_MS    2000   /* a read unanswered so long
                                             * no longer blocks the next */

struct event_base;
struct store;
struct store_node;
struct store_cluster;

/* Adds a node at HOST:PORT to the store (its links start connecting);
 * NULL when the table is full or memory ran out. */
typedef struct store_node *(*store_cluster_add_cb)(void *arg,
                                                    const char *host,
                                                    uint16_t port);

/* The slot map of ST (borrowed, and must outlive it), on BASE; ADD makes
 * the nodes it learns of. Returns NULL after logging why. */
struct store_cluster *store_cluster_new(struct event_base *base,
                                        struct store *st,
                                        store_cluster_add_cb add, void *arg);

/* Frees C (NULL is fine) and takes back what it told /readyz. */
void store_cluster_free(struct store_cluster *c);

/* The node serving SLOT, or NULL while no map says (the caller may send
 * to any node: a MOVED will tell). */
struct store_node *store_cluster_route(const struct store_cluster *c,
                                       unsigned slot);

/*
 * A node answered MOVED: SLOT is served by HOST:PORT now. Points SLOT
 * there, counts the redirection, asks for the map to be read again, and
 * returns that node (created if new), or NULL when it cannot be made.
 */
struct store_node *store_cluster_moved(struct store_cluster *c,
                                       unsigned slot, const char *host,
                                       uint16_t port);

/* A node answered ASK: this call only goes to HOST:PORT. Counts it and
 * returns that node (created if new), or NULL. */
struct store_node *store_cluster_ask(struct store_cluster *c,
                                     const char *host, uint16_t port);

/* Whether NODE serves slots in the map (true until a map is read, for a
 * seed: it is all there is). */
bool store_cluster_serves(const struct store_cluster *c,
                          const struct store_node *node);

/* A hash tag whose slot the node at index I serves now, into TAG (CAP
 * bytes); false when it serves none. store_shard_tag of store.h. */
bool store_cluster_tag(struct store_cluster *c, int i, char *tag,
                       size_t cap);

/* NODE's call link came up, or went down (or failed to connect). */
void store_cluster_node_up(struct store_cluster *c, struct store_node *node);
void store_cluster_node_lost(struct store_cluster *c,
                             struct store_node *node);

#endif /* HSP_STORE_CLUSTER_H */
