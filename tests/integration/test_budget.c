/*
 * test_budget.c - the shared upstream budget (SPEC §6, §8) end to end:
 * src/budget.c on a real event loop and a real store, against the run's
 * redis-server (tests/integration/run.sh). Each test uses a redis_prefix
 * of its own, so it needs no FLUSHALL and no sandbox.
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
#include "conf.h"
#include "hfixture.h"
#include "key.h"
#include "stats.h"
#include "store.h"

#define ANSWER_DEADLINE_MS 5000     /* a take answers within redis_timeout */

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
    budget_init();
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
    in->st = store_new(in->base, url, in->cf.redis_timeout_ms);
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
