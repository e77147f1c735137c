/*
 * lograte.c - rate limits for repeated log lines (lograte.h).
 */
#include "config.h"

#include "lograte.h"

#include <time.h>

bool
lograte_allow(struct lograte *lr, int64_t now_ms, int64_t period_ms,
              uint64_t *held)
{
    int64_t next = atomic_load_explicit(&lr->next_ms, memory_order_relaxed);

    if (now_ms < next ||
        !atomic_compare_exchange_strong_explicit(&lr->next_ms, &next,
                                                 now_ms + period_ms,
                                                 memory_order_relaxed,
                                                 memory_order_relaxed)) {
        /* too soon, or another thread took this period's line */
        atomic_fetch_add_explicit(&lr->held, 1, memory_order_relaxed);
        return false;
    }
    *held = atomic_exchange_explicit(&lr->held, 0, memory_order_relaxed);
    return true;
}

int64_t
lograte_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
