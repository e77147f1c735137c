/*
 * test_reply.c - what the cache headers say: X-Cache from its value,
 * Cache-Status's forms from what the cache did, and the proxy's answer
 * to each upstream failure (req/reply.h).
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include <criterion/criterion.h>

#include "req/reply.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

struct status_case {
    struct reply_cache c;
    const char        *want;
};

static const struct status_case status_cases[] = {
    { { .x_cache = STATS_CACHE_HIT, .ttl_s = 60 }, "hit; ttl=60" },
    { { .x_cache = STATS_CACHE_HIT, .ttl_s = 1, .collapsed = true },
      "hit; ttl=1; collapsed" },
    /* A hit's other fields say nothing. */
    { { .x_cache = STATS_CACHE_HIT, .ttl_s = 5, .stored = true,
        .detail = REPLY_DETAIL_SIE, .fwd = REPLY_FWD_STALE },
      "hit; ttl=5" },
    { { .x_cache = STATS_CACHE_REPLAY }, "hit; detail=idempotent-replay" },
    { { .x_cache = STATS_CACHE_STALE, .ttl_s = -4,
        .detail = REPLY_DETAIL_SWR },
      "fwd=stale; ttl=-4; detail=stale-while-revalidate" },
    { { .x_cache = STATS_CACHE_STALE, .ttl_s = -90, .fwd_status = 503,
        .detail = REPLY_DETAIL_SIE },
      "fwd=stale; fwd-status=503; ttl=-90; detail=stale-if-error" },
    { { .x_cache = STATS_CACHE_STALE, .ttl_s = 0,
        .detail = REPLY_DETAIL_RATE_LIMITED },
      "fwd=stale; ttl=0; detail=rate-limited" },
    { { .x_cache = STATS_CACHE_MISS, .fwd = REPLY_FWD_MISS }, "fwd=miss" },
    { { .x_cache = STATS_CACHE_MISS, .fwd = REPLY_FWD_MISS, .stored = true },
      "fwd=miss; stored" },
    { { .x_cache = STATS_CACHE_MISS, .fwd = REPLY_FWD_MISS, .stored = true,
        .collapsed = true },
      "fwd=miss; stored; collapsed" },
    { { .x_cache = STATS_CACHE_MISS, .fwd = REPLY_FWD_STALE,
        .detail = REPLY_DETAIL_NO_STORE },
      "fwd=stale; detail=no-store" },
    { { .x_cache = STATS_CACHE_MISS, .fwd = REPLY_FWD_MISS, .stored = true,
        .collapsed = true, .detail = REPLY_DETAIL_STORE_UNAVAILABLE },
      "fwd=miss; stored; collapsed; detail=store-unavailable" },
    { { .x_cache = STATS_CACHE_BYPASS, .fwd = REPLY_FWD_BYPASS },
      "fwd=bypass" },
    { { .x_cache = STATS_CACHE_BYPASS, .fwd = REPLY_FWD_REQUEST,
        .detail = REPLY_DETAIL_STORE_UNAVAILABLE },
      "fwd=request; detail=store-unavailable" },
    { { .x_cache = STATS_CACHE_BYPASS, .fwd = REPLY_FWD_REQUEST,
        .collapsed = true },
      "fwd=request; collapsed" },
};

Test(reply, cache_status_forms)
{
    size_t i;
    char   buf[128];

    for (i = 0; i < N(status_cases); i++) {
        const char *got = reply_cache_status(&status_cases[i].c, buf,
                                             sizeof(buf));

        cr_expect_eq(got, buf, "row %zu: returns its buffer", i);
        cr_expect_str_eq(buf, status_cases[i].want, "row %zu", i);
    }
}

Test(reply, cache_status_truncates)
{
    struct reply_cache c = { .x_cache = STATS_CACHE_MISS,
                             .fwd = REPLY_FWD_MISS, .stored = true };
    char               buf[9];

    memset(buf, 'x', sizeof(buf));
    reply_cache_status(&c, buf, sizeof(buf));
    cr_expect_str_eq(buf, "fwd=miss");
}

Test(reply, x_cache_names)
{
    static const struct {
        enum stats_cache c;
        const char      *want;
    } rows[] = {
        { STATS_CACHE_HIT, "HIT" },       { STATS_CACHE_MISS, "MISS" },
        { STATS_CACHE_STALE, "STALE" },   { STATS_CACHE_BYPASS, "BYPASS" },
        { STATS_CACHE_REPLAY, "REPLAY" },
    };
    size_t i;

    cr_expect_null(reply_x_cache(STATS_CACHE_NONE));
    for (i = 0; i < N(rows); i++) {
        cr_expect_str_eq(reply_x_cache(rows[i].c), rows[i].want, "row %zu",
                         i);
    }
}

Test(reply, upstream_failures)
{
    static const struct {
        enum upstream_error err;
        int                 status;
        const char         *msg;
    } rows[] = {
        { UPSTREAM_ETIMEOUT, 504, "upstream timeout" },
        { UPSTREAM_ETLS, 502, "upstream TLS verification failed" },
        { UPSTREAM_EPROTO, 502, "invalid upstream response" },
        { UPSTREAM_EUNREACHABLE, 502, "upstream unreachable" },
    };
    size_t      i;
    int         status;
    const char *msg;

    for (i = 0; i < N(rows); i++) {
        status = 0;
        msg = NULL;
        reply_upstream_status(rows[i].err, &status, &msg);
        cr_expect_eq(status, rows[i].status, "row %zu", i);
        cr_expect_str_eq(msg, rows[i].msg, "row %zu", i);
    }
}
