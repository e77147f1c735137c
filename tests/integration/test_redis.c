/*
 * test_redis.c - Redis as production runs it (SPEC §12): ACL users, TLS
 * (rediss://, right and wrong CA), a wrong password that must not look
 * connected, error
 * replies counted by kind and shown by /readyz, and a maxmemory-policy
 * that may evict the proxy's keys. Each test starts its own redis-server
 * on TCP (tests/lib/hredis.h) and its own proxy on it (hproc.h), so the
 * harness's Redis instances are never reconfigured.
 */
#include "config.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <hiredis/hiredis.h>
#include <json-c/json.h>

#include "hclient.h"
#include "hfixture.h"
#include "hproc.h"
#include "hredis.h"
#include "hreq.h"

#define API    "/api/v1/appointment/s2s"
#define ALPHA  "hs_test_tenant_alpha_0001"
#define LOOKUP API "/phone/query?phone=%2B18015551234"
#define BODY   "{\"phone\":\"+18015551234\",\"appendComment\":\"r\"}"

#define ERRORS(kind) "heavyset_redis_error_replies_total{kind=\"" kind "\"}"

#define EVICTING "heavyset_redis_evicting_connections"

#define WAIT_MS 8000
#define POLL_MS 100

static void
redis_init(void)
{
    hfixture_fresh();
}

static void
redis_fini(void)
{
    hproc_stop_all();
    hredis_stop_all();
}

TestSuite(redis, .init = redis_init, .fini = redis_fini, .timeout = 90);

/* ---- helpers ------------------------------------------------------------ */

/*
 * Waits (up to MS, stretched for slow builds) until /readyz of BASE,
 * always 200, has redis.FIELD containing WANT; returns its body (the
 * caller puts it).
 */
static struct json_object *
readyz_wait_ms(const char *base, const char *field, const char *want,
               long ms)
{
    char path[64];

    snprintf(path, sizeof(path), "redis.%s", field);
    return hreq_wait_readyz(base, path, want, ms);
}

/* readyz_wait_ms for WAIT_MS. */
static struct json_object *
readyz_wait(const char *base, const char *field, const char *want)
{
    return readyz_wait_ms(base, field, want, WAIT_MS);
}

/* Starts a proxy NAME on the Redis at URL into P (more -o in EXTRA). */
static void
proxy_on(const char *name, const char *url, const char *extra,
         struct hproc *p)
{
    char        redis[600];
    const char *opts[3] = { redis, extra, NULL };

    snprintf(redis, sizeof(redis), "redis=%s", url);
    hfixture_proxy(name, opts, p);
}

/* GET LOOKUP through BASE: its status, and X-Cache into XC (CAP bytes). */
static int
lookup(const char *base, char *xc, size_t cap)
{
    struct hresp r;
    const char  *h;
    int          status;

    hreq_get(base, LOOKUP, HREQ(.token = ALPHA), &r);
    h = hreq_hdr(&r, "X-Cache");
    snprintf(xc, cap, "%s", h != NULL ? h : "");
    status = r.status;
    hresp_free(&r);
    return status;
}

/* How many of R's clients are named NAME (CLIENT LIST). */
static int
clients_named(const struct hredis *r, const char *password, const char *name)
{
    redisContext *c = hredis_connect(r, password);
    redisReply   *reply = redisCommand(c, "CLIENT LIST");
    char          want[128];
    const char   *p;
    int           n = 0;

    cr_assert(reply != NULL && reply->type == REDIS_REPLY_STRING,
              "CLIENT LIST: %s", reply != NULL ? reply->str : c->errstr);
    snprintf(want, sizeof(want), " name=%s ", name);
    for (p = reply->str; (p = strstr(p, want)) != NULL; p++) {
        n++;
    }
    freeReplyObject(reply);
    redisFree(c);
    return n;
}

/* ---- the handshake: HELLO, or AUTH for a Redis without it --------------- */

/* Every link of the proxy says HELLO and names itself in it. */
Test(redis, the_links_say_hello_and_name_themselves)
{
    static const char *const args[] = { "--requirepass", "right", NULL };
    struct hredis rd;
    struct hproc  p;
    char          url[128], xc[32];
    int           i;

    hredis_start("rd-hello", args, &rd);
    snprintf(url, sizeof(url), "redis://:right@127.0.0.1:%d/0", rd.port);
    proxy_on("px-hello", url, NULL, &p);
    json_object_put(readyz_wait(p.url, "status", "up"));
    cr_expect_eq(lookup(p.url, xc, sizeof(xc)), 200);
    /* Each worker's call link and its subscriber link. */
    for (i = 0; clients_named(&rd, "right", "heavyset-proxy") < 2; i++) {
        cr_assert_lt(i, hfixture_slow_ms(WAIT_MS) / POLL_MS,
                     "fewer than 2 links named heavyset-proxy");
        hfixture_pause_ms(POLL_MS);
    }
    hfixture_stop(&p);
}

/*
 * A Redis without HELLO (older than 6; here HELLO is renamed away) gets
 * AUTH instead, on the same connection: the proxy caches through it, and
 * a wrong password is refused as before.
 */
Test(redis, a_redis_without_hello_gets_auth_instead)
{
    static const char *const args[] = { "--requirepass", "right",
                                         "--rename-command", "HELLO", "",
                                         NULL };
    struct hredis       rd;
    struct hproc        p, q;
    struct json_object *o;
    char                url[128], xc[32];
    bool                found;

    hredis_start("rd-nohello", args, &rd);
    snprintf(url, sizeof(url), "redis://:right@127.0.0.1:%d/1", rd.port);
    proxy_on("px-nohello", url, NULL, &p);
    o = readyz_wait(p.url, "status", "up");
    json_object_put(o);
    cr_expect_eq(lookup(p.url, xc, sizeof(xc)), 200);
    cr_expect_str_eq(xc, "MISS");
    cr_expect_eq(lookup(p.url, xc, sizeof(xc)), 200);
    cr_expect_str_eq(xc, "HIT");
    cr_expect_eq(hreq_metric(p.url, "heavyset_redis_connect_failures_total",
                             &found), 0, "a failed connect before AUTH");
    hfixture_stop(&p);

    snprintf(url, sizeof(url), "redis://:wrong@127.0.0.1:%d/1", rd.port);
    proxy_on("px-nohello-wrong", url, NULL, &q);
    o = readyz_wait(q.url, "reason", "AUTH");
    cr_expect_str_eq(hreq_jstr(o, "redis.last_error"), "auth");
    json_object_put(o);
    hfixture_stop(&q);
    cr_expect_not(hfixture_file_has(q.log, "store: connected"),
                  "a refused AUTH was logged as connected (%s)", q.log);
}

/* ---- passwords and ACL users ------------------------------------------- */

Test(redis, a_wrong_password_is_not_connected_and_fails_open)
{
    static const char *const args[] = { "--requirepass", "right", NULL };
    struct hredis       rd;
    struct hproc        p;
    struct json_object *o;
    char                url[128], xc[32];
    bool                found;
    int                 i;

    hredis_start("rd-wrongpass", args, &rd);
    snprintf(url, sizeof(url), "redis://:wrong@127.0.0.1:%d/0", rd.port);
    proxy_on("px-wrongpass", url, NULL, &p);

    o = readyz_wait(p.url, "reason", "AUTH");
    cr_expect_str_eq(hreq_jstr(o, "status"), "degraded");
    cr_expect_str_eq(hreq_jstr(o, "redis.last_error"), "auth");
    json_object_put(o);
    cr_expect_geq(hreq_metric(p.url, ERRORS("auth"), &found), 1);
    cr_expect(found, "no %s in /metrics", ERRORS("auth"));

    for (i = 0; i < 2; i++) {   /* served, never from a cache it lacks */
        cr_expect_eq(lookup(p.url, xc, sizeof(xc)), 200, "round %d", i);
        cr_expect_str_neq(xc, "HIT", "round %d", i);
    }
    cr_expect_eq(hfixture_count("query"), 2, "both went upstream");
    hfixture_stop(&p);
    cr_expect_not(hfixture_file_has(p.log, "store: connected"),
                  "a refused AUTH was logged as connected (%s)", p.log);
    cr_expect(hfixture_file_has(p.log, "WRONGPASS"), "the refusal is logged");
}

Test(redis, an_acl_user_with_its_password_gets_a_miss_then_a_hit)
{
    struct hredis       rd;
    struct hproc        p;
    struct json_object *o;
    redisContext       *c;
    char                url[160], xc[32];

    hredis_start("rd-acl", NULL, &rd);
    c = hredis_connect(&rd, NULL);
    /* The password needs percent-encoding in the URL: p@ss:w/rd */
    hredis_ok(c, "ACL SETUSER hsp on >p@ss:w/rd ~* &* +@all");
    hredis_ok(c, "ACL SETUSER default off");
    redisFree(c);
    snprintf(url, sizeof(url),
             "redis://hsp:p%%40ss%%3Aw%%2Frd@127.0.0.1:%d/0", rd.port);
    proxy_on("px-acl", url, NULL, &p);

    o = readyz_wait(p.url, "status", "up");
    json_object_put(o);
    cr_expect_eq(lookup(p.url, xc, sizeof(xc)), 200);
    cr_expect_str_eq(xc, "MISS");
    cr_expect_eq(lookup(p.url, xc, sizeof(xc)), 200);
    cr_expect_str_eq(xc, "HIT");
    cr_expect_eq(hfixture_count("query"), 1);
    hfixture_stop(&p);
    cr_expect(hfixture_file_has(p.log, "store: connected to redis"));
}

/*
 * The least rights the proxy needs, as README.md gives them (keep the two
 * the same): its keys and channels only, the commands it sends and those
 * its scripts call. Everything it does must work with them: lookups, the
 * near cache's tracking, the shared budget, an Idempotency-Key claim,
 * write-through and replay, the marker; and no NOPERM anywhere.
 */
#define LEAST_KEYS     "on >least resetkeys ~hsp:* resetchannels "
#define LEAST_CHANNELS "&hsp:* &__redis__:invalidate "
#define LEAST_COMMANDS                                                     \
    "-@all +ping +select +info +script|load "                              \
    "+evalsha +eval +subscribe +client|id +client|tracking +get +set "     \
    "+del +exists +incr +pexpire +pttl +hget +hset +hmget +publish +time " \
    "+zadd +zcard +zrange +zremrangebyscore"
#define LEAST_RIGHTS LEAST_KEYS LEAST_CHANNELS LEAST_COMMANDS

Test(redis, the_least_rights_readme_gives_are_enough)
{
    struct hredis       rd;
    struct hproc        p;
    struct json_object *o;
    struct hresp        r;
    redisContext       *c;
    char                url[160], xc[32];
    double              noperm;
    bool                found;

    hredis_start("rd-least", NULL, &rd);
    c = hredis_connect(&rd, NULL);
    hredis_ok(c, "ACL SETUSER hsp " LEAST_RIGHTS);
    hredis_ok(c, "ACL SETUSER default off");
    redisFree(c);
    snprintf(url, sizeof(url), "redis://hsp:least@127.0.0.1:%d/0", rd.port);
    proxy_on("px-least", url, "rate_limit=600/min", &p);

    json_object_put(readyz_wait(p.url, "status", "up"));
    cr_expect_eq(lookup(p.url, xc, sizeof(xc)), 200);
    cr_expect_str_eq(xc, "MISS");
    cr_expect_eq(lookup(p.url, xc, sizeof(xc)), 200);
    cr_expect_str_eq(xc, "HIT");
    hreq_patch(p.url, BODY, HREQ(.token = ALPHA, .key = "least-1"), &r);
    cr_expect_eq(r.status, 200, "%d %s", r.status, r.body);
    hresp_free(&r);
    hreq_patch(p.url, BODY, HREQ(.token = ALPHA, .key = "least-1"), &r);
    cr_expect_eq(r.status, 200, "%d %s", r.status, r.body);
    cr_expect_str_eq(hreq_hdr(&r, "Idempotent-Replayed"), "true");
    hresp_free(&r);
    usleep(1500 * 1000);            /* the marker, once a second */
    noperm = hreq_metric(p.url, ERRORS("noperm"), &found);
    cr_expect(found, "no %s in /metrics", ERRORS("noperm"));
    cr_expect_eq(noperm, 0, "%g NOPERM replies", noperm);
    o = readyz_wait(p.url, "status", "up");
    cr_expect_str_eq(hreq_jstr(o, "redis.status"), "up");
    json_object_put(o);
    hfixture_stop(&p);
}

/*
 * The least rights without the channels: every SUBSCRIBE gets NOPERM.
 * The subscriber link is kept (no reconnecting forever), the refusal is
 * counted and named by /readyz, the shared cache works, and the near
 * cache serves nothing, since no invalidation could reach it. Granted
 * the channels later, the proxy takes them up by itself.
 */
Test(redis, a_refused_subscribe_keeps_the_link_and_the_near_cache_off)
{
    struct hredis       rd;
    struct hproc        p;
    struct json_object *o;
    redisContext       *c;
    char                url[160], xc[32];
    bool                found;
    int                 i;

    hredis_start("rd-nochan", NULL, &rd);
    c = hredis_connect(&rd, NULL);
    hredis_ok(c, "ACL SETUSER hsp " LEAST_KEYS LEAST_COMMANDS);
    hredis_ok(c, "ACL SETUSER admin on >admin ~* &* +@all");
    hredis_ok(c, "ACL SETUSER default off");
    redisFree(c);
    snprintf(url, sizeof(url), "redis://hsp:least@127.0.0.1:%d/0", rd.port);
    proxy_on("px-nochan", url, NULL, &p);

    o = readyz_wait(p.url, "reason", "cannot subscribe");
    cr_expect_str_eq(hreq_jstr(o, "status"), "degraded");
    cr_expect_str_eq(hreq_jstr(o, "redis.last_error"), "noperm");
    json_object_put(o);
    cr_expect_geq(hreq_metric(p.url, ERRORS("noperm"), &found), 1);
    cr_expect_eq(lookup(p.url, xc, sizeof(xc)), 200);
    cr_expect_str_eq(xc, "MISS");
    for (i = 0; i < 3; i++) {
        cr_expect_eq(lookup(p.url, xc, sizeof(xc)), 200);
        cr_expect_str_eq(xc, "HIT", "round %d: from Redis", i);
    }
    cr_expect_eq(hreq_metric(p.url, "heavyset_near_hits_total", &found), 0,
                 "the near cache served without invalidations");
    cr_expect(found);
    hfixture_pause_ms(1500);
    cr_expect_eq(hreq_metric(p.url, "heavyset_redis_connection_losses_total",
                             &found), 0, "the subscriber link reconnects");
    o = readyz_wait(p.url, "reason", "cannot subscribe");
    json_object_put(o);

    /* The rights granted later: taken up within a retry (10 s), the
     * near cache coherent again, with no reconnect. */
    c = hredis_connect(&rd, NULL);
    hredis_ok(c, "AUTH admin admin");
    hredis_ok(c, "ACL SETUSER hsp " LEAST_CHANNELS);
    redisFree(c);
    o = readyz_wait_ms(p.url, "status", "up", 13000);
    json_object_put(o);
    for (i = 0; !hfixture_file_has(p.log, "redis tracking on"); i++) {
        cr_assert_lt(i, hfixture_slow_ms(WAIT_MS) / POLL_MS,
                     "tracking never came on (%s)", p.log);
        hfixture_pause_ms(POLL_MS);
    }
    cr_expect_eq(hreq_metric(p.url, "heavyset_redis_connection_losses_total",
                             &found), 0);
    hfixture_stop(&p);
    cr_expect(hfixture_file_has(p.log, "SUBSCRIBE with an error (noperm)"),
              "logged (%s)", p.log);
}

/* ---- error replies ------------------------------------------------------ */

Test(redis, oom_is_counted_by_kind_and_degrades_readyz)
{
    struct hredis       rd;
    struct hproc        p;
    struct json_object *o;
    struct hresp        r;
    redisContext       *c;
    char                url[128], xc[32];
    bool                found;

    hredis_start("rd-oom", NULL, &rd);
    snprintf(url, sizeof(url), "redis://127.0.0.1:%d", rd.port);
    proxy_on("px-oom", url, NULL, &p);
    json_object_put(readyz_wait(p.url, "status", "up"));

    c = hredis_connect(&rd, NULL);
    hredis_ok(c, "CONFIG SET maxmemory-policy noeviction");
    hredis_ok(c, "CONFIG SET maxmemory 1");
    redisFree(c);

    cr_expect_eq(lookup(p.url, xc, sizeof(xc)), 200, "served all the same");
    hreq_patch(p.url, BODY, HREQ(.token = ALPHA), &r);
    cr_expect_eq(r.status, 200, "%d %s", r.status, r.body);
    hresp_free(&r);

    cr_expect_geq(hreq_metric(p.url, ERRORS("oom"), &found), 1);
    cr_expect(found, "no %s in /metrics", ERRORS("oom"));
    o = readyz_wait(p.url, "reason", "oom");
    cr_expect_str_eq(hreq_jstr(o, "status"), "degraded");
    cr_expect_str_eq(hreq_jstr(o, "redis.status"), "degraded");
    cr_expect_str_eq(hreq_jstr(o, "redis.last_error"), "oom");
    json_object_put(o);
    hfixture_stop(&p);
}

/* ---- eviction ------------------------------------------------------------ */

Test(redis, an_evicting_policy_degrades_readyz_and_shows_in_a_gauge)
{
    static const char *const args[] = { "--maxmemory-policy", "allkeys-lru",
                                         NULL };
    struct hredis       rd;
    struct hproc        p;
    struct json_object *o;
    char                url[128], xc[32];
    bool                found;

    hredis_start("rd-evict", args, &rd);
    snprintf(url, sizeof(url), "redis://127.0.0.1:%d", rd.port);
    proxy_on("px-evict", url, NULL, &p);
    o = readyz_wait(p.url, "reason", "evicted");
    cr_expect_str_eq(hreq_jstr(o, "status"), "degraded");
    cr_expect_str_eq(hreq_jstr(o, "redis.status"), "degraded");
    cr_expect_str_eq(hreq_jstr(o, "redis.reason"),
                     "eviction: maxmemory-policy is not noeviction; "
                     "idempotency records and guards may be evicted");
    json_object_put(o);
    cr_expect_eq(hreq_metric(p.url, EVICTING, &found), 1);
    cr_expect(found, "no %s in /metrics", EVICTING);
    cr_expect_eq(lookup(p.url, xc, sizeof(xc)), 200, "served all the same");
    hfixture_stop(&p);
    cr_expect(hfixture_file_has(p.log, "maxmemory-policy is allkeys-lru"),
              "logged at start");
}

Test(redis, noeviction_is_up_and_the_gauge_zero)
{
    struct hredis rd;
    struct hproc  p;
    char          url[128];
    bool          found;

    hredis_start("rd-noevict", NULL, &rd);
    snprintf(url, sizeof(url), "redis://127.0.0.1:%d", rd.port);
    proxy_on("px-noevict", url, NULL, &p);
    json_object_put(readyz_wait(p.url, "status", "up"));
    cr_expect_eq(hreq_metric(p.url, EVICTING, &found), 0);
    cr_expect(found, "no %s in /metrics", EVICTING);
    hfixture_stop(&p);
}

/* ---- the kind of server: a redis:// store wants a master --------------- */

#define WRONG(kind) \
    "heavyset_redis_wrong_server_connects_total{kind=\"" kind "\"}"

/*
 * A redis:// URL that reaches a replica: logged, counted, and /readyz
 * says degraded with the reason; requests are served all the same.
 */
Test(redis, a_replica_degrades_readyz_and_is_counted)
{
    struct hredis       master, rd;
    struct hproc        p;
    struct json_object *o;
    char                url[128], port[16], xc[32];
    const char         *args[] = { "--replicaof", "127.0.0.1", port, NULL };
    bool                found;

    hredis_start("rd-master", NULL, &master);
    snprintf(port, sizeof(port), "%d", master.port);
    hredis_start("rd-replica", args, &rd);
    snprintf(url, sizeof(url), "redis://127.0.0.1:%d", rd.port);
    proxy_on("px-replica", url, NULL, &p);

    o = readyz_wait(p.url, "reason", "replica");
    cr_expect_str_eq(hreq_jstr(o, "status"), "degraded");
    cr_expect_str_eq(hreq_jstr(o, "redis.status"), "degraded");
    cr_expect(strncmp(hreq_jstr(o, "redis.reason"),
                      "redis is a replica: writes are refused (", 40) == 0,
              "%s", hreq_jstr(o, "redis.reason"));
    json_object_put(o);
    cr_expect_geq(hreq_metric(p.url, WRONG("replica"), &found), 1);
    cr_expect(found, "no %s in /metrics", WRONG("replica"));
    cr_expect_eq(hreq_metric(p.url, WRONG("cluster"), &found), 0);
    cr_expect_eq(lookup(p.url, xc, sizeof(xc)), 200, "served all the same");
    hfixture_stop(&p);
    cr_expect(hfixture_file_has(p.log, "is a replica"), "logged (%s)", p.log);
}

/* A redis:// URL that reaches a cluster node: the same, named. */
Test(redis, a_cluster_node_degrades_readyz_and_is_counted)
{
    struct hredis       rd;
    struct hproc        p;
    struct json_object *o;
    char                url[128], nodes[600], bus[16], xc[32];
    const char         *args[] = { "--cluster-enabled", "yes",
                                   "--cluster-config-file", nodes,
                                   "--cluster-port", bus, NULL };
    bool                found;

    snprintf(nodes, sizeof(nodes), "%s/rd-cluster-nodes.conf",
             hfixture_env("HSP_TMPDIR"));
    /* Its bus port would be port + 10000, maybe past 65535. */
    snprintf(bus, sizeof(bus), "%d", hredis_free_port());
    hredis_start("rd-cluster", args, &rd);
    snprintf(url, sizeof(url), "redis://127.0.0.1:%d", rd.port);
    proxy_on("px-cluster", url, NULL, &p);

    o = readyz_wait(p.url, "reason", "cluster node");
    cr_expect_str_eq(hreq_jstr(o, "status"), "degraded");
    cr_expect(strncmp(hreq_jstr(o, "redis.reason"),
                      "redis is a cluster node: use redis-cluster:// (",
                      47) == 0,
              "%s", hreq_jstr(o, "redis.reason"));
    json_object_put(o);
    cr_expect_geq(hreq_metric(p.url, WRONG("cluster"), &found), 1);
    cr_expect(found, "no %s in /metrics", WRONG("cluster"));
    cr_expect_eq(lookup(p.url, xc, sizeof(xc)), 200, "served all the same");
    hfixture_stop(&p);
    cr_expect(hfixture_file_has(p.log, "is a cluster node"), "logged (%s)", p.log);
}

/*
 * The policy is asked again every 10 s, not only at connect: changed to
 * allkeys-lru at runtime it shows in /readyz and the gauge, and changed
 * back to noeviction it clears, each within a period (and some slack).
 */
Test(redis, a_policy_changed_at_runtime_shows_and_clears)
{
    struct hredis       rd;
    struct hproc        p;
    struct json_object *o;
    redisContext       *c;
    char                url[128];
    bool                found;

    hredis_start("rd-repolicy", NULL, &rd);
    snprintf(url, sizeof(url), "redis://127.0.0.1:%d", rd.port);
    proxy_on("px-repolicy", url, NULL, &p);
    json_object_put(readyz_wait(p.url, "status", "up"));
    cr_expect_eq(hreq_metric(p.url, EVICTING, &found), 0);

    c = hredis_connect(&rd, NULL);
    hredis_ok(c, "CONFIG SET maxmemory-policy allkeys-lru");
    o = readyz_wait_ms(p.url, "reason", "evicted", 13000);
    cr_expect_str_eq(hreq_jstr(o, "status"), "degraded");
    json_object_put(o);
    cr_expect_geq(hreq_metric(p.url, EVICTING, &found), 1);

    hredis_ok(c, "CONFIG SET maxmemory-policy noeviction");
    redisFree(c);
    o = readyz_wait_ms(p.url, "status", "up", 13000);
    cr_expect_str_eq(hreq_jstr(o, "status"), "ready");
    json_object_put(o);
    cr_expect_eq(hreq_metric(p.url, EVICTING, &found), 0);
    hfixture_stop(&p);
    cr_expect(hfixture_file_has(p.log, "maxmemory-policy is allkeys-lru"));
    cr_expect(hfixture_file_has(p.log, "maxmemory-policy is noeviction again"));
}

/* ---- TLS (rediss://) ------------------------------------------------------ */

/*
 * A TLS-only Redis (certs.sh's server certificate for 127.0.0.1, its CA
 * given as redis_ca_file): the chain and the address verified, the proxy
 * caches through it like through any Redis.
 */
Test(redis, rediss_with_its_ca_gets_a_miss_then_a_hit)
{
    struct hredis       rd;
    struct hproc        p;
    struct json_object *o;
    const char         *certs = hfixture_env("HSP_CERT_DIR");
    char                url[160], ca[600], cmd[2048], xc[32];
    int                 i;

    hredis_start_tls("rd-tls", certs, NULL, &rd);
    snprintf(url, sizeof(url), "rediss://127.0.0.1:%d", rd.port);
    snprintf(ca, sizeof(ca), "redis_ca_file=%s/ca.pem", certs);
    /* -t takes the URL and the file as they are given here. */
    snprintf(cmd, sizeof(cmd), "'%s' -t -c '%s' -o 'redis=%s' -o '%s' "
             ">/dev/null 2>&1", hfixture_env("HSP_PROXY_BIN"),
             hfixture_env("HSP_PROXY_CONF"), url, ca);
    cr_expect_eq(system(cmd), 0, "-t refused: %s", cmd);
    proxy_on("px-tls", url, ca, &p);

    o = readyz_wait(p.url, "status", "up");
    cr_expect_str_eq(hreq_jstr(o, "redis.status"), "up");
    json_object_put(o);
    cr_expect_eq(lookup(p.url, xc, sizeof(xc)), 200);
    cr_expect_str_eq(xc, "MISS");
    cr_expect_eq(lookup(p.url, xc, sizeof(xc)), 200);
    cr_expect_str_eq(xc, "HIT");
    /* The subscriber link too, and tracking through it (near cache). */
    for (i = 0; !hfixture_file_has(p.log, "redis tracking on"); i++) {
        cr_assert_lt(i, hfixture_slow_ms(WAIT_MS) / POLL_MS,
                     "tracking never came on over TLS (%s)", p.log);
        hfixture_pause_ms(POLL_MS);
    }
    hfixture_stop(&p);
    cr_expect(hfixture_file_has(p.log, "store: connected to redis subscriber"));
}

/*
 * The same Redis with a CA that did not sign its certificate: the
 * handshake fails verification, so the store is never up, says why in
 * the log, and every request is still served (fail-open).
 */
Test(redis, rediss_with_a_wrong_ca_is_never_up_and_fails_open)
{
    struct hredis       rd;
    struct hproc        p;
    struct json_object *o;
    const char         *certs = hfixture_env("HSP_CERT_DIR");
    char                url[160], ca[600], other[512], cmd[1200], xc[32];
    int                 i;

    hredis_start_tls("rd-tls-wrong", certs, NULL, &rd);
    /* Another throwaway CA, which signed nothing this Redis shows. */
    snprintf(other, sizeof(other), "%s/other-ca", hfixture_env("HSP_TMPDIR"));
    snprintf(cmd, sizeof(cmd),
             "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 "
             "-nodes -days 2 -subj /CN=other-ca -keyout '%s.key' "
             "-out '%s.pem' >/dev/null 2>&1", other, other);
    cr_assert_eq(system(cmd), 0, "%s", cmd);
    snprintf(url, sizeof(url), "rediss://127.0.0.1:%d", rd.port);
    snprintf(ca, sizeof(ca), "redis_ca_file=%s.pem", other);
    proxy_on("px-tls-wrong", url, ca, &p);

    for (i = 0; i < 2; i++) {   /* served, never from a cache it lacks */
        cr_expect_eq(lookup(p.url, xc, sizeof(xc)), 200, "round %d", i);
        cr_expect_str_neq(xc, "HIT", "round %d", i);
    }
    hfixture_pause_ms(1500);    /* several connect attempts */
    o = hreq_readyz(p.url);
    cr_expect_str_neq(hreq_jstr(o, "redis.status"), "up",
                      "a certificate no CA given vouches for looks up");
    json_object_put(o);
    hfixture_stop(&p);
    cr_expect_not(hfixture_file_has(p.log, "store: connected"),
                  "an unverified Redis was logged as connected (%s)",
                  p.log);
    cr_expect(hfixture_file_has(p.log, "(tls)"), "the TLS failure is logged (%s)",
              p.log);
}

/*
 * A TLS Redis that asks for a client certificate (--tls-auth-clients
 * yes): with redis_cert_file and redis_key_file (certs.sh's client
 * certificate) the proxy caches through it; without them it is never up,
 * says why in the log, and serves every request all the same.
 */
Test(redis, rediss_with_a_client_certificate_and_without)
{
    static const char *const args[] = { "--tls-auth-clients", "yes", NULL };
    struct hredis       rd;
    struct hproc        p, q;
    struct json_object *o;
    const char         *certs = hfixture_env("HSP_CERT_DIR");
    char                url[160], redis[200], ca[600], cert[600],
                        key[600], xc[32];
    const char         *opts[] = { redis, ca, cert, key, NULL };
    int                 i;

    hredis_start_tls("rd-mtls", certs, args, &rd);
    snprintf(url, sizeof(url), "rediss://127.0.0.1:%d", rd.port);
    snprintf(redis, sizeof(redis), "redis=%s", url);
    snprintf(ca, sizeof(ca), "redis_ca_file=%s/ca.pem", certs);
    snprintf(cert, sizeof(cert), "redis_cert_file=%s/client.pem", certs);
    snprintf(key, sizeof(key), "redis_key_file=%s/client.key", certs);
    hfixture_proxy("px-mtls", opts, &p);
    o = readyz_wait(p.url, "status", "up");
    json_object_put(o);
    cr_expect_eq(lookup(p.url, xc, sizeof(xc)), 200);
    cr_expect_str_eq(xc, "MISS");
    cr_expect_eq(lookup(p.url, xc, sizeof(xc)), 200);
    cr_expect_str_eq(xc, "HIT");
    hfixture_stop(&p);
    cr_expect(hfixture_file_has(p.log, "store: connected to redis"));

    proxy_on("px-mtls-none", url, ca, &q);
    for (i = 0; i < 2; i++) {   /* served, never from a cache it lacks */
        cr_expect_eq(lookup(q.url, xc, sizeof(xc)), 200, "round %d", i);
        cr_expect_str_neq(xc, "HIT", "round %d", i);
    }
    hfixture_pause_ms(1500);    /* several connect attempts */
    o = hreq_readyz(q.url);
    cr_expect_str_neq(hreq_jstr(o, "redis.status"), "up",
                      "up without the certificate Redis asks for");
    json_object_put(o);
    hfixture_stop(&q);
    cr_expect_not(hfixture_file_has(q.log, "store: connected"),
                  "logged as connected without a certificate (%s)", q.log);
    cr_expect(hfixture_file_has(q.log, "(tls)"), "the TLS failure is logged (%s)",
              q.log);
}
