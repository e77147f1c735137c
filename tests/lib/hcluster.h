/*
 * hcluster.h - a Redis Cluster a test starts for itself on 127.0.0.1 and
 * free ports (hredis.h): three masters, each `--cluster-enabled yes`
 * with a nodes file of its own in $HSP_TMPDIR, a node timeout of 1 s and
 * full coverage not required (one master's loss leaves the others
 * serving), the slots split as `redis-cli --cluster create` splits them
 * (0-5460, 5461-10922, 10923-16383); optionally a replica of each, an
 * ACL user or a password, TLS. Then what a test does to it: ask who
 * serves a slot or holds a tenant's keys, kill, pause or restart a node,
 * and migrate a slot live in two halves, so a test acts in the middle.
 * Test-only; asserts with criterion. hredis_stop_all (a suite's .fini)
 * stops what a failed assertion left behind.
 */
#ifndef HSP_HCLUSTER_H
#define HSP_HCLUSTER_H

#include <stdbool.h>
#include <stddef.h>

#include <hiredis/hiredis.h>

#include "hredis.h"

#define HCLUSTER_MASTERS 3
#define HCLUSTER_MAX     (2 * HCLUSTER_MASTERS)

struct hrcli;

/* How to start a cluster; all zero (or NULL for the whole) is the plain
 * one: three masters, no replica, no password, no TLS. */
struct hcluster_opts {
    bool        replicas;           /* a replica of each master */
    const char *user;               /* an ACL user of all rights, the
                                     * default user off; NULL: none */
    const char *password;           /* the user's, or with no user the
                                     * default user's (requirepass) */
    bool        tls;                /* TLS only (--port 0), the cluster
                                     * bus and replication too, with
                                     * certs.sh's in $HSP_CERT_DIR */
};

struct hcluster {
    int           n;                /* nodes: 3, or 6 with replicas */
    struct hredis nodes[HCLUSTER_MAX];  /* masters as started [0..2], the
                                         * replica of I at [3 + I] */
    char          ids[HCLUSTER_MAX][41];  /* CLUSTER MYID of each */
    int           bus[HCLUSTER_MAX];      /* each one's cluster bus port */
    bool          down[HCLUSTER_MAX];     /* killed, not restarted yet */
    bool          paused[HCLUSTER_MAX];   /* SIGSTOPped */
    char          user[64];         /* "" when none */
    char          password[64];     /* "" when none */
    char          ca[512];          /* the CA file with TLS, else "" */
};

/*
 * Starts the cluster, its nodes named PREFIX-1..3 (replicas PREFIX-r1..3),
 * with OPTS (NULL: the plain one); waits (bounded) until every node says
 * cluster_state:ok and all agree on the slot map (and each replica is in
 * sync). Fills OUT, which must stay put while the nodes run.
 */
void hcluster_start(const char *prefix, const struct hcluster_opts *opts,
                    struct hcluster *out);

/* Stops every node of C. */
void hcluster_stop(struct hcluster *c);

/*
 * "redis-cluster://[user:password@]127.0.0.1:P,..." ("rediss-cluster://"
 * with TLS) into OUT (CAP bytes), naming as seeds the nodes whose bit is
 * set in SEEDS (bit I: node I), or the masters as started when SEEDS is
 * 0. The password must need no percent-encoding.
 */
void hcluster_url(const struct hcluster *c, unsigned seeds, char *out,
                  size_t cap);

/* A connection to node I of C, authenticated as C's user; asserted. The
 * caller closes it (hrcli_close). */
struct hrcli *hcluster_connect(const struct hcluster *c, int i);

/* Runs FMT on node I and returns its reply, asserted not an error. The
 * caller frees it. */
redisReply *hcluster_cmd(const struct hcluster *c, int i,
                         const char *fmt, ...);

/* The slot of KEY, as node 0 (or the first node up) computes it. */
int hcluster_keyslot(const struct hcluster *c, const char *key);

/* The slot of every key of the tenant whose token is TOKEN (the slot of
 * its hash tag, "{<tenant id>}", key.h). */
int hcluster_tenant_slot(const struct hcluster *c, const char *token);

/* The node serving SLOT as the slot map of the first node up says; -1
 * when no node serves it. */
int hcluster_slot_node(const struct hcluster *c, int slot);

/* How many keys of the tenant of TOKEN node I holds (SCAN). */
long hcluster_tenant_keys(const struct hcluster *c, int i,
                          const char *token);

/* The one master that holds keys of the tenant of TOKEN; -1 when none
 * does. Asserts no two do. */
int hcluster_tenant_node(const struct hcluster *c, const char *token);

/* Crashes node I (SIGKILL): its nodes file stays, its data is lost. */
void hcluster_kill(struct hcluster *c, int i);

/* Pauses (SIGSTOP) or resumes (SIGCONT) node I. */
void hcluster_pause(struct hcluster *c, int i, bool paused);

/* Starts node I again after hcluster_kill, on the same port with the
 * same nodes file; waits as hcluster_wait_ok. */
void hcluster_restart(struct hcluster *c, int i);

/* Waits (MS at most, stretched for slow builds) until every node up says
 * cluster_state:ok, none flags another as failing, and all agree on the
 * slot map. */
void hcluster_wait_ok(const struct hcluster *c, long ms);

/*
 * The first half of a live migration of SLOT to node TO: the target
 * IMPORTING, the source (its owner now) MIGRATING, then up to NKEYS of
 * the slot's keys MIGRATEd (all when negative). Until
 * hcluster_migrate_finish, a command for a key of the slot that the
 * source no longer holds is answered with ASK. Returns the source.
 */
int hcluster_migrate_begin(const struct hcluster *c, int slot, int to,
                           long nkeys);

/* MIGRATEs what keys of SLOT its source still holds; how many. */
long hcluster_migrate_keys(const struct hcluster *c, int slot, int from,
                           int to);

/*
 * The second half: the rest of the keys MIGRATEd, then CLUSTER SETSLOT
 * SLOT NODE TO on the target, the source and every other master; waits
 * until every node agrees. From then on the source answers MOVED.
 */
void hcluster_migrate_finish(const struct hcluster *c, int slot, int from,
                             int to);

/* Both halves at once: SLOT, with all its keys, served by TO. */
void hcluster_move_slot(const struct hcluster *c, int slot, int to);

#endif /* HSP_HCLUSTER_H */
