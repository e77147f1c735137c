/*
 * hsentinel.h - a Sentinel topology a test starts for itself on
 * 127.0.0.1 and free ports (hredis.h): a master, one replica of it
 * (--replicaof) and three sentinels monitoring it with quorum 2, a
 * down-after of 1 s and a failover timeout of 3 s, each sentinel with a
 * writable configuration of its own in $HSP_TMPDIR; optionally TLS
 * only, the sentinels with a password or an ACL user. Test-only; asserts
 * with criterion. hredis_stop_all (a suite's .fini) stops what a failed
 * assertion left behind.
 */
#ifndef HSP_HSENTINEL_H
#define HSP_HSENTINEL_H

#include <stdbool.h>
#include <stddef.h>

#include "hredis.h"

#define HSENTINEL_N      3
#define HSENTINEL_MASTER "mymaster"

struct redisContext;
struct hrcli;

/* How to start a topology; all zero (or NULL for the whole) is the plain
 * one: no TLS, sentinels that need no password. */
struct hsentinel_opts {
    const char *user;               /* the sentinels' ACL user of all
                                     * rights, the default user off, and
                                     * their sentinel-user; NULL: none */
    const char *password;           /* the user's, or with no user the
                                     * default user's (requirepass); the
                                     * sentinels' sentinel-pass either way */
    bool        tls;                /* TLS only (port 0), master, replica
                                     * and sentinels, replication and
                                     * Sentinel's own links too, with
                                     * certs.sh's in $HSP_CERT_DIR */
};

struct hsentinel {
    struct hredis nodes[2];         /* started as master [0], replica [1] */
    struct hredis sentinels[HSENTINEL_N];
    char          user[64];         /* the sentinels' ACL user, or "" */
    char          password[64];     /* the sentinels' password, or "" */
    char          ca[512];          /* the CA file with TLS, else "" */
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

/* As hsentinel_start, with OPTS (NULL: the plain one). */
void hsentinel_start_opts(const char *prefix,
                          const struct hsentinel_opts *opts,
                          struct hsentinel *out);

/* Stops every process of T. */
void hsentinel_stop(struct hsentinel *t);

/* "redis-sentinel://127.0.0.1:P1,127.0.0.1:P2,127.0.0.1:P3/mymaster"
 * ("rediss-sentinel://" with TLS) into OUT (CAP bytes). */
void hsentinel_url(const struct hsentinel *t, char *out, size_t cap);

/* A connection to sentinel I of T, authenticated when T has a password;
 * asserted. The caller frees it with redisFree. Not with TLS. */
struct redisContext *hsentinel_connect(const struct hsentinel *t, int i);

/* A connection to R, a sentinel or node of T, with TLS when T has it,
 * authenticated as T's sentinels when R is one; asserted. The caller
 * closes it (hrcli_close). */
struct hrcli *hsentinel_cli(const struct hsentinel *t,
                            const struct hredis *r);

/* The port of the master as sentinel 0 names it. */
int hsentinel_master_port(const struct hsentinel *t);

/* The node of T listening on PORT (asserted one of them). */
struct hredis *hsentinel_node(struct hsentinel *t, int port);

/*
 * A connection of the test's own to sentinel 0, subscribed to
 * +switch-master, for the time Sentinel announces a failover. Not with
 * TLS (hiredis 0.14 has none).
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
