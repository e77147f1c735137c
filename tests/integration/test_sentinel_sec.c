/*
 * test_sentinel_sec.c - redis-sentinel:// (SPEC §12) as a secured
 * production runs it, against real processes the tests start themselves
 * (tests/lib/hsentinel.h): rediss-sentinel:// on a topology that speaks
 * TLS only (no plain port on master, replica or sentinels; replication
 * and Sentinel's own links over TLS), across a SENTINEL FAILOVER; and
 * sentinels that take only an ACL user (redis_sentinel_user and
 * redis_sentinel_password), right and wrong.
 */
#include "config.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include <criterion/criterion.h>
#include <hiredis/hiredis.h>
#include <json-c/json.h>

#include "hfixture.h"
#include "hproc.h"
#include "hrcli.h"
#include "hredis.h"
#include "hreq.h"
#include "hsentinel.h"
#include "hspx.h"

#define FAILOVERS "heavyset_redis_failovers_total"
#define WAIT_MS   10000
#define POLL_MS   20
#define ACL_USER  "hsp-sentinel"
#define ACL_PW    "Acl-Sent1nel-pw"
#define BAD_PW    "Wr0ng-Acl-Sent1nel-pw"

static void
sentinel_sec_init(void)
{
    hfixture_fresh();
}

static void
sentinel_sec_fini(void)
{
    hproc_stop_all();
    hredis_stop_all();
}

TestSuite(sentinel_sec, .init = sentinel_sec_init,
          .fini = sentinel_sec_fini, .timeout = 150);

/* ---- helpers ------------------------------------------------------------ */

/* How many of R's clients (R a process of T) are named heavyset-proxy. */
static int
proxy_clients(const struct hsentinel *t, const struct hredis *r)
{
    struct hrcli *c = hsentinel_cli(t, r);
    redisReply   *reply = hrcli_cmd(c, "CLIENT LIST");
    const char   *p;
    int           n = 0;

    cr_assert(reply != NULL && reply->type == REDIS_REPLY_STRING,
              "CLIENT LIST on %s: %s", r->name,
              reply != NULL ? reply->str : hrcli_error(c));
    for (p = reply->str; (p = strstr(p, " name=heavyset-proxy ")) != NULL;
         p++) {
        n++;
    }
    freeReplyObject(reply);
    hrcli_close(c);
    return n;
}

/* Whether R answers a PING sent in the clear (it must not: TLS only). */
static bool
answers_plain(const struct hredis *r)
{
    struct timeval tv = { 2, 0 };
    redisContext  *c = redisConnectWithTimeout("127.0.0.1", r->port, tv);
    redisReply    *reply;
    bool           pong;

    cr_assert(c != NULL && c->err == 0, "%s does not accept TCP: %s",
              r->name, c != NULL ? c->errstr : "no memory");
    (void)redisSetTimeout(c, tv);
    reply = redisCommand(c, "PING");
    pong = reply != NULL && reply->type == REDIS_REPLY_STATUS;
    freeReplyObject(reply);
    redisFree(c);
    return pong;
}

/* PATCHes the lead's name to "FIRST Tls" through BASE (no key), until
 * it is answered 200 (bounded): a failover may still be settling. */
static void
patch_first(const char *base, const char *first)
{
    long         end = hfixture_now_ms() + hfixture_slow_ms(WAIT_MS);
    char         body[160];
    struct hresp r;

    snprintf(body, sizeof(body), "{\"phone\":\"+18015551234\","
             "\"firstName\":\"%s\",\"lastName\":\"Tls\"}", first);
    for (;;) {
        hreq_patch(base, body, HREQ(.token = HSPX_TOKEN), &r);
        if (r.status == 200) {
            break;
        }
        cr_assert_lt(hfixture_now_ms(), end, "PATCH: %d %s", r.status,
                     r.body);
        hresp_free(&r);
        hfixture_pause_ms(100);
    }
    hresp_free(&r);
}

/* Waits (bounded) until sentinel 0 of T names a master other than OLD;
 * returns it. */
static int
new_master(const struct hsentinel *t, int old)
{
    long end = hfixture_now_ms() + hfixture_slow_ms(30000);
    int  now;

    while ((now = hsentinel_master_port(t)) == old) {
        cr_assert_lt(hfixture_now_ms(), end, "no failover in 30 s");
        hfixture_pause_ms(POLL_MS);
    }
    return now;
}

/* ---- tests -------------------------------------------------------------- */

/*
 * rediss-sentinel:// with redis_ca_file, every server TLS only: MISS then
 * HIT, shared by a second instance; the proxies' links are on the TLS
 * ports of master and sentinels (no server answers in the clear). Across
 * a SENTINEL FAILOVER: a PATCH answered 200 is served stale as a HIT by
 * neither instance, and HITs come again, from the new master.
 */
Test(sentinel_sec, rediss_sentinel_over_tls_only)
{
    static const struct hsentinel_opts opts = { .tls = true };
    static struct hsentinel            t;
    struct hproc                       a, b;
    char                               xc[32], name[128], first[32];
    int                                old, now, i, on_sentinels = 0;
    long                               end;

    hsentinel_start_opts("sn-tls", &opts, &t);
    for (i = 0; i < 2; i++) {
        cr_assert(!answers_plain(&t.nodes[i]), "%s answers in the clear",
                  t.nodes[i].name);
    }
    for (i = 0; i < HSENTINEL_N; i++) {
        cr_assert(!answers_plain(&t.sentinels[i]), "%s answers in the "
                  "clear", t.sentinels[i].name);
    }
    hspx_start("px-tls-a", &t, NULL, &a);
    hspx_start("px-tls-b", &t, NULL, &b);
    old = hsentinel_master_port(&t);
    hspx_wait_on_master(a.url, old, WAIT_MS);
    hspx_wait_on_master(b.url, old, WAIT_MS);
    cr_assert_eq(hspx_lookup(a.url, xc, name, sizeof(xc)), 200);
    cr_expect_str_eq(xc, "MISS");
    cr_assert_eq(hspx_lookup(a.url, xc, name, sizeof(xc)), 200);
    cr_expect_str_eq(xc, "HIT");
    cr_assert_eq(hspx_lookup(b.url, xc, name, sizeof(xc)), 200);
    cr_expect_str_eq(xc, "HIT", "B does not share A's entry");

    /* Links: on the master (calls, subscriber) and on the sentinels
     * (each worker listens on one), all on TLS-only ports. */
    cr_expect_geq(proxy_clients(&t, hsentinel_node(&t, old)), 4,
                  "the proxies hold no links on the master");
    for (i = 0; i < HSENTINEL_N; i++) {
        on_sentinels += proxy_clients(&t, &t.sentinels[i]);
    }
    cr_expect_geq(on_sentinels, 4, "the 4 workers listen on %d sentinels",
                  on_sentinels);

    hsentinel_failover(&t);
    now = new_master(&t, old);
    hspx_wait_on_master(a.url, now, WAIT_MS);
    hspx_wait_on_master(b.url, now, WAIT_MS);

    /* A PATCH answered 200: neither instance serves the old lead. */
    snprintf(first, sizeof(first), "Tls%ld", hfixture_now_ms() % 100000);
    patch_first(a.url, first);
    for (i = 0; i < 2; i++) {
        cr_expect_eq(hspx_lookup(i == 0 ? a.url : b.url, xc, name,
                                 sizeof(xc)), 200);
        cr_expect(strncmp(name, first, strlen(first)) == 0 ||
                      strcmp(xc, "HIT") != 0,
                  "instance %c served the old lead '%s' as a HIT", 'A' + i,
                  name);
    }
    /* HITs again, from the new master: the old one holds no link. */
    end = hfixture_now_ms() + hfixture_slow_ms(WAIT_MS);
    for (;;) {
        if (hspx_lookup(b.url, xc, name, sizeof(xc)) == 200 &&
            strcmp(xc, "HIT") == 0 &&
            proxy_clients(&t, hsentinel_node(&t, old)) == 0) {
            break;
        }
        cr_assert_lt(hfixture_now_ms(), end, "no HIT from the new master "
                     "(last: %s)", xc);
        hfixture_pause_ms(POLL_MS);
    }
    cr_expect(strncmp(name, first, strlen(first)) == 0,
              "the HIT after the PATCH is stale: '%s'", name);
    cr_expect_geq(proxy_clients(&t, hsentinel_node(&t, now)), 4);
    cr_expect_geq(hreq_metric(a.url, FAILOVERS, NULL), 1);
    cr_expect_geq(hreq_metric(b.url, FAILOVERS, NULL), 1);
    hfixture_stop(&a);
    hfixture_stop(&b);
    hsentinel_stop(&t);
}

/*
 * Sentinels that take only an ACL user (the default user off; sentinel-
 * user between themselves): with redis_sentinel_user and the right
 * redis_sentinel_password the proxy finds the master (MISS then HIT,
 * /readyz up with sentinels reachable); with a wrong password /readyz
 * says degraded, "no sentinel answers", and the proxy still serves.
 * Neither password reaches a log.
 */
Test(sentinel_sec, sentinels_with_an_acl_user)
{
    static const struct hsentinel_opts opts = { .user = ACL_USER,
                                                .password = ACL_PW };
    static const char *const right[] = {
        "redis_sentinel_user=" ACL_USER, "redis_sentinel_password=" ACL_PW,
        NULL };
    static const char *const wrong[] = {
        "redis_sentinel_user=" ACL_USER, "redis_sentinel_password=" BAD_PW,
        NULL };
    static struct hsentinel t;
    struct json_object     *o;
    struct hproc            a, b;
    char                    xc[32], name[128];

    hsentinel_start_opts("sn-acl", &opts, &t);
    hspx_start("px-acl-ok", &t, right, &a);
    hspx_start("px-acl-bad", &t, wrong, &b);
    hspx_wait_on_master(a.url, hsentinel_master_port(&t), WAIT_MS);
    o = hreq_readyz(a.url);
    cr_expect_str_eq(hreq_jstr(o, "redis.status"), "up", "%s",
                     json_object_to_json_string(o));
    cr_expect_neq(atoi(hreq_jstr(o, "redis.sentinel.reachable")), 0,
                  "no sentinel reachable: %s", json_object_to_json_string(o));
    json_object_put(o);
    cr_expect_eq(hspx_lookup(a.url, xc, name, sizeof(xc)), 200);
    cr_expect_str_eq(xc, "MISS");
    cr_expect_eq(hspx_lookup(a.url, xc, name, sizeof(xc)), 200);
    cr_expect_str_eq(xc, "HIT");

    o = hreq_wait_readyz(b.url, "redis.reason", "no sentinel answers",
                         WAIT_MS);
    cr_expect_str_eq(json_object_get_string(json_object_object_get(o,
                     "status")), "degraded", "%s",
                     json_object_to_json_string(o));
    json_object_put(o);
    cr_expect_eq(hspx_lookup(b.url, xc, name, sizeof(xc)), 200,
                 "the proxy does not serve without its sentinels");
    cr_expect_eq(hspx_lookup(b.url, xc, name, sizeof(xc)), 200);
    cr_expect_geq(hreq_metric(b.url, "heavyset_redis_sentinel_errors_total",
                              NULL), 1);
    hfixture_stop(&a);
    hfixture_stop(&b);
    cr_expect(hfixture_file_has(b.log, "WRONGPASS"),
              "the refusal is not logged");
    cr_expect(!hfixture_file_has(a.log, ACL_PW),
              "the sentinel password reached the log");
    cr_expect(!hfixture_file_has(b.log, BAD_PW),
              "the wrong sentinel password reached the log");
    hsentinel_stop(&t);
}
