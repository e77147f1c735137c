/*
 * backoff.h - reconnect delays: exponential growth between a floor and a
 * ceiling, and up to a quarter of jitter so that workers and instances
 * that lost the same server do not come back in step. Pure: the random
 * number is the caller's.
 */
#ifndef HSP_BACKOFF_H
#define HSP_BACKOFF_H

#include <stdint.h>

/*
 * The delay to wait now, in ms: BASE_MS plus BASE_MS / 4 at most, chosen
 * by RND (any value; the caller's random number). Never less than BASE_MS.
 */
unsigned backoff_delay(unsigned base_ms, uint32_t rnd);

/* The base after BASE_MS: twice it, clamped to [MIN_MS, MAX_MS]. */
unsigned backoff_next(unsigned base_ms, unsigned min_ms, unsigned max_ms);

#endif /* HSP_BACKOFF_H */
