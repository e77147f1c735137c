/* test_cache.c - caching policy, request directives, entry format. */
#include "config.h"

#include <string.h>

#include <criterion/criterion.h>

#include "cache.h"
#include "conf.h"

struct dir_case {
    const char *cc;
    const char *pragma;
    bool        no_cache, no_store, only_if_cached;
    long long   max_age;
};

static const struct dir_case dir_cases[] = {
    { NULL, NULL, false, false, false, -1 },
    { "", NULL, false, false, false, -1 },
    { "no-cache", NULL, true, false, false, -1 },
    { "No-Cache", NULL, true, false, false, -1 },
    { "max-age=0", NULL, true, false, false, 0 },
    { "max-age=60", NULL, false, false, false, 60 },
    { "max-age=\"5\"", NULL, false, false, false, 5 },
    { "max-age=-1", NULL, false, false, false, -1 },
    { "max-age=abc", NULL, false, false, false, -1 },
    { "no-store", NULL, false, true, false, -1 },
    { "only-if-cached", NULL, false, false, true, -1 },
    { " no-store , only-if-cached ", NULL, false, true, true, -1 },
    { "no-cachex", NULL, false, false, false, -1 },
    { "private, no-cache=\"x\"", NULL, true, false, false, -1 },
    { NULL, "no-cache", true, false, false, -1 },
    { "max-age=10", "no-cache", false, false, false, 10 },
};

Test(cache, directives_table)
{
    size_t i;

    for (i = 0; i < sizeof(dir_cases) / sizeof(dir_cases[0]); i++) {
        const struct dir_case  *c = &dir_cases[i];
        struct cache_directives d;

        cache_parse_directives(c->cc, c->pragma, &d);
        cr_expect_eq(d.no_cache, c->no_cache, "case %zu no-cache", i);
        cr_expect_eq(d.no_store, c->no_store, "case %zu no-store", i);
        cr_expect_eq(d.only_if_cached, c->only_if_cached, "case %zu oic", i);
        cr_expect_eq(d.max_age_s, c->max_age, "case %zu max-age", i);
    }
}

Test(cache, ttl_policy_table)
{
    static const struct {
        enum route_id id;
        int           status;
        int64_t       want;         /* with the SPEC defaults */
    } cases[] = {
        { ROUTE_QUERY, 200, 300000 },       { ROUTE_QUERY, 404, 30000 },
        { ROUTE_QUERY, 401, 0 },            { ROUTE_QUERY, 429, 0 },
        { ROUTE_QUERY, 500, 0 },            { ROUTE_QUERY, 503, 0 },
        { ROUTE_QUERY, 400, 0 },            { ROUTE_QUERY_CRM, 200, 300000 },
        { ROUTE_QUERY_CRM, 404, 30000 },    { ROUTE_DISPOSITIONS, 200, 3600000 },
        { ROUTE_DISPOSITIONS, 404, 0 },     { ROUTE_BLOCKS, 200, 0 },
        { ROUTE_BLOCKS, 404, 0 },           { ROUTE_UPDATE, 200, 0 },
    };
    struct conf cf;
    size_t      i;

    memset(&cf, 0, sizeof(cf));
    cr_assert_eq(conf_init(&cf), 0);
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        cr_expect_eq(cache_ttl_ms(&cf, cases[i].id, cases[i].status),
                     cases[i].want, "case %zu", i);
    }
    cr_expect_not(cache_route_enabled(&cf, ROUTE_BLOCKS));
    cr_expect(cache_route_enabled(&cf, ROUTE_QUERY));
    cf.ttl_blocks_ms = 60000;
    cr_expect(cache_route_enabled(&cf, ROUTE_BLOCKS));
    cr_expect_eq(cache_ttl_ms(&cf, ROUTE_BLOCKS, 200), 60000);
    cr_expect_eq(cache_ttl_ms(&cf, ROUTE_BLOCKS, 404), 30000);
    cr_expect_eq(cache_expire_ms(&cf, 1000), 1000 + 3600000,
                 "kept for the longest stale window");
    /* a guard outlives every lead entry it vouches for: a day at least */
    cr_expect_eq(cache_guard_ms(&cf), (int64_t)24 * 3600 * 1000);
    cf.ttl_lead_ms = (int64_t)20 * 3600 * 1000;
    cr_expect_eq(cache_guard_ms(&cf),
                 2 * ((int64_t)20 * 3600 * 1000 + 3600000));
    conf_free(&cf);
}

Test(cache, entry_round_trip)
{
    struct cache_entry in, out;
    char               buf[512];
    const char        *body = "{\"a\":1}\n\0binary";
    size_t             blen = 16;
    int                n;

    memset(&in, 0, sizeof(in));
    in.status = 404;
    in.stored_ms = 1764268800123;
    in.ttl_ms = 30000;
    in.ctype = "application/json; charset=utf-8";
    in.ctype_len = strlen(in.ctype);
    n = cache_entry_header(&in, buf, sizeof(buf));
    cr_assert_gt(n, 0);
    memcpy(buf + n, body, blen);
    cr_assert_eq(cache_entry_decode(buf, (size_t)n + blen, &out), 0);
    cr_expect_eq(out.status, 404);
    cr_expect_eq(out.stored_ms, 1764268800123);
    cr_expect_eq(out.ttl_ms, 30000);
    cr_expect_eq(out.ctype_len, in.ctype_len);
    cr_expect_eq(memcmp(out.ctype, in.ctype, in.ctype_len), 0);
    cr_expect_eq(out.body_len, blen);
    cr_expect_eq(memcmp(out.body, body, blen), 0);
    cr_expect_eq(cache_entry_age_s(&out, 1764268800123 + 4999), 4);
    cr_expect_eq(cache_entry_age_s(&out, 1764268800000), 0);
    cr_expect_eq(cache_entry_fresh_ms(&out, 1764268800123 + 30000), 0);
}

Test(cache, entry_empty_content_type_and_body)
{
    struct cache_entry in, out;
    char               buf[128];
    int                n;

    memset(&in, 0, sizeof(in));
    in.status = 200;
    in.ctype = "";
    n = cache_entry_header(&in, buf, sizeof(buf));
    cr_assert_gt(n, 0);
    cr_assert_eq(cache_entry_decode(buf, (size_t)n, &out), 0);
    cr_expect_eq(out.ctype_len, 0);
    cr_expect_eq(out.body_len, 0);
}

Test(cache, entry_refuses_bad_content_type)
{
    struct cache_entry in;
    char               buf[512];

    memset(&in, 0, sizeof(in));
    in.status = 200;
    in.ctype = "text/plain\nX-Evil: 1";
    in.ctype_len = strlen(in.ctype);
    cr_expect_eq(cache_entry_header(&in, buf, sizeof(buf)), -1);
    cr_expect_eq(cache_entry_header(&in, buf, 8), -1);
}

Test(cache, decode_rejects_garbage)
{
    static const char *const bad[] = {
        "", "hsp1", "hsp1 ", "hsp2 200 1 1 x\n", "hsp1 200 1 1 x",
        "hsp1 abc 1 1 x\n", "hsp1 99 1 1 x\n", "hsp1 600 1 1 x\n",
        "hsp1 200 -1 1 x\n", "hsp1 200 1 -1 x\n", "hsp1 200 1\n",
        "hsp1 200 1 1\n", "{\"name\":\"x\"}",
    };
    struct cache_entry e;
    size_t             i;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cr_expect_eq(cache_entry_decode(bad[i], strlen(bad[i]), &e), -1,
                     "accepted \"%s\"", bad[i]);
    }
}

/* An upstream's Cache-Control that keeps its answer out of the cache. */
static const struct {
    const char *cc;
    bool        forbids;
} forbid_cases[] = {
    { NULL, false },
    { "", false },
    { "no-store", true },
    { "No-Store", true },
    { "private", true },
    { "private=\"set-cookie\"", true },
    { "public, max-age=60", false },
    { "max-age=0, no-store", true },
    { " no-cache ", false },
    { "no-storage", false },
    { "x-private", false },
    { "must-revalidate,private", true },
};

Test(cache, upstream_forbids_table)
{
    size_t i;

    for (i = 0; i < sizeof(forbid_cases) / sizeof(forbid_cases[0]); i++) {
        cr_expect_eq(cache_upstream_forbids(forbid_cases[i].cc),
                     forbid_cases[i].forbids, "%s",
                     forbid_cases[i].cc ? forbid_cases[i].cc : "(null)");
    }
}
