/*
 * backoff.c - exponential backoff with a quarter of jitter. Pure.
 */
#include "config.h"

#include "backoff.h"

unsigned
backoff_delay(unsigned base_ms, uint32_t rnd)
{
    return base_ms + (unsigned)(rnd % (base_ms / 4 + 1));
}

unsigned
backoff_next(unsigned base_ms, unsigned min_ms, unsigned max_ms)
{
    unsigned next = base_ms > max_ms / 2 ? max_ms : base_ms * 2;

    if (next < min_ms) {
        next = min_ms;
    }
    return next > max_ms ? max_ms : next;
}
