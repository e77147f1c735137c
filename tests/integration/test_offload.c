/*
 * test_offload.c - offloading the vendor's rate limit end to end (SPEC
 * §6, §7, §8): coalescing of identical reads in one instance and across
 * instances, the shared budget and its write reserve, the fallback budget
 * while Redis is away, the pause after an upstream 429, and stale serving
 * (stale-while-revalidate, stale-if-error, rate-limited). Real proxies, a
 * real redis-server and the sandbox over TLS; every test counts the
 * requests that reach the sandbox and asserts the exact number.
 *
 * The coalescing tests use the harness's proxies (no budget). The tests
 * that need a budget, short lifetimes or redis2 start proxies of their own
 * (tests/lib/hproc.h), each with a redis_prefix of its own, so budgets,
 * pauses and entries never leak into another test; a pause is also kept in
 * the process, which dies with the test. Those that count grants exactly
 * give Redis a redis_timeout of 1s: on a loaded machine a Redis call past
 * 100 ms fails open to the local budget (SPEC §8), which would change the
 * counts.
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
#include "hsandbox.h"
#include "hfixture.h"
#include "hproc.h"
#include "hreq.h"
#include "key.h"

#define API        "/api/v1/appointment/s2s"
#define QUERY      API "/phone/query?phone="
#define ALPHA      "hs_test_tenant_alpha_0001"
#define BRAVO      "hs_test_tenant_bravo_0002"
#define CHARLIE    "hs_test_tenant_charlie_0003"
#define SHARED     "%2B18015551234"     /* in alpha and bravo, other data */
#define ALPHA_LEAD "%2B18015550101"     /* another lead of alpha */

#define POLL_MS        20
#define DEADLINE_MS    10000    /* for anything polled */
#define UPSTREAM_MS    300      /* the sandbox's hold in coalescing tests */
#define WAKE_MARGIN_MS 700      /* a waiter's answer after the upstream's;
                                 * leases are 2.2 s (A) and 6.2 s (B) */
#define BURST          50       /* concurrent identical reads */

#define LOCAL_429_BODY \
    "{\"statusCode\":429,\"message\":[\"rate limit exceeded\"]," \
    "\"error\":\"Too Many Requests\"}"

#define COALESCED  "heavyset_coalesced_total"
#define STALE_SWR  "heavyset_stale_served_total{reason=\"revalidate\"}"
#define STALE_ERR  "heavyset_stale_served_total{reason=\"error\"}"
#define STALE_RATE "heavyset_stale_served_total{reason=\"rate_limited\"}"
#define LOCAL_429  "heavyset_local_429_total"
#define UP_429     "heavyset_upstream_429_total"
#define FALLBACK   "heavyset_budget_fallback_total"
#define UPSTREAM_QUERY "heavyset_upstream_requests_total{route=\"query\"}"
#define STALE_ANSWERS \
    "heavyset_requests_total{route=\"query\",status=\"2xx\",cache=\"stale\"}"

/* ---- helpers ------------------------------------------------------------ */

/* Whether R's Cache-Status contains WHAT. */
static bool
status_has(const struct hresp *r, const char *what)
{
    const char *cs = hresp_header(r, "Cache-Status");

    return cs != NULL && strstr(cs, what) != NULL;
}

/*
 * R is the proxy's own 429 for a spent (or paused) budget (SPEC §6, §7):
 * the upstream's payload, a Retry-After of 1 to MAX_S seconds, no
 * Cache-Status. Returns the Retry-After.
 */
static long
expect_local_429(const struct hresp *r, long max_s)
{
    const char *ra = hresp_header(r, "Retry-After");
    char       *end = NULL;
    long        s;

    cr_assert_eq(r->status, 429, "status %d, want a local 429: %s", r->status,
                 r->body);
    cr_expect_str_eq(r->body, LOCAL_429_BODY, "local 429 body %s", r->body);
    cr_expect_null(hresp_header(r, "Cache-Status"),
                   "a local error carries Cache-Status: %s",
                   hreq_hdr(r, "Cache-Status"));
    cr_assert_not_null(ra, "a local 429 without Retry-After");
    s = strtol(ra, &end, 10);
    cr_expect(end != ra && *end == '\0' && s >= 1 && s <= max_s,
              "Retry-After \"%s\", want 1..%ld seconds", ra, max_s);
    return s;
}

/*
 * Starts a proxy of the sandbox (hproc) named NAME with OPTS (a
 * NULL-terminated list of key=value) on top of hproc's defaults.
 */
static void
start(const char *name, const char *const *opts, struct hproc *p)
{
    cr_assert_eq(hproc_proxy_start(name, opts, p), 0, "%s: %s", name,
                 p->error);
}

static void
stop(struct hproc *p)
{
    cr_expect_eq(hproc_stop(p, SIGTERM), 0, "exit status after SIGTERM: %s",
                 p->error);
}

/*
 * Polls the proxy at BASE with only-if-cached reads of PATH (which never
 * reach the upstream) until its entry has expired: a 504. Bounded.
 */
static void
wait_expired(const char *base, const char *path, const char *token)
{
    long         deadline = hfixture_now_ms() + DEADLINE_MS;
    struct hresp r;
    int          status;

    for (;;) {
        hreq_get(base, path,
                 HREQ(.token = token,
                      .extra = "Cache-Control: only-if-cached"), &r);
        status = r.status;
        hresp_free(&r);
        if (status == 504) {
            return;
        }
        cr_assert_eq(status, 200, "only-if-cached: %d", status);
        cr_assert_lt(hfixture_now_ms(), deadline, "the entry never expired");
        hfixture_pause_ms(POLL_MS * 5);
    }
}

/* ---- concurrent requests ------------------------------------------------ */

/* One request sent from a thread; nothing here asserts. */
struct shot {
    const char        *base;        /* proxy URL */
    char               path[160];
    const char        *token;
    const char        *extra[2];    /* more header lines, or NULL */
    pthread_barrier_t *go;          /* all shots leave together */
    struct hresp       resp;
    int                rc;          /* of hclient_request */
};

static void *
shot_run(void *arg)
{
    struct shot *s = arg;
    char         tok[128];
    const char  *headers[4] = { tok, NULL, NULL, NULL };
    size_t       n = 1, i;

    for (i = 0; i < 2; i++) {
        if (s->extra[i] != NULL) {
            headers[n++] = s->extra[i];
        }
    }

    snprintf(tok, sizeof(tok), "x-hs-token: %s", s->token);
    pthread_barrier_wait(s->go);
    s->rc = hclient_request(s->base, "GET", s->path, headers, NULL, 0,
                            &s->resp);
    return NULL;
}

/* Sends the N shots at once, each from a thread, and waits for them all. */
static void
fire(struct shot *shots, size_t n)
{
    pthread_t        *t = calloc(n, sizeof(*t));
    pthread_barrier_t go;
    size_t            i;

    cr_assert_not_null(t);
    cr_assert_eq(pthread_barrier_init(&go, NULL, (unsigned)n), 0);
    for (i = 0; i < n; i++) {
        shots[i].go = &go;
        cr_assert_eq(pthread_create(&t[i], NULL, shot_run, &shots[i]), 0);
    }
    for (i = 0; i < n; i++) {
        pthread_join(t[i], NULL);
    }
    pthread_barrier_destroy(&go);
    free(t);
}

static void
shots_free(struct shot *shots, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        hresp_free(&shots[i].resp);
    }
}

/*
 * Fires BURST identical reads of PATH with TOKEN and the header lines
 * EXTRA and EXTRA2 (each may be NULL), spread in
 * turn over the proxies at BASES (NBASES of them), into SHOTS. Asserts
 * that every one was answered with the same status and body; returns how
 * many said collapsed in their Cache-Status, and the slowest in *MAX_MS.
 */
static int
stampede(const char *const *bases, size_t nbases, const char *path,
         const char *token, const char *extra, const char *extra2,
         struct shot *shots, double *max_ms)
{
    size_t i;
    int    collapsed = 0;

    memset(shots, 0, BURST * sizeof(*shots));
    for (i = 0; i < BURST; i++) {
        shots[i].base = bases[i % nbases];
        snprintf(shots[i].path, sizeof(shots[i].path), "%s", path);
        shots[i].token = token;
        shots[i].extra[0] = extra;
        shots[i].extra[1] = extra2;
    }
    fire(shots, BURST);
    *max_ms = 0;
    for (i = 0; i < BURST; i++) {
        const struct hresp *r = &shots[i].resp;

        cr_assert_eq(shots[i].rc, 0, "request %zu: %s", i, r->error);
        cr_expect_eq(r->status, shots[0].resp.status,
                     "request %zu: status %d, the first got %d", i, r->status,
                     shots[0].resp.status);
        cr_expect(r->body_len == shots[0].resp.body_len &&
                      memcmp(r->body, shots[0].resp.body, r->body_len) == 0,
                  "request %zu: body %s, the first got %s", i, r->body,
                  shots[0].resp.body);
        collapsed += status_has(r, "collapsed");
        if (r->elapsed_ms > *max_ms) {
            *max_ms = r->elapsed_ms;
        }
    }
    return collapsed;
}

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
    static struct shot shots[BURST];
    const char        *base = hfixture_env("HSP_PROXY_URL");
    const char *const  bases[] = { base };
    double             before = hreq_metric(base, COALESCED, NULL), max_ms;
    double             up = hreq_metric(base, UPSTREAM_QUERY, NULL);
    int                collapsed;
    bool               fetched = false;
    size_t             i;
    char               name[64];

    /* 2 workers, one key: one fetch, held UPSTREAM_MS by the sandbox */
    collapsed = stampede(bases, 1, QUERY SHARED, ALPHA,
                         "X-Sandbox-Delay-Ms: 300", NULL, shots, &max_ms);
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
    shots_free(shots, BURST);

    /* afterwards, a hit; still one request */
    hreq_get(base, QUERY SHARED, HREQ(.token = ALPHA), &shots[0].resp);
    cr_expect_str_eq(hreq_hdr(&shots[0].resp, "X-Cache"), "HIT");
    hresp_free(&shots[0].resp);
    cr_expect_eq(hfixture_count("query"), 1);
}

Test(offload, concurrent_misses_on_two_instances_make_one_upstream_request)
{
    static struct shot shots[BURST];
    const char *const  bases[] = { hfixture_env("HSP_PROXY_URL"),
                                   hfixture_env("HSP_PROXY_B_URL") };
    double             before = hreq_metric(bases[0], COALESCED, NULL) +
                    hreq_metric(bases[1], COALESCED, NULL), after, max_ms;
    int                collapsed, remote = 0;
    size_t             i;

    collapsed = stampede(bases, 2, QUERY SHARED, BRAVO,
                         "X-Sandbox-Delay-Ms: 300", NULL, shots, &max_ms);
    cr_expect_eq(hfixture_count("query"), 1, "%ld upstream requests for %d reads "
                 "over two instances", hfixture_count("query"), BURST);
    cr_expect_eq(shots[0].resp.status, 200);
    cr_expect_geq(collapsed, 1, "no answer says collapsed");
    /* the instance that did not fetch was woken, then served the entry */
    for (i = 0; i < BURST; i++) {
        remote += status_has(&shots[i].resp, "hit; ttl=") &&
                  status_has(&shots[i].resp, "; collapsed");
    }
    cr_expect_geq(remote, 1, "no answer is a woken remote waiter's "
                  "\"hit; ttl=N; collapsed\"");
    after = hreq_metric(bases[0], COALESCED, NULL) +
            hreq_metric(bases[1], COALESCED, NULL);
    cr_expect_geq(after - before, collapsed,
                  COALESCED " (both) went from %g to %g, %d collapsed",
                  before, after, collapsed);
    shots_free(shots, BURST);
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
    static struct shot shots[BURST];
    const char *const  two[] = { hfixture_env("HSP_PROXY_URL"),
                                 hfixture_env("HSP_PROXY_B_URL") };
    struct hresp       r;
    long               before = publishes();
    double             max_ms;

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
    stampede(two, 2, QUERY SHARED, BRAVO, "X-Sandbox-Delay-Ms: 300", NULL,
             shots, &max_ms);
    cr_expect_eq(hfixture_count("query"), 3);
    cr_expect_gt(publishes(), before, "waiters elsewhere, and no wake");
    cr_expect_leq(max_ms, UPSTREAM_MS + WAKE_MARGIN_MS,
                  "the slowest waiter took %.0f ms", max_ms);
    shots_free(shots, BURST);
}

Test(offload, waiters_are_answered_as_soon_as_the_fetch_is_done)
{
    static struct shot shots[BURST];
    const char *const  one[] = { hfixture_env("HSP_PROXY_URL") };
    const char *const  two[] = { hfixture_env("HSP_PROXY_URL"),
                                 hfixture_env("HSP_PROXY_B_URL") };
    double             max_ms;

    /* Waiters are woken (in memory, or by the wake message), never left
     * to a poll or to the lock's lease: every answer comes about when
     * the one upstream answer does. */
    stampede(one, 1, QUERY SHARED, ALPHA, "X-Sandbox-Delay-Ms: 300", NULL,
             shots, &max_ms);
    cr_expect_eq(hfixture_count("query"), 1);
    cr_expect_geq(max_ms, UPSTREAM_MS, "the sandbox did not hold the fetch");
    cr_expect_leq(max_ms, UPSTREAM_MS + WAKE_MARGIN_MS,
                  "one instance: the slowest waiter took %.0f ms for a "
                  "%d ms upstream", max_ms, UPSTREAM_MS);
    shots_free(shots, BURST);

    stampede(two, 2, QUERY ALPHA_LEAD, ALPHA, "X-Sandbox-Delay-Ms: 300",
             NULL, shots, &max_ms);
    cr_expect_eq(hfixture_count("query"), 2);
    cr_expect_geq(max_ms, UPSTREAM_MS, "the sandbox did not hold the fetch");
    cr_expect_leq(max_ms, UPSTREAM_MS + WAKE_MARGIN_MS,
                  "two instances: the slowest waiter took %.0f ms for a "
                  "%d ms upstream", max_ms, UPSTREAM_MS);
    shots_free(shots, BURST);
}


Test(offload, an_error_is_handed_to_every_waiter_once)
{
    static struct shot shots[BURST];
    const char *const  bases[] = { hfixture_env("HSP_PROXY_URL"),
                                   hfixture_env("HSP_PROXY_B_URL") };
    struct hresp       r;
    double             max_ms;

    /* A 500 is never stored, yet the waiters on both instances get the
     * one answer the fetcher had (handed on through the lock). */
    stampede(bases, 2, QUERY SHARED, ALPHA, "X-Sandbox-Delay-Ms: 300",
             "X-Sandbox-Fail: 500", shots, &max_ms);
    cr_expect_eq(hfixture_count("query"), 1, "%ld upstream requests for %d reads "
                 "answered 500", hfixture_count("query"), BURST);
    cr_expect_eq(shots[0].resp.status, 500);
    cr_expect_leq(max_ms, UPSTREAM_MS + WAKE_MARGIN_MS,
                  "the slowest waiter took %.0f ms", max_ms);
    shots_free(shots, BURST);
    /* handed to those that waited, never stored: the next read fetches */
    hreq_get(bases[1], QUERY SHARED, HREQ(.token = ALPHA), &r);
    cr_expect_eq(r.status, 200);
    cr_expect_str_eq(hreq_hdr(&r, "X-Cache"), "MISS");
    hresp_free(&r);
    cr_expect_eq(hfixture_count("query"), 2);
}

/* ---- the shared budget -------------------------------------------------- */

#define BUDGET_BURST 40

Test(offload, two_instances_share_one_budget_and_keep_the_write_reserve)
{
    static const char *const opts[] = {
        "redis_prefix=hsp-off-budget", "redis_timeout=1s", "rate_limit=10/min",
        "rate_reserve_writes=2/min", "rate_limit_fallback=5/min",
        "workers=2", NULL
    };
    static struct hproc a, b;
    static struct shot  shots[BUDGET_BURST];
    struct hresp        r;
    int                 passed = 0, passed_a = 0, limited = 0;
    size_t              i;

    start("offload-budget-a", opts, &a);
    start("offload-budget-b", opts, &b);
    /* one lead first: 1 of the 8 reads (10 - 2 kept for writes) */
    hreq_get(a.url, QUERY SHARED, HREQ(.token = ALPHA), &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_expect_str_eq(hreq_hdr(&r, "X-Cache"), "MISS");
    hresp_free(&r);

    /* 40 distinct misses at once over both instances */
    memset(shots, 0, sizeof(shots));
    for (i = 0; i < BUDGET_BURST; i++) {
        shots[i].base = i % 2 == 0 ? a.url : b.url;
        snprintf(shots[i].path, sizeof(shots[i].path),
                 QUERY "%%2B1801555%04zu", 2000 + i);
        shots[i].token = ALPHA;
    }
    fire(shots, BUDGET_BURST);
    for (i = 0; i < BUDGET_BURST; i++) {
        const struct hresp *s = &shots[i].resp;

        cr_assert_eq(shots[i].rc, 0, "request %zu: %s", i, s->error);
        if (s->status == 429) {
            expect_local_429(s, 61);
            limited++;
        } else {
            cr_expect_eq(s->status, 404, "request %zu: %d %s", i, s->status,
                         s->body);
            cr_expect_str_eq(hreq_hdr(s, "X-Cache"), "MISS");
            passed++;
            passed_a += i % 2 == 0;
        }
    }
    shots_free(shots, BUDGET_BURST);
    cr_expect_eq(hfixture_count("query"), 8, "the sandbox saw %ld reads; the budget "
                 "is 10/min with 2 kept for writes", hfixture_count("query"));
    cr_expect_eq(passed, 7, "%d of the burst passed, want 7", passed);
    cr_expect_eq(limited, BUDGET_BURST - 7, "%d local 429s", limited);
    cr_expect_eq(hreq_metric(a.url, LOCAL_429, NULL) +
                     hreq_metric(b.url, LOCAL_429, NULL),
                 limited);

    /* hits spend nothing */
    hreq_get(b.url, QUERY SHARED, HREQ(.token = ALPHA), &r);
    cr_expect_eq(r.status, 200);
    cr_expect_str_eq(hreq_hdr(&r, "X-Cache"), "HIT");
    hresp_free(&r);
    /* the write reserve: a PATCH still goes through, on either instance */
    hreq_patch(b.url,
               "{\"phone\":\"+18015551234\"," "\"appendComment\":\"reserve\"}",
               HREQ(.token = ALPHA), &r);
    cr_expect_eq(r.status, 200, "PATCH with the write reserve: %d %s",
                 r.status, r.body);
    hresp_free(&r);
    cr_expect_eq(hfixture_count("update"), 1);
    /* reads stay refused, and another tenant has its own budget */
    hreq_get(a.url, QUERY "%2B18015552999", HREQ(.token = ALPHA), &r);
    expect_local_429(&r, 61);
    hresp_free(&r);
    hreq_get(a.url, QUERY SHARED, HREQ(.token = BRAVO), &r);
    cr_expect_eq(r.status, 200, "bravo: %d %s", r.status, r.body);
    hresp_free(&r);
    cr_expect_eq(hfixture_count("query"), 9);
    stop(&a);
    stop(&b);
}

Test(offload, a_read_without_budget_serves_the_expired_entry)
{
    static const char *const opts[] = {
        "redis_prefix=hsp-off-ratestale", "redis_timeout=1s",
        "rate_limit=3/min",
        "rate_reserve_writes=1/min", "rate_limit_fallback=3/min",
        "ttl_lead=1s", "stale_while_revalidate=0", NULL
    };
    static struct hproc p;
    struct hresp        first, r;

    start("offload-ratestale", opts, &p);
    hreq_get(p.url, QUERY SHARED, HREQ(.token = ALPHA), &first); /* 1 of 2 */
    cr_assert_eq(first.status, 200);
    wait_expired(p.url, QUERY SHARED, ALPHA);
    /* read 2 of 2 */
    hreq_get(p.url, QUERY "%2B18015552999", HREQ(.token = ALPHA), &r);
    cr_expect_eq(r.status, 404);
    hresp_free(&r);
    cr_expect_eq(hfixture_count("query"), 2);

    hreq_get(p.url, QUERY SHARED, HREQ(.token = ALPHA), &r);
    cr_expect_eq(r.status, 200, "no budget, an expired entry: %d %s",
                 r.status, r.body);
    cr_expect_str_eq(hreq_hdr(&r, "X-Cache"), "STALE");
    cr_expect(status_has(&r, "detail=rate-limited"), "Cache-Status %s",
              hreq_hdr(&r, "Cache-Status"));
    cr_expect_not_null(hresp_header(&r, "Age"), "a stale answer has Age");
    cr_expect(r.body_len == first.body_len &&
                  memcmp(r.body, first.body, r.body_len) == 0,
              "stale body %s, want %s", r.body, first.body);
    hresp_free(&r);
    /* nothing stale for this one: the local 429 */
    hreq_get(p.url, QUERY "%2B18015552998", HREQ(.token = ALPHA), &r);
    expect_local_429(&r, 61);
    hresp_free(&r);
    cr_expect_eq(hfixture_count("query"), 2, "the upstream saw more reads");
    cr_expect_eq(hreq_metric(p.url, STALE_RATE, NULL), 1);
    cr_expect_eq(hreq_metric(p.url, LOCAL_429, NULL), 1);
    hresp_free(&first);
    stop(&p);
}

Test(offload, redis_away_each_instance_spends_its_fallback_budget)
{
    char        redis[600];
    const char *opts[] = {
        redis, "redis_prefix=hsp-off-fallback", "rate_limit=10/min",
        "rate_reserve_writes=0/min", "rate_limit_fallback=3/min",
        "workers=2", NULL
    };
    static struct hproc a, b;
    static struct shot  shots[BUDGET_BURST];
    struct hresp        r;
    int                 passed_a = 0, passed_b = 0, status;
    long                deadline;
    size_t              i;

    snprintf(redis, sizeof(redis), "redis=unix://%s",
             hfixture_env("HSP_REDIS2_SOCK"));
    start("offload-fallback-a", opts, &a);
    start("offload-fallback-b", opts, &b);
    hfixture_redis2_stop();

    memset(shots, 0, sizeof(shots));
    for (i = 0; i < BUDGET_BURST; i++) {
        shots[i].base = i % 2 == 0 ? a.url : b.url;
        snprintf(shots[i].path, sizeof(shots[i].path),
                 QUERY "%%2B1801555%04zu", 3000 + i);
        shots[i].token = ALPHA;
    }
    fire(shots, BUDGET_BURST);
    for (i = 0; i < BUDGET_BURST; i++) {
        const struct hresp *s = &shots[i].resp;

        if (shots[i].rc != 0) {
            continue;               /* asserted below, after redis2 */
        }
        if (s->status != 429) {
            passed_a += i % 2 == 0;
            passed_b += i % 2 == 1;
        }
    }
    /* Redis back, before any assertion can end the test */
    hfixture_redis2_start();
    for (i = 0; i < BUDGET_BURST; i++) {
        const struct hresp *s = &shots[i].resp;

        cr_assert_eq(shots[i].rc, 0, "request %zu: %s", i, s->error);
        if (s->status == 429) {
            expect_local_429(s, 61);
        } else {
            cr_expect_eq(s->status, 404, "request %zu: %d %s", i, s->status,
                         s->body);
        }
    }
    shots_free(shots, BUDGET_BURST);
    cr_expect_eq(hfixture_count("query"), 6, "with Redis away two instances sent %ld "
                 "reads, want 2 x rate_limit_fallback = 6", hfixture_count("query"));
    cr_expect_eq(passed_a, 3, "instance A passed %d", passed_a);
    cr_expect_eq(passed_b, 3, "instance B passed %d", passed_b);
    cr_expect_geq(hreq_metric(a.url, FALLBACK, NULL), 3);
    cr_expect_geq(hreq_metric(b.url, FALLBACK, NULL), 3);

    /* The shared budget resumes (its window in redis2 is empty), though
     * the local one is spent for a minute. */
    deadline = hfixture_now_ms() + 15000;    /* the store's backoff is at most 5 s */
    for (;;) {
        hreq_get(a.url, QUERY "%2B18015553999", HREQ(.token = ALPHA), &r);
        status = r.status;
        hresp_free(&r);
        if (status != 429) {
            break;
        }
        cr_assert_lt(hfixture_now_ms(), deadline, "the shared budget never resumed");
        hfixture_pause_ms(200);
    }
    cr_expect_eq(status, 404);
    cr_expect_eq(hfixture_count("query"), 7);
    stop(&a);
    stop(&b);
}

Test(offload, an_upstream_429_pauses_the_tenant_on_every_instance)
{
    static const char *const opts[] = {
        "redis_prefix=hsp-off-pause", "redis_timeout=1s", "rate_limit=60/min",
        "workers=2", NULL
    };
    static struct hproc a, b;
    struct hresp        r;
    redisContext       *c;
    redisReply         *pttl;
    char                t[KEY_TENANT_HEX + 1];
    long                deadline, ms = 0;

    start("offload-pause-a", opts, &a);
    start("offload-pause-b", opts, &b);
    hreq_get(a.url, QUERY SHARED,
             HREQ(.token = BRAVO, .extra = "X-Sandbox-Fail: 429"), &r);
    cr_expect_eq(r.status, 429, "the sandbox's 429: %d", r.status);
    cr_expect_str_eq(hreq_hdr(&r, "Retry-After"), "60", "relayed as it came");
    cr_expect_null(strstr(r.body, "rate limit exceeded"),
                   "the upstream's own 429: %s", r.body);
    hresp_free(&r);
    cr_expect_eq(hfixture_count("query"), 1);

    /* the pause reaches Redis (fire and forget): bounded wait */
    key_tenant(BRAVO, strlen(BRAVO), t);
    c = hfixture_redis("HSP_REDIS_SOCK");
    deadline = hfixture_now_ms() + DEADLINE_MS;
    for (;;) {
        pttl = redisCommand(c, "PTTL hsp-off-pause:v1:{%s}:pause", t);
        cr_assert(pttl != NULL && pttl->type == REDIS_REPLY_INTEGER);
        ms = (long)pttl->integer;
        freeReplyObject(pttl);
        if (ms > 0) {
            break;
        }
        cr_assert_lt(hfixture_now_ms(), deadline, "no pause in Redis");
        hfixture_pause_ms(POLL_MS);
    }
    redisFree(c);
    cr_expect(ms > 50000 && ms <= 60000, "pause of %ld ms for Retry-After 60",
              ms);

    /* both instances: local 429s for the whole pause, nothing upstream */
    hreq_get(a.url, QUERY "%2B18015550177", HREQ(.token = BRAVO), &r);
    cr_expect_geq(expect_local_429(&r, 60), 50);
    hresp_free(&r);
    hreq_get(b.url, QUERY SHARED, HREQ(.token = BRAVO), &r);
    cr_expect_geq(expect_local_429(&r, 60), 50);
    hresp_free(&r);
    hreq_get(b.url, QUERY "%2B18015552997",
             HREQ(.token = BRAVO, .extra = "Cache-Control: no-cache"), &r);
    cr_expect_geq(expect_local_429(&r, 60), 50);
    hresp_free(&r);
    cr_expect_eq(hfixture_count("query"), 1, "the upstream saw a paused tenant");

    /* other tenants go on */
    hreq_get(b.url, QUERY SHARED, HREQ(.token = CHARLIE), &r);
    cr_expect_eq(r.status, 404, "charlie: %d %s", r.status, r.body);
    hresp_free(&r);
    hreq_get(a.url, QUERY SHARED, HREQ(.token = ALPHA), &r);
    cr_expect_eq(r.status, 200, "alpha: %d %s", r.status, r.body);
    hresp_free(&r);
    cr_expect_eq(hfixture_count("query"), 3);
    cr_expect_eq(hreq_metric(a.url, UP_429, NULL), 1);
    cr_expect_eq(hreq_metric(a.url, LOCAL_429, NULL), 1);
    cr_expect_eq(hreq_metric(b.url, LOCAL_429, NULL), 2);
    stop(&a);
    stop(&b);
}

/* ---- stale serving ------------------------------------------------------ */

/* R is the expired entry FIRST served with DETAIL. */
static void
expect_stale(const struct hresp *r, const struct hresp *first,
             const char *detail)
{
    cr_assert_eq(r->status, 200, "want the stale entry: %d %s", r->status,
                 r->body);
    cr_expect_str_eq(hreq_hdr(r, "X-Cache"), "STALE");
    cr_expect(status_has(r, detail), "Cache-Status %s lacks %s",
              hreq_hdr(r, "Cache-Status"), detail);
    cr_expect(status_has(r, "heavyset-proxy; fwd=stale"), "Cache-Status %s",
              hreq_hdr(r, "Cache-Status"));
    cr_expect_not_null(hresp_header(r, "Age"), "a stale answer has Age");
    cr_expect(r->body_len == first->body_len &&
                  memcmp(r->body, first->body, r->body_len) == 0,
              "stale body %s, want %s", r->body, first->body);
}

Test(offload, stale_if_error_serves_the_expired_entry)
{
    static const char *const opts[] = {
        "redis_prefix=hsp-off-sie", "ttl_lead=1s", "stale_while_revalidate=0",
        NULL
    };
    static struct hproc p;
    struct hresp        first, r;

    start("offload-sie", opts, &p);
    hreq_get(p.url, QUERY SHARED, HREQ(.token = ALPHA), &first);
    cr_assert_eq(first.status, 200);
    cr_expect_str_eq(hreq_hdr(&first, "X-Cache"), "MISS");
    wait_expired(p.url, QUERY SHARED, ALPHA);

    /* the upstream answers 500 */
    hreq_get(p.url, QUERY SHARED,
             HREQ(.token = ALPHA, .extra = "X-Sandbox-Fail: 500"), &r);
    expect_stale(&r, &first, "detail=stale-if-error");
    cr_expect(status_has(&r, "fwd-status=500"), "Cache-Status %s",
              hreq_hdr(&r, "Cache-Status"));
    hresp_free(&r);
    cr_expect_eq(hfixture_count("query"), 2);
    /* it times out (upstream_timeout is 1s there) */
    hreq_get(p.url, QUERY SHARED,
             HREQ(.token = ALPHA, .extra = "X-Sandbox-Delay-Ms: 1500"), &r);
    expect_stale(&r, &first, "detail=stale-if-error");
    cr_expect(!status_has(&r, "fwd-status"), "no upstream status: %s",
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
    expect_stale(&r, &first, "detail=stale-if-error");
    hresp_free(&r);
    cr_expect_eq(hfixture_count("query"), 4);
    /* it rate-limits (this proxy has no budget, so no pause) */
    hreq_get(p.url, QUERY SHARED,
             HREQ(.token = ALPHA, .extra = "X-Sandbox-Fail: 429"), &r);
    expect_stale(&r, &first, "detail=stale-if-error");
    cr_expect(status_has(&r, "fwd-status=429"), "Cache-Status %s",
              hreq_hdr(&r, "Cache-Status"));
    hresp_free(&r);
    cr_expect_eq(hfixture_count("query"), 5);
    cr_expect_eq(hreq_metric(p.url, STALE_ERR, NULL), 4);

    /* the upstream back: the entry is fetched and stored again */
    hreq_get(p.url, QUERY SHARED, HREQ(.token = ALPHA), &r);
    cr_expect_eq(r.status, 200);
    cr_expect_str_eq(hreq_hdr(&r, "X-Cache"), "MISS");
    cr_expect(status_has(&r, "stored"), "%s", hreq_hdr(&r, "Cache-Status"));
    hresp_free(&r);
    cr_expect_eq(hfixture_count("query"), 6);
    hresp_free(&first);
    stop(&p);
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
    start("offload-down-filler", fill_opts, &filler);
    start("offload-down", down_opts, &down);
    hreq_get(filler.url, QUERY SHARED, HREQ(.token = ALPHA), &first);
    cr_assert_eq(first.status, 200);
    hreq_get(down.url, QUERY SHARED, HREQ(.token = ALPHA), &r);
    cr_expect_str_eq(hreq_hdr(&r, "X-Cache"), "HIT", "shared entry");
    hresp_free(&r);
    wait_expired(down.url, QUERY SHARED, ALPHA);

    hreq_get(down.url, QUERY SHARED, HREQ(.token = ALPHA), &r);
    expect_stale(&r, &first, "detail=stale-if-error");
    hresp_free(&r);
    /* without an entry: the proxy's own 502 */
    hreq_get(down.url, QUERY ALPHA_LEAD, HREQ(.token = ALPHA), &r);
    cr_expect_eq(r.status, 502, "%d %s", r.status, r.body);
    hresp_free(&r);
    cr_expect_eq(hreq_metric(down.url, STALE_ERR, NULL), 1);
    cr_expect_eq(hfixture_count("query"), 1);
    hresp_free(&first);
    stop(&filler);
    stop(&down);
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
    static struct shot  shots[SWR_READS];
    struct hresp        first, r;
    char                name[64];
    long                deadline;
    size_t              i;

    start("offload-swr", opts, &p);
    hreq_get(p.url, QUERY SHARED, HREQ(.token = ALPHA), &first);
    cr_assert_eq(first.status, 200);
    /* the lead changes at the source, behind the proxy's back */
    hreq_patch(hfixture_env("HSP_SANDBOX_URL"),
               "{\"phone\":\"+18015551234\",\"firstName\":\"Fresh\","
               "\"lastName\":\"Data\"}", HREQ(.token = ALPHA), &r);
    cr_assert_eq(r.status, 200, "PATCH to the sandbox: %s", r.body);
    hresp_free(&r);
    wait_expired(p.url, QUERY SHARED, ALPHA);

    cr_assert_eq(hsandbox_config("{\"latency_ms\":500}"), 0);
    memset(shots, 0, sizeof(shots));
    for (i = 0; i < SWR_READS; i++) {
        shots[i].base = p.url;
        snprintf(shots[i].path, sizeof(shots[i].path), "%s", QUERY SHARED);
        shots[i].token = ALPHA;
    }
    fire(shots, SWR_READS);
    for (i = 0; i < SWR_READS; i++) {
        cr_assert_eq(shots[i].rc, 0, "read %zu: %s", i, shots[i].resp.error);
        expect_stale(&shots[i].resp, &first, "detail=stale-while-revalidate");
        cr_expect_lt(shots[i].resp.elapsed_ms, SWR_FAST_MS,
                     "stale read %zu took %.0f ms (upstream %d ms)", i,
                     shots[i].resp.elapsed_ms, SWR_HOLD_MS);
    }
    shots_free(shots, SWR_READS);

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
    stop(&p);
}

/* ---- what never spends budget, and waiting for it ----------------------- */

Test(offload, waiters_hits_and_replays_spend_no_budget)
{
    static const char *const opts[] = {
        "redis_prefix=hsp-off-nospend", "redis_timeout=1s", "rate_limit=4/min",
        "rate_reserve_writes=1/min", "rate_limit_fallback=4/min",
        "workers=2", NULL
    };
    static struct hproc a, b;
    static struct shot  shots[BURST];
    const char         *bases[2];
    const char         *body = "{\"phone\":\"+18015551234\","
                               "\"appendComment\":\"once\"}";
    struct hresp        r;
    double              max_ms;
    int                 i;

    /* reads may take 3 grants a minute, writes all 4 */
    start("offload-nospend-a", opts, &a);
    start("offload-nospend-b", opts, &b);
    bases[0] = a.url;
    bases[1] = b.url;
    /* 50 identical reads over both: one grant (the fetch) */
    stampede(bases, 2, QUERY SHARED, ALPHA, "X-Sandbox-Delay-Ms: 300", NULL,
             shots, &max_ms);
    cr_expect_eq(shots[0].resp.status, 200, "%d %s", shots[0].resp.status,
                 shots[0].resp.body);
    shots_free(shots, BURST);
    cr_expect_eq(hfixture_count("query"), 1);
    for (i = 0; i < 5; i++) {       /* hits: none */
        hreq_get(bases[i % 2], QUERY SHARED, HREQ(.token = ALPHA), &r);
        cr_expect_str_eq(hreq_hdr(&r, "X-Cache"), "HIT");
        hresp_free(&r);
    }
    /* one PATCH (a grant), replayed five times (none) */
    for (i = 0; i < 6; i++) {
        hreq_patch(bases[i % 2], body,
                   HREQ(.token = ALPHA, .key = "offload-nospend-1"), &r);
        cr_expect_eq(r.status, 200, "PATCH %d: %d %s", i, r.status, r.body);
        cr_expect_str_eq(hreq_hdr(&r, "X-Cache"), i == 0 ? "(none)" : "REPLAY",
                         "PATCH %d", i);
        hresp_free(&r);
    }
    cr_expect_eq(hfixture_count("update"), 1);

    /* so 2 grants are spent: one more read, then the reserve */
    hreq_get(a.url, QUERY "%2B18015552990", HREQ(.token = ALPHA), &r);
    cr_expect_eq(r.status, 404, "the third read: %d %s", r.status, r.body);
    hresp_free(&r);
    hreq_get(b.url, QUERY "%2B18015552991", HREQ(.token = ALPHA), &r);
    expect_local_429(&r, 61);
    hresp_free(&r);
    hreq_patch(b.url, body, HREQ(.token = ALPHA), &r);
    cr_expect_eq(r.status, 200, "the fourth grant, a write: %d %s", r.status,
                 r.body);
    hresp_free(&r);
    hreq_patch(a.url, body, HREQ(.token = ALPHA), &r);
    expect_local_429(&r, 61);
    hresp_free(&r);
    cr_expect_eq(hfixture_count("query"), 2);
    cr_expect_eq(hfixture_count("update"), 2);
    stop(&a);
    stop(&b);
}

Test(offload, a_read_waits_for_budget_up_to_rate_limit_wait)
{
    /* 2 grants in a window of 1 s + the 1 s margin */
    static const char *const long_opts[] = {
        "redis_prefix=hsp-off-wait", "redis_timeout=1s", "rate_limit=2/s",
        "rate_reserve_writes=0/s", "rate_limit_wait=4s", NULL
    };
    static const char *const short_opts[] = {
        "redis_prefix=hsp-off-nowait", "redis_timeout=1s", "rate_limit=2/s",
        "rate_reserve_writes=0/s", "rate_limit_wait=300ms", NULL
    };
    static struct hproc p, q;
    struct hresp        r;
    int                 i;

    start("offload-wait", long_opts, &p);
    start("offload-nowait", short_opts, &q);
    for (i = 0; i < 2; i++) {
        hreq_get(p.url,
                 i == 0 ? QUERY "%2B18015552980" : QUERY "%2B18015552981",
                 HREQ(.token = ALPHA), &r);
        cr_expect_eq(r.status, 404);
        hresp_free(&r);
    }
    /* the third waits until the first grant leaves the window */
    hreq_get(p.url, QUERY "%2B18015552982", HREQ(.token = ALPHA), &r);
    cr_expect_eq(r.status, 404, "the waiting read: %d %s", r.status, r.body);
    cr_expect(r.elapsed_ms > 1000 && r.elapsed_ms < 3500,
              "the waiting read took %.0f ms (window 2 s)", r.elapsed_ms);
    hresp_free(&r);
    cr_expect_eq(hfixture_count("query"), 3);
    cr_expect_eq(hreq_metric(p.url, "heavyset_rate_limit_waits_total", NULL),
                 1);

    /* a wait shorter than the window ends in the local 429 */
    for (i = 0; i < 2; i++) {
        hreq_get(q.url,
                 i == 0 ? QUERY "%2B18015552983" : QUERY "%2B18015552984",
                 HREQ(.token = ALPHA), &r);
        cr_expect_eq(r.status, 404);
        hresp_free(&r);
    }
    hreq_get(q.url, QUERY "%2B18015552985", HREQ(.token = ALPHA), &r);
    expect_local_429(&r, 2);
    cr_expect(r.elapsed_ms >= 280 && r.elapsed_ms < 1500,
              "the 429 came after %.0f ms (rate_limit_wait 300ms)",
              r.elapsed_ms);
    hresp_free(&r);
    cr_expect_eq(hfixture_count("query"), 5);
    stop(&p);
    stop(&q);
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
    start("offload-orphan-a", opts, &a);
    start("offload-orphan-b", opts, &b);
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
    stop(&a);
    stop(&b);
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
    start("offload-dead-fetcher", NULL, &a);
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
    start("offload-redis-gone-a", opts, &a);
    start("offload-redis-gone-b", opts, &b);
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
    stop(&a);
    stop(&b);
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

    start("offload-sie-wait-a", opts, &a);
    start("offload-sie-wait-b", opts, &b);
    hreq_get(a.url, QUERY SHARED, HREQ(.token = ALPHA), &fill);
    cr_assert_eq(fill.status, 200);
    hresp_free(&fill);
    wait_expired(a.url, QUERY SHARED, ALPHA);
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
    stop(&a);
    stop(&b);
}
