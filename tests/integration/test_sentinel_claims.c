/*
 * test_sentinel_claims.c - an Idempotency-Key claim under Sentinel
 * (SPEC §12: a PATCH retried with its key never runs twice), in the
 * windows a failover opens: a claim made after the master lost its
 * replica, a claim only one replica of two took, and a completed record
 * the old master took after its replica's promotion. Real processes
 * (tests/lib/hsentinel.h), the proxies driven through hspx.h.
 */
#include "config.h"

#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <criterion/criterion.h>
#include <hiredis/hiredis.h>

#include "hfixture.h"
#include "hproc.h"
#include "hredis.h"
#include "hreq.h"
#include "hsentinel.h"
#include "hspx.h"

#define ALPHA   HSPX_TOKEN
#define WAIT_MS 10000
#define POLL_MS 20

static void
claims_init(void)
{
    hfixture_fresh();
}

static void
claims_fini(void)
{
    hproc_stop_all();
    hredis_stop_all();
}

TestSuite(sentinel_claims, .init = claims_init, .fini = claims_fini,
          .timeout = 150);

/*
 * The window of a failover where the old master still takes writes but
 * no longer has its replica (promoted, here by hand): a claim made there
 * is lost when the old master is demoted. Sentinel's proxy trusts a
 * claim only once a replica has it (WAIT), so the PATCH is refused (503)
 * instead of forwarded, and its retry after the failover runs it once.
 */
Test(sentinel_claims, a_claim_no_replica_took_is_refused)
{
    static struct hsentinel t;
    static struct hspx_patches   ps;
    struct hproc            a, b;
    redisContext           *w;
    long                    at;
    int                     old, now;
    bool                    found;

    hsentinel_start("sn-cw", NULL, &t);
    hspx_start("px-cw-a", &t, NULL, &a);
    hspx_start("px-cw-b", &t, NULL, &b);
    old = hsentinel_master_port(&t);
    hspx_wait_on_master(a.url, old, WAIT_MS);
    hspx_wait_on_master(b.url, old, WAIT_MS);
    memset(&ps, 0, sizeof(ps));
    snprintf(ps.keys[0], sizeof(ps.keys[0]), "cw-%ld", hfixture_now_ms());

    /* The replica leaves: the master is alone, and still the master. */
    hspx_node_do(&t.nodes[1], "REPLICAOF NO ONE", 0);
    hspx_patch_key(&ps, 0, a.url, "Window");
    cr_expect_eq(ps.ran[0], 0, "a claim no replica took was forwarded");
    cr_expect_eq(ps.refused[0], 1, "it was not refused with 503");
    cr_expect_geq(hreq_metric(a.url, "heavyset_redis_errors_total"
                              "{kind=\"unreplicated\"}", &found), 1);
    cr_expect(found);

    /* Sentinel fails over to the replica; the retry runs it, once. */
    w = hsentinel_watch(&t);
    hsentinel_failover(&t);
    now = hsentinel_switched(w, hfixture_slow_ms(30000), &at);
    redisFree(w);
    cr_assert_neq(now, old);
    hspx_wait_on_master(b.url, now, WAIT_MS);
    hspx_patch_until_taken(&ps, 0, b.url, NULL);
    hspx_patch_key(&ps, 0, a.url, NULL);
    cr_expect_eq(ps.ran[0], 1, "Idempotency-Key %s ran %d times",
                 ps.keys[0], ps.ran[0]);
    cr_expect_eq(hfixture_count("update"), 1, "the upstream saw %ld "
                 "PATCHes", hfixture_count("update"));
    hfixture_stop(&a);
    hfixture_stop(&b);
    hsentinel_stop(&t);
}

/*
 * Waits (bounded) until WANT replicas of the master of T acknowledge a
 * write within 25 ms, as the proxy's WAIT after a claim asks (its
 * redis_timeout / 4), three times in a row. Online is not enough: a
 * replica just synced is sent the command stream only after its first
 * REPLCONF ACK, and acknowledges a GETACK promptly only after that.
 */
static void
wait_replicas(const struct hsentinel *t, int want)
{
    long          end = hfixture_now_ms() + hfixture_slow_ms(WAIT_MS);
    redisContext *c = hredis_connect(&t->nodes[0], NULL);
    redisReply   *r;
    int           good = 0;

    while (good < 3 && hfixture_now_ms() < end) {
        freeReplyObject(redisCommand(c, "SET hsp-test:synced 1 PX 1000"));
        r = redisCommand(c, "WAIT %d 25", want);
        good = r != NULL && r->type == REDIS_REPLY_INTEGER &&
               r->integer >= want ? good + 1 : 0;
        freeReplyObject(r);
        hfixture_pause_ms(POLL_MS);
    }
    redisFree(c);
    cr_assert_eq(good, 3, "%d replicas never acknowledged the master in "
                 "time", want);
}

/*
 * A master with two replicas: a claim counts only once both have it.
 * With one acknowledgement enough, the replica Sentinel does not promote
 * could be the one that took it, and it drops what it took from the old
 * master when it follows the new one, so the retry would run again
 * (scripts/chaos --phases failover saw it). One replica stopped: the
 * claim is refused (503), not forwarded on the other's word alone.
 */
Test(sentinel_claims, a_claim_waits_for_every_replica)
{
    static struct hsentinel t;
    static struct hspx_patches   ps;
    struct hredis           second;
    struct hproc            a;
    char                    port[16];
    const char             *args[] = { "--save", "", "--replicaof",
                                       "127.0.0.1", port, NULL };

    hsentinel_start("sn-cr", NULL, &t);
    snprintf(port, sizeof(port), "%d", t.nodes[0].port);
    hredis_start("sn-cr-replica2", args, &second);
    wait_replicas(&t, 2);
    hspx_start("px-cr", &t, NULL, &a);
    hspx_wait_on_master(a.url, t.nodes[0].port, WAIT_MS);
    memset(&ps, 0, sizeof(ps));
    snprintf(ps.keys[0], sizeof(ps.keys[0]), "cr-%ld", hfixture_now_ms());
    snprintf(ps.keys[1], sizeof(ps.keys[1]), "cr2-%ld", hfixture_now_ms());

    /* Both replicas answer: the claim counts, the PATCH runs once. */
    hspx_patch_key(&ps, 0, a.url, "Both");
    cr_expect_eq(ps.ran[0], 1, "a claim both replicas took was refused");

    /* One replica frozen (its link to the master stays up). */
    hredis_signal(&second, SIGSTOP);
    hspx_patch_key(&ps, 1, a.url, "One");
    hredis_signal(&second, SIGCONT);
    cr_expect_eq(ps.ran[1], 0, "a claim one replica of two took was "
                 "forwarded");
    cr_expect_eq(ps.refused[1], 1, "it was not refused with 503");
    cr_expect_eq(hfixture_count("update"), 1, "the upstream saw %ld "
                 "PATCHes", hfixture_count("update"));
    hfixture_stop(&a);
    hredis_stop(&second);
    hsentinel_stop(&t);
}

/*
 * The same window, later in a PATCH's life: its claim reached the
 * replica and it went upstream, but its record lands on the old master
 * after the replica's promotion, so the failover loses it. The proxy
 * knows (no replica took the record) and stores it again, on the new
 * master, so a retry after the claim's lease is replayed, not run again.
 */
Test(sentinel_claims, a_record_the_old_master_took_is_stored_again)
{
    static struct hsentinel t;
    static struct hspx_patches   ps;
    static struct hheld     held;   /* the thread may outlive a failure */
    struct hproc            a, b;
    redisContext           *w;
    long                    at;
    int                     old, now;

    hsentinel_start("sn-rw", NULL, &t);
    hspx_start("px-rw-a", &t, NULL, &a);
    hspx_start("px-rw-b", &t, NULL, &b);
    old = hsentinel_master_port(&t);
    hspx_wait_on_master(a.url, old, WAIT_MS);
    hspx_wait_on_master(b.url, old, WAIT_MS);
    memset(&ps, 0, sizeof(ps));
    snprintf(ps.keys[0], sizeof(ps.keys[0]), "rw-%ld", hfixture_now_ms());
    snprintf(ps.first[0], sizeof(ps.first[0]), "Held");

    held = (struct hheld){
        .method = "PATCH", .base = a.url, .path = HREQ_UPDATE,
        .body = "{\"phone\":\"+18015551234\",\"firstName\":\"Held\","
                "\"lastName\":\"K0\"}",
        .opt = { .type = "application/json", .token = ALPHA,
                 .key = ps.keys[0], .extra = "X-Sandbox-Delay-Ms: 600" },
    };
    hreq_held_start(&held);
    hreq_held_wait(1);              /* claimed, on the replica too */
    hspx_node_do(&t.nodes[1], "REPLICAOF NO ONE", 0);
    hreq_held_join(&held);
    cr_assert_eq(held.rc, 0, "the held PATCH: %s", held.resp.error);
    cr_assert_eq(held.resp.status, 200, "%s", held.resp.body);
    hresp_free(&held.resp);
    ps.ran[0] = 1;

    w = hsentinel_watch(&t);
    hsentinel_failover(&t);
    now = hsentinel_switched(w, hfixture_slow_ms(30000), &at);
    redisFree(w);
    cr_assert_neq(now, old);
    hspx_wait_on_master(b.url, now, WAIT_MS);
    /* Past the claim's lease (2.2 s here) by the time it is answered. */
    hfixture_pause_ms(2500);
    (void)hspx_patch_until_taken(&ps, 0, b.url, NULL);
    cr_expect_eq(ps.ran[0], 1, "Idempotency-Key %s ran %d times",
                 ps.keys[0], ps.ran[0]);
    cr_expect_eq(hfixture_count("update"), 1, "the upstream saw %ld "
                 "PATCHes", hfixture_count("update"));
    hfixture_stop(&a);
    hfixture_stop(&b);
    hsentinel_stop(&t);
}
