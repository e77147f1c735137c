/* stats.c - the counter table and its exposition. */
#include "config.h"

#include "stats.h"

#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define STATS_LINE_MAX 256          /* one sample or comment line */

/* A family is rendered once, with its HELP and TYPE, before its samples;
 * the counters of one family are adjacent in the table. */
static const struct {
    const char *family;
    const char *labels;             /* "{...}" or "" */
    const char *help;
} stats_table[STATS_COUNT] = {
    [STATS_IDEM_CLAIMED] = { "heavyset_idempotency_total",
                             "{result=\"claimed\"}",
                             "PATCH requests with an Idempotency-Key, by "
                             "outcome." },
    [STATS_IDEM_REPLAYED] = { "heavyset_idempotency_total",
                              "{result=\"replayed\"}", NULL },
    [STATS_IDEM_IN_FLIGHT] = { "heavyset_idempotency_total",
                               "{result=\"in_flight\"}", NULL },
    [STATS_IDEM_MISMATCH] = { "heavyset_idempotency_total",
                              "{result=\"mismatch\"}", NULL },
    [STATS_IDEM_RELEASED] = { "heavyset_idempotency_total",
                              "{result=\"released\"}", NULL },
    [STATS_IDEM_UNPROTECTED] = { "heavyset_idempotency_total",
                                 "{result=\"unprotected\"}", NULL },
    [STATS_RATE_LIMITED_READ] = { "heavyset_rate_limited_total",
                                  "{class=\"read\"}",
                                  "Takes of the upstream budget that were "
                                  "denied, by class (SPEC 6)." },
    [STATS_RATE_LIMITED_WRITE] = { "heavyset_rate_limited_total",
                                   "{class=\"write\"}", NULL },
    [STATS_BUDGET_FALLBACK] = { "heavyset_budget_fallback_total", "",
                                "Takes answered by the local budget "
                                "because Redis was away (SPEC 8)." },
    [STATS_UPSTREAM_PAUSED] = { "heavyset_upstream_paused_total", "",
                                "Tenants paused after an upstream 429 "
                                "(SPEC 6)." },
};

static uint64_t stats_values[STATS_COUNT];

void
stats_add(enum stats_counter c, uint64_t n)
{
    assert(c < STATS_COUNT);
    __atomic_fetch_add(&stats_values[c], n, __ATOMIC_RELAXED);
}

uint64_t
stats_get(enum stats_counter c)
{
    assert(c < STATS_COUNT);
    return __atomic_load_n(&stats_values[c], __ATOMIC_RELAXED);
}

size_t
stats_render_max(void)
{
    return (size_t)STATS_COUNT * 3 * STATS_LINE_MAX + 1;
}

int
stats_render(char *buf, size_t cap)
{
    size_t      len = 0;
    const char *family = NULL;
    int         c, n;

    for (c = 0; c < STATS_COUNT; c++) {
        if (family == NULL || strcmp(family, stats_table[c].family) != 0) {
            family = stats_table[c].family;
            assert(stats_table[c].help != NULL);
            n = snprintf(buf + len, cap - len,
                         "# HELP %s %s\n# TYPE %s counter\n", family,
                         stats_table[c].help, family);
            if (n < 0 || (size_t)n >= cap - len) {
                goto full;
            }
            len += (size_t)n;
        }
        n = snprintf(buf + len, cap - len, "%s%s %" PRIu64 "\n", family,
                     stats_table[c].labels,
                     stats_get((enum stats_counter)c));
        if (n < 0 || (size_t)n >= cap - len) {
            goto full;
        }
        len += (size_t)n;
    }
    return (int)len;

full:
    if (cap > 0) {
        buf[0] = '\0';
    }
    return -1;
}
