/*
 * hsentinel.h - a Sentinel topology a test starts for itself on
 * 127.0.0.1 and free ports (hredis.h): a master, one replica of it
 * (--replicaof) and three sentinels monitoring it with quorum 2, a
 * down-after of 1 s and a failover timeout of 3 s, each sentinel with a
 * writable configuration of its own in $HSP_TMPDIR. Test-only; asserts
 * with criterion. hredis_stop_all (a suite's .fini) stops what a failed
 * assertion left behind.
 */
#ifndef HSP_HSENTINEL_H
#define HSP_HSENTINEL_H

#include <stddef.h>

#include "hredis.h"

#define HSENTINEL_N      3
#define HSENTINEL_MASTER "mymaster"

struct redisContext;

struct hsentinel {
    struct hredis nodes[2];         /* started as master [0], replica [1] */
    struct hredis sentinels[HSENTINEL_N];
    char          password[64];     /* the sentinels' requirepass, or "" */
};

/*
 * Starts the topology, its processes named PREFIX-master, PREFIX-replica,
 * PREFIX-s1..3, the sentinels with requirepass and sentinel-pass
 * PASSWORD when not NULL, and waits (bounded) until every sentinel knows
 * the replica and the other two sentinels, so that a failover can be
 * voted. Fills OUT, which must stay put while the processes run.
 */
void hsentinel_start(const char *prefix, const char *password,
                     struct hsentinel *out);

/* Stops every process of T. */
void hsentinel_stop(struct hsentinel *t);

/* "redis-sentinel://127.0.0.1:P1,127.0.0.1:P2,127.0.0.1:P3/mymaster"
 * into OUT (CAP bytes). */
void hsentinel_url(const struct hsentinel *t, char *out, size_t cap);

/* A connection to sentinel I of T, authenticated when T has a password;
 * asserted. The caller frees it with redisFree. */
struct redisContext *hsentinel_connect(const struct hsentinel *t, int i);

/* The port of the master as sentinel 0 names it. */
int hsentinel_master_port(const struct hsentinel *t);

/* The node of T listening on PORT (asserted one of them). */
struct hredis *hsentinel_node(struct hsentinel *t, int port);

/*
 * A connection of the test's own to sentinel 0, subscribed to
 * +switch-master, for the time Sentinel announces a failover.
 */
struct redisContext *hsentinel_watch(const struct hsentinel *t);

/*
 * Waits (at most MS) on W for a +switch-master of the master; returns
 * the new master's port, and the wall time it arrived (ms, as
 * hfixture_now_ms) into *AT_MS. Asserts it came.
 */
int hsentinel_switched(struct redisContext *w, long ms, long *at_ms);

/* SENTINEL FAILOVER on sentinel 0, retried (bounded) while Sentinel says
 * no replica is ready for it yet. */
void hsentinel_failover(const struct hsentinel *t);

#endif /* HSP_HSENTINEL_H */
