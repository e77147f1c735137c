/*
 * test_purge.c - PURGE (SPEC §13): the tenant's own token erases, per
 * phone (every entry of it: lead, variants, not-found, blocks) or the
 * whole cache, on every instance's near cache; answers {"purged":N};
 * never asks the upstream nor spends its budget; logged masked, counted;
 * a 503 when Redis cannot do it; clear 4xx for what it cannot be. Real
 * proxies of the test's own (two on one Redis), a real redis-server and
 * the sandbox, started by tests/integration/run.sh.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <hiredis/hiredis.h>
#include <json-c/json.h>

#include "hfixture.h"
#include "hproc.h"
#include "hreq.h"
#include "key.h"

#define API      "/api/v1/appointment/s2s"
#define QUERY    API "/phone/query"
#define ALPHA    "hs_test_tenant_alpha_0001"
#define BRAVO    "hs_test_tenant_bravo_0002"
#define CRM      "a0C8X00000AlphaCRM"
#define JANE     "%2B18015551234"       /* seeded for alpha and bravo */
#define MARIA    "%2B13035550142"       /* seeded for alpha */
#define NOBODY   "%2B18015559999"       /* a not-found */
#define PURGES   "heavyset_purges_total"
#define PURGED   "heavyset_purged_entries_total"
#define NEAR     "heavyset_near_hits_total"

static struct hproc pa, pb;

/* Two instances on the run's Redis, under a prefix of their own, blocks
 * cached; A with two workers, each with its near cache. */
static void
start_pair(void)
{
    static const char *const a[] = { "redis_prefix=hsp-purge", "workers=2",
                                     "ttl_blocks=1m", NULL };
    static const char *const b[] = { "redis_prefix=hsp-purge",
                                     "ttl_blocks=1m", NULL };

    hfixture_fresh();
    hfixture_proxy("purge-a", a, &pa);
    hfixture_proxy("purge-b", b, &pb);
}

static void
stop_pair(void)
{
    hfixture_stop(&pa);
    hfixture_stop(&pb);
}

TestSuite(purge, .init = start_pair, .fini = stop_pair, .timeout = 120);

/* GETs PATH of BASE as TOKEN, expects STATUS and X-Cache WANT. */
static void
get(const char *base, const char *path, const char *token, int status,
    const char *want)
{
    struct hresp r;

    hreq_get(base, path, HREQ(.token = token), &r);
    cr_expect_eq(r.status, status, "%s: %d %s", path, r.status, r.body);
    cr_expect_str_eq(hreq_hdr(&r, "X-Cache"), want, "GET %s", path);
    hresp_free(&r);
}

/* PURGEs PATH of BASE as TOKEN: expects 200 and returns N of
 * {"purged":N}. */
static long
purge(const char *base, const char *path, const char *token)
{
    struct hresp        r;
    struct json_object *j, *n;
    long                v;

    hreq_send("PURGE", base, path, NULL, HREQ(.token = token), &r);
    cr_assert_eq(r.status, 200, "PURGE %s: %d %s", path, r.status, r.body);
    cr_expect_str_eq(hreq_hdr(&r, "Content-Type"), "application/json");
    cr_expect_str_eq(hreq_hdr(&r, "X-Cache"), "(none)");
    j = hresp_json(&r);
    cr_assert_not_null(j, "not JSON: %s", r.body);
    cr_assert(json_object_object_get_ex(j, "purged", &n) &&
              json_object_is_type(n, json_type_int), "%s", r.body);
    cr_expect_eq(json_object_object_length(j), 1, "%s", r.body);
    v = (long)json_object_get_int64(n);
    json_object_put(j);
    hresp_free(&r);
    return v;
}

/* Keys of the run's Redis matching PATTERN. */
static long
keys(const char *pattern)
{
    redisContext *c = hfixture_redis("HSP_REDIS_SOCK");
    redisReply   *rep = redisCommand(c, "KEYS %s", pattern);
    long          n;

    cr_assert(rep != NULL && rep->type == REDIS_REPLY_ARRAY);
    n = (long)rep->elements;
    freeReplyObject(rep);
    redisFree(c);
    return n;
}

/* The key prefix of TOKEN's tenant under hsp-purge, as a KEYS pattern. */
static void
tenant_pattern(const char *token, const char *what, char *out, size_t cap)
{
    char t[KEY_TENANT_HEX + 1];

    key_tenant(token, strlen(token), t);
    snprintf(out, cap, "hsp-purge:" KEY_SCHEMA ":{%s}:%s", t, what);
}

Test(purge, a_phone_purge_drops_every_entry_of_that_phone_only)
{
    const char *base = pa.url;
    long        total;
    double      scoped = hreq_metric(base, PURGES "{scope=\"phone\"}", NULL);
    double      dropped = hreq_metric(base, PURGED, NULL);

    /* the lead, a variant and blocks of one phone; another phone of the
     * tenant; the same phone of another tenant */
    get(base, QUERY "?phone=" JANE, ALPHA, 200, "MISS");
    get(base, API "/phone/query/" CRM "?phone=" JANE, ALPHA, 200, "MISS");
    get(base, QUERY "/blocks?phone=" JANE "&limitDays=5", ALPHA, 200, "MISS");
    get(base, QUERY "?phone=" MARIA, ALPHA, 200, "MISS");
    get(base, QUERY "?phone=" JANE, BRAVO, 200, "MISS");
    get(base, QUERY "?phone=" JANE, ALPHA, 200, "HIT");
    total = hfixture_count("total");

    /* another spelling of the same number names the same entries */
    cr_expect_eq(purge(base, QUERY "?phone=(801)%20555-1234", ALPHA), 3);
    cr_expect_eq(hfixture_count("total"), total, "PURGE asked the upstream");
    cr_expect_eq(hreq_metric(base, PURGES "{scope=\"phone\"}", NULL),
                 scoped + 1);
    cr_expect_eq(hreq_metric(base, PURGED, NULL), dropped + 3);

    /* nothing of that phone is left, on either instance */
    get(pb.url, QUERY "?phone=" JANE, ALPHA, 200, "MISS");
    get(base, API "/phone/query/" CRM "?phone=" JANE, ALPHA, 200, "MISS");
    get(pb.url, QUERY "/blocks?phone=" JANE "&limitDays=5", ALPHA, 200,
        "MISS");
    /* and the rest is as it was */
    get(base, QUERY "?phone=" MARIA, ALPHA, 200, "HIT");
    get(pb.url, QUERY "?phone=" JANE, BRAVO, 200, "HIT");
    /* a purge of a phone with nothing cached drops nothing */
    cr_expect_eq(purge(pb.url, QUERY "/blocks?phone=" NOBODY, ALPHA), 0);
}

Test(purge, a_not_found_is_purged_too)
{
    get(pa.url, QUERY "?phone=" NOBODY, ALPHA, 404, "MISS");
    get(pb.url, QUERY "?phone=" NOBODY, ALPHA, 404, "HIT");
    /* through a variant's path: the phone decides, not the route */
    cr_expect_eq(purge(pb.url, API "/phone/query/" CRM "?phone=" NOBODY,
                       ALPHA), 1);
    get(pa.url, QUERY "?phone=" NOBODY, ALPHA, 404, "MISS");
}

Test(purge, a_tenant_purge_drops_the_whole_cache_of_that_tenant_only)
{
    redisContext *c = hfixture_redis("HSP_REDIS_SOCK");
    char          pat[128], log_has[128];
    struct hresp  r;
    long          total, i;
    double        scoped_a = hreq_metric(pa.url, PURGES "{scope=\"tenant\"}",
                                         NULL);
    double        scoped_b = hreq_metric(pb.url, PURGES "{scope=\"tenant\"}",
                                         NULL);

    /* a PATCH with an Idempotency-Key first: its record is no cache
     * entry; its lead is written through */
    hreq_patch(pa.url, "{\"phone\":\"+13035550142\",\"appendComment\":\"p\"}",
               HREQ(.token = ALPHA, .key = "purge-idem-1"), &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    hresp_free(&r);
    get(pa.url, QUERY "?phone=" MARIA, ALPHA, 200, "HIT");
    get(pa.url, QUERY "?phone=" JANE, ALPHA, 200, "MISS");
    get(pa.url, API "/phone/query/" CRM "?phone=" JANE, ALPHA, 200, "MISS");
    get(pa.url, QUERY "/blocks?phone=" MARIA, ALPHA, 200, "MISS");
    get(pa.url, QUERY "/dispositions", ALPHA, 200, "MISS");
    get(pa.url, QUERY "?phone=" NOBODY, ALPHA, 404, "MISS");
    get(pa.url, QUERY "?phone=" JANE, BRAVO, 200, "MISS");
    get(pa.url, QUERY "/dispositions", BRAVO, 200, "MISS");
    /* 3,000 keys of nobody's: the scan takes several steps */
    for (i = 0; i < 3000; i++) {
        redisAppendCommand(c, "SET other:%ld x", i);
    }
    for (i = 0; i < 3000; i++) {
        redisReply *rep;

        cr_assert_eq(redisGetReply(c, (void **)&rep), REDIS_OK);
        freeReplyObject(rep);
    }
    total = hfixture_count("total");

    /* lead + variant of Jane, lead + blocks of Maria, dispositions, a
     * not-found */
    cr_expect_eq(purge(pb.url, QUERY, ALPHA), 6);
    cr_expect_eq(hfixture_count("total"), total, "PURGE asked the upstream");
    cr_expect_eq(hreq_metric(pb.url, PURGES "{scope=\"tenant\"}", NULL),
                 scoped_b + 1);
    cr_expect_eq(hreq_metric(pa.url, PURGES "{scope=\"tenant\"}", NULL),
                 scoped_a, "counted by the instance that purged, B");
    snprintf(log_has, sizeof(log_has), "purged the whole cache: 6 entries");
    cr_expect(hfixture_file_has(pb.log, log_has), "no \"%s\" in %s", log_has,
              pb.log);
    cr_expect_eq(hfixture_file_lines(pb.log, "purged the whole cache: 6 "
                                              "entries in 1 step"), 0,
                 "3,000 keys scanned in one step: COUNT is not bounding it");

    tenant_pattern(ALPHA, "lead:*", pat, sizeof(pat));
    cr_expect_eq(keys(pat), 0, "%s", pat);
    tenant_pattern(ALPHA, "blocks:*", pat, sizeof(pat));
    cr_expect_eq(keys(pat), 0, "%s", pat);
    tenant_pattern(ALPHA, "disp", pat, sizeof(pat));
    cr_expect_eq(keys(pat), 0, "%s", pat);
    tenant_pattern(ALPHA, "idem:*", pat, sizeof(pat));
    cr_expect_eq(keys(pat), 1, "the Idempotency-Key record stays");
    cr_expect_eq(keys("other:*"), 3000, "a key of nobody's went");
    tenant_pattern(BRAVO, "*", pat, sizeof(pat));
    cr_expect_gt(keys(pat), 0);

    get(pa.url, QUERY "?phone=" JANE, ALPHA, 200, "MISS");
    get(pb.url, QUERY "/dispositions", ALPHA, 200, "MISS");
    get(pa.url, QUERY "?phone=" JANE, BRAVO, 200, "HIT");
    get(pb.url, QUERY "/dispositions", BRAVO, 200, "HIT");
    /* the PATCH is still replayed, not run twice */
    hreq_patch(pb.url, "{\"phone\":\"+13035550142\",\"appendComment\":\"p\"}",
               HREQ(.token = ALPHA, .key = "purge-idem-1"), &r);
    cr_expect_eq(r.status, 200, "%s", r.body);
    cr_expect_str_eq(hreq_hdr(&r, "Idempotent-Replayed"), "true");
    hresp_free(&r);
    redisFree(c);
}

Test(purge, dispositions_are_purged_on_their_route)
{
    get(pa.url, QUERY "/dispositions", ALPHA, 200, "MISS");
    get(pa.url, QUERY "?phone=" JANE, ALPHA, 200, "MISS");
    cr_expect_eq(purge(pa.url, QUERY "/dispositions", ALPHA), 1);
    get(pb.url, QUERY "/dispositions", ALPHA, 200, "MISS");
    get(pb.url, QUERY "?phone=" JANE, ALPHA, 200, "HIT");
}

/*
 * Every instance's near cache: each round warms both instances (A has
 * two workers), purges through one, and reads through the other at once.
 */
Test(purge, no_instance_serves_a_purged_entry_from_memory)
{
    const char *const bases[] = { pa.url, pb.url };
    struct hresp      r;
    double            near0 = hreq_metric(pa.url, NEAR, NULL) +
                              hreq_metric(pb.url, NEAR, NULL);
    int               i, j;

    for (i = 0; i < 20; i++) {
        for (j = 0; j < 6; j++) {
            hreq_get(bases[j % 2], QUERY "?phone=" JANE, HREQ(.token = ALPHA),
                     &r);
            cr_assert_eq(r.status, 200);
            hresp_free(&r);
        }
        cr_assert_eq(purge(bases[i % 2], QUERY "?phone=" JANE, ALPHA), 1,
                     "round %d", i);
        for (j = 0; j < 2; j++) {
            hreq_get(bases[(i + 1 + j) % 2], QUERY "?phone=" JANE,
                     HREQ(.token = ALPHA), &r);
            cr_assert_str_eq(hreq_hdr(&r, "X-Cache"), j == 0 ? "MISS" : "HIT",
                             "round %d, read %d after the PURGE", i, j);
            hresp_free(&r);
        }
    }
    cr_expect_gt(hreq_metric(pa.url, NEAR, NULL) +
                     hreq_metric(pb.url, NEAR, NULL), near0,
                 "the near caches answered none: the test proves nothing");
}

Test(purge, is_logged_masked)
{
    get(pa.url, QUERY "?phone=" JANE, ALPHA, 200, "MISS");
    cr_expect_eq(purge(pa.url, QUERY "?phone=" JANE "&token=" ALPHA, NULL),
                 1, "the token may come in the query");
    cr_expect(hfixture_file_has(pa.log,
                                "purged the entries of phone ***1234: 1 "
                                "entries in 1 step"), "%s", pa.log);
    cr_expect(!hfixture_file_has(pa.log, "5551234"), "a phone in %s",
              pa.log);
    cr_expect(!hfixture_file_has(pa.log, ALPHA), "the token in %s", pa.log);
}

/* A refused PURGE: STATUS and one message containing MSG. */
static void
refused(const char *path, const char *token, int status, const char *msg,
        const char *allow)
{
    struct hresp r;

    hreq_send("PURGE", pa.url, path, NULL, HREQ(.token = token), &r);
    cr_expect_eq(r.status, status, "PURGE %s: %d %s", path, r.status, r.body);
    cr_expect(strstr(r.body, msg) != NULL, "PURGE %s: %s", path, r.body);
    cr_expect(strstr(r.body, "\"statusCode\"") != NULL, "not the upstream's "
              "error format: %s", r.body);
    if (allow != NULL) {
        cr_expect_str_eq(hreq_hdr(&r, "Allow"), allow, "PURGE %s", path);
    }
    hresp_free(&r);
}

Test(purge, what_cannot_be_purged_is_a_clear_4xx)
{
    long         total = hfixture_count("total");
    struct hresp r;
    static const char raw[] =
        "PURGE " QUERY "?phone=" JANE " HTTP/1.1\r\nHost: x\r\n"
        "x-hs-token: " ALPHA "\r\nContent-Length: 2\r\n\r\n{}";

    refused(QUERY "?phone=" JANE, NULL, 401, "token should not be empty",
            NULL);
    /* "phone=" with nothing after it is a mistake, not the whole cache */
    refused(QUERY "?phone=", ALPHA, 400, "phone should not be empty", NULL);
    refused(QUERY "?phone=12", ALPHA, 400, "phone must be a valid phone",
            NULL);
    refused(QUERY "?phone=" JANE "&phone=" MARIA, ALPHA, 400,
            "phone must be a string", NULL);
    refused(QUERY "/blocks", ALPHA, 400, "phone should not be empty", NULL);
    refused(API "/phone/update", ALPHA, 405, "method not allowed", "PATCH");
    refused("/healthz", ALPHA, 405, "method not allowed", "GET, HEAD");
    refused(API "/nope", ALPHA, 404, "Cannot PURGE", NULL);
    /* the cacheable routes say they take it */
    hreq_send("POST", pa.url, QUERY "?phone=" JANE, NULL,
              HREQ(.token = ALPHA), &r);
    cr_expect_eq(r.status, 405);
    cr_expect_str_eq(hreq_hdr(&r, "Allow"), "GET, HEAD, PURGE");
    hresp_free(&r);
    /* a body where none is allowed: refused, and the connection closed,
     * so its bytes are nobody's next request */
    cr_assert_eq(hclient_raw(pa.url, raw, sizeof(raw) - 1, &r), 0, "%s",
                 r.error);
    cr_expect_eq(r.status, 400, "%s", r.raw);
    cr_expect(r.closed);
    hresp_free(&r);
    cr_expect_eq(hfixture_count("total"), total);
}

/* A budget of 2 reads a minute: one spent, five PURGEs, and the second
 * read still goes upstream: PURGE spent none of it. */
Test(purge, never_spends_the_upstream_budget)
{
    static const char *const opts[] = { "redis_prefix=hsp-purge-budget",
                                        "rate_limit=2/min",
                                        "rate_reserve_writes=0/min", NULL };
    static struct hproc      p;
    int                      i;

    hfixture_proxy("purge-budget", opts, &p);
    get(p.url, QUERY "?phone=" JANE, ALPHA, 200, "MISS");
    for (i = 0; i < 5; i++) {
        cr_expect_eq(purge(p.url, QUERY "?phone=" JANE, ALPHA), i == 0);
        cr_expect_eq(purge(p.url, QUERY, ALPHA), 0);
    }
    get(p.url, QUERY "?phone=" MARIA, ALPHA, 200, "MISS");
    cr_expect_eq(hfixture_count("total"), 2);
    hfixture_stop(&p);
}

/* Without Redis nothing can be claimed erased: a 503 to try again. */
Test(purge, redis_away_is_a_503_not_a_false_success)
{
    const char *r2 = hfixture_env("HSP_PROXY_R2_URL");
    struct hresp r;
    double       failed = hreq_metric(r2, "heavyset_purges_failed_total",
                                      NULL);

    hfixture_redis2_stop();
    hreq_send("PURGE", r2, QUERY "?phone=" JANE, NULL, HREQ(.token = ALPHA),
              &r);
    cr_expect_eq(r.status, 503, "%d %s", r.status, r.body);
    cr_expect(strstr(r.body, "try again") != NULL, "%s", r.body);
    hresp_free(&r);
    cr_expect_eq(hreq_metric(r2, "heavyset_purges_failed_total", NULL),
                 failed + 1);
    hfixture_redis2_start();
}

/*
 * A read whose fetch began before the PURGE stores nothing after it: the
 * purge raised the epoch the read's fill compares, per phone and for the
 * whole tenant alike.
 */
Test(purge, a_fetch_begun_before_the_purge_stores_nothing_after_it)
{
    static const char *const paths[] = { QUERY "?phone=" JANE, QUERY };
    struct hheld             h;
    int                      i;

    for (i = 0; i < 2; i++) {
        memset(&h, 0, sizeof(h));
        h = (struct hheld){ .method = "GET", .base = pa.url,
                            .path = QUERY "?phone=" JANE,
                            .opt = { .token = ALPHA,
                                     .extra = "X-Sandbox-Delay-Ms: 400" } };
        hreq_held_start(&h);
        hreq_held_wait(1);
        cr_expect_eq(purge(pb.url, paths[i], ALPHA), 0, "%s", paths[i]);
        hreq_held_join(&h);
        cr_expect_eq(h.rc, 0, "%s", h.resp.error);
        cr_expect_eq(h.resp.status, 200);
        hresp_free(&h.resp);
        get(pa.url, QUERY "?phone=" JANE, ALPHA, 200, "MISS");
        cr_expect_eq(purge(pb.url, paths[i], ALPHA), 1, "%s", paths[i]);
    }
}
