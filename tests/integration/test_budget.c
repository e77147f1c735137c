/*
 * test_budget.c - the shared upstream budget (SPEC §6, §7, §8) end to
 * end, in two parts.
 *
 * First src/budget.c on a real event loop and a real store, against the
 * run's redis-server (tests/integration/run.sh). Each of these tests
 * uses a redis_prefix of its own, so it needs no FLUSHALL and no sandbox.
 *
 * Then whole proxies that share a budget, against the sandbox over TLS:
 * the write reserve, a read without budget served stale, the fallback
 * budget while Redis is away, the pause after an upstream 429, what
 * never spends budget, and waiting for it. Each starts proxies of its
 * own (tests/lib/hproc.h) with a redis_prefix of its own, so budgets and
 * pauses never leak into another test, and counts the requests that
 * reach the sandbox exactly; so their Redis gets a redis_timeout of 1s,
 * as a Redis call past 100 ms on a loaded machine would fail open to the
 * local budget (SPEC §8) and change the counts. They start from an empty
 * Redis and a freshly seeded sandbox (proxies_init), and proxies_fini
 * stops any proxy a failed assertion left running and brings redis2
 * back.
 */
#include "config.h"

#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <event2/event.h>
#include <hiredis/hiredis.h>

#include "budget.h"
#include "budget_limits.h"
#include "budget_local.h"
#include "conf.h"
#include "hclient.h"
#include "hexpect.h"
#include "hfixture.h"
#include "hproc.h"
#include "hreq.h"
#include "hsandbox.h"
#include "key.h"
#include "stats.h"
#include "store.h"

#define ANSWER_DEADLINE_MS 5000     /* a take answers within redis_timeout */

/* The proxies' part. */
#define QUERY       HREQ_API "/phone/query?phone="
#define ALPHA       "hs_test_tenant_alpha_0001"
#define BRAVO       "hs_test_tenant_bravo_0002"
#define CHARLIE     "hs_test_tenant_charlie_0003"
#define SHARED      "%2B18015551234"    /* in alpha and bravo, other data */

#define POLL_MS     20
#define DEADLINE_MS 10000               /* for anything polled */
#define BURST       50                  /* concurrent identical reads */

#define LOCAL_429_BODY \
    "{\"statusCode\":429,\"message\":[\"rate limit exceeded\"]," \
    "\"error\":\"Too Many Requests\"}"

#define STALE_RATE  "heavyset_stale_served_total{reason=\"rate_limited\"}"
#define LOCAL_429   "heavyset_local_429_total"
#define UP_429      "heavyset_upstream_429_total"
#define FALLBACK    "heavyset_budget_fallback_total"

/* ---- helpers ------------------------------------------------------------- */

/* One instance of the proxy, as far as the budget goes. */
struct inst {
    struct event_base   *base;
    struct conf          cf;
    struct store        *st;
    struct budget_local *bl;
    struct budget       *b;
};

/*
 * Opens an instance on the Redis at URL (NULL: the run's Redis) with the
 * -o style settings of OPTS (NULL-terminated).
 */
static void
inst_open(struct inst *in, const char *url, const char *const *opts)
{
    struct conf_errors errs = { 0 };
    char               redis[600];
    size_t             i;

    memset(in, 0, sizeof(*in));
    signal(SIGPIPE, SIG_IGN);       /* as main() does: Redis may go away */
    cr_assert_eq(conf_init(&in->cf), 0);
    for (i = 0; opts[i] != NULL; i++) {
        cr_assert_eq(conf_set_override(&in->cf, opts[i], &errs), 0, "%s: %s",
                     opts[i], errs.msg[0]);
    }
    if (url == NULL) {
        snprintf(redis, sizeof(redis), "unix://%s",
                 hfixture_env("HSP_REDIS_SOCK"));
        url = redis;
    }
    in->base = event_base_new();
    cr_assert_not_null(in->base);
    in->st = store_new(in->base, NULL, url, NULL, in->cf.redis_timeout_ms);
    cr_assert_not_null(in->st);
    in->bl = budget_local_new(&in->cf);
    cr_assert_not_null(in->bl);
    in->b = budget_new(in->st, &in->cf, in->bl);
    cr_assert_not_null(in->b);
}

static void
inst_close(struct inst *in)
{
    budget_free(in->b);
    store_free(in->st);
    budget_local_free(in->bl);
    event_base_free(in->base);
    conf_free(&in->cf);
}

struct answer {
    int     calls;
    bool    granted;
    int64_t wait;
};

static void
on_answer(bool granted, int64_t wait, void *arg)
{
    struct answer *a = arg;

    a->calls++;
    a->granted = granted;
    a->wait = wait;
}

/* Runs IN's loop until A is answered, bounded. */
static void
wait_answer(struct inst *in, struct answer *a)
{
    long deadline = hfixture_now_ms() + ANSWER_DEADLINE_MS;

    while (a->calls == 0) {
        cr_assert_lt(hfixture_now_ms(), deadline, "no answer within %d ms",
                     ANSWER_DEADLINE_MS);
        event_base_loop(in->base, EVLOOP_ONCE);
    }
    cr_assert_eq(a->calls, 1, "the callback ran %d times", a->calls);
}

/*
 * Takes one grant of CLS for TENANT through IN, to its answer. Returns how
 * it was answered; sets *GRANTED and *WAIT.
 */
static enum budget_answer
take(struct inst *in, const char *tenant, enum budget_class cls,
     bool *granted, int64_t *wait)
{
    static char        sentinel;
    struct answer      a = { 0, false, 0 };
    struct budget_op  *op = (struct budget_op *)(void *)&sentinel;
    enum budget_answer ans;

    *wait = -1;
    ans = budget_take(in->b, tenant, cls, on_answer, &a, &op, wait);
    if (ans == BUDGET_PENDING) {
        cr_assert_not_null(op);
        cr_assert_eq(a.calls, 0, "the callback ran inside budget_take");
        wait_answer(in, &a);
        *granted = a.granted;
        *wait = a.wait;
    } else {
        cr_assert_null(op, "a synchronous answer left a handle");
        *granted = ans == BUDGET_GRANTED;
        /* Nothing may come later either. */
        event_base_loop(in->base, EVLOOP_NONBLOCK);
        cr_assert_eq(a.calls, 0, "the callback ran after a sync answer");
    }
    if (!*granted) {
        cr_assert(*wait > 0, "a denial without a wait");
    }
    return ans;
}

static void
tenant_of(const char *token, char *out)
{
    key_tenant(token, strlen(token), out);
}

/* A Redis integer reply of the sync command FMT on the run's Redis. */
static long long
redis_int(const char *fmt, const char *arg)
{
    redisContext *c = hfixture_redis("HSP_REDIS_SOCK");
    redisReply   *r = redisCommand(c, fmt, arg);
    long long     v;

    cr_assert(r != NULL && r->type == REDIS_REPLY_INTEGER, "%s %s", fmt, arg);
    v = r->integer;
    freeReplyObject(r);
    redisFree(c);
    return v;
}

static void
budget_fini(void)
{
    if (!hfixture_redis2_up()) {
        hfixture_redis2_start();
    }
}

TestSuite(budget, .fini = budget_fini, .timeout = 60);

/* ---- the shared budget --------------------------------------------------- */

Test(budget, grants_the_limit_then_denies_with_a_wait)
{
    static const char *const opts[] = {
        "redis_prefix=hsp-bt1", "rate_limit=10/min",
        "rate_reserve_writes=0/min", NULL
    };
    struct inst   in;
    char          t[KEY_TENANT_HEX + 1], key[KEY_MAX];
    bool          granted;
    int64_t       wait;
    int           i;
    redisContext *c;
    redisReply   *r;

    inst_open(&in, NULL, opts);
    tenant_of("hs_budget_token_1", t);
    for (i = 0; i < 10; i++) {
        cr_assert_eq(take(&in, t, BUDGET_READ, &granted, &wait),
                     BUDGET_PENDING);
        cr_expect(granted, "take %d denied (wait %lld)", i, (long long)wait);
    }
    cr_assert_eq(take(&in, t, BUDGET_READ, &granted, &wait), BUDGET_PENDING);
    cr_expect(!granted);
    cr_expect(wait > 0 && wait <= 60000 + BUDGET_MARGIN_MS, "wait %lld",
              (long long)wait);
    /* Writes use the same log: no reserve, so none left for them. */
    take(&in, t, BUDGET_WRITE, &granted, &wait);
    cr_expect(!granted);

    /* The layout: one ZSET of grants under the tenant's hash tag, with
     * the window as its lifetime. */
    snprintf(key, sizeof(key), "hsp-bt1:v1:{%s}:budget", t);
    cr_expect_eq(redis_int("ZCARD %s", key), 10);
    cr_expect(redis_int("PTTL %s", key) > 59000 &&
              redis_int("PTTL %s", key) <= 61000);

    /* A Redis that lost its scripts still answers (EVAL after NOSCRIPT). */
    c = hfixture_redis("HSP_REDIS_SOCK");
    r = redisCommand(c, "SCRIPT FLUSH");
    cr_assert_not_null(r);
    freeReplyObject(r);
    redisFree(c);
    cr_assert_eq(take(&in, t, BUDGET_READ, &granted, &wait), BUDGET_PENDING);
    cr_expect(!granted);
    cr_expect(wait > 0 && wait <= 61000);

    cr_expect_eq(stats_get(STATS_BUDGET_FALLBACK), 0);
    cr_expect_eq(stats_get(STATS_RATE_LIMITED_READ), 2);
    cr_expect_eq(stats_get(STATS_RATE_LIMITED_WRITE), 1);
    inst_close(&in);
}

Test(budget, reads_stop_at_the_reserve_and_writes_go_on)
{
    static const char *const opts[] = {
        "redis_prefix=hsp-bt2", "rate_limit=10/min",
        "rate_reserve_writes=3/min", NULL
    };
    struct inst in;
    char        t[KEY_TENANT_HEX + 1], u[KEY_TENANT_HEX + 1];
    bool        granted;
    int64_t     wait;
    int         i;

    inst_open(&in, NULL, opts);
    tenant_of("hs_budget_token_2", t);
    tenant_of("hs_budget_token_2b", u);
    for (i = 0; i < 7; i++) {
        take(&in, t, BUDGET_READ, &granted, &wait);
        cr_expect(granted, "read %d denied", i);
    }
    take(&in, t, BUDGET_READ, &granted, &wait);
    cr_expect(!granted, "reads went past rate_limit - rate_reserve_writes");
    for (i = 0; i < 3; i++) {
        take(&in, t, BUDGET_WRITE, &granted, &wait);
        cr_expect(granted, "write %d denied", i);
    }
    take(&in, t, BUDGET_WRITE, &granted, &wait);
    cr_expect(!granted, "writes went past rate_limit");
    cr_expect(wait > 0 && wait <= 61000);
    /* Another tenant has a budget of its own. */
    take(&in, u, BUDGET_READ, &granted, &wait);
    cr_expect(granted);
    inst_close(&in);
}

Test(budget, a_pause_denies_everything_for_its_pttl)
{
    static const char *const opts[] = { "redis_prefix=hsp-bt3", NULL };
    struct inst in, other;
    char        t[KEY_TENANT_HEX + 1], key[KEY_MAX];
    bool        granted;
    int64_t     wait;
    long        t0 = hfixture_now_ms();

    inst_open(&in, NULL, opts);
    inst_open(&other, NULL, opts);
    tenant_of("hs_budget_token_3", t);
    take(&in, t, BUDGET_READ, &granted, &wait);
    cr_expect(granted);
    budget_pause(in.b, t, 5000);
    budget_pause(in.b, t, 1000);    /* shorter: changes nothing */
    /* Fire and forget: wait until it is in Redis (the first use of the
     * script takes a NOSCRIPT round trip). */
    snprintf(key, sizeof(key), "hsp-bt3:v1:{%s}:pause", t);
    while (redis_int("PTTL %s", key) <= 0) {
        cr_assert_lt(hfixture_now_ms() - t0, ANSWER_DEADLINE_MS, "no pause in redis");
        event_base_loop(in.base, EVLOOP_NONBLOCK);
        hfixture_pause_ms(5);
    }
    event_base_loop(in.base, EVLOOP_NONBLOCK);
    take(&in, t, BUDGET_WRITE, &granted, &wait);
    cr_expect(!granted);
    cr_expect(wait > 4000 && wait <= 5000, "wait %lld", (long long)wait);
    cr_expect(redis_int("PTTL %s", key) > 3500);
    /* Every instance sees it. */
    take(&other, t, BUDGET_READ, &granted, &wait);
    cr_expect(!granted);
    cr_expect(wait > 3500 && wait <= 5000, "wait %lld", (long long)wait);
    cr_expect_eq(stats_get(STATS_UPSTREAM_PAUSED), 2);
    /* No Retry-After: the default 60 s. */
    budget_pause(in.b, t, 0);
    take(&in, t, BUDGET_READ, &granted, &wait);
    cr_expect(!granted);
    cr_expect(wait > 59000 && wait <= BUDGET_PAUSE_DEFAULT_MS, "wait %lld",
              (long long)wait);
    inst_close(&other);
    inst_close(&in);
}

Test(budget, two_instances_share_one_budget)
{
    static const char *const opts[] = {
        "redis_prefix=hsp-bt4", "rate_limit=6/min",
        "rate_reserve_writes=0/min", NULL
    };
    struct inst a, b;
    char        t[KEY_TENANT_HEX + 1], key[KEY_MAX];
    bool        granted;
    int64_t     wait;
    int         i, got = 0;

    inst_open(&a, NULL, opts);
    inst_open(&b, NULL, opts);
    tenant_of("hs_budget_token_4", t);
    for (i = 0; i < 10; i++) {
        take(i % 2 == 0 ? &a : &b, t, BUDGET_READ, &granted, &wait);
        got += granted;
    }
    cr_expect_eq(got, 6, "two instances got %d of a budget of 6", got);
    snprintf(key, sizeof(key), "hsp-bt4:v1:{%s}:budget", t);
    cr_expect_eq(redis_int("ZCARD %s", key), 6);
    inst_close(&b);
    inst_close(&a);
}

Test(budget, off_means_no_redis_call)
{
    static const char *const opts[] = {
        "redis_prefix=hsp-bt5", "rate_limit=0/min", NULL
    };
    struct inst in;
    char        t[KEY_TENANT_HEX + 1], key[KEY_MAX];
    bool        granted;
    int64_t     wait;
    int         i;

    inst_open(&in, NULL, opts);
    tenant_of("hs_budget_token_5", t);
    budget_pause(in.b, t, 5000);    /* a no-op too */
    for (i = 0; i < 100; i++) {
        cr_assert_eq(take(&in, t, i % 2 ? BUDGET_WRITE : BUDGET_READ,
                          &granted, &wait),
                     BUDGET_GRANTED);
    }
    snprintf(key, sizeof(key), "hsp-bt5:v1:{%s}:budget", t);
    cr_expect_eq(redis_int("EXISTS %s", key), 0);
    snprintf(key, sizeof(key), "hsp-bt5:v1:{%s}:pause", t);
    cr_expect_eq(redis_int("EXISTS %s", key), 0);
    cr_expect_eq(stats_get(STATS_UPSTREAM_PAUSED), 0);
    inst_close(&in);
}

/* ---- Redis away ---------------------------------------------------------- */

Test(budget, redis_unreachable_falls_back_to_the_local_budget)
{
    static const char *const opts[] = {
        "rate_limit=60/min", "rate_reserve_writes=10/min",
        "rate_limit_fallback=6/min", NULL      /* local: 5 reads, 6 in all */
    };
    struct inst in;
    char        url[600], t[KEY_TENANT_HEX + 1];
    bool        granted;
    int64_t     wait;
    int         i;

    /* Nothing listens there: the store is away from the start. */
    snprintf(url, sizeof(url), "unix://%s/budget-nobody.sock",
             hfixture_env("HSP_TMPDIR"));
    inst_open(&in, url, opts);
    tenant_of("hs_budget_token_6", t);
    for (i = 0; i < 5; i++) {
        cr_assert_eq(take(&in, t, BUDGET_READ, &granted, &wait),
                     BUDGET_GRANTED, "read %d", i);
    }
    cr_assert_eq(take(&in, t, BUDGET_READ, &granted, &wait), BUDGET_DENIED);
    cr_expect(wait > 60000 && wait <= 61000, "wait %lld", (long long)wait);
    cr_assert_eq(take(&in, t, BUDGET_WRITE, &granted, &wait), BUDGET_GRANTED);
    cr_assert_eq(take(&in, t, BUDGET_WRITE, &granted, &wait), BUDGET_DENIED);
    /* A pause holds locally too. */
    tenant_of("hs_budget_token_6b", t);
    budget_pause(in.b, t, 3000);
    cr_assert_eq(take(&in, t, BUDGET_WRITE, &granted, &wait), BUDGET_DENIED);
    cr_expect(wait > 2500 && wait <= 3000, "wait %lld", (long long)wait);
    cr_expect_eq(stats_get(STATS_BUDGET_FALLBACK), 9);
    cr_expect_eq(stats_get(STATS_RATE_LIMITED_READ), 1);
    cr_expect_eq(stats_get(STATS_RATE_LIMITED_WRITE), 2);
    inst_close(&in);
}

Test(budget, a_silent_redis_costs_redis_timeout_then_falls_back)
{
    static const char *const opts[] = {
        "redis_timeout=150ms", "rate_limit_fallback=1/min", NULL
    };
    struct sockaddr_un sa;
    struct inst        in;
    char               url[600], t[KEY_TENANT_HEX + 1];
    bool               granted;
    int64_t            wait;
    long               t0;
    int                fd;

    /* A socket that accepts connections (in its backlog) and never
     * answers: the connect succeeds, the script call times out. */
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/budget-silent.sock",
             hfixture_env("HSP_TMPDIR"));
    unlink(sa.sun_path);
    fd = socket(AF_UNIX, SOCK_STREAM, 0);
    cr_assert(fd >= 0);
    cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    cr_assert_eq(listen(fd, 16), 0);
    snprintf(url, sizeof(url), "unix://%s", sa.sun_path);
    inst_open(&in, url, opts);
    tenant_of("hs_budget_token_7", t);
    t0 = hfixture_now_ms();
    cr_assert_eq(take(&in, t, BUDGET_WRITE, &granted, &wait),
                 BUDGET_PENDING);
    cr_expect(granted, "the local budget has room");
    cr_expect(hfixture_now_ms() - t0 >= 140, "answered before redis_timeout");
    cr_expect_eq(stats_get(STATS_BUDGET_FALLBACK), 1);
    take(&in, t, BUDGET_WRITE, &granted, &wait);
    cr_expect(!granted, "the local budget of 1/min is spent");
    cr_expect_eq(stats_get(STATS_BUDGET_FALLBACK), 2);
    inst_close(&in);
    close(fd);
    unlink(sa.sun_path);
}

Test(budget, the_shared_budget_resumes_when_redis_returns)
{
    static const char *const opts[] = {
        "redis_prefix=hsp-bt8", "rate_limit_fallback=20/min", NULL
    };
    struct inst        in;
    char               url[600], t[KEY_TENANT_HEX + 1];
    bool               granted;
    int64_t            wait;
    enum budget_answer ans;
    uint64_t           before;
    long               deadline;

    snprintf(url, sizeof(url), "unix://%s", hfixture_env("HSP_REDIS2_SOCK"));
    inst_open(&in, url, opts);
    tenant_of("hs_budget_token_8", t);
    cr_assert_eq(take(&in, t, BUDGET_READ, &granted, &wait), BUDGET_PENDING);
    cr_expect(granted);
    cr_expect_eq(stats_get(STATS_BUDGET_FALLBACK), 0);

    hfixture_redis2_stop();
    deadline = hfixture_now_ms() + 10000;
    do {
        cr_assert_lt(hfixture_now_ms(), deadline, "never fell back");
        take(&in, t, BUDGET_READ, &granted, &wait);
        cr_expect(granted);
    } while (stats_get(STATS_BUDGET_FALLBACK) == 0);

    hfixture_redis2_start();
    deadline = hfixture_now_ms() + 15000;    /* the store's backoff is at most 5 s */
    for (;;) {
        cr_assert_lt(hfixture_now_ms(), deadline, "the shared budget never resumed");
        before = stats_get(STATS_BUDGET_FALLBACK);
        ans = take(&in, t, BUDGET_READ, &granted, &wait);
        if (ans == BUDGET_PENDING &&
            stats_get(STATS_BUDGET_FALLBACK) == before) {
            break;                  /* Redis itself answered */
        }
        event_base_loop(in.base, EVLOOP_NONBLOCK);
        hfixture_pause_ms(100);
        event_base_loop(in.base, EVLOOP_NONBLOCK);
    }
    cr_expect(granted);
    inst_close(&in);
}

/* ---- pending takes ------------------------------------------------------- */

Test(budget, a_cancelled_take_never_calls_back_and_free_answers_the_rest)
{
    static const char *const opts[] = { "redis_prefix=hsp-bt9", NULL };
    struct inst       in;
    char              t[KEY_TENANT_HEX + 1];
    struct answer     a = { 0, false, 0 }, b = { 0, false, 0 };
    struct budget_op *op_a, *op_b;
    int64_t           wait;
    bool              granted;

    inst_open(&in, NULL, opts);
    tenant_of("hs_budget_token_9", t);
    cr_assert_eq(budget_take(in.b, t, BUDGET_READ, on_answer, &a, &op_a,
                             &wait),
                 BUDGET_PENDING);
    cr_assert_eq(budget_take(in.b, t, BUDGET_READ, on_answer, &b, &op_b,
                             &wait),
                 BUDGET_PENDING);
    budget_cancel(op_a);
    /* A later take is answered, so both replies have come back. */
    take(&in, t, BUDGET_READ, &granted, &wait);
    cr_expect_eq(a.calls, 0, "a cancelled take called back");
    cr_expect_eq(b.calls, 1);
    cr_expect(b.granted);

    /* Pending when the budget is freed: answered from the local budget. */
    b.calls = 0;
    cr_assert_eq(budget_take(in.b, t, BUDGET_WRITE, on_answer, &b, &op_b,
                             &wait),
                 BUDGET_PENDING);
    budget_free(in.b);
    in.b = NULL;
    cr_expect_eq(b.calls, 1);
    cr_expect(b.granted);
    inst_close(&in);
}

/* ---- proxies: helpers ---------------------------------------------------- */

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

static void
proxies_init(void)
{
    hfixture_fresh();
}

static void
proxies_fini(void)
{
    hproc_stop_all();
    if (!hfixture_redis2_up()) {
        hfixture_redis2_start();
    }
    hsandbox_config("{\"latency_ms\":0}");
}

/* ---- proxies sharing one budget ----------------------------------------- */

#define BUDGET_BURST 40

Test(budget, two_instances_share_one_budget_and_keep_the_write_reserve,
     .init = proxies_init, .fini = proxies_fini, .timeout = 90)
{
    static const char *const opts[] = {
        "redis_prefix=hsp-off-budget", "redis_timeout=1s", "rate_limit=10/min",
        "rate_reserve_writes=2/min", "rate_limit_fallback=5/min",
        "workers=2", NULL
    };
    static struct hproc a, b;
    static struct hheld shots[BUDGET_BURST];
    static char         paths[BUDGET_BURST][64];
    struct hresp        r;
    int                 passed = 0, passed_a = 0, limited = 0;
    size_t              i;

    hfixture_proxy("offload-budget-a", opts, &a);
    hfixture_proxy("offload-budget-b", opts, &b);
    /* one lead first: 1 of the 8 reads (10 - 2 kept for writes) */
    hreq_get(a.url, QUERY SHARED, HREQ(.token = ALPHA), &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_expect_str_eq(hreq_hdr(&r, "X-Cache"), "MISS");
    hresp_free(&r);

    /* 40 distinct misses at once over both instances */
    memset(shots, 0, sizeof(shots));
    for (i = 0; i < BUDGET_BURST; i++) {
        snprintf(paths[i], sizeof(paths[i]), QUERY "%%2B1801555%04zu",
                 2000 + i);
        shots[i] = (struct hheld){ .method = "GET",
                                   .base = i % 2 == 0 ? a.url : b.url,
                                   .path = paths[i],
                                   .opt = { .token = ALPHA } };
    }
    hreq_burst(shots, BUDGET_BURST);
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
    hreq_burst_free(shots, BUDGET_BURST);
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
    hfixture_stop(&a);
    hfixture_stop(&b);
}

Test(budget, a_read_without_budget_serves_the_expired_entry,
     .init = proxies_init, .fini = proxies_fini, .timeout = 90)
{
    static const char *const opts[] = {
        "redis_prefix=hsp-off-ratestale", "redis_timeout=1s",
        "rate_limit=3/min",
        "rate_reserve_writes=1/min", "rate_limit_fallback=3/min",
        "ttl_lead=1s", "stale_while_revalidate=0", NULL
    };
    static struct hproc p;
    struct hresp        first, r;

    hfixture_proxy("offload-ratestale", opts, &p);
    hreq_get(p.url, QUERY SHARED, HREQ(.token = ALPHA), &first); /* 1 of 2 */
    cr_assert_eq(first.status, 200);
    hexpect_expired(p.url, QUERY SHARED, ALPHA);
    /* read 2 of 2 */
    hreq_get(p.url, QUERY "%2B18015552999", HREQ(.token = ALPHA), &r);
    cr_expect_eq(r.status, 404);
    hresp_free(&r);
    cr_expect_eq(hfixture_count("query"), 2);

    hreq_get(p.url, QUERY SHARED, HREQ(.token = ALPHA), &r);
    cr_expect_eq(r.status, 200, "no budget, an expired entry: %d %s",
                 r.status, r.body);
    cr_expect_str_eq(hreq_hdr(&r, "X-Cache"), "STALE");
    cr_expect(hexpect_status_has(&r, "detail=rate-limited"), "Cache-Status %s",
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
    hfixture_stop(&p);
}

Test(budget, redis_away_each_instance_spends_its_fallback_budget,
     .init = proxies_init, .fini = proxies_fini, .timeout = 90)
{
    char        redis[600];
    const char *opts[] = {
        redis, "redis_prefix=hsp-off-fallback", "rate_limit=10/min",
        "rate_reserve_writes=0/min", "rate_limit_fallback=3/min",
        "workers=2", NULL
    };
    static struct hproc a, b;
    static struct hheld shots[BUDGET_BURST];
    static char         paths[BUDGET_BURST][64];
    struct hresp        r;
    int                 passed_a = 0, passed_b = 0, status;
    long                deadline;
    size_t              i;

    snprintf(redis, sizeof(redis), "redis=unix://%s",
             hfixture_env("HSP_REDIS2_SOCK"));
    hfixture_proxy("offload-fallback-a", opts, &a);
    hfixture_proxy("offload-fallback-b", opts, &b);
    hfixture_redis2_stop();

    memset(shots, 0, sizeof(shots));
    for (i = 0; i < BUDGET_BURST; i++) {
        snprintf(paths[i], sizeof(paths[i]), QUERY "%%2B1801555%04zu",
                 3000 + i);
        shots[i] = (struct hheld){ .method = "GET",
                                   .base = i % 2 == 0 ? a.url : b.url,
                                   .path = paths[i],
                                   .opt = { .token = ALPHA } };
    }
    hreq_burst(shots, BUDGET_BURST);
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
    hreq_burst_free(shots, BUDGET_BURST);
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
    hfixture_stop(&a);
    hfixture_stop(&b);
}

Test(budget, an_upstream_429_pauses_the_tenant_on_every_instance,
     .init = proxies_init, .fini = proxies_fini, .timeout = 90)
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

    hfixture_proxy("offload-pause-a", opts, &a);
    hfixture_proxy("offload-pause-b", opts, &b);
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
    hfixture_stop(&a);
    hfixture_stop(&b);
}

/* ---- proxies: what never spends budget, and waiting for it -------------- */

Test(budget, waiters_hits_and_replays_spend_no_budget,
     .init = proxies_init, .fini = proxies_fini, .timeout = 90)
{
    static const char *const opts[] = {
        "redis_prefix=hsp-off-nospend", "redis_timeout=1s", "rate_limit=4/min",
        "rate_reserve_writes=1/min", "rate_limit_fallback=4/min",
        "workers=2", NULL
    };
    static struct hproc a, b;
    static struct hheld shots[BURST];
    const char         *bases[2];
    const char         *body = "{\"phone\":\"+18015551234\","
                               "\"appendComment\":\"once\"}";
    struct hresp        r;
    double              max_ms;
    int                 i;

    /* reads may take 3 grants a minute, writes all 4 */
    hfixture_proxy("offload-nospend-a", opts, &a);
    hfixture_proxy("offload-nospend-b", opts, &b);
    bases[0] = a.url;
    bases[1] = b.url;
    /* 50 identical reads over both: one grant (the fetch) */
    hexpect_stampede(bases, 2, QUERY SHARED,
                     HREQ(.token = ALPHA, .extra = "X-Sandbox-Delay-Ms: 300"),
                     shots, BURST, &max_ms);
    cr_expect_eq(shots[0].resp.status, 200, "%d %s", shots[0].resp.status,
                 shots[0].resp.body);
    hreq_burst_free(shots, BURST);
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
    hfixture_stop(&a);
    hfixture_stop(&b);
}

Test(budget, a_read_waits_for_budget_up_to_rate_limit_wait,
     .init = proxies_init, .fini = proxies_fini, .timeout = 90)
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

    hfixture_proxy("offload-wait", long_opts, &p);
    hfixture_proxy("offload-nowait", short_opts, &q);
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
    hfixture_stop(&p);
    hfixture_stop(&q);
}
