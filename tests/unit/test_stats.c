/* test_stats.c - the counters and their Prometheus exposition. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "stats.h"
#include "uparse.h"

/* The value of the sample line that starts with NAME in TEXT, or -1. */
static long long
sample(const char *text, const char *name)
{
    const char *p = text;
    size_t      n = strlen(name);

    while ((p = strstr(p, name)) != NULL) {
        if ((p == text || p[-1] == '\n') && p[n] == ' ') {
            return strtoll(p + n + 1, NULL, 10);
        }
        p += n;
    }
    return -1;
}

Test(stats, counters_add_up_and_render)
{
    size_t cap = stats_render_max();
    char  *buf = malloc(cap);
    int    len;

    cr_assert_not_null(buf);
    stats_add(STATS_IDEM_REPLAYED, 2);
    stats_add(STATS_IDEM_REPLAYED, 3);
    stats_add(STATS_IDEM_UNPROTECTED, 1);
    cr_expect_eq(stats_get(STATS_IDEM_REPLAYED), 5);
    len = stats_render(buf, cap);
    cr_assert_gt(len, 0);
    cr_expect_eq((size_t)len, strlen(buf));
    cr_expect_eq(sample(buf, "heavyset_idempotency_total{result=\"replayed\"}"),
                 5);
    cr_expect_eq(
        sample(buf, "heavyset_idempotency_total{result=\"unprotected\"}"), 1);
    cr_expect_eq(sample(buf, "heavyset_idempotency_total{result=\"claimed\"}"),
                 0);
    free(buf);
}

Test(stats, each_family_has_one_help_and_type)
{
    size_t      cap = stats_render_max();
    char       *buf = malloc(cap);
    const char *p;
    int         helps = 0, types = 0;

    cr_assert_not_null(buf);
    cr_assert_gt(stats_render(buf, cap), 0);
    for (p = buf; (p = strstr(p, "# HELP heavyset_idempotency_total ")) != NULL;
         p++) {
        helps++;
    }
    for (p = buf; (p = strstr(p, "# TYPE heavyset_idempotency_total counter"))
                  != NULL;
         p++) {
        types++;
    }
    cr_expect_eq(helps, 1);
    cr_expect_eq(types, 1);
    cr_expect_eq(buf[strlen(buf) - 1], '\n', "the exposition ends a line");
    free(buf);
}

Test(stats, too_small_a_buffer_is_refused)
{
    char buf[16] = "x";

    cr_expect_eq(stats_render(buf, sizeof(buf)), -1);
    cr_expect_str_eq(buf, "");
}

Test(stats, budget_counters_render)
{
    size_t cap = stats_render_max();
    char  *buf = malloc(cap);

    cr_assert_not_null(buf);
    stats_add(STATS_RATE_LIMITED_WRITE, 2);
    stats_add(STATS_BUDGET_FALLBACK, 1);
    cr_assert_gt(stats_render(buf, cap), 0);
    cr_expect_eq(sample(buf, "heavyset_rate_limited_total{class=\"read\"}"),
                 0);
    cr_expect_eq(sample(buf, "heavyset_rate_limited_total{class=\"write\"}"),
                 2);
    cr_expect_eq(sample(buf, "heavyset_budget_fallback_total"), 1);
    cr_expect_eq(sample(buf, "heavyset_upstream_paused_total"), 0);
    cr_expect_not_null(strstr(buf, "# TYPE heavyset_rate_limited_total "
                                   "counter\n"));
    free(buf);
}

Test(stats, requests_by_route_status_and_cache)
{
    size_t cap = stats_render_max();
    char  *buf = malloc(cap);

    cr_assert_not_null(buf);
    stats_request(ROUTE_QUERY, 200, STATS_CACHE_HIT);
    stats_request(ROUTE_QUERY, 200, STATS_CACHE_HIT);
    stats_request(ROUTE_UPDATE, 429, STATS_CACHE_NONE);
    stats_request(ROUTE_NONE, 999, STATS_CACHE_NONE);
    stats_upstream(ROUTE_BLOCKS);
    cr_assert_gt(stats_render(buf, cap), 0);
    cr_expect_eq(sample(buf, "heavyset_requests_total{route=\"query\","
                             "status=\"2xx\",cache=\"hit\"}"), 2);
    cr_expect_eq(sample(buf, "heavyset_requests_total{route=\"update\","
                             "status=\"4xx\",cache=\"none\"}"), 1);
    cr_expect_eq(sample(buf, "heavyset_requests_total{route=\"none\","
                             "status=\"other\",cache=\"none\"}"), 1);
    cr_expect_eq(sample(buf, "heavyset_requests_total{route=\"query\","
                             "status=\"2xx\",cache=\"miss\"}"), -1,
                 "zero series are left out");
    cr_expect_eq(sample(buf, "heavyset_upstream_requests_total"
                             "{route=\"blocks\"}"), 1);
    cr_expect_eq(sample(buf, "heavyset_upstream_requests_total"
                             "{route=\"query\"}"), 0);
    free(buf);
}

struct bucket_case {
    uint64_t us;
    size_t   want;                  /* STATS_LATENCY_BUCKETS: +Inf */
};

/* le is inclusive: a bound itself falls in its own bucket. */
static const struct bucket_case bucket_cases[] = {
    { 0, 0 },          { 1, 0 },          { 4999, 0 },
    { 5000, 0 },       { 5001, 1 },       { 10000, 1 },
    { 10001, 2 },      { 25000, 2 },      { 49999, 3 },
    { 100000, 4 },     { 100001, 5 },     { 250000, 5 },
    { 499999, 6 },     { 1000000, 7 },    { 1000001, 8 },
    { 2500000, 8 },    { 5000000, 9 },    { 9999999, 10 },
    { 10000000, 10 },  { 10000001, STATS_LATENCY_BUCKETS },
    { UINT64_MAX, STATS_LATENCY_BUCKETS },
};

Test(stats, latency_bucket_table)
{
    size_t i;

    for (i = 0; i < sizeof(bucket_cases) / sizeof(bucket_cases[0]); i++) {
        cr_expect_eq(stats_latency_bucket(bucket_cases[i].us),
                     bucket_cases[i].want, "%llu us: bucket %zu, want %zu",
                     (unsigned long long)bucket_cases[i].us,
                     stats_latency_bucket(bucket_cases[i].us),
                     bucket_cases[i].want);
    }
}

/* The value of sample NAME, as a double (for _sum), or -1. */
static double
sample_f(const char *text, const char *name)
{
    const char *p = text;
    size_t      n = strlen(name);

    while ((p = strstr(p, name)) != NULL) {
        if ((p == text || p[-1] == '\n') && p[n] == ' ') {
            return strtod(p + n + 1, NULL);
        }
        p += n;
    }
    return -1;
}

#define H "heavyset_upstream_duration_seconds"

struct hist_case {
    const char *le;
    long long   want;               /* cumulative */
};

Test(stats, latency_histogram_renders_cumulative)
{
    static const uint64_t    observed_us[] = { 3000, 5000, 7000, 120000,
                                               120000, 2000000, 60000000 };
    static const struct hist_case want[] = {
        { "0.005", 2 }, { "0.01", 3 }, { "0.025", 3 }, { "0.05", 3 },
        { "0.1", 3 },   { "0.25", 5 }, { "0.5", 5 },   { "1", 5 },
        { "2.5", 6 },   { "5", 6 },    { "10", 6 },    { "+Inf", 7 },
    };
    size_t cap = stats_render_max();
    char  *buf = malloc(cap), name[128];
    size_t i;

    cr_assert_not_null(buf);
    for (i = 0; i < sizeof(observed_us) / sizeof(observed_us[0]); i++) {
        stats_upstream_latency(ROUTE_DISPOSITIONS, observed_us[i]);
    }
    stats_upstream_latency(ROUTE_UPDATE, 42);
    cr_assert_gt(stats_render(buf, cap), 0);
    cr_expect_not_null(strstr(buf, "# TYPE " H " histogram\n"));
    for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        snprintf(name, sizeof(name),
                 H "_bucket{route=\"dispositions\",le=\"%s\"}", want[i].le);
        cr_expect_eq(sample(buf, name), want[i].want, "%s: %lld, want %lld",
                     name, sample(buf, name), want[i].want);
    }
    cr_expect_eq(sample(buf, H "_count{route=\"dispositions\"}"), 7);
    cr_expect_float_eq(sample_f(buf, H "_sum{route=\"dispositions\"}"),
                       62.255, 1e-9);
    cr_expect_eq(sample(buf, H "_count{route=\"update\"}"), 1);
    cr_expect_float_eq(sample_f(buf, H "_sum{route=\"update\"}"), 0.000042,
                       1e-12);
    cr_expect_eq(sample(buf, H "_count{route=\"query\"}"), 0,
                 "every upstream route has its series, zero included");
    cr_expect_null(strstr(buf, H "_count{route=\"healthz\"}"),
                   "the proxy's own routes have no upstream series");
    cr_expect_null(strstr(buf, H "_count{route=\"readyz\"}"));
    cr_expect_null(strstr(buf, H "_count{route=\"none\"}"));
    free(buf);
}

Test(stats, redis_error_counters_render)
{
    size_t cap = stats_render_max();
    char  *buf = malloc(cap);

    cr_assert_not_null(buf);
    stats_add(STATS_REDIS_TIMEOUT, 3);
    stats_add(STATS_REDIS_UNAVAILABLE, 2);
    stats_add(STATS_REDIS_CONN_LOST, 1);
    cr_assert_gt(stats_render(buf, cap), 0);
    cr_expect_eq(sample(buf, "heavyset_redis_errors_total{kind=\"timeout\"}"),
                 3);
    cr_expect_eq(
        sample(buf, "heavyset_redis_errors_total{kind=\"unavailable\"}"), 2);
    cr_expect_eq(
        sample(buf, "heavyset_redis_errors_total{kind=\"connection\"}"), 0);
    cr_expect_eq(sample(buf, "heavyset_redis_errors_total{kind=\"reply\"}"),
                 0);
    cr_expect_eq(sample(buf, "heavyset_redis_connection_losses_total"), 1);
    cr_expect_eq(sample(buf, "heavyset_redis_connect_failures_total"), 0);
    free(buf);
}

Test(stats, render_fits_its_maximum_when_every_series_is_set)
{
    size_t cap = stats_render_max();
    char  *buf = malloc(cap);
    int    route, c, cls, cache;
    int    len;

    cr_assert_not_null(buf);
    for (c = 0; c < STATS_COUNT; c++) {
        stats_add((enum stats_counter)c, UINT64_MAX / 2);
    }
    for (route = 0; route < ROUTE_COUNT; route++) {
        for (cls = 0; cls < 7; cls++) {
            for (cache = 0; cache < STATS_CACHE_COUNT; cache++) {
                stats_request((enum route_id)route, cls * 100 + 99,
                              (enum stats_cache)cache);
            }
        }
        stats_upstream((enum route_id)route);
        stats_upstream_latency((enum route_id)route, UINT64_MAX / 4);
    }
    len = stats_render(buf, cap);
    cr_expect_gt(len, 0);
    cr_expect_lt((size_t)len, cap);
    free(buf);
}

/* One protocol-error series per uparse kind, named as uparse names it,
 * in its order: upstream.c counts kind K at STATS_UPROTO_FIRST + K - 1. */
Test(stats, protocol_error_kinds_follow_uparse)
{
    size_t cap = stats_render_max();
    char  *buf = malloc(cap);
    char   name[128];
    int    k;

    cr_assert_not_null(buf);
    cr_assert_eq(STATS_UPROTO_BAD_CODING - STATS_UPROTO_FIRST + 1,
                 UPARSE_ERROR_COUNT - 1);
    for (k = 1; k < UPARSE_ERROR_COUNT; k++) {
        stats_add((enum stats_counter)(STATS_UPROTO_FIRST + k - 1),
                  (uint64_t)k);
    }
    cr_assert_gt(stats_render(buf, cap), 0);
    for (k = 1; k < UPARSE_ERROR_COUNT; k++) {
        snprintf(name, sizeof(name),
                 "heavyset_upstream_protocol_errors_total{kind=\"%s\"}",
                 uparse_error_name((enum uparse_error)k));
        cr_expect_eq(sample(buf, name), k, "%s", name);
    }
    cr_expect_not_null(strstr(buf, "# TYPE heavyset_upstream_protocol_errors"
                                   "_total counter\n"));
    free(buf);
}
