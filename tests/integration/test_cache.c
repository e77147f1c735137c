/*
 * test_cache.c - the shared Redis cache end to end (SPEC §2-§4, §7, §8):
 * real proxies, a real redis-server and the sandbox over TLS, counting
 * the requests that reach the sandbox. Started by tests/integration/run.sh.
 *
 * Every test starts from an empty Redis and a freshly seeded sandbox, so
 * tests run one at a time (--jobs 1).
 */
#include "config.h"

#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <hiredis/hiredis.h>
#include <json-c/json.h>

#include "hclient.h"
#include "hexpect.h"
#include "hsandbox.h"
#include "hfixture.h"
#include "hreq.h"

#define API        "/api/v1/appointment/s2s"
#define ALPHA      "hs_test_tenant_alpha_0001"
#define BRAVO      "hs_test_tenant_bravo_0002"
#define CHARLIE    "hs_test_tenant_charlie_0003"
#define SHARED     "%2B18015551234"     /* in alpha and bravo, other data */
#define ALPHA_CRM  "a0C8X00000AlphaCRM"
#define ALPHA_BLK  "a0p8X00000AlpB01"   /* capacity 3 */
#define MISSING    "%2B18015559999"     /* in no tenant */
#define NEAR_HITS  "heavyset_near_hits_total"

/* The proxies of tests/integration/run.sh. */
#define PROXY       hfixture_env("HSP_PROXY_URL")
#define PROXY_B     hfixture_env("HSP_PROXY_B_URL")
#define PROXY_SHORT hfixture_env("HSP_PROXY_SHORT_URL")
#define PROXY_R2    hfixture_env("HSP_PROXY_R2_URL")

/* ---- helpers ------------------------------------------------------------ */

/* Sets the sandbox's own per-token limit (0: off) and clears its windows. */
static void
sandbox_rate_limit(int per_min)
{
    const char  *headers[] = { "Content-Type: application/json", NULL };
    struct hresp r;
    char         body[64];

    snprintf(body, sizeof(body), "{\"rate_limit\":%d}", per_min);
    cr_assert_eq(hclient_request(hfixture_env("HSP_SANDBOX_URL"), "POST",
                                 "/__sandbox/config", headers, body,
                                 strlen(body), &r),
                 0);
    cr_assert_eq(r.status, 200, "config: %s", r.body);
    hresp_free(&r);
    cr_assert_eq(hsandbox_reset(), 0);
}

static void
expect_cache(const struct hresp *r, const char *x_cache, const char *status)
{
    const char *xc = hresp_header(r, "X-Cache");
    const char *cs = hresp_header(r, "Cache-Status");

    cr_assert_not_null(xc, "no X-Cache (status %d)", r->status);
    cr_expect_str_eq(xc, x_cache, "X-Cache %s, want %s", xc, x_cache);
    cr_assert_not_null(cs, "no Cache-Status");
    cr_expect(strstr(cs, status) != NULL, "Cache-Status \"%s\" lacks \"%s\"",
              cs, status);
    cr_expect_eq(strncmp(cs, "heavyset-proxy; ", 16), 0, "Cache-Status %s",
                 cs);
}

/* The name field of R's JSON body, copied into OUT. */
static void
lead_name(const struct hresp *r, char *out, size_t cap)
{
    struct json_object *root = hresp_json(r), *v;

    cr_assert_not_null(root, "body is not JSON: %s", r->body);
    cr_assert(json_object_object_get_ex(root, "name", &v), "no name");
    snprintf(out, cap, "%s", json_object_get_string(v));
    json_object_put(root);
}

/* ---- tests -------------------------------------------------------------- */

Test(cache, miss_then_hit_with_one_upstream_request)
{
    struct hresp a, b;

    hfixture_fresh();
    hreq_get(PROXY, API "/phone/query?phone=" SHARED, HREQ(.token = ALPHA),
             &a);
    cr_assert_eq(a.status, 200);
    expect_cache(&a, "MISS", "fwd=miss; stored");
    cr_expect_null(hresp_header(&a, "Age"), "a miss has no Age");
    hreq_get(PROXY, API "/phone/query?phone=" SHARED, HREQ(.token = ALPHA),
             &b);
    cr_assert_eq(b.status, 200);
    expect_cache(&b, "HIT", "hit; ttl=");
    cr_expect_not_null(hresp_header(&b, "Age"), "a hit carries Age");
    cr_expect_eq(a.body_len, b.body_len);
    cr_expect_eq(memcmp(a.body, b.body, a.body_len), 0, "same body");
    cr_expect_str_eq(hresp_header(&b, "Content-Type"),
                     hresp_header(&a, "Content-Type"));
    cr_expect_eq(hsandbox_count("query"), 1);
    hresp_free(&a);
    hresp_free(&b);
}

Test(cache, every_phone_spelling_shares_one_entry)
{
    static const char *const spellings[] = {
        "%2B18015551234", "18015551234", "8015551234", "(801)%20555-1234",
        "801-555-1234", "801.555.1234", "%2B1%20(801)%20555-1234",
    };
    size_t i;

    hfixture_fresh();
    for (i = 0; i < sizeof(spellings) / sizeof(spellings[0]); i++) {
        struct hresp r;
        char         path[128];

        snprintf(path, sizeof(path), API "/phone/query?phone=%s",
                 spellings[i]);
        hreq_get(PROXY, path, HREQ(.token = ALPHA), &r);
        cr_expect_eq(r.status, 200, "%s: %d", spellings[i], r.status);
        expect_cache(&r, i == 0 ? "MISS" : "HIT", i == 0 ? "fwd=miss" : "hit");
        hresp_free(&r);
    }
    cr_expect_eq(hsandbox_count("query"), 1);
}

Test(cache, tenants_never_see_each_other)
{
    struct hresp r;
    char         alpha[64], bravo[64];
    int          round;

    hfixture_fresh();
    for (round = 0; round < 2; round++) {
        hreq_get(PROXY, API "/phone/query?phone=" SHARED, HREQ(.token = ALPHA),
                 &r);
        cr_assert_eq(r.status, 200);
        expect_cache(&r, round == 0 ? "MISS" : "HIT", "");
        lead_name(&r, alpha, sizeof(alpha));
        hresp_free(&r);
        hreq_get(PROXY, API "/phone/query?phone=" SHARED, HREQ(.token = BRAVO),
                 &r);
        cr_assert_eq(r.status, 200);
        expect_cache(&r, round == 0 ? "MISS" : "HIT", "");
        lead_name(&r, bravo, sizeof(bravo));
        hresp_free(&r);
        cr_expect_str_eq(alpha, "Jane Doe");
        cr_expect_str_eq(bravo, "Robert Miller");
        /* charlie has no such lead: its 404 is its own */
        hreq_get(PROXY, API "/phone/query?phone=" SHARED,
                 HREQ(.token = CHARLIE), &r);
        cr_expect_eq(r.status, 404);
        hresp_free(&r);
    }
    cr_expect_eq(hsandbox_count("query"), 3);
}

Test(cache, no_token_or_phone_in_redis_in_the_clear)
{
    static const char *const tokens[] = { ALPHA, BRAVO, CHARLIE };
    redisContext *c;
    redisReply   *keys;
    struct hresp  r;
    size_t        i, j;

    hfixture_fresh();
    for (i = 0; i < 3; i++) {
        char path[128];

        hreq_get(PROXY, API "/phone/query?phone=" SHARED,
                 HREQ(.token = tokens[i]), &r);
        hresp_free(&r);
        hreq_get(PROXY, API "/phone/query/dispositions",
                 HREQ(.token = tokens[i]), &r);
        hresp_free(&r);
        snprintf(path, sizeof(path),
                 API "/phone/query?phone=%%2B447700900123&token=%s",
                 tokens[i]);
        hreq_get(PROXY, path, NULL, &r);
        hresp_free(&r);
    }
    hreq_patch(PROXY, "{\"phone\":\"+18015551234\"," "\"firstName\":\"Scan\"}",
               HREQ(.token = ALPHA), &r);
    cr_expect_eq(r.status, 200);
    hresp_free(&r);

    c = hfixture_redis("HSP_REDIS_SOCK");
    keys = redisCommand(c, "KEYS *");
    cr_assert(keys != NULL && keys->type == REDIS_REPLY_ARRAY);
    cr_expect_gt(keys->elements, 4, "the requests above stored entries");
    for (i = 0; i < keys->elements; i++) {
        const char *k = keys->element[i]->str;
        redisReply *dump;

        for (j = 0; j < 3; j++) {
            cr_expect_null(strstr(k, tokens[j]), "token in key %s", k);
        }
        cr_expect_null(strstr(k, "8015551234"), "phone in key %s", k);
        cr_expect_null(strstr(k, "447700900123"), "phone in key %s", k);
        hexpect_tenant_key(k);
        /* Values: the whole key, whatever its type, as DUMP bytes. */
        dump = redisCommand(c, "DUMP %s", k);
        cr_assert(dump != NULL);
        if (dump->type == REDIS_REPLY_STRING) {
            for (j = 0; j < 3; j++) {
                cr_expect_null(memmem(dump->str, dump->len, tokens[j],
                                      strlen(tokens[j])),
                               "token in the value of %s", k);
            }
        }
        freeReplyObject(dump);
    }
    freeReplyObject(keys);
    redisFree(c);
}

Test(cache, not_found_is_cached_and_expires)
{
    struct hresp r;

    hfixture_fresh();
    hreq_get(PROXY_SHORT, API "/phone/query?phone=" MISSING,
             HREQ(.token = ALPHA), &r);
    cr_expect_eq(r.status, 404);
    expect_cache(&r, "MISS", "fwd=miss; stored");
    hresp_free(&r);
    hreq_get(PROXY_SHORT, API "/phone/query?phone=" MISSING,
             HREQ(.token = ALPHA), &r);
    cr_expect_eq(r.status, 404);
    expect_cache(&r, "HIT", "hit");
    cr_expect_eq(hsandbox_count("query"), 1);
    hresp_free(&r);
    usleep(1300 * 1000);            /* ttl_not_found = 1s there */
    hreq_get(PROXY_SHORT, API "/phone/query?phone=" MISSING,
             HREQ(.token = ALPHA), &r);
    cr_expect_eq(r.status, 404);
    expect_cache(&r, "MISS", "stored");
    cr_expect_eq(hsandbox_count("query"), 2);
    hresp_free(&r);
}

Test(cache, errors_are_never_cached)
{
    struct hresp r;
    int          i;

    hfixture_fresh();
    for (i = 0; i < 2; i++) {       /* 401: an unknown token */
        hreq_get(PROXY, API "/phone/query?phone=" SHARED,
                 HREQ(.token = "hs_nobody"), &r);
        cr_expect_eq(r.status, 401);
        expect_cache(&r, "MISS", "fwd=miss");
        cr_expect_null(strstr(hresp_header(&r, "Cache-Status"), "stored"));
        hresp_free(&r);
    }
    for (i = 0; i < 2; i++) {       /* 500 */
        hreq_get(PROXY, API "/phone/query?phone=" SHARED,
                 HREQ(.token = ALPHA, .extra = "X-Sandbox-Fail: 500"), &r);
        cr_expect_eq(r.status, 500);
        cr_expect_null(strstr(hresp_header(&r, "Cache-Status"), "stored"));
        hresp_free(&r);
    }
    hreq_get(PROXY, API "/phone/query?phone=" SHARED, HREQ(.token = ALPHA),
             &r);
    cr_expect_eq(r.status, 200);
    expect_cache(&r, "MISS", "stored");
    hresp_free(&r);
    cr_expect_eq(hsandbox_count("query"), 5);

    /* 429: the sandbox's own limit at 1/min for this test */
    sandbox_rate_limit(1);
    for (i = 0; i < 3; i++) {
        hreq_get(PROXY, API "/phone/query/" ALPHA_CRM "?phone=" SHARED,
                 HREQ(.token = ALPHA, .extra = "Cache-Control: no-cache"), &r);
        cr_expect_eq(r.status, i == 0 ? 200 : 429, "round %d: %d", i,
                     r.status);
        if (i > 0) {
            cr_expect_not_null(hresp_header(&r, "Retry-After"));
            cr_expect_null(strstr(hresp_header(&r, "Cache-Status"),
                                  "stored"));
        }
        hresp_free(&r);
    }
    sandbox_rate_limit(0);
}

Test(cache, dispositions_are_cached_per_tenant)
{
    struct hresp a1, a2, b1;

    hfixture_fresh();
    hreq_get(PROXY, API "/phone/query/dispositions", HREQ(.token = ALPHA),
             &a1);
    hreq_get(PROXY, API "/phone/query/dispositions", HREQ(.token = ALPHA),
             &a2);
    hreq_get(PROXY, API "/phone/query/dispositions", HREQ(.token = BRAVO),
             &b1);
    cr_expect_eq(a1.status, 200);
    expect_cache(&a1, "MISS", "stored");
    expect_cache(&a2, "HIT", "hit");
    expect_cache(&b1, "MISS", "stored");
    cr_expect(strstr(a2.body, "Credit too low") != NULL);
    cr_expect(strstr(b1.body, "Credit too low") == NULL, "bravo's own list");
    cr_expect_eq(hsandbox_count("dispositions"), 2);
    hresp_free(&a1);
    hresp_free(&a2);
    hresp_free(&b1);
}

Test(cache, blocks_bypass_by_default_and_cache_when_configured)
{
    struct hresp r;
    int          i;

    hfixture_fresh();
    for (i = 0; i < 2; i++) {       /* main proxy: ttl_blocks = 0 */
        hreq_get(PROXY, API "/phone/query/blocks?phone=" SHARED,
                 HREQ(.token = ALPHA), &r);
        cr_expect_eq(r.status, 200);
        expect_cache(&r, "BYPASS", "fwd=bypass");
        hresp_free(&r);
    }
    cr_expect_eq(hsandbox_count("blocks"), 2);

    /* ttl_blocks = 1m there; parameters key the entry, their order not */
    hreq_get(PROXY_SHORT,
             API "/phone/query/blocks?phone=" SHARED "&limitDays=5",
             HREQ(.token = ALPHA), &r);
    expect_cache(&r, "MISS", "stored");
    hresp_free(&r);
    hreq_get(PROXY_SHORT, API "/phone/query/blocks?limitDays=5&phone=" SHARED,
             HREQ(.token = ALPHA), &r);
    expect_cache(&r, "HIT", "hit");
    hresp_free(&r);
    hreq_get(PROXY_SHORT,
             API "/phone/query/blocks?phone=" SHARED "&limitDays=6",
             HREQ(.token = ALPHA), &r);
    expect_cache(&r, "MISS", "stored");
    hresp_free(&r);
    hreq_get(PROXY_SHORT,
             API "/phone/query/blocks?phone=" SHARED "&limitDays=5"
                 "&simpleBlockId=true",
             HREQ(.token = ALPHA), &r);
    expect_cache(&r, "MISS", "stored");
    cr_expect(strstr(r.body, "\"blockId\":\"2") != NULL ||
                  strstr(r.body, "\"blockId\":2") != NULL,
              "simple ids: %s", r.body);
    hresp_free(&r);
    cr_expect_eq(hsandbox_count("blocks"), 5);
}

Test(cache, patch_writes_through)
{
    struct hresp r;
    char         name[64];

    hfixture_fresh();
    hreq_get(PROXY, API "/phone/query?phone=" SHARED, HREQ(.token = ALPHA),
             &r);
    expect_cache(&r, "MISS", "stored");
    hresp_free(&r);
    hreq_patch(PROXY,
               "{\"phone\":\"801.555.1234\",\"firstName\":\"Janet\","
               "\"lastName\":\"Roe\"}",
               HREQ(.token = ALPHA), &r);
    cr_assert_eq(r.status, 200, "PATCH: %s", r.body);
    lead_name(&r, name, sizeof(name));
    cr_expect_str_eq(name, "Janet Roe");
    hresp_free(&r);
    hreq_get(PROXY, API "/phone/query?phone=8015551234", HREQ(.token = ALPHA),
             &r);
    cr_assert_eq(r.status, 200);
    expect_cache(&r, "HIT", "hit");
    lead_name(&r, name, sizeof(name));
    cr_expect_str_eq(name, "Janet Roe", "the PATCH's lead is served");
    hresp_free(&r);
    cr_expect_eq(hsandbox_count("query"), 1, "no upstream GET");
    cr_expect_eq(hsandbox_count("update"), 1);
    /* the other tenant's lead for the same phone is untouched */
    hreq_get(PROXY, API "/phone/query?phone=" SHARED, HREQ(.token = BRAVO),
             &r);
    lead_name(&r, name, sizeof(name));
    cr_expect_str_eq(name, "Robert Miller");
    hresp_free(&r);
}

Test(cache, patch_drops_variants_and_blocks)
{
    struct hresp r;

    hfixture_fresh();
    /* the lead's crmSettingsId variant, its blocks, another lead's blocks */
    hreq_get(PROXY_SHORT, API "/phone/query/" ALPHA_CRM "?phone=" SHARED,
             HREQ(.token = ALPHA), &r);
    expect_cache(&r, "MISS", "stored");
    hresp_free(&r);
    hreq_get(PROXY_SHORT, API "/phone/query/blocks?phone=" SHARED,
             HREQ(.token = ALPHA), &r);
    expect_cache(&r, "MISS", "stored");
    hresp_free(&r);
    hreq_get(PROXY_SHORT, API "/phone/query/blocks?phone=%2B18015550101",
             HREQ(.token = ALPHA), &r);
    expect_cache(&r, "MISS", "stored");
    hresp_free(&r);

    /* an update without booking: this lead's variant and blocks go */
    hreq_patch(PROXY_SHORT,
               "{\"phone\":\"+18015551234\",\"appendComment\":\"hi\"}",
               HREQ(.token = ALPHA), &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    hresp_free(&r);
    hreq_get(PROXY_SHORT, API "/phone/query/" ALPHA_CRM "?phone=" SHARED,
             HREQ(.token = ALPHA), &r);
    expect_cache(&r, "MISS", "stored");
    hresp_free(&r);
    hreq_get(PROXY_SHORT, API "/phone/query/blocks?phone=" SHARED,
             HREQ(.token = ALPHA), &r);
    expect_cache(&r, "MISS", "stored");
    hresp_free(&r);
    hreq_get(PROXY_SHORT, API "/phone/query/blocks?phone=%2B18015550101",
             HREQ(.token = ALPHA), &r);
    expect_cache(&r, "HIT", "hit");
    hresp_free(&r);

    /* a booking changes availability for the whole tenant */
    hreq_patch(PROXY_SHORT,
               "{\"phone\":\"+18015551234\",\"blockId\":\"" ALPHA_BLK "\"}",
               HREQ(.token = ALPHA), &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    hresp_free(&r);
    hreq_get(PROXY_SHORT, API "/phone/query/blocks?phone=%2B18015550101",
             HREQ(.token = ALPHA), &r);
    expect_cache(&r, "MISS", "stored");
    hresp_free(&r);
    /* another tenant's blocks stay */
    hreq_get(PROXY_SHORT, API "/phone/query/blocks?phone=" SHARED,
             HREQ(.token = BRAVO), &r);
    expect_cache(&r, "MISS", "stored");
    hresp_free(&r);
    hreq_patch(PROXY_SHORT, "{\"phone\":\"+18015550101\",\"cancelAppt\":true}",
               HREQ(.token = ALPHA), &r);
    hresp_free(&r);
    hreq_get(PROXY_SHORT, API "/phone/query/blocks?phone=" SHARED,
             HREQ(.token = BRAVO), &r);
    expect_cache(&r, "HIT", "hit");
    hresp_free(&r);
}

Test(cache, failed_patch_drops_the_lead)
{
    struct hresp r;

    hfixture_fresh();
    hreq_get(PROXY, API "/phone/query?phone=" SHARED, HREQ(.token = ALPHA),
             &r);
    expect_cache(&r, "MISS", "stored");
    hresp_free(&r);
    hreq_patch(PROXY, "{\"phone\":\"+18015551234\"}",
               HREQ(.token = ALPHA, .extra = "X-Sandbox-Fail: 500"), &r);
    cr_expect_eq(r.status, 500);
    hresp_free(&r);
    hreq_get(PROXY, API "/phone/query?phone=" SHARED, HREQ(.token = ALPHA),
             &r);
    expect_cache(&r, "MISS", "stored");
    hresp_free(&r);

    /* a 4xx from the upstream changes nothing cached */
    hreq_patch(PROXY, "{\"phone\":\"+18015551234\",\"firstName\":7}",
               HREQ(.token = ALPHA), &r);
    cr_expect_eq(r.status, 400, "the sandbox refuses a number: %s", r.body);
    hresp_free(&r);
    hreq_get(PROXY, API "/phone/query?phone=" SHARED, HREQ(.token = ALPHA),
             &r);
    expect_cache(&r, "HIT", "hit");
    hresp_free(&r);

    /* a PATCH that times out (upstream_timeout is 1s there) drops it too */
    hreq_patch(PROXY, "{\"phone\":\"+18015551234\"}",
               HREQ(.token = ALPHA, .extra = "X-Sandbox-Delay-Ms: 2000"), &r);
    cr_expect_eq(r.status, 504);
    hresp_free(&r);
    hreq_get(PROXY, API "/phone/query?phone=" SHARED, HREQ(.token = ALPHA),
             &r);
    expect_cache(&r, "MISS", "stored");
    hresp_free(&r);
}

struct local_case {
    const char *body;
    const char *message;
};

Test(cache, invalid_requests_are_refused_locally)
{
    static const struct local_case cases[] = {
        { "{\"phone\":", "invalid JSON" },
        { "[1,2]", "body must be a JSON object" },
        { "{}", "phone should not be empty" },
        { "{\"phone\":\"555-12\"}", "phone must be a valid phone number" },
        { "{\"phone\":18015551234}", "phone must be a string" },
        { "{\"phone\":\"8015551234\",\"cancelAppt\":true,\"blockId\":\"x\"}",
          "cancelAppt and blockId cannot both be supplied" },
        { "{\"phone\":\"8015551234\",\"primaryPhone\":\"8015550000\"}",
          "property primaryPhone should not exist" },
        { "{\"phone\":\"8015551234\",\"textPhone\":\"8015550000\"}",
          "property textPhone should not exist" },
    };
    static const char *const gets[] = {
        API "/phone/query", API "/phone/query?phone=", API "/phone/query?phone=abc",
        API "/phone/query?phone=555-1234", API "/phone/query/blocks?phone=1",
        API "/phone/query/" ALPHA_CRM "?phone=%2B1234",
    };
    size_t i;

    hfixture_fresh();
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct hresp        r;
        struct json_object *root, *status, *msgs;

        hreq_patch(PROXY, cases[i].body, HREQ(.token = ALPHA), &r);
        cr_expect_eq(r.status, 400, "case %zu: %d", i, r.status);
        cr_expect_str_eq(hresp_header(&r, "Content-Type"), "application/json");
        cr_expect(strstr(r.body, cases[i].message) != NULL,
                  "case %zu: %s lacks \"%s\"", i, r.body, cases[i].message);
        root = hresp_json(&r);
        cr_assert_not_null(root, "case %zu", i);
        cr_expect(json_object_object_get_ex(root, "statusCode", &status) &&
                  json_object_get_int(status) == 400);
        cr_expect(json_object_object_get_ex(root, "message", &msgs) &&
                  json_object_is_type(msgs, json_type_array));
        json_object_put(root);
        hresp_free(&r);
    }
    for (i = 0; i < sizeof(gets) / sizeof(gets[0]); i++) {
        struct hresp r;

        hreq_get(PROXY, gets[i], HREQ(.token = ALPHA), &r);
        cr_expect_eq(r.status, 400, "%s: %d", gets[i], r.status);
        cr_expect(strstr(r.body, "phone") != NULL, "%s", r.body);
        cr_expect_null(hresp_header(&r, "Cache-Status"),
                       "a local error has no Cache-Status");
        hresp_free(&r);
    }
    cr_expect_eq(hsandbox_count("total"), 0, "nothing reached it");
}

/* Deletes every key of the main Redis whose name matches PATTERN. */
static size_t
del_keys(const char *pattern)
{
    redisContext *c = hfixture_redis("HSP_REDIS_SOCK");
    redisReply   *keys = redisCommand(c, "KEYS %s", pattern);
    size_t        i, n = 0;

    cr_assert(keys != NULL && keys->type == REDIS_REPLY_ARRAY);
    for (i = 0; i < keys->elements; i++) {
        redisReply *d = redisCommand(c, "DEL %s", keys->element[i]->str);

        n += d != NULL && d->type == REDIS_REPLY_INTEGER ? (size_t)d->integer
                                                         : 0;
        freeReplyObject(d);
    }
    freeReplyObject(keys);
    redisFree(c);
    return n;
}

/*
 * A lookup through B, held at the sandbox for 1.5 s with the lead as it
 * was, while a PATCH goes through A; then, when EVICT is not NULL, the
 * keys it matches are deleted, as an eviction would. The held answer
 * predates the PATCH and its fill is refused; both instances serve the
 * PATCH's lead after. B's answer after it goes to AFTER_B (the caller
 * frees it).
 */
static void
straddle_a_patch(const char *evict, struct hresp *after_b)
{
    const char  *delay[] = { "X-Sandbox-Delay-Ms: 1500", NULL };
    struct hheld held = {
        .method = "GET", .base = PROXY_B,
        .path = API "/phone/query?phone=" SHARED,
        .opt = { .token = ALPHA, .headers = delay },
    };
    struct hresp r;
    char         name[64];

    hfixture_fresh();
    hreq_held_start(&held);
    usleep(400 * 1000);
    hreq_patch(PROXY,
               "{\"phone\":\"+18015551234\",\"firstName\":\"After\","
               "\"lastName\":\"Patch\"}",
               HREQ(.token = ALPHA), &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    hresp_free(&r);
    if (evict != NULL) {
        cr_assert_geq(del_keys(evict), 1, "nothing matched %s", evict);
    }
    hreq_held_join(&held);
    cr_assert_eq(held.resp.status, 200, "held lookup: %s", held.resp.error);
    lead_name(&held.resp, name, sizeof(name));
    cr_expect_str_eq(name, "Jane Doe", "the held answer predates the PATCH");
    cr_expect_null(strstr(hresp_header(&held.resp, "Cache-Status"), "stored"),
                   "its fill stored: %s",
                   hresp_header(&held.resp, "Cache-Status"));
    hresp_free(&held.resp);
    hreq_get(PROXY_B, API "/phone/query?phone=" SHARED, HREQ(.token = ALPHA),
             after_b);
    lead_name(after_b, name, sizeof(name));
    cr_expect_str_eq(name, "After Patch", "the old lead came back: %s",
                     hresp_header(after_b, "Cache-Status"));
    hreq_get(PROXY, API "/phone/query?phone=" SHARED, HREQ(.token = ALPHA),
             &r);
    lead_name(&r, name, sizeof(name));
    cr_expect_str_eq(name, "After Patch");
    hresp_free(&r);
}

Test(cache, a_lookup_that_straddles_a_patch_never_overwrites_it)
{
    struct hresp r;

    straddle_a_patch(NULL, &r);
    expect_cache(&r, "HIT", "hit");     /* the PATCH's lead, from Redis */
    hresp_free(&r);
    cr_expect_eq(hsandbox_count("query"), 1);
}

/*
 * SPEC §12: a fill stores only when it can prove that no write happened
 * since its read began. The proof is the phone's write epoch; when Redis
 * evicts or loses it after a PATCH, the read that began before the PATCH
 * must not put the old lead back.
 */
Test(cache, a_fill_without_its_guard_stores_nothing)
{
    struct hresp r;

    straddle_a_patch("*:ep:*", &r);
    hresp_free(&r);
}

/* Sets the main Redis's maxmemory to BYTES (0: no limit). */
static void
set_maxmemory(const char *bytes)
{
    redisContext *c = hfixture_redis("HSP_REDIS_SOCK");
    redisReply   *r = redisCommand(c, "CONFIG SET maxmemory %s", bytes);

    cr_assert(r != NULL && r->type == REDIS_REPLY_STATUS, "CONFIG SET: %s",
              r != NULL && r->str != NULL ? r->str : "no reply");
    freeReplyObject(r);
    redisFree(c);
}

static void
no_maxmemory(void)
{
    set_maxmemory("0");
}

/*
 * SPEC §12: a PATCH whose write-through Redis refuses (OOM at the
 * limit, with the default noeviction) is not served stale by the
 * instance that made it, and its invalidation is applied once Redis
 * takes writes again, so the other instances stop serving it too.
 */
Test(cache, a_patch_redis_refused_is_not_served_stale, .fini = no_maxmemory)
{
    struct hresp r;
    char         name[64];
    int          i;

    hfixture_fresh();
    hreq_get(PROXY, API "/phone/query?phone=" SHARED, HREQ(.token = ALPHA),
             &r);
    hresp_free(&r);
    hreq_get(PROXY_B, API "/phone/query?phone=" SHARED, HREQ(.token = ALPHA),
             &r);
    expect_cache(&r, "HIT", "hit");
    hresp_free(&r);

    set_maxmemory("1");             /* every write script now gets OOM */
    hreq_patch(PROXY,
               "{\"phone\":\"+18015551234\",\"firstName\":\"After\","
               "\"lastName\":\"Patch\"}",
               HREQ(.token = ALPHA), &r);
    cr_expect_eq(r.status, 200, "%s", r.body);
    hresp_free(&r);
    hreq_get(PROXY, API "/phone/query?phone=" SHARED, HREQ(.token = ALPHA),
             &r);
    lead_name(&r, name, sizeof(name));
    cr_expect_str_eq(name, "After Patch", "the PATCH's instance served %s "
                     "(%s)", name, hresp_header(&r, "Cache-Status"));
    cr_expect_str_eq(hresp_header(&r, "X-Cache"), "MISS");
    hresp_free(&r);

    set_maxmemory("0");
    /* the invalidation, retried, reaches Redis: B stops serving it too */
    for (i = 0; i < 40; i++) {
        hreq_get(PROXY_B, API "/phone/query?phone=" SHARED,
                 HREQ(.token = ALPHA), &r);
        lead_name(&r, name, sizeof(name));
        hresp_free(&r);
        if (strcmp(name, "After Patch") == 0) {
            break;
        }
        usleep(100 * 1000);
    }
    cr_expect_str_eq(name, "After Patch", "B still serves the old lead "
                     "after %d tries", i);
}

/*
 * SPEC §12: a Redis that lost its data is noticed. FLUSHALL takes the
 * marker every worker raises each second with it; each worker then finds
 * the marker lower than it last saw, counts it and empties its near cache.
 */
Test(cache, a_redis_that_lost_its_data_is_noticed)
{
    redisContext *c;
    redisReply   *f;
    double        before, after = 0;
    bool          found = false;
    int           i;

    hfixture_fresh();
    usleep(2500 * 1000);            /* every worker has seen the marker */
    before = hreq_metric(PROXY, "heavyset_redis_data_losses_total", &found);
    cr_assert(found, "no heavyset_redis_data_losses_total in /metrics");
    c = hfixture_redis("HSP_REDIS_SOCK");
    f = redisCommand(c, "FLUSHALL");
    cr_assert(f != NULL && f->type == REDIS_REPLY_STATUS);
    freeReplyObject(f);
    redisFree(c);
    for (i = 0; i < 40 && after <= before; i++) {
        usleep(100 * 1000);
        after = hreq_metric(PROXY, "heavyset_redis_data_losses_total", NULL);
    }
    cr_expect_gt(after, before, "FLUSHALL went unnoticed for 4 s");
}

Test(cache, request_directives)
{
    struct hresp r;

    hfixture_fresh();
    /* only-if-cached with nothing stored: 504, and nothing upstream */
    hreq_get(PROXY, API "/phone/query?phone=" SHARED,
             HREQ(.token = ALPHA, .extra = "Cache-Control: only-if-cached"),
             &r);
    cr_expect_eq(r.status, 504);
    cr_expect_null(hresp_header(&r, "Cache-Status"));
    hresp_free(&r);
    cr_expect_eq(hsandbox_count("query"), 0);

    /* no-store: forwarded, not stored */
    hreq_get(PROXY, API "/phone/query?phone=" SHARED,
             HREQ(.token = ALPHA, .extra = "Cache-Control: no-store"), &r);
    cr_expect_eq(r.status, 200);
    expect_cache(&r, "BYPASS", "fwd=request");
    cr_expect_null(strstr(hresp_header(&r, "Cache-Status"), "stored"));
    hresp_free(&r);
    hreq_get(PROXY, API "/phone/query?phone=" SHARED,
             HREQ(.token = ALPHA, .extra = "Cache-Control: only-if-cached"),
             &r);
    cr_expect_eq(r.status, 504, "no-store stored nothing");
    hresp_free(&r);

    /* no-cache: forwarded and stored */
    hreq_get(PROXY, API "/phone/query?phone=" SHARED,
             HREQ(.token = ALPHA, .extra = "Cache-Control: no-cache"), &r);
    expect_cache(&r, "BYPASS", "fwd=request; stored");
    hresp_free(&r);
    hreq_get(PROXY, API "/phone/query?phone=" SHARED,
             HREQ(.token = ALPHA, .extra = "Cache-Control: only-if-cached"),
             &r);
    cr_expect_eq(r.status, 200);
    expect_cache(&r, "HIT", "hit");
    hresp_free(&r);
    cr_expect_eq(hsandbox_count("query"), 2);

    /* max-age=0 is no-cache; a hit stays a hit otherwise */
    hreq_get(PROXY, API "/phone/query?phone=" SHARED,
             HREQ(.token = ALPHA, .extra = "Cache-Control: max-age=0"), &r);
    expect_cache(&r, "BYPASS", "fwd=request; stored");
    hresp_free(&r);
    hreq_get(PROXY, API "/phone/query?phone=" SHARED,
             HREQ(.token = ALPHA, .extra = "Cache-Control: max-age=600"), &r);
    expect_cache(&r, "HIT", "hit");
    hresp_free(&r);
    cr_expect_eq(hsandbox_count("query"), 3);

    /* max-age=N refuses entries older than N seconds */
    usleep(2100 * 1000);
    hreq_get(PROXY, API "/phone/query?phone=" SHARED,
             HREQ(.token = ALPHA, .extra = "Cache-Control: max-age=1"), &r);
    expect_cache(&r, "MISS", "fwd=stale; stored");
    hresp_free(&r);
    cr_expect_eq(hsandbox_count("query"), 4);
}

Test(cache, two_instances_share_entries_and_invalidations)
{
    struct hresp r;
    char         name[64];

    hfixture_fresh();
    hreq_get(PROXY, API "/phone/query?phone=" SHARED, HREQ(.token = BRAVO),
             &r);
    expect_cache(&r, "MISS", "stored");
    hresp_free(&r);
    hreq_get(PROXY_B, API "/phone/query?phone=" SHARED, HREQ(.token = BRAVO),
             &r);
    expect_cache(&r, "HIT", "hit");
    hresp_free(&r);
    hreq_patch(PROXY_B, "{\"phone\":\"+18015551234\",\"firstName\":\"Bob\"}",
               HREQ(.token = BRAVO), &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    hresp_free(&r);
    hreq_get(PROXY, API "/phone/query?phone=" SHARED, HREQ(.token = BRAVO),
             &r);
    expect_cache(&r, "HIT", "hit");
    lead_name(&r, name, sizeof(name));
    cr_expect(strncmp(name, "Bob", 3) == 0, "name %s", name);
    hresp_free(&r);
    cr_expect_eq(hsandbox_count("query"), 1);
}

/*
 * SPEC §4 with near caches: once a PATCH through one instance has
 * returned, every instance serves its lead, even workers that answer hits
 * from memory. Each round warms both instances' near caches, patches
 * through B, then reads through A at once.
 */
Test(cache, a_patch_is_what_every_instance_serves_next_even_from_memory)
{
    struct hresp r;
    char         name[64], body[128], want[32];
    double       near0;
    bool         found;
    int          i, j;

    hfixture_fresh();
    near0 = hreq_metric(PROXY, NEAR_HITS, &found);
    cr_assert(found, "no " NEAR_HITS " in /metrics");
    for (i = 0; i < 40; i++) {
        for (j = 0; j < 6; j++) {
            hreq_get(j % 2 ? PROXY_B : PROXY, API "/phone/query?phone=" SHARED,
                     HREQ(.token = BRAVO), &r);
            cr_assert_eq(r.status, 200);
            hresp_free(&r);
        }
        snprintf(want, sizeof(want), "Round%d", i);
        snprintf(body, sizeof(body),
                 "{\"phone\":\"+18015551234\",\"firstName\":\"%s\"}", want);
        hreq_patch(PROXY_B, body, HREQ(.token = BRAVO), &r);
        cr_assert_eq(r.status, 200, "%s", r.body);
        hresp_free(&r);
        for (j = 0; j < 2; j++) {
            hreq_get(j ? PROXY_B : PROXY, API "/phone/query?phone=" SHARED,
                     HREQ(.token = BRAVO), &r);
            lead_name(&r, name, sizeof(name));
            cr_assert(strncmp(name, want, strlen(want)) == 0,
                      "round %d, %s: served %s after the PATCH", i,
                      j ? "B" : "A", name);
            hresp_free(&r);
        }
    }
    cr_expect_eq(hsandbox_count("query"), 1,
                 "every read after the first answered from a cache");
    cr_expect_gt(hreq_metric(PROXY, NEAR_HITS, NULL), near0,
                 "the near cache answered none: the test proves nothing");
}

/* ---- Redis faults (SPEC §8), on a Redis of their own -------------------- */

Test(cache, redis_going_away_fails_no_request)
{
    struct hresp r;
    int          i, failed = 0, hits = 0;

    cr_assert_eq(hsandbox_reset(), 0);
    for (i = 0; i < 120; i++) {
        char path[128];

        if (i == 40) {
            hfixture_redis2_stop();
        }
        if (i == 80) {
            hfixture_redis2_start();
        }
        if (i >= 40 && i < 80) {
            usleep(25 * 1000);      /* Redis stays away about a second */
        }
        /* a handful of phones so that most requests could be hits */
        snprintf(path, sizeof(path), API "/phone/query?phone=%%2B1801555%s",
                 (const char *[]){ "1234", "0101", "0177" }[i % 3]);
        hreq_get(PROXY_R2, path, HREQ(.token = ALPHA), &r);
        if (r.status != 200) {
            failed++;
        }
        hresp_free(&r);
    }
    cr_expect_eq(failed, 0, "%d requests failed", failed);

    /* within a few seconds of Redis returning, hits are back */
    for (i = 0; i < 80 && hits < 2; i++) {
        hreq_get(PROXY_R2, API "/phone/query?phone=%2B13035550142",
                 HREQ(.token = ALPHA), &r);
        cr_expect_eq(r.status, 200);
        if (strcmp(hresp_header(&r, "X-Cache"), "HIT") == 0) {
            hits++;
        }
        hresp_free(&r);
        usleep(100 * 1000);
    }
    cr_expect_eq(hits, 2, "no hits within 8 s of Redis returning");
}

/*
 * A Redis that stops answering for a moment costs the near cache its
 * contents (its invalidations could be late), and the near cache is back
 * once Redis answers again, without a reconnect.
 */
Test(cache, the_near_cache_comes_back_after_redis_pauses)
{
    struct hresp r;
    pid_t        pid;
    double       before, after = -1;
    bool         found;
    int          i;

    cr_assert_eq(hsandbox_reset(), 0);
    for (i = 0; i < 4; i++) {
        hreq_get(PROXY_R2, API "/phone/query?phone=" SHARED,
                 HREQ(.token = ALPHA), &r);
        cr_assert_eq(r.status, 200, "%d %s", r.status, r.body);
        hresp_free(&r);
    }
    pid = hfixture_redis2_pid();
    /* Long enough for a heartbeat or two to miss their deadline, short
     * enough that the connection is not dropped (3 in a row). */
    cr_assert_eq(kill(pid, SIGSTOP), 0);
    usleep(350 * 1000);
    kill(pid, SIGCONT);
    usleep(300 * 1000);             /* the late replies arrive */
    before = hreq_metric(PROXY_R2, NEAR_HITS, &found);
    cr_assert(found, "no " NEAR_HITS " in /metrics");
    for (i = 0; i < 60 && after <= before; i++) {
        hreq_get(PROXY_R2, API "/phone/query?phone=" SHARED,
                 HREQ(.token = ALPHA), &r);
        cr_expect_eq(r.status, 200);
        hresp_free(&r);
        after = hreq_metric(PROXY_R2, NEAR_HITS, NULL);
        usleep(50 * 1000);
    }
    cr_expect_gt(after, before, "no near hit within 3 s of Redis answering");
}

Test(cache, a_hung_redis_costs_at_most_its_timeout)
{
    struct hresp r;
    pid_t        pid;
    int          i, failed = 0, slow = 0, hits = 0;

    cr_assert_eq(hsandbox_reset(), 0);
    pid = hfixture_redis2_pid();
    /* A Redis that accepts and never answers: SIGSTOP. Each request then
     * waits redis_timeout (100ms) at most, then goes upstream; after a
     * few missed deadlines the proxy drops the connection and stops
     * waiting at all until a reconnect answers. */
    cr_assert_eq(kill(pid, SIGSTOP), 0);
    for (i = 0; i < 30; i++) {
        hreq_get(PROXY_R2, API "/phone/query?phone=%2B18015550177",
                 HREQ(.token = ALPHA), &r);
        failed += r.status != 200;
        slow += r.elapsed_ms > hfixture_slow_ms(900);
        hresp_free(&r);
    }
    kill(pid, SIGCONT);             /* before any assertion can abort */
    cr_expect_eq(failed, 0, "%d requests failed with Redis hung", failed);
    cr_expect_eq(slow, 0, "%d requests took over %ld ms", slow,
                 hfixture_slow_ms(900));
    for (i = 0; i < 80 && hits < 2; i++) {
        hreq_get(PROXY_R2, API "/phone/query?phone=%2B18015550177",
                 HREQ(.token = ALPHA), &r);
        cr_expect_eq(r.status, 200);
        if (strcmp(hresp_header(&r, "X-Cache"), "HIT") == 0) {
            hits++;
        }
        hresp_free(&r);
        usleep(100 * 1000);
    }
    cr_expect_eq(hits, 2, "no hits within 8 s of Redis answering again");
}
