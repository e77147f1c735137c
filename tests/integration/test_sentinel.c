/*
 * test_sentinel.c - redis-sentinel:// (SPEC §12) against real processes
 * the tests start themselves (tests/lib/hsentinel.h): a master, its
 * replica and three sentinels on loopback. Two proxies share it, as two
 * instances of a fleet do. Across a SENTINEL FAILOVER: reads keep being
 * answered, a PATCH answered 200 is never served stale as a HIT, a
 * PATCH retried with its Idempotency-Key never reaches the upstream
 * twice, and HITs resume from the new master within 2 s of Sentinel's
 * +switch-master. A master demoted with REPLICAOF, its connections left
 * alone, is left too. Sentinels with a password, right and wrong. The
 * windows of a failover for an Idempotency-Key claim:
 * test_sentinel_claims.c.
 */
#include "config.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <hiredis/hiredis.h>
#include <json-c/json.h>

#include "hclient.h"
#include "hfixture.h"
#include "hproc.h"
#include "hredis.h"
#include "hreq.h"
#include "hsentinel.h"
#include "hspx.h"

#define API    "/api/v1/appointment/s2s"
#define ALPHA  "hs_test_tenant_alpha_0001"

#define FAILOVERS "heavyset_redis_failovers_total"
#define SWITCH_MS 2000              /* SPEC §12: moved within 2 s */
#define WAIT_MS   10000
#define POLL_MS   20

static void
sentinel_init(void)
{
    hfixture_fresh();
}

static void
sentinel_fini(void)
{
    hproc_stop_all();
    hredis_stop_all();
}

TestSuite(sentinel, .init = sentinel_init, .fini = sentinel_fini,
          .timeout = 150);

/* ---- helpers ------------------------------------------------------------ */

/* How many of R's clients are named heavyset-proxy. */
static int
proxy_clients(const struct hredis *r)
{
    redisContext *c = hredis_connect(r, NULL);
    redisReply   *reply = redisCommand(c, "CLIENT LIST");
    const char   *p;
    int           n = 0;

    cr_assert(reply != NULL && reply->type == REDIS_REPLY_STRING);
    for (p = reply->str; (p = strstr(p, " name=heavyset-proxy ")) != NULL;
         p++) {
        n++;
    }
    freeReplyObject(reply);
    redisFree(c);
    return n;
}

/* Waits (bounded) until R's replica has all R wrote (offsets equal). */
static void
replicated(const struct hredis *r)
{
    redisContext *c = hredis_connect(r, NULL);
    redisReply   *w = redisCommand(c, "WAIT 1 2000");

    cr_assert(w != NULL && w->type == REDIS_REPLY_INTEGER &&
                  w->integer == 1,
              "the replica did not acknowledge");
    freeReplyObject(w);
    redisFree(c);
}

/* ---- readers: GETs through both instances all along ---------------------- */

struct readers {
    const char      *base[2];
    atomic_bool      stop;
    atomic_long      total, failed;
    pthread_t        thread;
};

static void *
read_loop(void *arg)
{
    struct readers *rd = arg;
    char            xc[32], name[128];
    long            i;

    for (i = 0; !atomic_load(&rd->stop); i++) {
        if (hspx_lookup(rd->base[i % 2], xc, name, sizeof(xc)) != 200) {
            atomic_fetch_add(&rd->failed, 1);
        }
        atomic_fetch_add(&rd->total, 1);
        hfixture_pause_ms(5);
    }
    return NULL;
}

/* ---- tests -------------------------------------------------------------- */

/*
 * SPEC §12 across SENTINEL FAILOVER, two instances on one topology:
 * reads never fail, HITs resume from the new master within 2 s of
 * +switch-master, each Idempotency-Key reaches the upstream at most once
 * (a 503 is fine), a PATCH answered 200 is not served stale as a HIT by
 * either instance, and /readyz and the failover counter follow.
 */
Test(sentinel, a_failover_keeps_the_guarantees)
{
    static struct hsentinel t;
    static struct readers   rd;
    static struct hspx_patches   ps;
    struct hproc            a, b;
    redisContext           *w;
    long                    switched, hit_at = 0, updates;
    char                    xc[32], name[128], first[32];
    int                     old, now, i, total_ran = 0, refused = 0;
    bool                    found;

    hsentinel_start("sn-fo", NULL, &t);
    hspx_start("px-fo-a", &t, NULL, &a);
    hspx_start("px-fo-b", &t, NULL, &b);
    old = hsentinel_master_port(&t);
    hspx_wait_on_master(a.url, old, WAIT_MS);
    hspx_wait_on_master(b.url, old, WAIT_MS);
    cr_assert_eq(hspx_lookup(a.url, xc, name, sizeof(xc)), 200);
    cr_assert_eq(hspx_lookup(b.url, xc, name, sizeof(xc)), 200);
    cr_expect_str_eq(xc, "HIT", "B does not share A's entry");

    /* A PATCH before, its record on the replica too: replayed after. */
    memset(&ps, 0, sizeof(ps));
    for (i = 0; i < HSPX_KEYS_MAX; i++) {
        snprintf(ps.keys[i], sizeof(ps.keys[i]), "fo-%d-%ld", i,
                 hfixture_now_ms());
    }
    hspx_patch_key(&ps, 0, a.url, "Before");
    cr_assert_eq(ps.ran[0], 1, "the first PATCH was not forwarded");
    replicated(hsentinel_node(&t, old));
    ps.n = 1;

    rd.base[0] = a.url;
    rd.base[1] = b.url;
    atomic_store(&rd.stop, false);
    cr_assert_eq(pthread_create(&rd.thread, NULL, read_loop, &rd), 0);

    w = hsentinel_watch(&t);
    hsentinel_failover(&t);
    /* PATCHes while Sentinel fails over, each with a key of its own. */
    now = hsentinel_master_port(&t);
    for (i = 1; i < HSPX_KEYS_MAX / 2 && now == old; i++) {
        hspx_patch_key(&ps, i, i % 2 ? a.url : b.url, "During");
        ps.n = i + 1;
        now = hsentinel_master_port(&t);
    }
    now = hsentinel_switched(w, hfixture_slow_ms(30000), &switched);
    redisFree(w);
    cr_assert_neq(now, old, "+switch-master named the old master");

    /* The first HIT from the new master: the old one holds no link of
     * either proxy, so a HIT now is read from the new one. */
    for (;;) {
        if (hspx_lookup(a.url, xc, name, sizeof(xc)) == 200 &&
            strcmp(xc, "HIT") == 0 &&
            proxy_clients(hsentinel_node(&t, old)) == 0) {
            hit_at = hfixture_now_ms();
            break;
        }
        cr_assert_lt(hfixture_now_ms() - switched,
                     hfixture_slow_ms(WAIT_MS), "no HIT from the new master "
                     "%d s after +switch-master", WAIT_MS / 1000);
        hfixture_pause_ms(POLL_MS);
    }
    printf("sentinel: first HIT from the new master %ld ms after "
           "+switch-master\n", hit_at - switched);
    cr_expect_leq(hit_at - switched, hfixture_slow_ms(SWITCH_MS),
                  "HITs resumed %ld ms after +switch-master",
                  hit_at - switched);
    hspx_wait_on_master(a.url, now, SWITCH_MS);
    hspx_wait_on_master(b.url, now, SWITCH_MS);

    atomic_store(&rd.stop, true);
    pthread_join(rd.thread, NULL);
    printf("sentinel: %ld reads during the failover, %ld failed\n",
           atomic_load(&rd.total), atomic_load(&rd.failed));
    cr_expect_eq(atomic_load(&rd.failed), 0, "%ld of %ld reads failed",
                 atomic_load(&rd.failed), atomic_load(&rd.total));
    cr_expect_gt(atomic_load(&rd.total), 0);

    /* Every PATCH retried with its key, through the other instance: none
     * reaches the upstream a second time. */
    (void)hspx_patch_until_taken(&ps, 0, b.url, NULL);
    printf("sentinel: keyed PATCHes answered again %ld ms after "
           "+switch-master (503 until the new master had a replica)\n",
           hfixture_now_ms() - switched);
    for (i = 0; i < ps.n; i++) {
        hspx_patch_until_taken(&ps, i, i % 2 ? b.url : a.url, NULL);
        cr_expect_leq(ps.ran[i], 1, "Idempotency-Key %s ran %d times",
                      ps.keys[i], ps.ran[i]);
        total_ran += ps.ran[i];
        refused += ps.refused[i] > 0;
    }
    updates = hfixture_count("update");
    cr_expect_eq(updates, total_ran, "the upstream saw %ld PATCHes, the "
                 "proxies forwarded %d", updates, total_ran);
    printf("sentinel: %d keyed PATCHes, %d forwarded once, %d refused "
           "(503) at least once\n", ps.n, total_ran, refused);

    /* A PATCH answered 200 on the new master: neither instance serves
     * the lead it replaced as a HIT. */
    snprintf(first, sizeof(first), "After%ld", hfixture_now_ms() % 100000);
    hspx_patch_until_taken(&ps, HSPX_KEYS_MAX - 1, a.url, first);
    cr_assert_eq(ps.ran[HSPX_KEYS_MAX - 1], 1, "the PATCH after was not "
                 "forwarded");
    for (i = 0; i < 2; i++) {
        int status = hspx_lookup(i == 0 ? a.url : b.url, xc, name, sizeof(xc));

        cr_expect_eq(status, 200);
        cr_expect(strncmp(name, first, strlen(first)) == 0 ||
                      strcmp(xc, "HIT") != 0,
                  "instance %c served the old lead '%s' as a HIT", 'A' + i,
                  name);
    }

    cr_expect_geq(hreq_metric(a.url, FAILOVERS, &found), 1);
    cr_expect(found, "no %s in /metrics", FAILOVERS);
    cr_expect_geq(hreq_metric(b.url, FAILOVERS, NULL), 1);
    hfixture_stop(&a);
    hfixture_stop(&b);
    hsentinel_stop(&t);
}


/*
 * SPEC §12: a master demoted with REPLICAOF, its clients' connections
 * left open (no CLIENT KILL), is noticed (READONLY, then its role) and
 * left: /readyz says the master is not confirmed, reads keep being
 * answered, keyed PATCHes are refused rather than run unguarded, and the
 * proxy moves once Sentinel names the new master.
 */
Test(sentinel, a_master_demoted_in_place_is_left)
{
    static struct hsentinel t;
    static struct hspx_patches   ps;
    struct json_object     *o;
    struct hproc            a;
    char                    xc[32], name[128];
    long                    end;
    int                     old, now, i;

    hsentinel_start("sn-dm", NULL, &t);
    hspx_start("px-dm", &t, NULL, &a);
    old = hsentinel_master_port(&t);
    now = t.nodes[0].port == old ? t.nodes[1].port : t.nodes[0].port;
    hspx_wait_on_master(a.url, old, WAIT_MS);
    cr_assert_eq(hspx_lookup(a.url, xc, name, sizeof(xc)), 200);

    hspx_node_do(hsentinel_node(&t, now), "REPLICAOF NO ONE", 0);
    hspx_node_do(hsentinel_node(&t, old), "REPLICAOF 127.0.0.1 %d", now);
    memset(&ps, 0, sizeof(ps));
    snprintf(ps.keys[0], sizeof(ps.keys[0]), "dm-%ld", hfixture_now_ms());
    hspx_patch_key(&ps, 0, a.url, "Demoted");   /* READONLY: noticed */
    cr_expect_eq(ps.ran[0], 0, "a PATCH ran unguarded on a replica");

    /* Until Sentinel acts (it sees the master report itself a replica
     * for down-after + 20 s), the proxy stays off it. */
    o = hreq_wait_readyz(a.url, "redis.reason", "master not confirmed",
                         SWITCH_MS);
    json_object_put(o);
    /* Every worker leaves it within 2 s: the one whose write got
     * READONLY at once, the others at their next write (each raises
     * the marker every second). */
    end = hfixture_now_ms() + hfixture_slow_ms(SWITCH_MS);
    for (;;) {
        o = hreq_readyz(a.url);
        if (strcmp(hreq_jstr(o, "redis.connected"), "0") == 0) {
            break;
        }
        cr_assert_lt(hfixture_now_ms(), end, "a call link stays on the "
                     "demoted master: %s", json_object_to_json_string(o));
        json_object_put(o);
        hfixture_pause_ms(POLL_MS);
    }
    json_object_put(o);
    /* Off it: no call link up (one connects, hears "replica" from HELLO,
     * and lets go), and reads answered all the same. */
    for (i = 0; i < 10; i++) {
        cr_expect_eq(hspx_lookup(a.url, xc, name, sizeof(xc)), 200);
        o = hreq_readyz(a.url);
        cr_expect_str_eq(hreq_jstr(o, "redis.connected"), "0",
                         "a call link is up on the demoted master: %s",
                         json_object_to_json_string(o));
        json_object_put(o);
        hfixture_pause_ms(50);
    }

    /* Sentinel names the new master: the proxy goes there. Sentinel acts
     * once the master has reported itself a replica for down-after plus
     * two INFO periods (21 s here), as its INFO polls see it: 20 to 60 s
     * after the demotion, measured, more on a loaded machine. */
    hspx_wait_on_master(a.url, now, 90000);
    for (i = 0; i < 100 && strcmp(xc, "HIT") != 0; i++) {
        (void)hspx_lookup(a.url, xc, name, sizeof(xc));
        hfixture_pause_ms(POLL_MS);
    }
    cr_expect_str_eq(xc, "HIT", "no HIT from the new master");
    cr_expect_eq(hfixture_count("update"), 0);
    hfixture_stop(&a);
    hsentinel_stop(&t);
}

/*
 * Sentinels with a password of their own (requirepass, sentinel-pass):
 * redis_sentinel_password reaches them; a wrong one is logged (never the
 * password itself), counted and shown by /readyz as degraded, and the
 * proxy still serves, without the cache.
 */
Test(sentinel, sentinels_with_a_password)
{
    static struct hsentinel t;
    static const char *const right[] = {
        "redis_sentinel_password=Sent1nel-pw", NULL };
    static const char *const wrong[] = {
        "redis_sentinel_password=Wr0ng-Sent1nel-pw", NULL };
    struct json_object *o;
    struct hproc        a, b;
    char                xc[32], name[128];
    bool                found;

    hsentinel_start("sn-pw", "Sent1nel-pw", &t);
    hspx_start("px-pw-ok", &t, right, &a);
    hspx_start("px-pw-bad", &t, wrong, &b);
    hspx_wait_on_master(a.url, hsentinel_master_port(&t), WAIT_MS);
    cr_expect_eq(hspx_lookup(a.url, xc, name, sizeof(xc)), 200);
    cr_expect_eq(hspx_lookup(a.url, xc, name, sizeof(xc)), 200);
    cr_expect_str_eq(xc, "HIT");

    o = hreq_wait_readyz(b.url, "redis.reason", "no sentinel answers",
                         WAIT_MS);
    cr_expect_str_eq(hreq_jstr(o, "redis.status"), "down");
    json_object_put(o);
    cr_expect_eq(hspx_lookup(b.url, xc, name, sizeof(xc)), 200,
                 "the proxy does not serve without its sentinels");
    cr_expect_geq(hreq_metric(b.url, "heavyset_redis_sentinel_errors_total",
                              &found), 1);
    cr_expect(found);
    hfixture_stop(&a);
    hfixture_stop(&b);
    cr_expect(hfixture_file_has(b.log, "WRONGPASS"), "the refusal is not logged");
    cr_expect(!hfixture_file_has(b.log, "Wr0ng-Sent1nel-pw"),
              "the sentinel password reached the log");
    hsentinel_stop(&t);
}
