/*
 * test_cluster_faults.c - redis-cluster:// (SPEC §12) while the cluster
 * changes under the proxy (tests/lib/hcluster.h): a tenant's slot
 * migrated live under reads and keyed PATCHes (ASK in the middle, MOVED
 * after), and a master killed then started again. The steady state is
 * in test_cluster.c.
 */
#include "config.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <json-c/json.h>

#include "hclient.h"
#include "hcluster.h"
#include "hcproxy.h"
#include "hfixture.h"
#include "hproc.h"
#include "hredis.h"
#include "hreq.h"

#define KEYS_MAX   256
#define PHASES     4                /* before, half the keys moved, all
                                     * moved (ASK), handed over (MOVED) */
#define BACK_MS    10000            /* a restarted node cached again */
#define ANSWER_MS  1000             /* any answer while a node is down */

static void
faults_init(void)
{
    hfixture_fresh();
}

static void
faults_fini(void)
{
    hproc_stop_all();
    hredis_stop_all();
}

TestSuite(cluster_faults, .init = faults_init, .fini = faults_fini,
          .timeout = 150);

/* Alpha's leads in the seed. */
static const char *const alpha_phones[] = {
    HCP_SHARED, HCP_ALPHA_LEAD, "%2B13035550142", "%2B17205550199",
    "%2B447700900123" };
#define NPHONES (sizeof(alpha_phones) / sizeof(alpha_phones[0]))

/* ---- traffic: reads and keyed PATCHes from a thread of its own --------- */

struct traffic {
    const char *base[2];
    pthread_t   thread;
    atomic_bool stop;
    atomic_long reads, failed;
    atomic_int  phase;              /* PHASES: what the slot is doing */
    atomic_long reads_b[PHASES];    /* through base[1], by phase */
    atomic_long hits_b[PHASES];
    atomic_long slowest_b[PHASES];  /* ms */
    char        first_failure[160];
    int         n;                  /* keys used */
    char        keys[KEYS_MAX][32];
    int         ran[KEYS_MAX];      /* 200s not replayed: upstream calls */
    int         refused[KEYS_MAX];  /* 503s */
    int         busy[KEYS_MAX];     /* 409s */
    int         odd[KEYS_MAX];      /* anything else */
    char        last[32];           /* the first name of the last that ran */
    int         stale;              /* reads of an older name after a 200 */
    char        first_odd[160];
    char        first_stale[200];
};

/*
 * PATCHes key K of T through BASE and counts what came back. After a 200
 * the same instance must serve the name of the last PATCH that ran (a
 * replay changes nothing upstream): SPEC §12, even when the write-through
 * failed.
 */
static void
patch_key(struct traffic *t, int k, const char *base)
{
    char first[32], xc[32], name[128];
    bool replayed = false;
    int  status;

    snprintf(first, sizeof(first), "Mig%dz", k);
    status = hcp_patch(base, HCP_ALPHA, t->keys[k], first, &replayed);
    if (status == 200 && !replayed) {
        t->ran[k]++;
        snprintf(t->last, sizeof(t->last), "%s", first);
    } else if (status == 503) {
        t->refused[k]++;
    } else if (status == 409) {
        /* Its first run's record not stored yet (it is sent again until
         * Redis takes it): in flight, as far as a retry can tell. */
        t->busy[k]++;
    } else if (status != 200 && t->odd[k]++ == 0 && t->first_odd[0] == 0) {
        snprintf(t->first_odd, sizeof(t->first_odd), "PATCH %s through "
                 "%s: %d", t->keys[k], base, status);
    }
    if (status == 200 &&
        hcp_get(base, HCP_ALPHA, HCP_SHARED, xc, name) == 200 &&
        strncmp(name, t->last, strlen(t->last)) != 0 && t->stale++ == 0) {
        snprintf(t->first_stale, sizeof(t->first_stale), "after PATCH %s "
                 "(%s) through %s: '%s' (%s)", t->keys[k],
                 replayed ? "replayed" : "ran", base, name, xc);
    }
}

static void *
traffic_loop(void *arg)
{
    struct traffic *t = arg;
    char            xc[32], name[128];
    long            i;

    for (i = 0; !atomic_load(&t->stop); i++) {
        const char *base = t->base[i % 2];
        int         ph = atomic_load(&t->phase);
        long        t0 = hfixture_now_ms(), took;
        int         s = hcp_get(base, HCP_ALPHA,
                                alpha_phones[i % NPHONES], xc, name);

        took = hfixture_now_ms() - t0;

        atomic_fetch_add(&t->reads, 1);
        if (i % 2 == 1) {
            atomic_fetch_add(&t->reads_b[ph], 1);
            atomic_fetch_add(&t->hits_b[ph], strcmp(xc, "HIT") == 0);
            if (took > atomic_load(&t->slowest_b[ph])) {
                atomic_store(&t->slowest_b[ph], took);
            }
        }
        if (s != 200 && atomic_fetch_add(&t->failed, 1) == 0) {
            snprintf(t->first_failure, sizeof(t->first_failure),
                     "GET %s through %s: %d, X-Cache '%s'",
                     alpha_phones[i % NPHONES], base, s, xc);
        }
        /* A new key, then its retry through the other instance. */
        if (i % 4 == 1 && t->n < KEYS_MAX) {
            patch_key(t, t->n, base);
            t->n++;
        } else if (i % 4 == 3 && t->n > 0) {
            patch_key(t, t->n - 1, base);
        }
        hfixture_pause_ms(5);
    }
    return NULL;
}

/* keyspace_hits of node I (INFO stats). */
static long
keyspace_hits(const struct hcluster *c, int i)
{
    redisReply *r = hcluster_cmd(c, i, "INFO stats");
    const char *p = strstr(r->str, "keyspace_hits:");
    long        n;

    cr_assert_not_null(p);
    n = strtol(p + strlen("keyspace_hits:"), NULL, 10);
    freeReplyObject(r);
    return n;
}

/*
 * Alpha's slot migrated live to another master while two instances read
 * and PATCH (each key once, then retried through the other instance):
 * half the keys first, so the source answers ASK for some and TRYAGAIN
 * for scripts over both halves, then the rest, then the slot handed
 * over, so the proxies' maps go stale and MOVED comes. No read fails or
 * waits past a bound, B (no near cache) HITs again once the slot is
 * handed over, few keyed PATCHes are refused, no PATCH answered 200 is
 * followed by its old lead, no Idempotency-Key reaches the upstream
 * twice, ASK and MOVED were followed (MOVED not in a loop), and
 * afterwards HITs are read from the new node.
 */
Test(cluster_faults, a_live_migration_under_traffic)
{
    static const char *const nonear[] = { "near_cache=0", NULL };
    static const char *const phases[PHASES] = {
        "before", "with half the keys moved", "with all moved (ASK)",
        "after the hand-over (MOVED)" };
    static struct hcluster c;
    static struct traffic  t;
    struct hproc           a, b, fresh;
    char                   xc[32], name[128];
    int                    slot, from, to, k, total_ran = 0, refused = 0;
    int                    busy = 0;
    long                   keys0, hits, q0;
    size_t                 i;
    double                 asked, moved;

    hcluster_start("cl-m", NULL, &c);
    hcp_proxy("px-cl-m1", &c, 0, NULL, &a);
    hcp_proxy("px-cl-m2", &c, 0, nonear, &b);
    slot = hcluster_tenant_slot(&c, HCP_ALPHA);
    from = hcluster_slot_node(&c, slot);
    to = (from + 1) % HCLUSTER_MASTERS;
    for (i = 0; i < NPHONES; i++) {
        cr_assert_eq(hcp_get(a.url, HCP_ALPHA, alpha_phones[i], xc, name),
                     200);
    }
    keys0 = hcluster_tenant_keys(&c, from, HCP_ALPHA);
    cr_assert_geq(keys0, 4, "only %ld keys of alpha to migrate", keys0);

    memset(&t, 0, sizeof(t));
    t.base[0] = a.url;
    t.base[1] = b.url;
    for (k = 0; k < KEYS_MAX; k++) {
        snprintf(t.keys[k], sizeof(t.keys[k]), "mig-%d-%ld", k,
                 hfixture_now_ms());
    }
    atomic_store(&t.stop, false);
    q0 = hfixture_count("query");
    cr_assert_eq(pthread_create(&t.thread, NULL, traffic_loop, &t), 0);
    hfixture_pause_ms(300);
    atomic_store(&t.phase, 1);
    cr_assert_eq(hcluster_migrate_begin(&c, slot, to, keys0 / 2), from);
    hfixture_pause_ms(800);         /* half the keys moved: ASK, TRYAGAIN */
    hcluster_migrate_keys(&c, slot, from, to);
    atomic_store(&t.phase, 2);
    hfixture_pause_ms(800);         /* all moved, the slot not yet: ASK */
    hcluster_migrate_finish(&c, slot, from, to);
    atomic_store(&t.phase, 3);
    hfixture_pause_ms(800);         /* the maps are stale: MOVED */
    atomic_store(&t.stop, true);
    pthread_join(t.thread, NULL);
    printf("cluster: %ld reads during the migration, %ld failed; %ld "
           "upstream; %d keyed PATCHes\n", atomic_load(&t.reads),
           atomic_load(&t.failed), hfixture_count("query") - q0, t.n);
    for (k = 0; k < PHASES; k++) {
        printf("cluster: through B (no near cache) %s: %ld of %ld reads "
               "HITs, the slowest %ld ms\n", phases[k],
               atomic_load(&t.hits_b[k]), atomic_load(&t.reads_b[k]),
               atomic_load(&t.slowest_b[k]));
    }
    cr_expect_eq(atomic_load(&t.failed), 0, "%ld of %ld reads failed; "
                 "the first: %s", atomic_load(&t.failed),
                 atomic_load(&t.reads), t.first_failure);
    cr_expect_gt(atomic_load(&t.reads), 50);
    /* While the slot's keys are on the move, the proxy's scripts (keys
     * that may not exist yet: guards, locks) get TRYAGAIN from Redis, so
     * reads fail open; each must still be answered within a bound. */
    for (k = 0; k < PHASES; k++) {
        cr_expect_leq(atomic_load(&t.slowest_b[k]), hfixture_slow_ms(
                          ANSWER_MS), "through B %s a read took %ld ms",
                      phases[k], atomic_load(&t.slowest_b[k]));
    }
    /* Failing open answers every read too: once the slot is handed over
     * the cache must serve again, which B (no near cache) does only
     * from the new node. */
    cr_expect_geq(atomic_load(&t.reads_b[PHASES - 1]), 5);
    cr_expect_geq(atomic_load(&t.hits_b[PHASES - 1]) * 10,
                  atomic_load(&t.reads_b[PHASES - 1]) * 6,
                  "through B %s only %ld of %ld reads were HITs",
                  phases[PHASES - 1], atomic_load(&t.hits_b[PHASES - 1]),
                  atomic_load(&t.reads_b[PHASES - 1]));
    asked = hreq_metric(a.url, HCP_ASK, NULL) +
            hreq_metric(b.url, HCP_ASK, NULL);
    moved = hreq_metric(a.url, HCP_MOVED, NULL) +
            hreq_metric(b.url, HCP_MOVED, NULL);
    printf("cluster: %g ASK and %g MOVED followed, %g map refreshes, %g "
           "retries\n", asked, moved,
           hreq_metric(a.url, HCP_REFRESHES, NULL) +
               hreq_metric(b.url, HCP_REFRESHES, NULL),
           hreq_metric(a.url, HCP_RETRIES, NULL) +
               hreq_metric(b.url, HCP_RETRIES, NULL));
    cr_expect_gt(asked, 0, "no ASK followed: the test proves nothing of it");
    cr_expect_gt(moved, 0, "no MOVED followed after the slot moved");
    /* A MOVED per worker or so (each reads the map again), not one per
     * call: many mean calls bounce between the nodes (an ASK sent
     * without ASKING comes back as MOVED). */
    cr_expect_leq(moved, 20, "%g MOVED followed for one slot moved", moved);

    /* Every key retried once more after: none runs a second time. */
    for (k = 0; k < t.n; k++) {
        long end = hfixture_now_ms() + hfixture_slow_ms(5000);

        do {
            patch_key(&t, k, t.base[k % 2]);
        } while (t.ran[k] == 0 && hfixture_now_ms() < end);
        cr_expect_eq(t.ran[k], 1, "Idempotency-Key %s ran %d times (%d "
                     "refused, %d busy, %d other)", t.keys[k], t.ran[k],
                     t.refused[k], t.busy[k], t.odd[k]);
        busy += t.busy[k] > 0;
        cr_expect_eq(t.odd[k], 0, "Idempotency-Key %s: %d answers not "
                     "200, 409 or 503; the first: %s", t.keys[k], t.odd[k],
                     t.first_odd);
        total_ran += t.ran[k];
        refused += t.refused[k] > 0;
    }
    printf("cluster: %d keys refused (503), %d busy (409) at least once "
           "during the migration\n", refused, busy);
    /* A claim is one key: ASK (with ASKING) takes it to the target, so
     * few are refused; without ASK all those of the middle would be. */
    cr_expect_leq(refused * 4, t.n, "%d of %d keyed PATCHes refused",
                  refused, t.n);
    cr_expect_eq(t.stale, 0, "%d stale reads after a 200 PATCH; the "
                 "first: %s", t.stale, t.first_stale);
    cr_expect_eq(hfixture_count("update"), total_ran, "the upstream saw "
                 "%ld PATCHes, the proxies forwarded %d",
                 hfixture_count("update"), total_ran);

    /* Afterwards: the keys on the new node only, HITs read from there. */
    cr_expect_eq(hcluster_tenant_keys(&c, from, HCP_ALPHA), 0);
    cr_expect_eq(hcluster_tenant_node(&c, HCP_ALPHA), to);
    hcp_proxy("px-cl-m3", &c, 0, nonear, &fresh);
    cr_expect_eq(hcp_get(fresh.url, HCP_ALPHA, HCP_ALPHA_LEAD, xc, name),
                 200);
    hits = keyspace_hits(&c, to);
    cr_expect_eq(hcp_get(fresh.url, HCP_ALPHA, HCP_ALPHA_LEAD, xc, name),
                 200);
    cr_expect_str_eq(xc, "HIT");
    cr_expect_gt(keyspace_hits(&c, to), hits, "the HIT was not read from "
                 "the new node");
    cr_expect_eq(hcp_get(a.url, HCP_ALPHA, HCP_ALPHA_LEAD, xc, name), 200);
    cr_expect_str_eq(xc, "HIT");
    hfixture_stop(&fresh);
    hfixture_stop(&a);
    hfixture_stop(&b);
    /* TRYAGAIN is an answer: a call that waits it out to its deadline
     * is no sign of a frozen Redis, whose link would be dropped. */
    cr_expect_not(hfixture_file_has(a.log, "deadlines in a row"),
                  "a migration dropped a link as frozen (%s)", a.log);
    cr_expect_not(hfixture_file_has(b.log, "deadlines in a row"),
                  "a migration dropped a link as frozen (%s)", b.log);
    hcluster_stop(&c);
}

/*
 * A master killed: the tenants of the others are still cached (a new
 * entry too, so no near cache, which is off here, could pass for it);
 * the killed one's tenant is answered within a bound, from the
 * upstream, and its keyed PATCH refused (503) rather than run unguarded;
 * /readyz says degraded and names the cluster, the gauge says 2 of 3.
 * Started again on its port with its nodes file, the node caches its
 * tenant again within BACK_MS.
 */
Test(cluster_faults, a_killed_master_costs_only_its_tenants)
{
    /* A budget too, shared in Redis: bravo's falls back to the local one
     * with its master, alpha's does not. */
    static const char *const nonear[] = { "near_cache=0",
                                           "rate_limit=6000/min", NULL };
    static struct hcluster c;
    struct json_object    *o;
    struct hproc           p;
    char                   xc[32], name[128];
    int                    na, nb, i;
    long                   q0, t0, took, back;
    bool                   replayed;

    hcluster_start("cl-k", NULL, &c);
    hcp_proxy("px-cl-k", &c, 0, nonear, &p);
    na = hcluster_slot_node(&c, hcluster_tenant_slot(&c, HCP_ALPHA));
    nb = hcluster_slot_node(&c, hcluster_tenant_slot(&c, HCP_BRAVO));
    cr_assert_neq(na, nb);
    for (i = 0; i < 2; i++) {
        cr_assert_eq(hcp_get(p.url, HCP_ALPHA, HCP_SHARED, xc, name), 200);
        cr_assert_eq(hcp_get(p.url, HCP_BRAVO, HCP_SHARED, xc, name), 200);
    }
    cr_expect_str_eq(xc, "HIT");

    hcluster_kill(&c, nb);
    q0 = hfixture_count("query");
    for (i = 0; i < 5; i++) {
        t0 = hfixture_now_ms();
        cr_expect_eq(hcp_get(p.url, HCP_BRAVO, HCP_SHARED, xc, name), 200,
                     "bravo's read %d with its master down", i);
        took = hfixture_now_ms() - t0;
        cr_expect_leq(took, hfixture_slow_ms(ANSWER_MS), "bravo's read %d "
                      "took %ld ms", i, took);
        cr_expect_str_neq(xc, "HIT", "a HIT from a dead node");
        cr_expect_eq(hcp_get(p.url, HCP_ALPHA, HCP_SHARED, xc, name), 200);
        cr_expect_str_eq(xc, "HIT", "alpha lost its cache with bravo's "
                         "master (read %d)", i);
    }
    cr_expect_eq(hfixture_count("query") - q0, 5, "bravo's reads did not "
                 "all reach the upstream");
    /* Alpha's budget is shared, bravo's local: one line, not one per
     * switch between them. */
    cr_expect_leq(hfixture_file_lines(p.log, "using the local budget"), 1,
                  "the budget's fallback logged at every switch (%s)",
                  p.log);
    cr_expect_eq(hcp_get(p.url, HCP_ALPHA, HCP_ALPHA_LEAD, xc, name), 200);
    cr_expect_str_eq(xc, "MISS");
    cr_expect_eq(hcp_get(p.url, HCP_ALPHA, HCP_ALPHA_LEAD, xc, name), 200);
    cr_expect_str_eq(xc, "HIT", "alpha's new entry was not stored");
    cr_expect_eq(hcp_patch(p.url, HCP_BRAVO, "k-bravo", "Down", NULL), 503,
                 "bravo's keyed PATCH without its master");
    cr_expect_eq(hcp_patch(p.url, HCP_ALPHA, "k-alpha", "Up", &replayed),
                 200, "alpha's keyed PATCH");
    cr_expect_eq(hfixture_count("update"), 1);

    o = hreq_wait_readyz(p.url, "redis.reason", "cluster", 5000);
    cr_expect_str_eq(hreq_jstr(o, "status"), "degraded");
    cr_expect_eq(hreq_jint(o, "redis.cluster.reachable"), 2, "%s",
                 json_object_to_json_string(o));
    cr_expect_eq(hreq_jint(o, "redis.cluster.nodes"), 3);
    json_object_put(o);
    cr_expect_eq(hreq_metric(p.url, HCP_REACHABLE, NULL), 2);
    cr_expect_eq(hreq_metric(p.url, HCP_NODES, NULL), 3);

    /* Back on its port with its nodes file: bravo cached again. */
    hcluster_restart(&c, nb);
    t0 = hfixture_now_ms();
    for (;;) {
        cr_expect_eq(hcp_get(p.url, HCP_BRAVO, HCP_SHARED, xc, name), 200);
        if (strcmp(xc, "HIT") == 0) {
            break;
        }
        cr_assert_lt(hfixture_now_ms() - t0, hfixture_slow_ms(BACK_MS),
                     "bravo not cached again %d s after its node came back",
                     BACK_MS / 1000);
        hfixture_pause_ms(50);
    }
    back = hfixture_now_ms() - t0;
    printf("cluster: bravo HIT again %ld ms after its master restarted\n",
           back);
    o = hreq_wait_readyz(p.url, "status", "ready", BACK_MS);
    cr_expect_eq(hreq_jint(o, "redis.cluster.reachable"), 3);
    json_object_put(o);
    cr_expect_eq(hcp_patch(p.url, HCP_BRAVO, "k-bravo", "Down", NULL), 200,
                 "bravo's keyed PATCH retried once its master is back");
    hfixture_stop(&p);
    hcluster_stop(&c);
}

/*
 * A master fails over to its replica (CLUSTER FAILOVER on the replica,
 * as an operator or a managed service's maintenance does) under two
 * instances: reads never fail, HITs resume from the promoted replica,
 * the MOVED of the demoted master is followed, a PATCH made before is
 * replayed after (its record was replicated), and a PATCH answered 200
 * after is what both instances serve.
 */
Test(cluster_faults, a_failover_to_a_replica)
{
    static const struct hcluster_opts opts = { .replicas = true };
    static struct hcluster c;
    static struct traffic  t;
    struct hproc           a, b;
    char                   xc[32], name[128];
    int                    slot, old, now, i;
    long                   t0, back;
    bool                   replayed = false;

    hcluster_start("cl-fo", &opts, &c);
    hcp_proxy("px-cl-fo1", &c, 0, NULL, &a);
    hcp_proxy("px-cl-fo2", &c, 0, NULL, &b);
    slot = hcluster_tenant_slot(&c, HCP_ALPHA);
    old = hcluster_slot_node(&c, slot);
    cr_assert_lt(old, HCLUSTER_MASTERS);
    cr_assert_eq(hcp_get(a.url, HCP_ALPHA, HCP_SHARED, xc, name), 200);
    cr_assert_eq(hcp_get(b.url, HCP_ALPHA, HCP_SHARED, xc, name), 200);
    cr_expect_str_eq(xc, "HIT");
    cr_assert_eq(hcp_patch(a.url, HCP_ALPHA, "fo-before", "Before", NULL),
                 200);
    freeReplyObject(hcluster_cmd(&c, old, "WAIT 1 2000"));

    memset(&t, 0, sizeof(t));
    t.base[0] = a.url;
    t.base[1] = b.url;
    for (i = 0; i < KEYS_MAX; i++) {
        snprintf(t.keys[i], sizeof(t.keys[i]), "fo-%d-%ld", i,
                 hfixture_now_ms());
    }
    cr_assert_eq(pthread_create(&t.thread, NULL, traffic_loop, &t), 0);
    hfixture_pause_ms(200);
    freeReplyObject(hcluster_cmd(&c, old + HCLUSTER_MASTERS,
                                 "CLUSTER FAILOVER"));
    t0 = hfixture_now_ms();
    while ((now = hcluster_slot_node(&c, slot)) == old) {
        cr_assert_lt(hfixture_now_ms() - t0, hfixture_slow_ms(10000),
                     "the replica was not promoted");
        hfixture_pause_ms(20);
    }
    cr_assert_eq(now, old + HCLUSTER_MASTERS);
    /* The first HIT read from the new master (its keyspace hits grow:
     * the near caches alone would say HIT all along). */
    for (;;) {
        long hits = keyspace_hits(&c, now);

        if (hcp_get(a.url, HCP_ALPHA, HCP_ALPHA_LEAD, xc, name) == 200 &&
            strcmp(xc, "HIT") == 0 && keyspace_hits(&c, now) > hits) {
            break;
        }
        cr_assert_lt(hfixture_now_ms() - t0, hfixture_slow_ms(10000),
                     "no HIT 10 s after the failover");
        hfixture_pause_ms(20);
    }
    back = hfixture_now_ms() - t0;
    printf("cluster: HITs again %ld ms after the replica's promotion was "
           "seen\n", back);
    hfixture_pause_ms(500);
    atomic_store(&t.stop, true);
    pthread_join(t.thread, NULL);
    cr_expect_eq(atomic_load(&t.failed), 0, "%ld of %ld reads failed; "
                 "the first: %s", atomic_load(&t.failed),
                 atomic_load(&t.reads), t.first_failure);
    cr_expect_gt(hreq_metric(a.url, HCP_MOVED, NULL) +
                     hreq_metric(b.url, HCP_MOVED, NULL), 0,
                 "no MOVED followed");

    /* Before and during: replayed, never run twice. */
    cr_expect_eq(hcp_patch(b.url, HCP_ALPHA, "fo-before", "Before",
                           &replayed), 200);
    cr_expect(replayed, "the PATCH made before the failover ran again");
    for (i = 0; i < t.n; i++) {
        patch_key(&t, i, t.base[(i + 1) % 2]);
        cr_expect_leq(t.ran[i], 1, "Idempotency-Key %s ran %d times",
                      t.keys[i], t.ran[i]);
    }
    cr_expect_eq(t.stale, 0, "%d stale reads after a 200 PATCH; the "
                 "first: %s", t.stale, t.first_stale);
    /* After: a PATCH answered 200 is what both serve. */
    cr_assert_eq(hcp_patch(a.url, HCP_ALPHA, NULL, "After", NULL), 200);
    for (i = 0; i < 2; i++) {
        cr_expect_eq(hcp_get(t.base[i], HCP_ALPHA, HCP_SHARED, xc, name),
                     200);
        cr_expect(strncmp(name, "After", 5) == 0, "instance %c served "
                  "'%s' (%s) after the PATCH", 'A' + i, name, xc);
    }
    hfixture_stop(&a);
    hfixture_stop(&b);
    hcluster_stop(&c);
}
