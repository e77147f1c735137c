/*
 * test_backoff.c - reconnect delays (backoff.h): growth, clamping and
 * the jitter's bounds.
 */
#include "config.h"

#include <stdint.h>

#include <criterion/criterion.h>

#include "backoff.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

struct next_case {
    unsigned base, min, max, want;
};

static const struct next_case next_cases[] = {
    { 100, 100, 5000, 200 },
    { 200, 100, 5000, 400 },
    { 3200, 100, 5000, 5000 },      /* clamped to the ceiling */
    { 5000, 100, 5000, 5000 },      /* stays there */
    { 10, 100, 5000, 100 },         /* raised to the floor */
    { 0, 100, 5000, 100 },
    { 3000000000u, 100, 4000000000u, 4000000000u }, /* no overflow */
};

Test(backoff, next_table)
{
    size_t i;

    for (i = 0; i < N(next_cases); i++) {
        const struct next_case *c = &next_cases[i];

        cr_expect_eq(backoff_next(c->base, c->min, c->max), c->want,
                     "row %zu: backoff_next(%u, %u, %u) = %u, want %u", i,
                     c->base, c->min, c->max,
                     backoff_next(c->base, c->min, c->max), c->want);
    }
}

struct delay_case {
    unsigned base;
    uint32_t rnd;
    unsigned want;
};

static const struct delay_case delay_cases[] = {
    { 100, 0, 100 },
    { 100, 25, 125 },               /* the most jitter: a quarter */
    { 100, 26, 100 },               /* wraps: 26 % 26 */
    { 100, UINT32_MAX, 100 + UINT32_MAX % 26 },
    { 0, 12345, 0 },
    { 3, 7, 3 },                    /* a quarter of 3 is 0 */
    { 5000, 1250, 6250 },
};

Test(backoff, delay_table)
{
    size_t i;

    for (i = 0; i < N(delay_cases); i++) {
        const struct delay_case *c = &delay_cases[i];

        cr_expect_eq(backoff_delay(c->base, c->rnd), c->want,
                     "row %zu: backoff_delay(%u, %u) = %u, want %u", i,
                     c->base, c->rnd, backoff_delay(c->base, c->rnd),
                     c->want);
    }
}

/* Whatever the random number, the delay is in [base, base + base / 4]. */
Test(backoff, delay_bounds)
{
    static const unsigned bases[] = { 1, 4, 100, 1000, 4999, 5000 };
    size_t                i;
    uint32_t              rnd;

    for (i = 0; i < N(bases); i++) {
        for (rnd = 0; rnd < 20000; rnd += 7) {
            unsigned d = backoff_delay(bases[i], rnd * 2654435761u);

            cr_assert_geq(d, bases[i]);
            cr_assert_leq(d, bases[i] + bases[i] / 4);
        }
    }
}
