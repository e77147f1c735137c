/*
 * budget.c - the shared upstream budget (SPEC §6): one per worker, held
 * in Redis and shared by every instance, falling back to the process's
 * local budget (SPEC §8) while Redis is away.
 *
 * Why a sliding-window log and not GCRA. HeavySet (and the sandbox,
 * src/sandbox/faults.c) allows at most N requests in ANY window of the
 * period. GCRA with a burst of N is equivalent only for the steady state:
 * after an idle minute it allows N at once and then one every period/N,
 * so N + N/2 can land in the 60 s after the burst (the burst, then the
 * drip of the next 30 s), which the vendor answers with 429s. A log of the
 * grant times says exactly what the vendor counts: a take is granted when
 * fewer than the limit were granted in the last period + BUDGET_MARGIN_MS,
 * and a denial knows exactly when the oldest grant that matters leaves the
 * window. The cost is one entry per grant of the window (60 by default) in
 * a ZSET per tenant, which is small.
 *
 * Whose clock. Every instance uses Redis's (TIME inside the script, which
 * Redis 7 allows before writes since scripts replicate as effects), so two
 * app servers whose clocks drift still agree on the window. The margin
 * covers what no clock can: the vendor stamps a request when it arrives,
 * a network delay after we granted it.
 *
 * Reads and writes. Both classes share one log; a read is granted below
 * read_max grants in the window, a write below write_max. So reads stop
 * rate_reserve_writes short of the limit and writes keep that headroom.
 *
 * Redis away. Each take that Redis cannot answer, or answers late, is
 * answered by the process's local budget (budget_local.c), and every
 * pause is also recorded there, so one survives Redis going away.
 *
 * Owns each worker's struct budget (its key prefix and the takes waiting
 * for Redis); budget_free answers those from the local budget before it
 * releases them. Calls down into budget_local.c, budget_limits.c and the
 * store; the store answers through callbacks.
 */
#include "config.h"

#include "budget.h"

#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <hiredis/hiredis.h>
#include <openssl/rand.h>

#include "budget_local.h"
#include "conf.h"
#include "key.h"
#include "log.h"
#include "lograte.h"
#include "stats.h"

struct store_script budget_script_take = {
    "budget_take",
    "local p = redis.call('PTTL', KEYS[2])\n"
    "if p > 0 then return { 0, p } end\n"
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    "local max = tonumber(ARGV[1])\n"
    "local win = tonumber(ARGV[2])\n"
    "redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - win)\n"
    "local n = redis.call('ZCARD', KEYS[1])\n"
    "if n < max then\n"
    "  redis.call('ZADD', KEYS[1], now, ARGV[3])\n"
    "  redis.call('PEXPIRE', KEYS[1], win)\n"
    "  return { 1, 0 }\n"
    "end\n"
    "if max <= 0 then return { 0, win } end\n"
    "local o = redis.call('ZRANGE', KEYS[1], n - max, n - max, 'WITHSCORES')\n"
    "local w = tonumber(o[2]) + win - now\n"
    "if w < 1 then w = 1 end\n"
    "return { 0, w }\n",
    "",
    false
};

struct store_script budget_script_pause = {
    "budget_pause",
    "local ms = tonumber(ARGV[1])\n"
    "if redis.call('PTTL', KEYS[1]) < ms then\n"
    "  redis.call('SET', KEYS[1], '1', 'PX', ms)\n"
    "  return 1\n"
    "end\n"
    "return 0\n",
    "",
    false
};


struct budget {
    struct store        *st;        /* borrowed, may be NULL */
    struct budget_local *bl;        /* borrowed */
    char                *prefix;    /* owned: redis_prefix */
    struct budget_limits lim;       /* of the shared budget */
    bool                 off;       /* rate_limit 0: grant everything */
    bool                 on_local;  /* the last take fell back (logs) */
    char                 member_id[17]; /* random hex: this budget */
    uint64_t             seq;       /* grants asked of Redis */
    struct budget_op    *pending;   /* list of takes waiting for Redis */
};

struct budget_op {
    struct budget     *b;           /* borrowed */
    struct budget_op  *prev, *next; /* B's pending list */
    struct store_op   *sop;         /* the script call */
    enum budget_class  cls;
    char               tenant[KEY_TENANT_HEX + 1];
    budget_cb          cb;
    void              *arg;
};

static void on_take_reply(struct redisReply *reply, void *arg);
static void on_pause_reply(struct redisReply *reply, void *arg);

/* budget_local.c checks the same of the tenants it is given. */
static void
check_tenant(const char *tenant)
{
    assert(tenant != NULL && strlen(tenant) <= KEY_TENANT_HEX);
    (void)tenant;
}

/* ---- the shared budget --------------------------------------------------- */

/*
 * The scripts' SHAs, computed and registered with the store before main
 * runs (as script.c does its own): store.c loads the registered scripts
 * on every connect, and the worker threads share that list, so it must be
 * complete before the first of them starts.
 */
static void budget_at_start(void) __attribute__((constructor));

static void
budget_at_start(void)
{
    store_script_init(&budget_script_take);
    store_script_init(&budget_script_pause);
}

static int64_t
clock_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void
budget_set_limits(struct budget *b, const struct conf *cf)
{
    b->off = cf->rate_limit.count == 0;
    budget_limits_of(cf, false, &b->lim);
}

struct budget *
budget_new(struct store *st, const struct conf *cf, struct budget_local *bl)
{
    static const char hex[] = "0123456789abcdef";
    struct budget    *b;
    unsigned char     rnd[8];
    size_t            i;

    b = calloc(1, sizeof(*b));
    if (b == NULL) {
        log_err("budget: out of memory");
        return NULL;
    }
    b->prefix = strdup(cf->redis_prefix);
    if (b->prefix == NULL) {
        log_err("budget: out of memory");
        free(b);
        return NULL;
    }
    b->st = st;
    b->bl = bl;
    b->off = cf->rate_limit.count == 0;
    budget_limits_of(cf, false, &b->lim);
    /* Grants are ZSET members: unique across budgets and instances. */
    if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
        uint64_t x = (uint64_t)clock_ms() ^ ((uint64_t)(uintptr_t)b << 16);

        memcpy(rnd, &x, sizeof(rnd));
    }
    for (i = 0; i < sizeof(rnd); i++) {
        b->member_id[2 * i] = hex[rnd[i] >> 4];
        b->member_id[2 * i + 1] = hex[rnd[i] & 0xf];
    }
    b->member_id[16] = '\0';
    return b;
}

/* The fallback's two lines, each at most once a period process-wide. */
static struct lograte budget_logs[2];

static void
op_unlink(struct budget_op *op)
{
    struct budget *b = op->b;

    if (op->prev != NULL) {
        op->prev->next = op->next;
    } else {
        b->pending = op->next;
    }
    if (op->next != NULL) {
        op->next->prev = op->prev;
    }
}

/* Takes from the local budget because Redis is away, and counts it. */
static bool
take_local(struct budget *b, const char *tenant, enum budget_class cls,
           int64_t *wait_ms)
{
    bool granted;

    stats_add(STATS_BUDGET_FALLBACK, 1);
    if (!b->on_local) {
        /* Rate limited: with one Redis Cluster master down, calls for
         * its tenants fall back while the others' do not, and each
         * switch would be a line (hundreds a second). */
        log_rated(&budget_logs[0], LOG_WARN, "budget: redis unavailable; "
                  "using the local budget of this process");
        b->on_local = true;
    }
    granted = budget_local_take(b->bl, tenant, cls, clock_ms(), wait_ms);
    if (!granted) {
        log_debug("budget: local budget denies tenant %.8s for %" PRId64
                  " ms", tenant, *wait_ms);
    }
    return granted;
}

static void
count_denial(enum budget_class cls)
{
    stats_add(cls == BUDGET_WRITE ? STATS_RATE_LIMITED_WRITE
                                  : STATS_RATE_LIMITED_READ,
              1);
}

/*
 * The budget's keys keep schema v1 while the cache's moved to v2 (key.h):
 * they name a tenant, never a phone, so v2 changed nothing in them, and
 * keeping them means that old and new instances of a rolling upgrade
 * share one upstream budget instead of spending two.
 */
#define BUDGET_SCHEMA "v1"

/* Writes "<prefix>:v1:{<tenant>}:<what>" into OUT (KEY_MAX bytes). */
static void
budget_key(const struct budget *b, const char *tenant, const char *what,
           char *out)
{
    int n = snprintf(out, KEY_MAX, "%s:" BUDGET_SCHEMA ":{%s}:%s", b->prefix,
                     tenant, what);

    assert(n > 0 && n < KEY_MAX);
    (void)n;
}

void
budget_free(struct budget *b)
{
    struct budget_op *op;
    bool              granted;
    int64_t           wait = 0;

    if (b == NULL) {
        return;
    }
    while ((op = b->pending) != NULL) {
        store_cancel(op->sop);
        op_unlink(op);
        granted = take_local(b, op->tenant, op->cls, &wait);
        if (!granted) {
            count_denial(op->cls);
        }
        op->cb(granted, granted ? 0 : wait, op->arg);
        free(op);
    }
    free(b->prefix);
    free(b);
}

enum budget_answer
budget_take(struct budget *b, const char *tenant, enum budget_class cls,
            budget_cb cb, void *arg, struct budget_op **opp,
            int64_t *wait_ms)
{
    struct budget_op *op = NULL;
    char              keys[2][KEY_MAX];
    char              max[24], win[24], member[48];
    const char       *argv[5];
    size_t            lens[5];
    int               i;

    check_tenant(tenant);
    *opp = NULL;
    *wait_ms = 0;
    if (b->off) {
        return BUDGET_GRANTED;
    }
    if (b->st != NULL) {
        op = calloc(1, sizeof(*op));
    }
    if (op != NULL) {
        budget_key(b, tenant, "budget", keys[0]);
        budget_key(b, tenant, "pause", keys[1]);
        snprintf(max, sizeof(max), "%" PRId64,
                 cls == BUDGET_WRITE ? b->lim.write_max : b->lim.read_max);
        snprintf(win, sizeof(win), "%" PRId64, b->lim.window_ms);
        snprintf(member, sizeof(member), "%s:%" PRIu64, b->member_id,
                 ++b->seq);
        argv[0] = keys[0];
        argv[1] = keys[1];
        argv[2] = max;
        argv[3] = win;
        argv[4] = member;
        for (i = 0; i < 5; i++) {
            lens[i] = strlen(argv[i]);
        }
        op->b = b;
        op->cls = cls;
        memcpy(op->tenant, tenant, strlen(tenant) + 1);
        op->cb = cb;
        op->arg = arg;
        op->sop = store_eval(b->st, &budget_script_take, 2, 5, argv, lens,
                             on_take_reply, op);
        if (op->sop != NULL) {
            op->next = b->pending;
            if (b->pending != NULL) {
                b->pending->prev = op;
            }
            b->pending = op;
            *opp = op;
            return BUDGET_PENDING;
        }
        free(op);
    }
    if (take_local(b, tenant, cls, wait_ms)) {
        return BUDGET_GRANTED;
    }
    count_denial(cls);
    return BUDGET_DENIED;
}

void
budget_cancel(struct budget_op *op)
{
    store_cancel(op->sop);
    op_unlink(op);
    free(op);
}

void
budget_pause(struct budget *b, const char *tenant, int64_t ms)
{
    char        key[KEY_MAX], pms[24];
    const char *argv[2];
    size_t      lens[2];

    check_tenant(tenant);
    if (b->off) {
        return;
    }
    if (ms <= 0) {
        ms = BUDGET_PAUSE_DEFAULT_MS;
    } else if (ms > BUDGET_PAUSE_MAX_MS) {
        ms = BUDGET_PAUSE_MAX_MS;
    }
    stats_add(STATS_UPSTREAM_PAUSED, 1);
    log_info("budget: upstream rate-limited tenant %.8s; pausing it for "
             "%" PRId64 " ms", tenant, ms);
    budget_local_pause(b->bl, tenant, clock_ms(), ms);
    if (b->st == NULL) {
        return;
    }
    budget_key(b, tenant, "pause", key);
    snprintf(pms, sizeof(pms), "%" PRId64, ms);
    argv[0] = key;
    argv[1] = pms;
    lens[0] = strlen(key);
    lens[1] = strlen(pms);
    /* Fire and forget: the callback touches nothing, so the op may
     * outlive B; the local pause covers a failure. */
    (void)store_eval(b->st, &budget_script_pause, 1, 2, argv, lens,
                     on_pause_reply, NULL);
}

/* ---- callbacks ----------------------------------------------------------- */

static void
on_take_reply(struct redisReply *reply, void *arg)
{
    struct budget_op *op = arg;
    struct budget    *b = op->b;
    budget_cb         cb = op->cb;
    void             *cb_arg = op->arg;
    bool              granted;
    int64_t           wait = 0;

    op_unlink(op);
    if (reply != NULL && reply->type == REDIS_REPLY_ARRAY &&
        reply->elements == 2 &&
        reply->element[0]->type == REDIS_REPLY_INTEGER &&
        reply->element[1]->type == REDIS_REPLY_INTEGER) {
        granted = reply->element[0]->integer == 1;
        wait = granted ? 0 : reply->element[1]->integer;
        if (!granted && wait < 1) {
            wait = 1;
        }
        if (b->on_local) {
            log_rated(&budget_logs[1], LOG_INFO, "budget: redis answers "
                      "again; back to the shared budget");
            b->on_local = false;
        }
    } else {
        if (reply != NULL) {
            log_warn("budget: unexpected reply to the take script");
        }
        granted = take_local(b, op->tenant, op->cls, &wait);
    }
    if (!granted) {
        count_denial(op->cls);
        log_debug("budget: tenant %.8s denied for %" PRId64 " ms",
                  op->tenant, wait);
    }
    free(op);
    cb(granted, wait, cb_arg);
}

static void
on_pause_reply(struct redisReply *reply, void *arg)
{
    /* Nothing to do: the local pause is set either way. */
}
