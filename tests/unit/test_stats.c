/* test_stats.c - the counters and their Prometheus exposition. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "stats.h"

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
