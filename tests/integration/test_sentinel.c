/*
 * test_sentinel.c - redis-sentinel:// (SPEC §12) against real processes
 * the tests start themselves (tests/lib/hsentinel.h): a master, its
 * replica and three sentinels on loopback. Two proxies share it, as two
 * instances of a fleet do. Across a SENTINEL FAILOVER: reads keep being
 * answered, a PATCH answered 200 is never served stale as a HIT, a
 * PATCH retried with its Idempotency-Key never reaches the upstream
 * twice, and HITs resume from the new master within 2 s of Sentinel's
 * +switch-master. A master demoted with REPLICAOF, its connections left
 * alone, is left too. Sentinels with a password, right and wrong.
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

#define API    "/api/v1/appointment/s2s"
#define ALPHA  "hs_test_tenant_alpha_0001"
#define LOOKUP API "/phone/query?phone=%2B18015551234"

#define FAILOVERS "heavyset_redis_failovers_total"
#define SWITCH_MS 2000              /* SPEC §12: moved within 2 s */
#define WAIT_MS   10000
#define POLL_MS   20
#define KEYS_MAX  64

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

/* /readyz of BASE (always 200), parsed; the caller puts it. */
static struct json_object *
readyz(const char *base)
{
    struct json_object *o;
    struct hresp        r;

    hreq_get(base, "/readyz", NULL, &r);
    cr_assert_eq(r.status, 200, "/readyz %d: %s", r.status, r.body);
    o = hresp_json(&r);
    cr_assert_not_null(o, "/readyz is not JSON: %s", r.body);
    hresp_free(&r);
    return o;
}

/* The value at O.redis.A[.B] as text ("" when absent). */
static const char *
jget(struct json_object *o, const char *a, const char *b)
{
    struct json_object *v;

    if (!json_object_object_get_ex(o, "redis", &v) ||
        !json_object_object_get_ex(v, a, &v) ||
        (b != NULL && !json_object_object_get_ex(v, b, &v))) {
        return "";
    }
    return json_object_get_string(v);
}

/* Whether /readyz of BASE says it is up on the master at PORT, confirmed
 * by every worker. */
static bool
on_master(const char *base, int port)
{
    struct json_object *o = readyz(base);
    char                want[32];
    bool                ok;

    snprintf(want, sizeof(want), "127.0.0.1:%d", port);
    ok = strcmp(jget(o, "status", NULL), "up") == 0 &&
         strcmp(jget(o, "sentinel", "master"), want) == 0 &&
         strcmp(jget(o, "sentinel", "confirmed"), jget(o, "workers", NULL)) ==
             0;
    json_object_put(o);
    return ok;
}

/* Waits (MS, stretched for slow builds) until on_master(BASE, PORT). */
static void
wait_on_master(const char *base, int port, long ms)
{
    long end = hfixture_now_ms() + hfixture_slow_ms(ms);

    while (!on_master(base, port)) {
        if (hfixture_now_ms() >= end) {
            struct json_object *o = readyz(base);

            cr_assert_fail("%s is not up on the master :%d: %s", base, port,
                           json_object_to_json_string(o));
        }
        hfixture_pause_ms(POLL_MS);
    }
}

/* Starts a proxy NAME on the sentinels of T into P (more -o in EXTRA,
 * NULL-terminated, may be NULL). */
static void
proxy_on(const char *name, const struct hsentinel *t,
         const char *const *extra, struct hproc *p)
{
    char        url[300], redis[320];
    const char *opts[8] = { redis, "workers=2" };
    size_t      i;

    hsentinel_url(t, url, sizeof(url));
    snprintf(redis, sizeof(redis), "redis=%s", url);
    for (i = 0; extra != NULL && extra[i] != NULL && i < 5; i++) {
        opts[2 + i] = extra[i];
    }
    hfixture_proxy(name, opts, p);
}

/* GET LOOKUP through BASE: its status (0: no answer), X-Cache into XC,
 * the lead's name into NAME (both CAP bytes). Safe in any thread. */
static int
lookup(const char *base, char *xc, char *name, size_t cap)
{
    struct json_object *root, *v;
    struct hresp        r;
    const char         *h;
    int                 status;

    xc[0] = name[0] = '\0';
    if (hreq_try("GET", base, LOOKUP, NULL, HREQ(.token = ALPHA), &r) != 0) {
        hresp_free(&r);
        return 0;
    }
    h = hresp_header(&r, "X-Cache");
    snprintf(xc, cap, "%s", h != NULL ? h : "");
    root = hresp_json(&r);
    if (root != NULL && json_object_object_get_ex(root, "name", &v)) {
        snprintf(name, cap, "%s", json_object_get_string(v));
    }
    json_object_put(root);
    status = r.status;
    hresp_free(&r);
    return status;
}

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
        if (lookup(rd->base[i % 2], xc, name, sizeof(xc)) != 200) {
            atomic_fetch_add(&rd->failed, 1);
        }
        atomic_fetch_add(&rd->total, 1);
        hfixture_pause_ms(5);
    }
    return NULL;
}

/* ---- PATCHes with an Idempotency-Key: how often each reached upstream --- */

struct patches {
    int  n;
    char keys[KEYS_MAX][32];
    char first[KEYS_MAX][32];       /* the body's firstName, the same in
                                     * a retry */
    int  ran[KEYS_MAX];             /* answers forwarded (not replayed) */
    int  refused[KEYS_MAX];         /* 503s */
};

/* PATCHes key I of PS through BASE, noting whether it was forwarded; its
 * body names FIRST (NULL: as the first time). */
static void
patch_key(struct patches *ps, int i, const char *base, const char *first)
{
    char         body[160];
    struct hresp r;

    if (first != NULL) {
        snprintf(ps->first[i], sizeof(ps->first[i]), "%s", first);
    }
    snprintf(body, sizeof(body),
             "{\"phone\":\"+18015551234\",\"firstName\":\"%s\","
             "\"lastName\":\"K%d\"}", ps->first[i], i);
    hreq_patch(base, body, HREQ(.token = ALPHA, .key = ps->keys[i]), &r);
    if (r.status == 503) {
        ps->refused[i]++;
    } else if (r.status == 200 &&
               hresp_header(&r, "Idempotent-Replayed") == NULL) {
        ps->ran[i]++;
    } else {
        cr_expect(r.status == 200 || r.status == 409,
                  "PATCH %s: %d %s", ps->keys[i], r.status, r.body);
    }
    hresp_free(&r);
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
    static struct patches   ps;
    struct hproc            a, b;
    redisContext           *w;
    long                    switched, hit_at = 0, updates;
    char                    xc[32], name[128], first[32];
    int                     old, now, i, total_ran = 0, refused = 0;
    bool                    found;

    hsentinel_start("sn-fo", NULL, &t);
    proxy_on("px-fo-a", &t, NULL, &a);
    proxy_on("px-fo-b", &t, NULL, &b);
    old = hsentinel_master_port(&t);
    wait_on_master(a.url, old, WAIT_MS);
    wait_on_master(b.url, old, WAIT_MS);
    cr_assert_eq(lookup(a.url, xc, name, sizeof(xc)), 200);
    cr_assert_eq(lookup(b.url, xc, name, sizeof(xc)), 200);
    cr_expect_str_eq(xc, "HIT", "B does not share A's entry");

    /* A PATCH before, its record on the replica too: replayed after. */
    memset(&ps, 0, sizeof(ps));
    for (i = 0; i < KEYS_MAX; i++) {
        snprintf(ps.keys[i], sizeof(ps.keys[i]), "fo-%d-%ld", i,
                 hfixture_now_ms());
    }
    patch_key(&ps, 0, a.url, "Before");
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
    for (i = 1; i < KEYS_MAX / 2 && now == old; i++) {
        patch_key(&ps, i, i % 2 ? a.url : b.url, "During");
        ps.n = i + 1;
        now = hsentinel_master_port(&t);
    }
    now = hsentinel_switched(w, hfixture_slow_ms(30000), &switched);
    redisFree(w);
    cr_assert_neq(now, old, "+switch-master named the old master");

    /* The first HIT from the new master: the old one holds no link of
     * either proxy, so a HIT now is read from the new one. */
    for (;;) {
        if (lookup(a.url, xc, name, sizeof(xc)) == 200 &&
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
    wait_on_master(a.url, now, SWITCH_MS);
    wait_on_master(b.url, now, SWITCH_MS);

    atomic_store(&rd.stop, true);
    pthread_join(rd.thread, NULL);
    printf("sentinel: %ld reads during the failover, %ld failed\n",
           atomic_load(&rd.total), atomic_load(&rd.failed));
    cr_expect_eq(atomic_load(&rd.failed), 0, "%ld of %ld reads failed",
                 atomic_load(&rd.failed), atomic_load(&rd.total));
    cr_expect_gt(atomic_load(&rd.total), 0);

    /* Every PATCH retried with its key, through the other instance: none
     * reaches the upstream a second time. */
    for (i = 0; i < ps.n; i++) {
        patch_key(&ps, i, i % 2 ? b.url : a.url, NULL);
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
    patch_key(&ps, KEYS_MAX - 1, a.url, first);
    cr_assert_eq(ps.ran[KEYS_MAX - 1], 1, "the PATCH after was not "
                 "forwarded");
    for (i = 0; i < 2; i++) {
        int status = lookup(i == 0 ? a.url : b.url, xc, name, sizeof(xc));

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
