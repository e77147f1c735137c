/* test_budget.c - the limits of the budget and its local sliding window,
 * with explicit times (SPEC §6, §8). */
#include "config.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "budget.h"
#include "budget_limits.h"
#include "budget_local.h"
#include "conf.h"
#include "key.h"

#define T0 1000000                  /* any start: the clock is monotonic */

/* A config with these three rates ("0" turns one off). */
static void
conf_rates(struct conf *cf, const char *limit, const char *reserve,
           const char *fallback)
{
    cr_assert_eq(conf_init(cf), 0);
    cr_assert_eq(conf_parse_rate(limit, &cf->rate_limit), 0, "%s", limit);
    cr_assert_eq(conf_parse_rate(reserve, &cf->rate_reserve_writes), 0, "%s",
                 reserve);
    cr_assert_eq(conf_parse_rate(fallback, &cf->rate_limit_fallback), 0,
                 "%s", fallback);
}

/* The id of tenant I: 32 hex digits, like key_tenant(). */
static void
tenant_id(unsigned i, char *out)
{
    snprintf(out, KEY_TENANT_HEX + 1, "%032x", i);
}

/* ---- limits -------------------------------------------------------------- */

struct limits_case {
    const char *limit, *reserve, *fallback;
    int64_t     read, write, window;            /* shared */
    int64_t     lread, lwrite, lwindow;         /* local */
};

static const struct limits_case limits_cases[] = {
    /* The defaults: 50 reads + 10 writes; locally 20 of which 4 (10/60
     * of 20, rounded up) are kept for writes. */
    { "60/min", "10/min", "20/min", 50, 60, 61000, 16, 20, 61000 },
    { "60/min", "0", "20/min", 60, 60, 61000, 20, 20, 61000 },
    /* The reserve in the limit's period: 1/s is 60/min, all of it. */
    { "60/min", "1/s", "20/min", 0, 60, 61000, 0, 20, 61000 },
    { "100/h", "10/min", "10/h", 0, 100, 3601000, 0, 10, 3601000 },
    { "10/s", "60/min", "5/s", 9, 10, 2000, 4, 5, 2000 },
    { "10/s", "0", "1/s", 10, 10, 2000, 1, 1, 2000 },
    /* A tiny fallback keeps its one slot for writes. */
    { "60/min", "10/min", "1/min", 50, 60, 61000, 0, 1, 61000 },
    { "60/min", "10/min", "0", 50, 60, 61000, 0, 0, -1 },
    { "0", "0", "0", 0, 0, -1, 0, 0, -1 },
};

Test(budget, limits_table)
{
    size_t i;

    for (i = 0; i < sizeof(limits_cases) / sizeof(limits_cases[0]); i++) {
        const struct limits_case *c = &limits_cases[i];
        struct conf               cf = { 0 };
        struct budget_limits      s, l;

        conf_rates(&cf, c->limit, c->reserve, c->fallback);
        budget_limits_of(&cf, false, &s);
        budget_limits_of(&cf, true, &l);
        cr_expect_eq(s.read_max, c->read, "%s %s: read %lld", c->limit,
                     c->reserve, (long long)s.read_max);
        cr_expect_eq(s.write_max, c->write, "%s: write", c->limit);
        if (c->window >= 0) {
            cr_expect_eq(s.window_ms, c->window, "%s: window", c->limit);
        }
        cr_expect_eq(l.read_max, c->lread, "%s %s %s: local read %lld",
                     c->limit, c->reserve, c->fallback,
                     (long long)l.read_max);
        cr_expect_eq(l.write_max, c->lwrite, "%s: local write", c->fallback);
        if (c->lwindow >= 0) {
            cr_expect_eq(l.window_ms, c->lwindow, "%s: local window",
                         c->fallback);
        }
        conf_free(&cf);
    }
}

/* ---- the local sliding window -------------------------------------------- */

enum step_op { TAKE_READ, TAKE_WRITE, PAUSE, TENANTS };

struct step {
    int64_t      at;                /* ms after T0 */
    unsigned     tenant;
    enum step_op op;
    int64_t      arg;               /* PAUSE: ms; TENANTS: the count */
    bool         granted;           /* TAKE_* */
    int64_t      wait;              /* TAKE_* denied: the wait, exactly */
};

struct scenario {
    const char  *name;
    const char  *limit, *reserve, *fallback;
    struct step  steps[24];
    size_t       nsteps;
};

#define G(at, t, op)          { (at), (t), (op), 0, true, 0 }
#define D(at, t, op, wait)    { (at), (t), (op), 0, false, (wait) }
#define P(at, t, ms)          { (at), (t), PAUSE, (ms), false, 0 }
#define N(at, n)              { (at), 0, TENANTS, (n), false, 0 }

static const struct scenario scenarios[] = {
    { "grants up to the limit, then the wait of the oldest grant",
      "60/min", "0", "3/s",         /* window 2000 ms */
      { G(0, 1, TAKE_READ), G(100, 1, TAKE_READ), G(200, 1, TAKE_READ),
        D(300, 1, TAKE_READ, 1700), D(300, 1, TAKE_WRITE, 1700),
        D(1999, 1, TAKE_READ, 1),
        G(2000, 1, TAKE_READ),      /* the grant of 0 left exactly now */
        D(2001, 1, TAKE_READ, 99),
        G(2100, 1, TAKE_WRITE), G(2200, 1, TAKE_READ),
        D(2200, 1, TAKE_READ, 1800) },
      11 },
    { "a sliding window, not a fixed one",
      "60/min", "0", "4/min",       /* window 61000 ms */
      { G(50000, 1, TAKE_READ), G(50000, 1, TAKE_READ),
        G(59000, 1, TAKE_READ), G(59999, 1, TAKE_READ),
        /* A fixed minute would start afresh at 60000. */
        D(60000, 1, TAKE_READ, 51000), D(61000, 1, TAKE_READ, 50000),
        D(110999, 1, TAKE_READ, 1),
        /* Both grants of 50000 leave together. */
        G(111000, 1, TAKE_READ), G(111000, 1, TAKE_READ),
        D(111000, 1, TAKE_READ, 9000), G(120000, 1, TAKE_READ) },
      11 },
    { "reads stop at the reserve, writes go on",
      "10/min", "2/min", "10/min",  /* local: 8 reads, 10 in all */
      { G(0, 1, TAKE_READ), G(1, 1, TAKE_READ), G(2, 1, TAKE_READ),
        G(3, 1, TAKE_READ), G(4, 1, TAKE_READ), G(5, 1, TAKE_READ),
        G(6, 1, TAKE_READ), G(7, 1, TAKE_READ),
        D(8, 1, TAKE_READ, 60992),  /* the grant of 0 must leave */
        G(9, 1, TAKE_WRITE), G(10, 1, TAKE_WRITE),
        D(11, 1, TAKE_WRITE, 60989),
        /* At 61000 the grant of 0 left: 9 in the window, reads wait for
         * two more to leave (those of 1 and 2). A write fills it again. */
        D(61000, 1, TAKE_READ, 2), G(61000, 1, TAKE_WRITE),
        D(61001, 1, TAKE_READ, 2), D(61002, 1, TAKE_READ, 1),
        G(61003, 1, TAKE_READ) },
      17 },
    { "a reserve that takes the whole fallback leaves reads nothing",
      "60/min", "10/min", "1/min",  /* local: 0 reads, 1 in all */
      { D(0, 1, TAKE_READ, 61000), G(0, 1, TAKE_WRITE),
        D(500, 1, TAKE_WRITE, 60500), D(500, 1, TAKE_READ, 61000),
        G(61000, 1, TAKE_WRITE) },
      5 },
    { "tenants have budgets of their own",
      "60/min", "0", "2/s",
      { G(0, 1, TAKE_READ), G(0, 1, TAKE_READ), D(0, 1, TAKE_READ, 2000),
        G(0, 2, TAKE_READ), G(0, 2, TAKE_WRITE), D(0, 2, TAKE_WRITE, 2000),
        N(0, 2) },
      7 },
    { "a pause denies both classes for what is left of it",
      "60/min", "10/min", "20/min",
      { G(0, 1, TAKE_WRITE), P(100, 1, 5000),
        D(100, 1, TAKE_READ, 5000), D(1100, 1, TAKE_WRITE, 4000),
        P(1100, 1, 1000),           /* shorter: changes nothing */
        D(2100, 1, TAKE_WRITE, 3000), G(2100, 2, TAKE_READ),
        P(2100, 1, 10000),          /* longer: extends */
        D(5100, 1, TAKE_READ, 7000), G(12100, 1, TAKE_READ) },
      10 },
    { "rate_limit_fallback 0: no local limit, pauses still hold",
      "60/min", "10/min", "0",
      { G(0, 1, TAKE_READ), G(0, 1, TAKE_READ), G(0, 1, TAKE_WRITE),
        G(0, 1, TAKE_READ), N(0, 0),     /* nothing tracked */
        P(0, 2, 3000), N(0, 1),
        D(10, 2, TAKE_WRITE, 2990), G(3000, 2, TAKE_WRITE) },
      9 },
    { "idle tenants are reclaimed once a window",
      "60/min", "0", "5/s",         /* window 2000 ms */
      { G(0, 1, TAKE_READ), G(0, 2, TAKE_READ), G(100, 3, TAKE_READ),
        P(100, 4, 10000), N(100, 4),
        G(1900, 5, TAKE_READ), N(1900, 5),
        /* Sweep at 2000: 1 and 2 are idle; 3 and 5 have grants, 4 a
         * pause. */
        G(2000, 6, TAKE_READ), N(2000, 4),
        G(4000, 6, TAKE_READ), N(4000, 2),   /* 6 and paused 4 */
        G(10100, 7, TAKE_READ), N(10100, 1), /* 4's pause is over */
        G(12100, 7, TAKE_READ), N(12100, 1) },
      15 },
};

static void
run_scenario(const struct scenario *s)
{
    struct conf          cf = { 0 };
    struct budget_local *bl;
    size_t               i;

    conf_rates(&cf, s->limit, s->reserve, s->fallback);
    bl = budget_local_new(&cf);
    cr_assert_not_null(bl);
    for (i = 0; i < s->nsteps; i++) {
        const struct step *st = &s->steps[i];
        char               t[KEY_TENANT_HEX + 1];
        int64_t            wait = -1;
        bool               got;

        tenant_id(st->tenant, t);
        switch (st->op) {
        case PAUSE:
            budget_local_pause(bl, t, T0 + st->at, st->arg);
            break;
        case TENANTS:
            cr_expect_eq(budget_local_tenants(bl), (size_t)st->arg,
                         "%s: step %zu: %zu tenants, want %lld", s->name, i,
                         budget_local_tenants(bl), (long long)st->arg);
            break;
        case TAKE_READ:
        case TAKE_WRITE:
            got = budget_local_take(bl, t,
                                    st->op == TAKE_WRITE ? BUDGET_WRITE
                                                         : BUDGET_READ,
                                    T0 + st->at, &wait);
            cr_expect_eq(got, st->granted, "%s: step %zu (at %lld): %s",
                         s->name, i, (long long)st->at,
                         got ? "granted" : "denied");
            if (!got && !st->granted) {
                cr_expect_eq(wait, st->wait,
                             "%s: step %zu: wait %lld, want %lld", s->name, i,
                             (long long)wait, (long long)st->wait);
            }
            break;
        }
    }
    budget_local_free(bl);
    conf_free(&cf);
}

Test(budget, local_scenarios)
{
    size_t i;

    for (i = 0; i < sizeof(scenarios) / sizeof(scenarios[0]); i++) {
        run_scenario(&scenarios[i]);
    }
}

/* A grant that a denial's wait announces is really there. */
Test(budget, the_wait_is_exact)
{
    struct conf          cf = { 0 };
    struct budget_local *bl;
    char                 t[KEY_TENANT_HEX + 1];
    int64_t              now = T0, wait = 0;
    int                  granted = 0, i;
    bool                 expect = false;

    conf_rates(&cf, "60/min", "10/min", "20/min");
    bl = budget_local_new(&cf);
    cr_assert_not_null(bl);
    tenant_id(1, t);
    /* Irregular traffic; 1 ms before a denial's wait is denied too, and
     * the wait itself is granted. */
    for (i = 0; i < 400; i++) {
        bool got = budget_local_take(bl, t, BUDGET_READ, now, &wait);

        cr_expect(!expect || got, "denied at the announced wait (%d)", i);
        expect = false;
        if (got) {
            granted++;
            now += (i * 7919) % 3000;
            continue;
        }
        expect = true;
        cr_assert_gt(wait, 0);
        if (wait > 1) {
            int64_t w2;

            cr_expect(!budget_local_take(bl, t, BUDGET_READ, now + wait - 1,
                                         &w2),
                      "granted 1 ms before the announced wait");
        }
        now += wait;
    }
    cr_expect_gt(granted, 16);
    budget_local_free(bl);
    conf_free(&cf);
}

/* Many tenants: the table is bounded, past the bound new tenants go
 * untracked, and a sweep frees the idle ones. */
Test(budget, many_tenants_are_bounded)
{
    struct conf          cf = { 0 };
    struct budget_local *bl;
    char                 t[KEY_TENANT_HEX + 1];
    int64_t              wait;
    unsigned             i;

    conf_rates(&cf, "60/min", "0", "1/s");      /* window 2000 ms */
    bl = budget_local_new(&cf);
    cr_assert_not_null(bl);
    for (i = 0; i < BUDGET_LOCAL_TENANTS_MAX; i++) {
        tenant_id(i, t);
        cr_assert(budget_local_take(bl, t, BUDGET_READ, T0 + 1, &wait));
    }
    cr_expect_eq(budget_local_tenants(bl), BUDGET_LOCAL_TENANTS_MAX);
    /* Every one is tracked: a second take is denied. */
    tenant_id(12345, t);
    cr_expect(!budget_local_take(bl, t, BUDGET_READ, T0 + 2, &wait));
    cr_expect_eq(wait, 1999);
    /* Full: a new tenant is let through, untracked. */
    tenant_id(BUDGET_LOCAL_TENANTS_MAX, t);
    cr_expect(budget_local_take(bl, t, BUDGET_READ, T0 + 3, &wait));
    cr_expect(budget_local_take(bl, t, BUDGET_READ, T0 + 3, &wait));
    cr_expect_eq(budget_local_tenants(bl), BUDGET_LOCAL_TENANTS_MAX);
    /* A window later all are idle: the next take sweeps them away. */
    cr_expect(budget_local_take(bl, t, BUDGET_READ, T0 + 2001, &wait));
    cr_expect_eq(budget_local_tenants(bl), 1);
    cr_expect(!budget_local_take(bl, t, BUDGET_READ, T0 + 2002, &wait));
    budget_local_free(bl);
    conf_free(&cf);
}

/* ---- threads ------------------------------------------------------------- */

struct racer {
    struct budget_local *bl;
    int                  granted;
};

static void *
race(void *arg)
{
    struct racer *r = arg;
    char          t[KEY_TENANT_HEX + 1];
    int64_t       wait;
    int           i;

    tenant_id(7, t);
    for (i = 0; i < 2000; i++) {
        if (budget_local_take(r->bl, t,
                              i % 3 == 0 ? BUDGET_WRITE : BUDGET_READ,
                              T0 + i / 100, &wait)) {
            r->granted++;
        }
    }
    return NULL;
}

/* Worker threads share one local budget: together they get the limit. */
Test(budget, threads_share_the_local_budget)
{
    struct conf          cf = { 0 };
    struct budget_local *bl;
    struct racer         r[4];
    pthread_t            th[4];
    int                  i, total = 0;

    conf_rates(&cf, "600/min", "100/min", "300/min");
    bl = budget_local_new(&cf);
    cr_assert_not_null(bl);
    for (i = 0; i < 4; i++) {
        r[i].bl = bl;
        r[i].granted = 0;
        cr_assert_eq(pthread_create(&th[i], NULL, race, &r[i]), 0);
    }
    for (i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        total += r[i].granted;
    }
    cr_expect_eq(total, 300, "granted %d", total);
    budget_local_free(bl);
    conf_free(&cf);
}

/* ---- reload: new limits for the local budget ------------------------------ */

struct relimit_case {
    const char *before, *after;     /* rate_limit_fallback (limit 100/min) */
    int         spent;              /* writes granted before the change */
    int         more;               /* writes granted after it, same ms */
};

static const struct relimit_case relimit_cases[] = {
    { "5/min", "8/min", 5, 3 },     /* raised: the rest of the new limit */
    { "5/min", "3/min", 2, 1 },     /* lowered: grants counted stay */
    { "5/min", "3/min", 5, 0 },     /* lowered below what was spent */
    { "5/min", "0", 5, -1 },        /* off: everything goes */
    { "0", "2/min", 0, 2 },         /* on: counting starts now */
};

Test(budget, local_set_limits_table)
{
    size_t i;

    for (i = 0; i < sizeof(relimit_cases) / sizeof(relimit_cases[0]); i++) {
        const struct relimit_case *c = &relimit_cases[i];
        struct conf                before = { 0 }, after = { 0 };
        struct budget_local       *bl;
        char                       t[KEY_TENANT_HEX + 1];
        int64_t                    wait = 0;
        int                        n;

        tenant_id((unsigned)i + 1, t);
        conf_rates(&before, "100/min", "0", c->before);
        conf_rates(&after, "100/min", "0", c->after);
        bl = budget_local_new(&before);
        cr_assert_not_null(bl);
        for (n = 0; n < c->spent; n++) {
            cr_assert(budget_local_take(bl, t, BUDGET_WRITE, T0, &wait),
                      "case %zu: take %d before", i, n);
        }
        budget_local_set_limits(bl, &after);
        for (n = 0; n < 50; n++) {
            if (!budget_local_take(bl, t, BUDGET_WRITE, T0 + 1, &wait)) {
                break;
            }
        }
        cr_expect_eq(n, c->more < 0 ? 50 : c->more,
                     "case %zu: %d granted after the change", i, n);
        /* a window later, the new limit whole */
        if (c->more >= 0) {
            for (n = 0; n < 50; n++) {
                if (!budget_local_take(bl, t, BUDGET_WRITE, T0 + 62000,
                                       &wait)) {
                    break;
                }
            }
            cr_expect_eq(n, (int)after.rate_limit_fallback.count,
                         "case %zu: %d granted a window later", i, n);
        }
        budget_local_free(bl);
        conf_free(&before);
        conf_free(&after);
    }
}
