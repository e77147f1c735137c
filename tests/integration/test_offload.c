/*
 * test_offload.c - offloading the vendor's rate limit end to end (SPEC
 * §7, §8): coalescing of identical reads in one instance and across
 * instances, the fetch lock and its lease when a fetcher dies or Redis
 * goes away, and stale serving (stale-while-revalidate, stale-if-error).
 * The budget that offloading saves, its reserve, fallback and pause, are
 * in test_budget.c. Real proxies, a real redis-server and the sandbox
 * over TLS; every test counts the requests that reach the sandbox and
 * asserts the exact number.
 *
 * The coalescing tests use the harness's proxies (no budget). The tests
 * that need short lifetimes or redis2 start proxies of their own
 * (tests/lib/hproc.h), each with a redis_prefix of its own, so entries
 * and locks never leak into another test.
 *
 * Every test starts from an empty Redis and a freshly seeded sandbox, so
 * tests run one at a time (--jobs 1). The suite's .fini stops any proxy a
 * failed assertion left running and brings redis2 back.
 */
#include "config.h"

#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <criterion/criterion.h>
#include <hiredis/hiredis.h>
#include <json-c/json.h>

#include "hclient.h"
#include "hexpect.h"
#include "hsandbox.h"
#include "hfixture.h"
#include "hproc.h"
#include "hreq.h"

#define API        "/api/v1/appointment/s2s"
#define QUERY      API "/phone/query?phone="
#define ALPHA      "hs_test_tenant_alpha_0001"
#define BRAVO      "hs_test_tenant_bravo_0002"
#define SHARED     "%2B18015551234"     /* in alpha and bravo, other data */
#define ALPHA_LEAD "%2B18015550101"     /* another lead of alpha */

#define POLL_MS        20
#define DEADLINE_MS    10000    /* for anything polled */
#define UPSTREAM_MS    300      /* the sandbox's hold in coalescing tests */
#define WAKE_MARGIN_MS 700      /* a waiter's answer after the upstream's;
                                 * leases are 2.2 s (A) and 6.2 s (B) */
#define BURST          50       /* concurrent identical reads */

#define COALESCED  "heavyset_coalesced_total"
#define STALE_SWR  "heavyset_stale_served_total{reason=\"revalidate\"}"
#define STALE_ERR  "heavyset_stale_served_total{reason=\"error\"}"
#define UPSTREAM_QUERY "heavyset_upstream_requests_total{route=\"query\"}"
#define STALE_ANSWERS \
    "heavyset_requests_total{route=\"query\",status=\"2xx\",cache=\"stale\"}"

/* ---- helpers ------------------------------------------------------------ */

/* ---- concurrent requests ------------------------------------------------ */

static void
offload_init(void)
{
    hfixture_fresh();
}

static void
offload_fini(void)
{
    hproc_stop_all();
    if (!hfixture_redis2_up()) {
        hfixture_redis2_start();
    }
    hsandbox_config("{\"latency_ms\":0}");
}

TestSuite(offload, .init = offload_init, .fini = offload_fini,
          .timeout = 90);

/* ---- coalescing --------------------------------------------------------- */

Test(offload, concurrent_identical_misses_make_one_upstream_request)
{
    static struct hheld shots[BURST];
    const char         *base = hfixture_env("HSP_PROXY_URL");
    const char *const   bases[] = { base };
    double              before = hreq_metric(base, COALESCED, NULL), max_ms;
    double              up = hreq_metric(base, UPSTREAM_QUERY, NULL);
    int                 collapsed;
    bool                fetched = false;
    size_t              i;
    char                name[64];

    /* 2 workers, one key: one fetch, held UPSTREAM_MS by the sandbox */
    collapsed = hexpect_stampede(bases, 1, QUERY SHARED,
                                 HREQ(.token = ALPHA,
                                      .extra = "X-Sandbox-Delay-Ms: 300"),
                                 shots, BURST, &max_ms);
    cr_expect_eq(hfixture_count("query"), 1, "%ld upstream requests for %d reads",
                 hfixture_count("query"), BURST);
    cr_expect_eq(shots[0].resp.status, 200);
    hfixture_body_string(&shots[0].resp, "name", name, sizeof(name));
    cr_expect_str_eq(name, "Jane Doe");
    cr_expect_geq(collapsed, 1, "no answer says collapsed");
    /* the fetcher's own waiters (SPEC §7) */
    for (i = 0; i < BURST && !fetched; i++) {
        fetched = strcmp(hreq_hdr(&shots[i].resp, "Cache-Status"),
                         "heavyset-proxy; fwd=miss; stored; collapsed") == 0 &&
                  strcmp(hreq_hdr(&shots[i].resp, "X-Cache"), "MISS") == 0;
    }
    cr_expect(fetched, "no waiter says \"heavyset-proxy; fwd=miss; stored; "
              "collapsed\" with X-Cache: MISS");
    cr_expect_eq(hreq_metric(base, UPSTREAM_QUERY, NULL) - up, 1,
                 "the proxy counts %g upstream requests",
                 hreq_metric(base, UPSTREAM_QUERY, NULL) - up);
    /* SPEC §10: every waiter is counted */
    cr_expect_geq(hreq_metric(base, COALESCED, NULL) - before, collapsed,
                  COALESCED " went from %g to %g with %d collapsed answers",
                  before, hreq_metric(base, COALESCED, NULL), collapsed);
    hreq_burst_free(shots, BURST);

    /* afterwards, a hit; still one request */
    hreq_get(base, QUERY SHARED, HREQ(.token = ALPHA), &shots[0].resp);
    cr_expect_str_eq(hreq_hdr(&shots[0].resp, "X-Cache"), "HIT");
    hresp_free(&shots[0].resp);
    cr_expect_eq(hfixture_count("query"), 1);
}

/*
 * A leader's waiters get its answer from a copy the flight keeps, since
 * they are woken after the leader's step: an answer with no body at all
 * (a 204) must reach them as it is, from one upstream request.
 */
Test(offload, waiters_get_an_empty_answer_too)
{
    static struct hheld       shots[BURST];
    static const char *const  hdrs[] = { "X-Sandbox-Delay-Ms: 300",
                                         "X-Sandbox-Answer: 204", NULL };
    const char               *base = hfixture_env("HSP_PROXY_URL");
    const char *const         bases[] = { base };
    double                    max_ms;
    int                       collapsed;
    size_t                    i;

    collapsed = hexpect_stampede(bases, 1, QUERY SHARED,
                                 HREQ(.token = ALPHA, .headers = hdrs),
                                 shots, BURST, &max_ms);
    cr_expect_eq(hfixture_count("query"), 1, "%ld upstream requests for %d "
                 "reads", hfixture_count("query"), BURST);
    cr_expect_geq(collapsed, 1, "no answer says collapsed");
    for (i = 0; i < BURST; i++) {
        cr_expect_eq(shots[i].resp.status, 204, "read %zu: %d", i,
                     shots[i].resp.status);
        cr_expect_eq(shots[i].resp.body_len, 0, "read %zu: %zu bytes", i,
                     shots[i].resp.body_len);
    }
    hreq_burst_free(shots, BURST);
}

Test(offload, concurrent_misses_on_two_instances_make_one_upstream_request)
{
    static struct hheld shots[BURST];
    const char *const   bases[] = { hfixture_env("HSP_PROXY_URL"),
                                    hfixture_env("HSP_PROXY_B_URL") };
    double              before = hreq_metric(bases[0], COALESCED, NULL) +
                                 hreq_metric(bases[1], COALESCED, NULL),
                        after, max_ms;
    int                 collapsed, remote = 0;
    size_t              i;

    collapsed = hexpect_stampede(bases, 2, QUERY SHARED,
                                 HREQ(.token = BRAVO,
                                      .extra = "X-Sandbox-Delay-Ms: 300"),
                                 shots, BURST, &max_ms);
    cr_expect_eq(hfixture_count("query"), 1, "%ld upstream requests for %d reads "
                 "over two instances", hfixture_count("query"), BURST);
    cr_expect_eq(shots[0].resp.status, 200);
    cr_expect_geq(collapsed, 1, "no answer says collapsed");
    /* the instance that did not fetch was woken, then served the entry */
    for (i = 0; i < BURST; i++) {
        remote += hexpect_status_has(&shots[i].resp, "hit; ttl=") &&
                  hexpect_status_has(&shots[i].resp, "; collapsed");
    }
    cr_expect_geq(remote, 1, "no answer is a woken remote waiter's "
                  "\"hit; ttl=N; collapsed\"");
    after = hreq_metric(bases[0], COALESCED, NULL) +
            hreq_metric(bases[1], COALESCED, NULL);
    cr_expect_geq(after - before, collapsed,
                  COALESCED " (both) went from %g to %g, %d collapsed",
                  before, after, collapsed);
    hreq_burst_free(shots, BURST);
}

/* PUBLISH calls Redis has run, scripts' included (INFO commandstats). */
static long
publishes(void)
{
    redisContext *c = hfixture_redis("HSP_REDIS_SOCK");
    redisReply   *info = redisCommand(c, "INFO commandstats");
    const char   *p;
    long          n = 0;

    cr_assert(info != NULL && info->type == REDIS_REPLY_STRING);
    p = strstr(info->str, "cmdstat_publish:calls=");
    if (p != NULL) {
        n = strtol(p + strlen("cmdstat_publish:calls="), NULL, 10);
    }
    freeReplyObject(info);
    redisFree(c);
    return n;
}

/* Fetch locks in Redis, taken or handing an answer over. */
static size_t
lock_keys(void)
{
    redisContext *c = hfixture_redis("HSP_REDIS_SOCK");
    redisReply   *keys = redisCommand(c, "KEYS *:lock:*");
    size_t        n;

    cr_assert(keys != NULL && keys->type == REDIS_REPLY_ARRAY);
    n = keys->elements;
    freeReplyObject(keys);
    redisFree(c);
    return n;
}

/*
 * Every worker of every instance listens on the wake channel: a fill
 * publishes a wake (and hands its answer over in the lock) only when a
 * request elsewhere waits for it, or each miss would wake the whole
 * fleet.
 */
Test(offload, only_a_fill_someone_waits_for_wakes_anyone)
{
    static struct hheld shots[BURST];
    const char *const   two[] = { hfixture_env("HSP_PROXY_URL"),
                                  hfixture_env("HSP_PROXY_B_URL") };
    struct hresp        r;
    long                before = publishes();
    double              max_ms;

    hreq_get(two[0], QUERY SHARED, HREQ(.token = ALPHA), &r);
    cr_assert_eq(r.status, 200);
    cr_expect_str_eq(hreq_hdr(&r, "X-Cache"), "MISS");
    hresp_free(&r);
    hreq_get(two[1], QUERY ALPHA_LEAD,
             HREQ(.token = ALPHA, .extra = "Cache-Control: no-cache"), &r);
    cr_assert_eq(r.status, 200);
    hresp_free(&r);
    cr_expect_eq(publishes(), before, "a miss nobody waited for published");
    cr_expect_eq(lock_keys(), 0, "a fill nobody waited for left its answer "
                 "in the lock");
    /* Waiters on the other instance: woken by a message, not the lease. */
    hexpect_stampede(two, 2, QUERY SHARED,
                     HREQ(.token = BRAVO, .extra = "X-Sandbox-Delay-Ms: 300"),
                     shots, BURST, &max_ms);
    cr_expect_eq(hfixture_count("query"), 3);
    cr_expect_gt(publishes(), before, "waiters elsewhere, and no wake");
    cr_expect_leq(max_ms, UPSTREAM_MS + WAKE_MARGIN_MS,
                  "the slowest waiter took %.0f ms", max_ms);
    hreq_burst_free(shots, BURST);
}

Test(offload, waiters_are_answered_as_soon_as_the_fetch_is_done)
{
    static struct hheld shots[BURST];
    const char *const   one[] = { hfixture_env("HSP_PROXY_URL") };
    const char *const   two[] = { hfixture_env("HSP_PROXY_URL"),
                                  hfixture_env("HSP_PROXY_B_URL") };
    double              max_ms;

    /* Waiters are woken (in memory, or by the wake message), never left
     * to a poll or to the lock's lease: every answer comes about when
     * the one upstream answer does. */
    hexpect_stampede(one, 1, QUERY SHARED,
                     HREQ(.token = ALPHA, .extra = "X-Sandbox-Delay-Ms: 300"),
                     shots, BURST, &max_ms);
    cr_expect_eq(hfixture_count("query"), 1);
    cr_expect_geq(max_ms, UPSTREAM_MS, "the sandbox did not hold the fetch");
    cr_expect_leq(max_ms, UPSTREAM_MS + WAKE_MARGIN_MS,
                  "one instance: the slowest waiter took %.0f ms for a "
                  "%d ms upstream", max_ms, UPSTREAM_MS);
    hreq_burst_free(shots, BURST);

    hexpect_stampede(two, 2, QUERY ALPHA_LEAD,
                     HREQ(.token = ALPHA, .extra = "X-Sandbox-Delay-Ms: 300"),
                     shots, BURST, &max_ms);
    cr_expect_eq(hfixture_count("query"), 2);
    cr_expect_geq(max_ms, UPSTREAM_MS, "the sandbox did not hold the fetch");
    cr_expect_leq(max_ms, UPSTREAM_MS + WAKE_MARGIN_MS,
                  "two instances: the slowest waiter took %.0f ms for a "
                  "%d ms upstream", max_ms, UPSTREAM_MS);
    hreq_burst_free(shots, BURST);
}


Test(offload, an_error_is_handed_to_every_waiter_once)
{
    static const char *const fail[] = { "X-Sandbox-Fail: 500", NULL };
    static struct hheld      shots[BURST];
    const char *const        bases[] = { hfixture_env("HSP_PROXY_URL"),
                                         hfixture_env("HSP_PROXY_B_URL") };
    struct hresp             r;
    double                   max_ms;

    /* A 500 is never stored, yet the waiters on both instances get the
     * one answer the fetcher had (handed on through the lock). */
    hexpect_stampede(bases, 2, QUERY SHARED,
                     HREQ(.token = ALPHA, .extra = "X-Sandbox-Delay-Ms: 300",
                          .headers = fail),
                     shots, BURST, &max_ms);
    cr_expect_eq(hfixture_count("query"), 1, "%ld upstream requests for %d reads "
                 "answered 500", hfixture_count("query"), BURST);
    cr_expect_eq(shots[0].resp.status, 500);
    cr_expect_leq(max_ms, UPSTREAM_MS + WAKE_MARGIN_MS,
                  "the slowest waiter took %.0f ms", max_ms);
    hreq_burst_free(shots, BURST);
    /* handed to those that waited, never stored: the next read fetches */
    hreq_get(bases[1], QUERY SHARED, HREQ(.token = ALPHA), &r);
    cr_expect_eq(r.status, 200);
    cr_expect_str_eq(hreq_hdr(&r, "X-Cache"), "MISS");
    hresp_free(&r);
    cr_expect_eq(hfixture_count("query"), 2);
}

/* ---- stale serving ------------------------------------------------------ */

Test(offload, stale_if_error_serves_the_expired_entry)
{
    static const char *const opts[] = {
        "redis_prefix=hsp-off-sie", "ttl_lead=1s", "stale_while_revalidate=0",
        NULL
    };
    static struct hproc p;
    struct hresp        first, r;

    hfixture_proxy("offload-sie", opts, &p);
    hreq_get(p.url, QUERY SHARED, HREQ(.token = ALPHA), &first);
    cr_assert_eq(first.status, 200);
    cr_expect_str_eq(hreq_hdr(&first, "X-Cache"), "MISS");
    hexpect_expired(p.url, QUERY SHARED, ALPHA);

    /* the upstream answers 500 */
    hreq_get(p.url, QUERY SHARED,
             HREQ(.token = ALPHA, .extra = "X-Sandbox-Fail: 500"), &r);
    hexpect_stale(&r, &first, "detail=stale-if-error");
    cr_expect(hexpect_status_has(&r, "fwd-status=500"), "Cache-Status %s",
              hreq_hdr(&r, "Cache-Status"));
    hresp_free(&r);
    cr_expect_eq(hfixture_count("query"), 2);
    /* it times out (upstream_timeout is 1s there) */
    hreq_get(p.url, QUERY SHARED,
             HREQ(.token = ALPHA, .extra = "X-Sandbox-Delay-Ms: 1500"), &r);
    hexpect_stale(&r, &first, "detail=stale-if-error");
    cr_expect(!hexpect_status_has(&r, "fwd-status"), "no upstream status: %s",
              hreq_hdr(&r, "Cache-Status"));
    /* upstream_timeout (1 s), then the stale entry; the bound leaves a
     * loaded machine (sanitizers, shared cores) its margin */
    cr_expect_lt(r.elapsed_ms, 2500, "answered after %.0f ms",
                 r.elapsed_ms);
    hresp_free(&r);
    cr_expect_eq(hfixture_count("query"), 3);
    /* it drops the connection */
    hreq_get(p.url, QUERY SHARED,
             HREQ(.token = ALPHA, .extra = "X-Sandbox-Fail: drop"), &r);
    hexpect_stale(&r, &first, "detail=stale-if-error");
    hresp_free(&r);
    cr_expect_eq(hfixture_count("query"), 4);
    /* it rate-limits (this proxy has no budget, so no pause) */
    hreq_get(p.url, QUERY SHARED,
             HREQ(.token = ALPHA, .extra = "X-Sandbox-Fail: 429"), &r);
    hexpect_stale(&r, &first, "detail=stale-if-error");
    cr_expect(hexpect_status_has(&r, "fwd-status=429"), "Cache-Status %s",
              hreq_hdr(&r, "Cache-Status"));
    hresp_free(&r);
    cr_expect_eq(hfixture_count("query"), 5);
    cr_expect_eq(hreq_metric(p.url, STALE_ERR, NULL), 4);

    /* the upstream back: the entry is fetched and stored again */
    hreq_get(p.url, QUERY SHARED, HREQ(.token = ALPHA), &r);
    cr_expect_eq(r.status, 200);
    cr_expect_str_eq(hreq_hdr(&r, "X-Cache"), "MISS");
    cr_expect(hexpect_status_has(&r, "stored"), "%s",
              hreq_hdr(&r, "Cache-Status"));
    hresp_free(&r);
    cr_expect_eq(hfixture_count("query"), 6);
    hresp_free(&first);
    hfixture_stop(&p);
}

Test(offload, stale_if_error_when_the_upstream_is_unreachable)
{
    static const char *const fill_opts[] = {
        "redis_prefix=hsp-off-down", "ttl_lead=1s", NULL
    };
    char        upstream[96];
    const char *down_opts[] = {
        "redis_prefix=hsp-off-down", "stale_while_revalidate=0", upstream,
        NULL
    };
    const char         *closed = getenv("HSP_CLOSED_PORT");
    static struct hproc filler, down;
    struct hresp        first, r;

    /* One instance fills the entry; another, on the same Redis and
     * prefix, has an upstream where nothing listens. */
    snprintf(upstream, sizeof(upstream), "upstream=https://127.0.0.1:%s",
             closed != NULL && *closed != '\0' ? closed : "1");
    hfixture_proxy("offload-down-filler", fill_opts, &filler);
    hfixture_proxy("offload-down", down_opts, &down);
    hreq_get(filler.url, QUERY SHARED, HREQ(.token = ALPHA), &first);
    cr_assert_eq(first.status, 200);
    hreq_get(down.url, QUERY SHARED, HREQ(.token = ALPHA), &r);
    cr_expect_str_eq(hreq_hdr(&r, "X-Cache"), "HIT", "shared entry");
    hresp_free(&r);
    hexpect_expired(down.url, QUERY SHARED, ALPHA);

    hreq_get(down.url, QUERY SHARED, HREQ(.token = ALPHA), &r);
    hexpect_stale(&r, &first, "detail=stale-if-error");
    hresp_free(&r);
    /* without an entry: the proxy's own 502 */
    hreq_get(down.url, QUERY ALPHA_LEAD, HREQ(.token = ALPHA), &r);
    cr_expect_eq(r.status, 502, "%d %s", r.status, r.body);
    hresp_free(&r);
    cr_expect_eq(hreq_metric(down.url, STALE_ERR, NULL), 1);
    cr_expect_eq(hfixture_count("query"), 1);
    hresp_free(&first);
    hfixture_stop(&filler);
    hfixture_stop(&down);
}

#define SWR_READS   5
#define SWR_HOLD_MS 500     /* the sandbox's latency during the refresh */
#define SWR_FAST_MS 250     /* a stale answer comes well before that */

Test(offload, stale_while_revalidate_answers_at_once_and_refreshes_once)
{
    static const char *const opts[] = {
        "redis_prefix=hsp-off-swr", "ttl_lead=1s", "workers=2", NULL
    };
    static struct hproc p;
    static struct hheld shots[SWR_READS];
    struct hresp        first, r;
    char                name[64];
    long                deadline;
    size_t              i;

    hfixture_proxy("offload-swr", opts, &p);
    hreq_get(p.url, QUERY SHARED, HREQ(.token = ALPHA), &first);
    cr_assert_eq(first.status, 200);
    /* the lead changes at the source, behind the proxy's back */
    hreq_patch(hfixture_env("HSP_SANDBOX_URL"),
               "{\"phone\":\"+18015551234\",\"firstName\":\"Fresh\","
               "\"lastName\":\"Data\"}", HREQ(.token = ALPHA), &r);
    cr_assert_eq(r.status, 200, "PATCH to the sandbox: %s", r.body);
    hresp_free(&r);
    hexpect_expired(p.url, QUERY SHARED, ALPHA);

    cr_assert_eq(hsandbox_config("{\"latency_ms\":500}"), 0);
    memset(shots, 0, sizeof(shots));
    for (i = 0; i < SWR_READS; i++) {
        shots[i] = (struct hheld){ .method = "GET", .base = p.url,
                                   .path = QUERY SHARED,
                                   .opt = { .token = ALPHA } };
    }
    hreq_burst(shots, SWR_READS);
    for (i = 0; i < SWR_READS; i++) {
        cr_assert_eq(shots[i].rc, 0, "read %zu: %s", i, shots[i].resp.error);
        hexpect_stale(&shots[i].resp, &first, "detail=stale-while-revalidate");
        cr_expect_lt(shots[i].resp.elapsed_ms, SWR_FAST_MS,
                     "stale read %zu took %.0f ms (upstream %d ms)", i,
                     shots[i].resp.elapsed_ms, SWR_HOLD_MS);
    }
    hreq_burst_free(shots, SWR_READS);

    /* the one refresh lands: the entry is fresh again (polled without
     * reaching the upstream) */
    deadline = hfixture_now_ms() + DEADLINE_MS;
    for (;;) {
        hreq_get(p.url, QUERY SHARED,
                 HREQ(.token = ALPHA,
                      .extra = "Cache-Control: only-if-cached"), &r);
        if (r.status == 200 &&
            strcmp(hreq_hdr(&r, "X-Cache"), "HIT") == 0) {
            break;
        }
        cr_assert(r.status == 504 || r.status == 200, "%d", r.status);
        hresp_free(&r);
        cr_assert_lt(hfixture_now_ms(), deadline, "the entry was never refreshed");
        hfixture_pause_ms(POLL_MS);
    }
    hfixture_body_string(&r, "name", name, sizeof(name));
    cr_expect_str_eq(name, "Fresh Data", "the refresh's data");
    hresp_free(&r);
    cr_expect_eq(hfixture_count("query"), 2, "%ld upstream reads: want the fill and "
                 "one refresh", hfixture_count("query"));
    cr_assert_eq(hsandbox_config("{\"latency_ms\":0}"), 0);
    hreq_get(p.url, QUERY SHARED, HREQ(.token = ALPHA), &r);
    cr_expect_str_eq(hreq_hdr(&r, "X-Cache"), "HIT");
    hresp_free(&r);
    cr_expect_eq(hfixture_count("query"), 2);
    /* every stale answer counts once, in both families */
    cr_expect_eq(hreq_metric(p.url, STALE_ANSWERS, NULL), SWR_READS,
                 STALE_ANSWERS " is %g",
                 hreq_metric(p.url, STALE_ANSWERS, NULL));
    cr_expect_eq(hreq_metric(p.url, STALE_SWR, NULL), SWR_READS,
                 STALE_SWR " is %g", hreq_metric(p.url, STALE_SWR, NULL));
    cr_expect_eq(hreq_metric(p.url, UPSTREAM_QUERY, NULL), 2);
    hresp_free(&first);
    hfixture_stop(&p);
}

/*
 * SPEC §8 (found by scripts/chaos): a read whose lookup (which takes the
 * fetch lock) misses its deadline fails open; when Redis runs the call
 * later, the lock it takes belongs to nobody. The proxy gives it back
 * (UNLOCK after it), so the next read of the key does not wait out the
 * lease (2.2 s here) for a fetch that never comes.
 */
Test(offload, a_lock_taken_after_its_deadline_is_given_back)
{
    char        redis[600];
    const char *opts[] = { redis, "redis_prefix=hsp-off-orphan", NULL };
    static struct hproc a, b;
    struct hresp        r;
    pid_t               pid;

    snprintf(redis, sizeof(redis), "redis=unix://%s",
             hfixture_env("HSP_REDIS2_SOCK"));
    hfixture_proxy("offload-orphan-a", opts, &a);
    hfixture_proxy("offload-orphan-b", opts, &b);
    pid = hfixture_redis2_pid();
    cr_assert_eq(kill(pid, SIGSTOP), 0);
    hreq_get(a.url, QUERY ALPHA_LEAD, HREQ(.token = ALPHA), &r);
    kill(pid, SIGCONT);             /* before any assertion can abort */
    cr_expect_eq(r.status, 200, "A, Redis frozen: %d %s", r.status, r.body);
    hresp_free(&r);
    hfixture_pause_ms(300);         /* Redis runs what A sent meanwhile */
    hreq_get(b.url, QUERY ALPHA_LEAD, HREQ(.token = ALPHA), &r);
    cr_expect_eq(r.status, 200, "B: %d %s", r.status, r.body);
    cr_expect_str_eq(hreq_hdr(&r, "X-Cache"), "MISS");
    cr_expect_lt(r.elapsed_ms, 1500, "B's read took %.0f ms", r.elapsed_ms);
    hresp_free(&r);
    hfixture_stop(&a);
    hfixture_stop(&b);
}

/* ---- a fetcher that dies ------------------------------------------------ */

/* Starts GET QUERY SHARED as ALPHA on BASE, with the header line EXTRA
 * (or none), in H's thread. */
static void
held_get(struct hheld *h, const char *base, const char *extra)
{
    *h = (struct hheld){ .method = "GET", .base = base, .path = QUERY SHARED,
                         .opt = { .token = ALPHA, .extra = extra } };
    hreq_held_start(h);
}

Test(offload, a_dead_fetcher_costs_its_waiters_one_lease)
{
    static struct hproc a;
    struct hheld        first;
    struct hheld        waiter;

    /* A, on the harness's Redis and prefix (lease 1s + 2 x 100ms + 1s),
     * takes the lock and is held by the sandbox; B's read waits for it;
     * A dies with SIGKILL, so no wake message ever comes. */
    hfixture_proxy("offload-dead-fetcher", NULL, &a);
    held_get(&first, a.url, "X-Sandbox-Delay-Ms: 1500");
    hreq_held_wait(1);                       /* A's fetch reached the sandbox */
    held_get(&waiter, hfixture_env("HSP_PROXY_B_URL"), NULL);
    hfixture_pause_ms(200);                  /* B is waiting on the lock now */
    cr_expect_eq(hproc_stop(&a, SIGKILL), 128 + SIGKILL, "%s", a.error);
    hreq_held_join(&first);
    hreq_held_join(&waiter);
    cr_expect_neq(first.resp.status, 200, "A died before answering");
    cr_assert_eq(waiter.rc, 0, "%s", waiter.resp.error);
    cr_expect_eq(waiter.resp.status, 200, "%d %s", waiter.resp.status,
                 waiter.resp.body);
    cr_expect_str_eq(hreq_hdr(&waiter.resp, "X-Cache"), "MISS",
                     "B fetched it itself");
    /* it waited out the rest of A's lease (2.2 s, minus ~250 ms) */
    cr_expect(waiter.resp.elapsed_ms > 1500 &&
                  waiter.resp.elapsed_ms < 2200 + WAKE_MARGIN_MS,
              "B's read took %.0f ms", waiter.resp.elapsed_ms);
    cr_expect_eq(hfixture_count("query"), 2);
    hresp_free(&first.resp);
    hresp_free(&waiter.resp);
}

/*
 * A read that waited for another instance's fetch, which gave up, fetches
 * itself; a read of its own instance that waited behind it says
 * "collapsed" once, like every waiter (it once said it twice).
 */
Test(offload, a_waiter_behind_a_waiter_says_collapsed_once)
{
    const char         *one[] = { "workers=1", "upstream_timeout=5s", NULL };
    static struct hproc a, b;
    struct hheld        first;
    struct hheld        waiters[2];
    const char         *cs;

    /* A (upstream_timeout 1s) takes the lock and gives up on a 1.5 s
     * fetch; B, one worker so that its two reads meet in one flight,
     * waits for A's lock, then fetches itself when A lets it go. */
    hfixture_proxy("offload-once-a", NULL, &a);
    hfixture_proxy("offload-once-b", one, &b);
    held_get(&first, a.url, "X-Sandbox-Delay-Ms: 1500");
    hreq_held_wait(1);                       /* A's fetch reached the sandbox */
    held_get(&waiters[0], b.url, NULL);
    hfixture_pause_ms(100);
    held_get(&waiters[1], b.url, NULL);
    hreq_held_join(&first);
    hreq_held_join(&waiters[0]);
    hreq_held_join(&waiters[1]);
    cr_expect_neq(first.resp.status, 200, "A gave up: %d", first.resp.status);
    for (int i = 0; i < 2; i++) {
        cr_assert_eq(waiters[i].rc, 0, "%s", waiters[i].resp.error);
        cr_expect_eq(waiters[i].resp.status, 200, "B %d: %d %s", i,
                     waiters[i].resp.status, waiters[i].resp.body);
        cs = hreq_hdr(&waiters[i].resp, "Cache-Status");
        cr_expect(cs != NULL && strcmp(cs, "heavyset-proxy; fwd=miss; "
                                           "stored; collapsed") == 0,
                  "B %d: Cache-Status %s", i, cs != NULL ? cs : "(none)");
        hresp_free(&waiters[i].resp);
    }
    cr_expect_eq(hfixture_count("query"), 2, "A's fetch and B's");
    hresp_free(&first.resp);
    hfixture_stop(&a);
    hfixture_stop(&b);
}

/*
 * A fetch lock that reaches Redis after its read gave up on it must not
 * be taken (found by scripts/chaos's stop phases): Redis frozen past
 * redis_timeout three times drops the link, and the UNLOCK a read sends
 * after its lost lookup cannot follow the lookup on it; Redis, thawed,
 * still runs what it had received. An orphan lock, owned by nobody,
 * holds every read of that entry, on every instance, for a whole lease
 * (2.2 s here) waiting for a wake that never comes.
 */
Test(offload, a_lock_redis_takes_too_late_leaves_no_orphan)
{
    char                redis[600];
    const char         *opts[] = { redis, "redis_prefix=hsp-off-late-lock",
                                   "near_cache=0", NULL };
    static struct hproc a, b;
    struct hresp        r;
    pid_t               pid;
    int                 i;

    snprintf(redis, sizeof(redis), "redis=unix://%s",
             hfixture_env("HSP_REDIS2_SOCK"));
    hfixture_proxy("offload-late-lock-a", opts, &a);
    hfixture_proxy("offload-late-lock-b", opts, &b);
    hfixture_pause_ms(300);          /* both know Redis's clock (TIME) */
    pid = hfixture_redis2_pid();
    cr_assert_gt(pid, 0);
    cr_assert_eq(kill(pid, SIGSTOP), 0);
    /* Each of A's lookups (each asks for the lock) waits in Redis; A
     * gives up on it after redis_timeout and answers from the upstream;
     * the third missed deadline drops A's link. */
    for (i = 0; i < 4; i++) {
        hreq_get(a.url, QUERY SHARED, HREQ(.token = ALPHA), &r);
        if (r.status != 200) {
            break;
        }
        hresp_free(&r);
    }
    kill(pid, SIGCONT);              /* before any assertion can end it */
    cr_expect_eq(i, 4, "A's read %d: %d %s", i, r.status, r.body);
    if (i < 4) {
        hresp_free(&r);
    }
    hfixture_pause_ms(300);          /* Redis runs what it had received */
    hreq_get(b.url, QUERY SHARED, HREQ(.token = ALPHA), &r);
    cr_expect_eq(r.status, 200, "B: %d %s", r.status, r.body);
    cr_expect_lt(r.elapsed_ms, hfixture_slow_ms(800),
                 "B's read took %.0f ms (held by an orphan lock?)",
                 r.elapsed_ms);
    hresp_free(&r);
    hfixture_stop(&a);
    hfixture_stop(&b);
}

/*
 * SPEC §8 (found by scripts/chaos): a read waiting for another instance's
 * fetch cannot be woken once the subscriber's link to Redis is gone, and
 * the fetcher's fill fails with Redis; it must look again at once (and
 * fail open) instead of sitting out the rest of the lease (2.2 s here),
 * past upstream_timeout plus a margin.
 */
Test(offload, a_waiter_looks_again_when_redis_goes_away)
{
    char        redis[600];
    /* upstream_timeout 3s: A's held fetch (800 ms) must not time out on a
     * slow machine; B's lease is then 4.2 s */
    const char *opts[] = { redis, "redis_prefix=hsp-off-redis-gone",
                           "upstream_timeout=3s", NULL };
    static struct hproc a, b;
    struct hheld        first;
    struct hheld        waiter;

    snprintf(redis, sizeof(redis), "redis=unix://%s",
             hfixture_env("HSP_REDIS2_SOCK"));
    hfixture_proxy("offload-redis-gone-a", opts, &a);
    hfixture_proxy("offload-redis-gone-b", opts, &b);
    held_get(&first, a.url, "X-Sandbox-Delay-Ms: 800");
    hreq_held_wait(1);                       /* A's fetch reached the sandbox */
    held_get(&waiter, b.url, NULL);
    hfixture_pause_ms(200);                  /* B is waiting on the lock now */
    hfixture_redis2_stop();
    hreq_held_join(&first);
    hreq_held_join(&waiter);
    hfixture_redis2_start();                 /* before any assertion ends it */
    cr_assert_eq(first.rc, 0, "%s", first.resp.error);
    cr_expect_eq(first.resp.status, 200, "A: %d %s", first.resp.status,
                 first.resp.body);
    cr_assert_eq(waiter.rc, 0, "%s", waiter.resp.error);
    cr_expect_eq(waiter.resp.status, 200, "B: %d %s", waiter.resp.status,
                 waiter.resp.body);
    cr_expect_str_eq(hreq_hdr(&waiter.resp, "X-Cache"), "MISS",
                     "B fetched it itself");
    /* woken ~200 ms in, then its own fetch: well inside the lease */
    cr_expect_lt(waiter.resp.elapsed_ms, hfixture_slow_ms(1500),
                 "B's read took %.0f ms", waiter.resp.elapsed_ms);
    cr_expect_eq(hfixture_count("query"), 2);
    hresp_free(&first.resp);
    hresp_free(&waiter.resp);
    hfixture_stop(&a);
    hfixture_stop(&b);
}

/*
 * SPEC §8 (found by scripts/chaos): with the upstream slower than
 * upstream_timeout, a read that waits for another instance's fetch of an
 * expired entry gets the stale entry when that fetch fails, instead of
 * trying again itself for another upstream_timeout.
 */
Test(offload, a_waiter_of_a_failed_fetch_serves_stale_at_once)
{
    static const char *const opts[] = {
        "redis_prefix=hsp-off-sie-wait", "ttl_lead=1s",
        "stale_while_revalidate=0", NULL
    };
    static struct hproc a, b;
    struct hheld        first;
    struct hheld        waiter;
    struct hresp        fill;

    hfixture_proxy("offload-sie-wait-a", opts, &a);
    hfixture_proxy("offload-sie-wait-b", opts, &b);
    hreq_get(a.url, QUERY SHARED, HREQ(.token = ALPHA), &fill);
    cr_assert_eq(fill.status, 200);
    hresp_free(&fill);
    hexpect_expired(a.url, QUERY SHARED, ALPHA);
    cr_assert_eq(hsandbox_config("{\"latency_ms\":1500}"), 0);
    held_get(&first, a.url, NULL);
    hreq_held_wait(1);                       /* A's fetch reached the sandbox */
    held_get(&waiter, b.url, NULL);
    hreq_held_join(&first);
    hreq_held_join(&waiter);
    hsandbox_config("{\"latency_ms\":0}");
    cr_assert_eq(first.rc, 0, "%s", first.resp.error);
    cr_expect_str_eq(hreq_hdr(&first.resp, "X-Cache"), "STALE");
    cr_assert_eq(waiter.rc, 0, "%s", waiter.resp.error);
    cr_expect_eq(waiter.resp.status, 200);
    cr_expect_str_eq(hreq_hdr(&waiter.resp, "X-Cache"), "STALE");
    /* A's upstream_timeout (1 s) at most, not a second one of its own */
    cr_expect_lt(waiter.resp.elapsed_ms, 1700, "B's read took %.0f ms",
                 waiter.resp.elapsed_ms);
    cr_expect_eq(hfixture_count("query"), 2, "B fetched again");
    hresp_free(&first.resp);
    hresp_free(&waiter.resp);
    hfixture_stop(&a);
    hfixture_stop(&b);
}
