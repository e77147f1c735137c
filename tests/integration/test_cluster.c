/*
 * test_cluster.c - redis-cluster:// (SPEC §12) against a real three-master
 * Redis Cluster the tests start themselves (tests/lib/hcluster.h). The
 * seed tenants' slots: alpha's on the first master, bravo's and
 * charlie's on the third. Each test asserts a guarantee, not only an
 * answer: keys where the slot map says and no redirect at steady state;
 * across two instances one upstream call per key, no stale lead after a
 * 200 PATCH, near caches coherent, an Idempotency-Key never run twice
 * and one shared budget; through a live slot migration (ASK, then MOVED)
 * no read fails and no PATCH runs twice; a killed master costs only its
 * own tenants the cache, and /readyz says so; one seed is enough; ACL
 * users and TLS. Faults are in test_cluster_faults.c; -t's refusal of a
 * db in a cluster URL is in tests/unit/test_conf.c.
 */
#include "config.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <criterion/criterion.h>
#include <json-c/json.h>

#include "hclient.h"
#include "hcluster.h"
#include "hcproxy.h"
#include "hexpect.h"
#include "hfixture.h"
#include "hproc.h"
#include "hredis.h"
#include "hreq.h"
#include "script.h"
#include "store_script.h"

static void
cluster_init(void)
{
    hfixture_fresh();
}

static void
cluster_fini(void)
{
    hproc_stop_all();
    hredis_stop_all();
}

TestSuite(cluster, .init = cluster_init, .fini = cluster_fini,
          .timeout = 150);

/*
 * Two tenants whose slots are on two masters, through one proxy: a MISS
 * then a HIT each, their keys on the masters the slot map names and on
 * no other, and, once the map is known, not one MOVED or ASK. /readyz
 * and the gauges show the topology.
 */
Test(cluster, tenants_are_cached_where_the_slot_map_says)
{
    static struct hcluster c;
    struct json_object    *o;
    struct hproc           p;
    char                   xc[32], name[128];
    int                    na, nb, i;
    double                 moved, asked;

    hcluster_start("cl-a", NULL, &c);
    hcp_proxy("px-cl-a", &c, 0, NULL, &p);
    na = hcluster_slot_node(&c, hcluster_tenant_slot(&c, HCP_ALPHA));
    nb = hcluster_slot_node(&c, hcluster_tenant_slot(&c, HCP_BRAVO));
    cr_assert(na >= 0 && nb >= 0 && na != nb, "alpha on %d, bravo on %d",
              na, nb);

    cr_expect_eq(hcp_get(p.url, HCP_ALPHA, HCP_SHARED, xc, name), 200);
    cr_expect_str_eq(xc, "MISS");
    cr_expect_eq(hcp_get(p.url, HCP_BRAVO, HCP_SHARED, xc, name), 200);
    cr_expect_str_eq(xc, "MISS");
    cr_expect_eq(hcp_get(p.url, HCP_ALPHA, HCP_SHARED, xc, name), 200);
    cr_expect_str_eq(xc, "HIT");
    cr_expect_eq(hcp_get(p.url, HCP_BRAVO, HCP_SHARED, xc, name), 200);
    cr_expect_str_eq(xc, "HIT");
    cr_expect_eq(hfixture_count("query"), 2);
    cr_expect_eq(hcluster_tenant_node(&c, HCP_ALPHA), na,
                 "alpha's keys are not (only) on node %d", na);
    cr_expect_eq(hcluster_tenant_node(&c, HCP_BRAVO), nb,
                 "bravo's keys are not (only) on node %d", nb);

    /* Steady state: hits, misses, PATCHes; no redirect at all. */
    moved = hreq_metric(p.url, HCP_MOVED, NULL);
    asked = hreq_metric(p.url, HCP_ASK, NULL);
    for (i = 0; i < 20; i++) {
        cr_expect_eq(hcp_get(p.url, i % 2 ? HCP_BRAVO : HCP_ALPHA,
                             HCP_SHARED, xc, name), 200);
        cr_expect_str_eq(xc, "HIT");
    }
    cr_expect_eq(hcp_get(p.url, HCP_ALPHA, HCP_ALPHA_LEAD, xc, name), 200);
    cr_expect_str_eq(xc, "MISS");
    cr_expect_eq(hcp_patch(p.url, HCP_ALPHA, "a-steady", "Steady", NULL),
                 200);
    cr_expect_eq(hcp_patch(p.url, HCP_BRAVO, "b-steady", "Steady", NULL),
                 200);
    cr_expect_eq(hreq_metric(p.url, HCP_MOVED, NULL), moved,
                 "MOVED followed at steady state");
    cr_expect_eq(hreq_metric(p.url, HCP_ASK, NULL), asked,
                 "ASK followed at steady state");

    o = hreq_readyz(p.url);
    cr_expect_str_eq(hreq_jstr(o, "redis.mode"), "cluster", "%s",
                     json_object_to_json_string(o));
    cr_expect_str_eq(hreq_jstr(o, "status"), "ready");
    cr_expect_eq(hreq_jint(o, "redis.cluster.nodes"), 3);
    cr_expect_eq(hreq_jint(o, "redis.cluster.reachable"), 3);
    cr_expect_eq(hreq_jint(o, "redis.cluster.slots"), 16384);
    json_object_put(o);
    cr_expect_eq(hreq_metric(p.url, HCP_NODES, NULL), 3);
    cr_expect_eq(hreq_metric(p.url, HCP_REACHABLE, NULL), 3);
    hfixture_stop(&p);
    hcluster_stop(&c);
}

/*
 * Two instances on one cluster, as a fleet: concurrent identical misses
 * over both make one upstream call; after each PATCH answered 200 both
 * serve its lead, from their near caches too; a keyed PATCH retried
 * through the other instance is replayed, not run again.
 */
Test(cluster, two_instances_keep_the_guarantees)
{
    static struct hcluster c;
    static struct hheld    shots[HCP_BURST];
    const char            *bases[2];
    struct hproc           a, b;
    struct hresp           r;
    char                   xc[32], name[128], want[32];
    double                 near0, max_ms;
    int                    i, j;

    hcluster_start("cl-b", NULL, &c);
    hcp_proxy("px-cl-b1", &c, 0, NULL, &a);
    hcp_proxy("px-cl-b2", &c, 0, NULL, &b);
    bases[0] = a.url;
    bases[1] = b.url;

    /* Coalescing across instances: one upstream call for the burst. */
    (void)hexpect_stampede(bases, 2, HCP_QUERY HCP_SHARED,
                           HREQ(.token = HCP_BRAVO,
                                .extra = "X-Sandbox-Delay-Ms: 300"),
                           shots, HCP_BURST, &max_ms);
    cr_expect_eq(hfixture_count("query"), 1, "%ld upstream calls for %d "
                 "reads over two instances", hfixture_count("query"),
                 HCP_BURST);
    hreq_burst_free(shots, HCP_BURST);

    /* No stale lead after a 200 PATCH, near caches warm. */
    near0 = hreq_metric(a.url, HCP_NEAR_HITS, NULL) +
            hreq_metric(b.url, HCP_NEAR_HITS, NULL);
    for (i = 0; i < 15; i++) {
        for (j = 0; j < 6; j++) {
            cr_assert_eq(hcp_get(bases[j % 2], HCP_BRAVO, HCP_SHARED, xc,
                                 name), 200);
        }
        snprintf(want, sizeof(want), "Round%d", i);
        cr_assert_eq(hcp_patch(b.url, HCP_BRAVO, NULL, want, NULL), 200);
        for (j = 0; j < 2; j++) {
            cr_expect_eq(hcp_get(bases[j], HCP_BRAVO, HCP_SHARED, xc, name),
                         200);
            cr_assert(strncmp(name, want, strlen(want)) == 0,
                      "round %d: instance %c served '%s' (%s) after the "
                      "PATCH", i, 'A' + j, name, xc);
        }
    }
    cr_expect_eq(hfixture_count("query"), 1, "a read after the first "
                 "went upstream");
    cr_expect_gt(hreq_metric(a.url, HCP_NEAR_HITS, NULL) +
                     hreq_metric(b.url, HCP_NEAR_HITS, NULL), near0,
                 "no near hit: the test proves nothing of near caches");

    /* A keyed PATCH, then its retry through the other instance. */
    cr_expect_eq(hcp_patch(a.url, HCP_BRAVO, "cl-b-once", "Once", NULL),
                 200);
    hreq_patch(b.url, HCP_PATCH_BODY("Once"),
               HREQ(.token = HCP_BRAVO, .key = "cl-b-once"), &r);
    cr_expect_eq(r.status, 200, "%d %s", r.status, r.body);
    cr_expect_str_eq(hreq_hdr(&r, "Idempotent-Replayed"), "true",
                     "the retry through B was not replayed");
    hresp_free(&r);
    cr_expect_eq(hfixture_count("update"), 16, "the upstream saw %ld "
                 "PATCHes, want 15 + 1", hfixture_count("update"));
    hfixture_stop(&a);
    hfixture_stop(&b);
    hcluster_stop(&c);
}

/* How many calls of the PING script with one key each master logged. */
static void
keyed_pings(const struct hcluster *c, long out[HCLUSTER_MAX])
{
    const char *sha = script_get(SCRIPT_ID_PING)->sha;
    int         i;
    size_t      j;

    for (i = 0; i < c->n; i++) {
        redisReply *rep = hcluster_cmd(c, i, "SLOWLOG GET 100000");

        out[i] = 0;
        for (j = 0; rep->type == REDIS_REPLY_ARRAY && j < rep->elements;
             j++) {
            const redisReply *e = rep->element[j], *args;

            if (e->type != REDIS_REPLY_ARRAY || e->elements < 4) {
                continue;
            }
            args = e->element[3];
            out[i] += args->type == REDIS_REPLY_ARRAY && args->elements >= 4 &&
                      strcasecmp(args->element[0]->str, "EVALSHA") == 0 &&
                      strcmp(args->element[1]->str, sha) == 0 &&
                      strcmp(args->element[2]->str, "1") == 0;
        }
        freeReplyObject(rep);
    }
}

/*
 * SPEC §4 on a cluster: a PATCH or a PURGE is answered only after a
 * round trip on the link that carried its write, which proves Redis
 * sent the write's invalidations to every near cache. On a cluster that
 * link is the tenant's master's: a barrier sent to any other master
 * proves nothing. Every master logs every call here (slowlog at 0 µs).
 */
Test(cluster, a_writes_barrier_runs_on_the_tenants_masters_link)
{
    static struct hcluster c;
    struct hproc           a;
    struct hresp           r;
    char                   xc[32], name[128];
    long                   pings[HCLUSTER_MAX];
    int                    i, home;

    hcluster_start("cl-g", NULL, &c);
    hcp_proxy("px-cl-g", &c, 0, NULL, &a);
    home = hcluster_slot_node(&c, hcluster_tenant_slot(&c, HCP_BRAVO));
    cr_assert_eq(hcp_get(a.url, HCP_BRAVO, HCP_SHARED, xc, name), 200);
    for (i = 0; i < c.n; i++) {
        freeReplyObject(hcluster_cmd(&c, i, "CONFIG SET "
                                     "slowlog-log-slower-than 0"));
        freeReplyObject(hcluster_cmd(&c, i, "CONFIG SET slowlog-max-len "
                                     "100000"));
        freeReplyObject(hcluster_cmd(&c, i, "SLOWLOG RESET"));
    }
    cr_assert_eq(hcp_patch(a.url, HCP_BRAVO, NULL, "Barrier", NULL), 200);
    keyed_pings(&c, pings);
    for (i = 0; i < c.n; i++) {
        cr_expect_eq(pings[i], i == home ? 1 : 0, "PATCH: node %d (the "
                     "tenant's: %d) ran %ld barriers", i, home, pings[i]);
        freeReplyObject(hcluster_cmd(&c, i, "SLOWLOG RESET"));
    }
    hreq_send("PURGE", a.url, HCP_QUERY HCP_SHARED, NULL,
              HREQ(.token = HCP_BRAVO), &r);
    cr_expect_eq(r.status, 200, "%d %s", r.status, r.body);
    hresp_free(&r);
    keyed_pings(&c, pings);
    for (i = 0; i < c.n; i++) {
        cr_expect_eq(pings[i], i == home ? 1 : 0, "PURGE: node %d (the "
                     "tenant's: %d) ran %ld barriers", i, home, pings[i]);
    }
    hfixture_stop(&a);
    hcluster_stop(&c);
}

/*
 * The shared budget over a cluster: 10/min with 2 kept for writes is 8
 * reads for the fleet, not 8 per instance, and not the local fallback
 * (3/min each), which would mean the budget never reached Redis.
 */
Test(cluster, two_instances_share_one_budget)
{
    static const char *const opts[] = {
        "rate_limit=10/min", "rate_reserve_writes=2/min",
        "rate_limit_fallback=3/min", "redis_timeout=1s", NULL };
    static struct hcluster c;
    static struct hheld    shots[HCP_BUDGET_BURST];
    static char            paths[HCP_BUDGET_BURST][64];
    struct hproc           a, b;
    char                   xc[32], name[128];
    int                    passed = 0, limited = 0;
    size_t                 i;

    hcluster_start("cl-bu", NULL, &c);
    hcp_proxy("px-cl-bu1", &c, 0, opts, &a);
    hcp_proxy("px-cl-bu2", &c, 0, opts, &b);
    cr_assert_eq(hcp_get(a.url, HCP_ALPHA, HCP_SHARED, xc, name), 200);
    cr_expect_str_eq(xc, "MISS");

    memset(shots, 0, sizeof(shots));
    for (i = 0; i < HCP_BUDGET_BURST; i++) {
        snprintf(paths[i], sizeof(paths[i]), HCP_QUERY "%%2B1801555%04zu",
                 2000 + i);
        shots[i] = (struct hheld){ .method = "GET",
                                   .base = i % 2 == 0 ? a.url : b.url,
                                   .path = paths[i],
                                   .opt = { .token = HCP_ALPHA } };
    }
    hreq_burst(shots, HCP_BUDGET_BURST);
    for (i = 0; i < HCP_BUDGET_BURST; i++) {
        cr_assert_eq(shots[i].rc, 0, "request %zu: %s", i,
                     shots[i].resp.error);
        limited += shots[i].resp.status == 429;
        passed += shots[i].resp.status == 404;
    }
    hreq_burst_free(shots, HCP_BUDGET_BURST);
    cr_expect_eq(hfixture_count("query"), 8, "the sandbox saw %ld reads; "
                 "the shared budget is 8", hfixture_count("query"));
    cr_expect_eq(passed, 7, "%d of the burst passed, want 7", passed);
    cr_expect_eq(limited, HCP_BUDGET_BURST - 7, "%d local 429s", limited);
    cr_expect_eq(hreq_metric(a.url, HCP_FALLBACK, NULL) +
                     hreq_metric(b.url, HCP_FALLBACK, NULL), 0,
                 "the budget fell back to the local one");
    hfixture_stop(&a);
    hfixture_stop(&b);
    hcluster_stop(&c);
}

/*
 * A proxy given one seed, a node that serves none of the seed tenants,
 * reads the slot map there at start and serves every tenant from the
 * right master: no MOVED is needed.
 */
Test(cluster, one_seed_is_enough)
{
    static struct hcluster c;
    static const char *const tokens[] = { HCP_ALPHA, HCP_BRAVO, HCP_CHARLIE };
    static const char *const phones[] = { HCP_SHARED, HCP_SHARED,
                                          HCP_CHARLIE_LEAD };
    struct json_object *o;
    struct hproc        p;
    char                xc[32], name[128];
    int                 seed = 1, i;

    hcluster_start("cl-e", NULL, &c);
    for (i = 0; i < 3; i++) {
        cr_assert_neq(hcluster_slot_node(&c, hcluster_tenant_slot(
                                                 &c, tokens[i])),
                      seed, "the seed serves %s", tokens[i]);
    }
    hcp_proxy("px-cl-e", &c, 1u << seed, NULL, &p);
    for (i = 0; i < 3; i++) {
        cr_expect_eq(hcp_get(p.url, tokens[i], phones[i], xc, name), 200);
        cr_expect_str_eq(xc, "MISS", "%s", tokens[i]);
        cr_expect_eq(hcp_get(p.url, tokens[i], phones[i], xc, name), 200);
        cr_expect_str_eq(xc, "HIT", "%s", tokens[i]);
    }
    cr_expect_eq(hfixture_count("query"), 3);
    cr_expect_eq(hreq_metric(p.url, HCP_MOVED, NULL), 0,
                 "MOVED followed: the map was not read at start");
    o = hreq_readyz(p.url);
    cr_expect_eq(hreq_jint(o, "redis.cluster.nodes"), 3, "%s",
                 json_object_to_json_string(o));
    json_object_put(o);
    hfixture_stop(&p);
    hcluster_stop(&c);
}

/*
 * rediss-cluster:// with an ACL user (the default user off): -t takes
 * it, and each of three tenants, one per master, gets a MISS then a HIT;
 * the password reaches no log.
 */
Test(cluster, an_acl_user_over_tls)
{
    static const struct hcluster_opts opts = {
        .user = "hsp", .password = "Clu5ter-pw", .tls = true };
    static const char *const tokens[] = { HCP_ALPHA, HCP_BRAVO, HCP_CHARLIE };
    static const char *const phones[] = { HCP_SHARED, HCP_SHARED,
                                          HCP_CHARLIE_LEAD };
    static struct hcluster c;
    struct hproc           p;
    char                   xc[32], name[128], url[400], ca[600];
    char                   cmd[1600];
    int                    i, seen = 0;

    hcluster_start("cl-f", &opts, &c);
    /* One tenant per master: charlie's slot to the second. */
    hcluster_move_slot(&c, hcluster_tenant_slot(&c, HCP_CHARLIE), 1);
    hcluster_url(&c, 0, url, sizeof(url));
    snprintf(ca, sizeof(ca), "redis_ca_file=%s/ca.pem",
             hfixture_env("HSP_CERT_DIR"));
    snprintf(cmd, sizeof(cmd), "'%s' -t -c '%s' -o 'redis=%s' -o '%s' "
             ">/dev/null 2>&1", hfixture_env("HSP_PROXY_BIN"),
             hfixture_env("HSP_PROXY_CONF"), url, ca);
    cr_expect_eq(system(cmd), 0, "-t refused: %s", cmd);
    hcp_proxy("px-cl-f", &c, 0, NULL, &p);
    for (i = 0; i < 3; i++) {
        int node = hcluster_slot_node(&c, hcluster_tenant_slot(&c,
                                                               tokens[i]));

        seen |= 1 << node;
        cr_expect_eq(hcp_get(p.url, tokens[i], phones[i], xc, name), 200);
        cr_expect_str_eq(xc, "MISS", "%s", tokens[i]);
        cr_expect_eq(hcp_get(p.url, tokens[i], phones[i], xc, name), 200);
        cr_expect_str_eq(xc, "HIT", "%s", tokens[i]);
        cr_expect_eq(hcluster_tenant_node(&c, tokens[i]), node,
                     "%s's keys are not on node %d", tokens[i], node);
    }
    cr_expect_eq(seen, 7, "the tenants are not one per master (%x)", seen);
    cr_expect_eq(hfixture_count("query"), 3);
    hfixture_stop(&p);
    cr_expect(!hfixture_file_has(p.log, "Clu5ter-pw"),
              "the password reached the log");
    hcluster_stop(&c);
}
