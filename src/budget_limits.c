/*
 * budget_limits.c - how many grants each class of the upstream budget
 * may hold in one window (SPEC §6, §8): rate_limit split by
 * rate_reserve_writes for the shared budget, rate_limit_fallback split
 * the same way for the local one.
 *
 * Pure: reads a struct conf, writes a struct budget_limits; owns nothing,
 * calls nothing. Both budget.c and budget_local.c use it.
 */
#include "config.h"

#include "budget_limits.h"

#include "conf.h"

/* A / B rounded up, for non-negative A and positive B. */
static int64_t
div_up(int64_t a, int64_t b)
{
    return (a + b - 1) / b;
}

void
budget_limits_of(const struct conf *cf, bool local, struct budget_limits *out)
{
    const struct conf_rate *limit = &cf->rate_limit;
    const struct conf_rate *resv = &cf->rate_reserve_writes;
    const struct conf_rate *fb = &cf->rate_limit_fallback;
    int64_t                 reserve = 0;

    /* The reserve in rate_limit's period; conf_validate keeps it within
     * the limit, the clamp only guards hand-made configs. */
    if (limit->count > 0 && resv->count > 0 && resv->period_ms > 0) {
        reserve = div_up(resv->count * limit->period_ms, resv->period_ms);
        if (reserve > limit->count) {
            reserve = limit->count;
        }
    }
    if (!local) {
        out->write_max = limit->count;
        out->read_max = limit->count - reserve;
        out->window_ms = limit->period_ms + BUDGET_MARGIN_MS;
        return;
    }
    /* The same share of the fallback, rounded up in favour of writes. */
    out->write_max = fb->count;
    out->read_max = fb->count;
    if (fb->count > 0 && limit->count > 0 && reserve > 0) {
        out->read_max = fb->count - div_up(fb->count * reserve, limit->count);
    }
    out->window_ms = fb->period_ms + BUDGET_MARGIN_MS;
}
