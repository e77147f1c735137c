/*
 * lograte.h - rate limits for log lines that a persisting fault repeats
 * (Redis refusing calls, PATCHes refused while Redis is away): at most
 * one line per period per limiter, and the count of the lines held back
 * is handed to the next one that may be written. Pure: no libevent, no
 * logging of its own; safe from every worker thread (relaxed atomics).
 */
#ifndef HSP_LOGRATE_H
#define HSP_LOGRATE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#define LOGRATE_PERIOD_MS 10000     /* the house default: one per 10 s */

/* One limiter; static storage zero-initialises it ("may write now"). */
struct lograte {
    _Atomic int64_t  next_ms;       /* lines before it are held back */
    _Atomic uint64_t held;          /* lines held back since the last */
};

/*
 * Whether a line may be written at NOW_MS (a monotonic clock in ms): at
 * most one per PERIOD_MS. When it may, *HELD gets the number of lines
 * held back since the last written one, for the caller to print.
 */
bool lograte_allow(struct lograte *lr, int64_t now_ms, int64_t period_ms,
                   uint64_t *held);

/* The monotonic clock in ms, for NOW_MS. */
int64_t lograte_now_ms(void);

#endif /* HSP_LOGRATE_H */
