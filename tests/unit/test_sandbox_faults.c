/* test_sandbox_faults.c - rate-limit windows and fault planning. */
#include <criterion/criterion.h>

#include <string.h>

#include "sandbox/faults.h"

static const struct faults_config quiet = { 0, 0, 0.0, 0.0, 0,
                                           FAULTS_MISBEHAVE_NONE };

struct config_case {
    struct faults_config cf;
    const char          *want;      /* NULL: accepted */
};

static const struct config_case config_cases[] = {
    { { 0, 0, 0.0, 0.0, 60, FAULTS_MISBEHAVE_NONE }, NULL },
    { { 60000, 60000, 1.0, 1.0, 100000, FAULTS_MISBEHAVE_NONE }, NULL },
    { { -1, 0, 0.0, 0.0, 60, FAULTS_MISBEHAVE_NONE }, "latency_ms" },
    { { 60001, 0, 0.0, 0.0, 60, FAULTS_MISBEHAVE_NONE }, "latency_ms" },
    { { 0, -5, 0.0, 0.0, 60, FAULTS_MISBEHAVE_NONE }, "jitter_ms" },
    { { 0, 0, -0.1, 0.0, 60, FAULTS_MISBEHAVE_NONE }, "fail_rate" },
    { { 0, 0, 1.5, 0.0, 60, FAULTS_MISBEHAVE_NONE }, "fail_rate" },
    { { 0, 0, 0.0, 2.0, 60, FAULTS_MISBEHAVE_NONE }, "drop_rate" },
    { { 0, 0, 0.0, 0.0, -1, FAULTS_MISBEHAVE_NONE }, "rate_limit" },
    { { 0, 0, 0.0, 0.0, 100001, FAULTS_MISBEHAVE_NONE }, "rate_limit" },
};

Test(sandbox_faults, config_ranges)
{
    char   err[128];
    size_t i;

    for (i = 0; i < sizeof(config_cases) / sizeof(config_cases[0]); i++) {
        int rc = faults_config_check(&config_cases[i].cf, err, sizeof(err));

        if (config_cases[i].want == NULL) {
            cr_expect_eq(rc, 0, "case %zu: %s", i, err);
        } else {
            cr_expect_eq(rc, -1, "case %zu accepted", i);
            cr_expect(strstr(err, config_cases[i].want) != NULL,
                      "case %zu: %s", i, err);
        }
    }
}

struct parse_case {
    const char        *delay, *fail;
    int                rc;
    enum faults_action action;
    int                status;
    int64_t            delay_ms;
};

static const struct parse_case parse_cases[] = {
    { NULL,    NULL,         0,  FAULTS_NONE,       0,   0 },
    { "0",     NULL,         0,  FAULTS_NONE,       0,   0 },
    { "1500",  NULL,         0,  FAULTS_NONE,       0,   1500 },
    { "60000", NULL,         0,  FAULTS_NONE,       0,   60000 },
    { "60001", NULL,         -1, FAULTS_NONE,       0,   0 },
    { "-1",    NULL,         -1, FAULTS_NONE,       0,   0 },
    { "1e3",   NULL,         -1, FAULTS_NONE,       0,   0 },
    { "",      NULL,         -1, FAULTS_NONE,       0,   0 },
    { " 5",    NULL,         -1, FAULTS_NONE,       0,   0 },
    { NULL,    "500",        0,  FAULTS_FAIL,       500, 0 },
    { NULL,    "503",        0,  FAULTS_FAIL,       503, 0 },
    { NULL,    "429",        0,  FAULTS_FAIL,       429, 0 },
    { NULL,    "400",        0,  FAULTS_FAIL,       400, 0 },
    { NULL,    "399",        -1, FAULTS_NONE,       0,   0 },
    { NULL,    "600",        -1, FAULTS_NONE,       0,   0 },
    { NULL,    "drop",       0,  FAULTS_DROP,       0,   0 },
    { NULL,    "DROP",       0,  FAULTS_DROP,       0,   0 },
    { "250",   "drop-after", 0,  FAULTS_DROP_AFTER, 0,   250 },
    { NULL,    "explode",    -1, FAULTS_NONE,       0,   0 },
    { NULL,    "",           -1, FAULTS_NONE,       0,   0 },
};

Test(sandbox_faults, header_parsing)
{
    struct faults_plan plan;
    char               err[128];
    size_t             i;

    for (i = 0; i < sizeof(parse_cases) / sizeof(parse_cases[0]); i++) {
        const struct parse_case *c = &parse_cases[i];
        int rc = faults_parse(c->delay, c->fail, &plan, err, sizeof(err));

        cr_expect_eq(rc, c->rc, "case %zu", i);
        if (rc == 0) {
            cr_expect_eq(plan.action, c->action, "case %zu", i);
            cr_expect_eq(plan.status, c->status, "case %zu", i);
            cr_expect_eq(plan.delay_ms, c->delay_ms, "case %zu", i);
            cr_expect_eq(plan.forced, c->fail != NULL, "case %zu", i);
        } else {
            cr_expect(strstr(err, c->delay != NULL && c->fail == NULL
                                      ? "X-Sandbox-Delay-Ms"
                                      : "X-Sandbox-Fail") != NULL,
                      "case %zu: %s", i, err);
        }
    }
}

Test(sandbox_faults, sliding_window)
{
    struct faults_config cf = quiet;
    struct faults       *f;
    int64_t              retry = 0;

    cf.rate_limit = 3;
    f = faults_new(&cf, 1);
    cr_assert_not_null(f);
    cr_expect(faults_rate_take(f, "a", 1000, &retry));
    cr_expect(faults_rate_take(f, "a", 11000, &retry));
    cr_expect(faults_rate_take(f, "a", 21000, &retry));
    /* the 4th within 60 s waits for the 1st to age out: 1000 + 60000 */
    cr_expect_not(faults_rate_take(f, "a", 30500, &retry));
    cr_expect_eq(retry, 31);                /* 30.5 s, rounded up */
    cr_expect_not(faults_rate_take(f, "a", 60999, &retry));
    cr_expect_eq(retry, 1);
    /* refused requests did not count: the 1st ages out exactly here */
    cr_expect(faults_rate_take(f, "a", 61000, &retry));
    cr_expect_not(faults_rate_take(f, "a", 61001, &retry));
    cr_expect_eq(retry, 10);                /* 11000 + 60000 - 61001 */
    /* another token has its own window */
    cr_expect(faults_rate_take(f, "b", 61001, &retry));
    /* a new limit starts fresh */
    cf.rate_limit = 1;
    cr_assert_eq(faults_set_config(f, &cf, NULL, 0), 0);
    cr_expect(faults_rate_take(f, "a", 61002, &retry));
    cr_expect_not(faults_rate_take(f, "a", 61003, &retry));
    cr_expect_eq(retry, 60);
    faults_reset(f);
    cr_expect(faults_rate_take(f, "a", 61004, &retry));
    faults_free(f);
}

Test(sandbox_faults, limit_off)
{
    struct faults *f = faults_new(&quiet, 1);
    int64_t        retry;
    int            i;

    for (i = 0; i < 1000; i++) {
        cr_assert(faults_rate_take(f, "a", 5, &retry));
    }
    faults_free(f);
}

Test(sandbox_faults, set_config_refuses_bad_values)
{
    struct faults       *f = faults_new(&quiet, 1);
    struct faults_config cf = quiet, got;
    char                 err[128];

    cf.fail_rate = 7.0;
    cr_expect_eq(faults_set_config(f, &cf, err, sizeof(err)), -1);
    faults_get_config(f, &got);
    cr_expect_eq(got.fail_rate, 0.0);
    cf.fail_rate = 0.25;
    cf.latency_ms = 40;
    cr_expect_eq(faults_set_config(f, &cf, err, sizeof(err)), 0);
    faults_get_config(f, &got);
    cr_expect_eq(got.fail_rate, 0.25);
    cr_expect_eq(got.latency_ms, 40);
    faults_free(f);
}

/* Draws N plans under CF with SEED; counts drops and fails. */
static void
draw_many(const struct faults_config *cf, uint64_t seed, int n, int *drops,
          int *fails, int64_t *max_delay, int64_t *min_delay)
{
    struct faults     *f = faults_new(cf, seed);
    struct faults_plan plan;
    int                i;

    *drops = *fails = 0;
    *max_delay = 0;
    *min_delay = INT64_MAX;
    for (i = 0; i < n; i++) {
        cr_assert_eq(faults_parse(NULL, NULL, &plan, NULL, 0), 0);
        faults_draw(f, &plan);
        *drops += plan.action == FAULTS_DROP;
        *fails += plan.action == FAULTS_FAIL && plan.status == 500;
        *max_delay = plan.delay_ms > *max_delay ? plan.delay_ms : *max_delay;
        *min_delay = plan.delay_ms < *min_delay ? plan.delay_ms : *min_delay;
    }
    faults_free(f);
}

Test(sandbox_faults, draws_follow_the_rates)
{
    struct faults_config cf = { 100, 50, 0.5, 0.2, 0, FAULTS_MISBEHAVE_NONE };
    int                  drops, fails, d2, f2;
    int64_t              hi, lo, hi2, lo2;

    draw_many(&cf, 42, 100000, &drops, &fails, &hi, &lo);
    /* drops ~ 0.2 of all; fails ~ 0.5 of the rest = 0.4 of all */
    cr_expect(drops > 19000 && drops < 21000, "drops %d", drops);
    cr_expect(fails > 39000 && fails < 41000, "fails %d", fails);
    cr_expect_eq(lo, 100);
    cr_expect_eq(hi, 150);
    /* the same seed replays the same sequence */
    draw_many(&cf, 42, 100000, &d2, &f2, &hi2, &lo2);
    cr_expect(d2 == drops && f2 == fails);

    cf = quiet;
    draw_many(&cf, 42, 1000, &drops, &fails, &hi, &lo);
    cr_expect(drops == 0 && fails == 0 && hi == 0);
    cf.drop_rate = 1.0;
    draw_many(&cf, 42, 1000, &drops, &fails, &hi, &lo);
    cr_expect_eq(drops, 1000);
}

Test(sandbox_faults, headers_win_over_draws)
{
    struct faults_config cf = { 10, 0, 0.0, 1.0, 0, FAULTS_MISBEHAVE_NONE };
    struct faults       *f = faults_new(&cf, 7);
    struct faults_plan   plan;

    cr_assert_eq(faults_parse("90", "503", &plan, NULL, 0), 0);
    faults_draw(f, &plan);
    cr_expect_eq(plan.action, FAULTS_FAIL);
    cr_expect_eq(plan.status, 503);
    cr_expect_eq(plan.delay_ms, 100);       /* header + latency */
    faults_free(f);
    faults_free(NULL);
}

struct misbehave_case {
    const char           *value;    /* the header; NULL: absent */
    int                   rc;
    enum faults_misbehave want;     /* after faults_draw */
};

static const struct misbehave_case misbehave_cases[] = {
    { NULL,               0,  FAULTS_MISBEHAVE_NONE },
    { "none",             0,  FAULTS_MISBEHAVE_NONE },
    { "long-body",        0,  FAULTS_MISBEHAVE_LONG_BODY },
    { "two-lengths",      0,  FAULTS_MISBEHAVE_TWO_LENGTHS },
    { "body-on-204",      0,  FAULTS_MISBEHAVE_BODY_ON_204 },
    { "bad-header-byte",  0,  FAULTS_MISBEHAVE_BAD_HEADER_BYTE },
    { "bad-header-name",  0,  FAULTS_MISBEHAVE_BAD_HEADER_NAME },
    { "unasked-coding",   0,  FAULTS_MISBEHAVE_UNASKED_CODING },
    { "after-last-chunk", 0,  FAULTS_MISBEHAVE_AFTER_LAST_CHUNK },
    { "HTTP10-Close",     0,  FAULTS_MISBEHAVE_HTTP10_CLOSE },
    { "",                 -1, FAULTS_MISBEHAVE_NONE },
    { "long-body ",       -1, FAULTS_MISBEHAVE_NONE },
    { "long_body",        -1, FAULTS_MISBEHAVE_NONE },
    { "explode",          -1, FAULTS_MISBEHAVE_NONE },
};

Test(sandbox_faults, misbehave_parsing)
{
    struct faults     *f = faults_new(&quiet, 1);
    struct faults_plan plan;
    char               err[256];
    size_t             i;

    for (i = 0; i < sizeof(misbehave_cases) / sizeof(misbehave_cases[0]);
         i++) {
        const struct misbehave_case *c = &misbehave_cases[i];
        int                          rc;

        cr_assert_eq(faults_parse(NULL, NULL, &plan, NULL, 0), 0);
        rc = faults_parse_misbehave(c->value, &plan, err, sizeof(err));
        cr_expect_eq(rc, c->rc, "case %zu", i);
        if (rc != 0) {
            /* the message lists the kinds */
            cr_expect(strstr(err, "X-Sandbox-Misbehave") != NULL &&
                          strstr(err, "after-last-chunk") != NULL &&
                          strstr(err, "http10-close") != NULL,
                      "case %zu: %s", i, err);
            continue;
        }
        faults_draw(f, &plan);
        cr_expect_eq(plan.misbehave, c->want, "case %zu", i);
        if (c->want != FAULTS_MISBEHAVE_NONE) {
            cr_expect_str_eq(faults_misbehave_name(c->want), c->value[0] == 'H'
                             ? "http10-close" : c->value, "case %zu", i);
        }
    }
    faults_free(f);
}

Test(sandbox_faults, misbehave_knob_and_header)
{
    struct faults_config cf = quiet;
    struct faults       *f;
    struct faults_plan   plan;
    char                 err[256];
    enum faults_misbehave k;

    cf.misbehave = FAULTS_MISBEHAVE_TWO_LENGTHS;
    f = faults_new(&cf, 1);
    /* the knob applies when the header is absent */
    cr_assert_eq(faults_parse(NULL, NULL, &plan, NULL, 0), 0);
    cr_assert_eq(faults_parse_misbehave(NULL, &plan, err, sizeof(err)), 0);
    faults_draw(f, &plan);
    cr_expect_eq(plan.misbehave, FAULTS_MISBEHAVE_TWO_LENGTHS);
    /* the header wins, "none" included */
    cr_assert_eq(faults_parse(NULL, NULL, &plan, NULL, 0), 0);
    cr_assert_eq(faults_parse_misbehave("none", &plan, err, sizeof(err)), 0);
    faults_draw(f, &plan);
    cr_expect_eq(plan.misbehave, FAULTS_MISBEHAVE_NONE);
    cr_assert_eq(faults_parse(NULL, NULL, &plan, NULL, 0), 0);
    cr_assert_eq(faults_parse_misbehave("long-body", &plan, err,
                                        sizeof(err)), 0);
    faults_draw(f, &plan);
    cr_expect_eq(plan.misbehave, FAULTS_MISBEHAVE_LONG_BODY);
    faults_free(f);

    cr_expect_eq(faults_misbehave_find("body-on-204", &k), 0);
    cr_expect_eq(k, FAULTS_MISBEHAVE_BODY_ON_204);
    cr_expect_eq(faults_misbehave_find("nope", &k), -1);
    cf.misbehave = FAULTS_MISBEHAVE_COUNT;
    cr_expect_eq(faults_config_check(&cf, err, sizeof(err)), -1);
    cr_expect(strstr(err, "misbehave") != NULL);
}
