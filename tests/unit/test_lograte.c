/* test_lograte.c - one line per period, and the count held back. */
#include "config.h"

#include <criterion/criterion.h>

#include "lograte.h"

Test(lograte, one_line_per_period_with_the_count_held_back)
{
    static struct lograte lr;
    uint64_t              held = 99;

    cr_expect(lograte_allow(&lr, 1000, 10000, &held), "the first line");
    cr_expect_eq(held, 0);
    cr_expect_not(lograte_allow(&lr, 1001, 10000, &held));
    cr_expect_not(lograte_allow(&lr, 10999, 10000, &held));
    cr_expect(lograte_allow(&lr, 11000, 10000, &held), "a period later");
    cr_expect_eq(held, 2, "two were held back");
    cr_expect(lograte_allow(&lr, 50000, 10000, &held));
    cr_expect_eq(held, 0);
}

Test(lograte, the_clock_moves_forward)
{
    int64_t a = lograte_now_ms(), b = lograte_now_ms();

    cr_expect_geq(b, a);
    cr_expect_gt(a, 0);
}
