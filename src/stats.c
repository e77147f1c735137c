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
    [STATS_UPSTREAM_429] = { "heavyset_upstream_429_total", "",
                             "429 answers from the upstream." },
    [STATS_LOCAL_429] = { "heavyset_local_429_total", "",
                          "429 answers the proxy gave itself: no budget "
                          "left and nothing stale to serve." },
    [STATS_RATE_WAITS] = { "heavyset_rate_limit_waits_total", "",
                           "Requests that waited for the upstream budget "
                           "(rate_limit_wait)." },
    [STATS_COALESCED] = { "heavyset_coalesced_total", "",
                          "Requests answered by an identical request's "
                          "lookup or fetch (coalesced waits)." },
    [STATS_NEAR_HITS] = { "heavyset_near_hits_total", "",
                          "Hits answered from a worker's near cache, "
                          "without asking Redis." },
    [STATS_STALE_SWR] = { "heavyset_stale_served_total",
                          "{reason=\"revalidate\"}",
                          "Expired entries served, by reason." },
    [STATS_STALE_ERROR] = { "heavyset_stale_served_total",
                            "{reason=\"error\"}", NULL },
    [STATS_STALE_RATE] = { "heavyset_stale_served_total",
                           "{reason=\"rate_limited\"}", NULL },
    [STATS_CLIENT_TIMEOUTS] = { "heavyset_client_timeouts_total", "",
                                "Client connections closed with a request "
                                "not all sent within client_timeout "
                                "(408)." },
    [STATS_ACCEPT_PAUSES] = { "heavyset_accept_paused_total", "",
                              "Times a worker stopped accepting at its "
                              "share of max_connections." },
};

static const char *const stats_cache_names[STATS_CACHE_COUNT] = {
    [STATS_CACHE_NONE] = "none",     [STATS_CACHE_HIT] = "hit",
    [STATS_CACHE_MISS] = "miss",     [STATS_CACHE_STALE] = "stale",
    [STATS_CACHE_BYPASS] = "bypass", [STATS_CACHE_REPLAY] = "replay",
};

#define STATS_CLASSES 6             /* 1xx..5xx, and "other" */

static uint64_t stats_requests[ROUTE_COUNT][STATS_CLASSES][STATS_CACHE_COUNT];
static uint64_t stats_upstreams[ROUTE_COUNT];

static uint64_t stats_values[STATS_COUNT];

void
stats_add(enum stats_counter c, uint64_t n)
{
    assert(c < STATS_COUNT);
    __atomic_fetch_add(&stats_values[c], n, __ATOMIC_RELAXED);
}

void
stats_request(enum route_id route, int status, enum stats_cache cache)
{
    int cls = status >= 100 && status < 600 ? status / 100 - 1 : 5;

    assert(route < ROUTE_COUNT && cache < STATS_CACHE_COUNT);
    __atomic_fetch_add(&stats_requests[route][cls][cache], 1,
                       __ATOMIC_RELAXED);
}

void
stats_upstream(enum route_id route)
{
    assert(route < ROUTE_COUNT);
    __atomic_fetch_add(&stats_upstreams[route], 1, __ATOMIC_RELAXED);
}

uint64_t
stats_get(enum stats_counter c)
{
    assert(c < STATS_COUNT);
    return __atomic_load_n(&stats_values[c], __ATOMIC_RELAXED);
}

/* Appends to BUF at *LEN the requests by route, status class and cache
 * result (non-zero ones), and the upstream requests by route. */
static int
stats_render_matrix(char *buf, size_t cap, size_t *len)
{
    static const char *const classes[STATS_CLASSES] = { "1xx", "2xx", "3xx",
                                                        "4xx", "5xx",
                                                        "other" };
    int route, cls, cache, n;

    n = snprintf(buf + *len, cap - *len,
                 "# HELP heavyset_requests_total Requests answered, by "
                 "route, status class and cache result.\n"
                 "# TYPE heavyset_requests_total counter\n");
    if (n < 0 || (size_t)n >= cap - *len) {
        return -1;
    }
    *len += (size_t)n;
    for (route = 0; route < ROUTE_COUNT; route++) {
        for (cls = 0; cls < STATS_CLASSES; cls++) {
            for (cache = 0; cache < STATS_CACHE_COUNT; cache++) {
                uint64_t v = __atomic_load_n(&stats_requests[route][cls][cache],
                                             __ATOMIC_RELAXED);

                if (v == 0) {
                    continue;
                }
                n = snprintf(buf + *len, cap - *len,
                             "heavyset_requests_total{route=\"%s\","
                             "status=\"%s\",cache=\"%s\"} %" PRIu64 "\n",
                             route_name((enum route_id)route), classes[cls],
                             stats_cache_names[cache], v);
                if (n < 0 || (size_t)n >= cap - *len) {
                    return -1;
                }
                *len += (size_t)n;
            }
        }
    }
    n = snprintf(buf + *len, cap - *len,
                 "# HELP heavyset_upstream_requests_total Requests sent to "
                 "the upstream, by route.\n"
                 "# TYPE heavyset_upstream_requests_total counter\n");
    if (n < 0 || (size_t)n >= cap - *len) {
        return -1;
    }
    *len += (size_t)n;
    for (route = 0; route < ROUTE_COUNT; route++) {
        if (route == ROUTE_NONE || route == ROUTE_HEALTHZ ||
            route == ROUTE_METRICS) {
            continue;
        }
        n = snprintf(buf + *len, cap - *len,
                     "heavyset_upstream_requests_total{route=\"%s\"} %" PRIu64
                     "\n", route_name((enum route_id)route),
                     __atomic_load_n(&stats_upstreams[route],
                                     __ATOMIC_RELAXED));
        if (n < 0 || (size_t)n >= cap - *len) {
            return -1;
        }
        *len += (size_t)n;
    }
    return 0;
}

size_t
stats_render_max(void)
{
    return ((size_t)STATS_COUNT * 3 +
            (size_t)ROUTE_COUNT * STATS_CLASSES * STATS_CACHE_COUNT +
            (size_t)ROUTE_COUNT + 4) * STATS_LINE_MAX + 1;
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
    if (stats_render_matrix(buf, cap, &len) != 0) {
        goto full;
    }
    return (int)len;

full:
    if (cap > 0) {
        buf[0] = '\0';
    }
    return -1;
}
