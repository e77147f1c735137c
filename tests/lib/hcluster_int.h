/*
 * hcluster_int.h - what hcluster.c and hcluster_slots.c share, and
 * nothing else includes. The public API is hcluster.h.
 */
#ifndef HSP_HCLUSTER_INT_H
#define HSP_HCLUSTER_INT_H

#include <stdbool.h>

#include "hcluster.h"

/* Runs FMT on node I of C: its reply (asserted to come), maybe an error.
 * The caller frees it. */
redisReply *hcluster_ask(const struct hcluster *c, int i, const char *fmt,
                         ...);

/* hcluster_cmd (asserted not an error), its reply dropped. */
void hcluster_ok(const struct hcluster *c, int i, const char *fmt, ...);

/* Whether node I answers commands now (neither killed nor paused). */
bool hcluster_up(const struct hcluster *c, int i);

/* The first node up (asserted one is). */
int hcluster_first_up(const struct hcluster *c);

/* The node listening on PORT; -1 when none. */
int hcluster_node_at(const struct hcluster *c, int port);

/* Whether node I is a master now (ROLE). */
bool hcluster_is_master(const struct hcluster *c, int i);

#endif /* HSP_HCLUSTER_INT_H */
