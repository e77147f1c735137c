/* stats.c - the counter table and its exposition. */
#include "config.h"

#include "stats.h"

#include <assert.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#define STATS_LINE_MAX 256          /* one sample or comment line */
#define UPROTO_FAMILY  "heavyset_upstream_protocol_errors_total"
#define RERR_FAMILY    "heavyset_redis_error_replies_total"
#define WRONG_FAMILY   "heavyset_redis_wrong_server_connects_total"

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
    [STATS_IDEM_REFUSED] = { "heavyset_idempotency_total",
                             "{result=\"refused\"}", NULL },
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
    [STATS_STORE_UNSEAL_FAILURES] = {
        "heavyset_store_unseal_failures_total", "",
        "Values read from Redis that did not open (tampered, moved under "
        "another key or field, another tenant's, never sealed): misses." },
    [STATS_PURGES_PHONE] = { "heavyset_purges_total", "{scope=\"phone\"}",
                             "PURGE requests done, by what they dropped." },
    [STATS_PURGES_DISPOSITIONS] = { "heavyset_purges_total",
                                    "{scope=\"dispositions\"}", NULL },
    [STATS_PURGES_TENANT] = { "heavyset_purges_total",
                              "{scope=\"tenant\"}", NULL },
    [STATS_PURGES_FAILED] = { "heavyset_purges_failed_total", "",
                              "PURGE requests answered 503: Redis was "
                              "unavailable or failed." },
    [STATS_PURGED_ENTRIES] = { "heavyset_purged_entries_total", "",
                               "Cache entries PURGE requests dropped." },
    [STATS_STALE_SWR] = { "heavyset_stale_served_total",
                          "{reason=\"revalidate\"}",
                          "Expired entries served, by reason." },
    [STATS_STALE_ERROR] = { "heavyset_stale_served_total",
                            "{reason=\"error\"}", NULL },
    [STATS_STALE_RATE] = { "heavyset_stale_served_total",
                           "{reason=\"rate_limited\"}", NULL },
    [STATS_REDIS_TIMEOUT] = { "heavyset_redis_errors_total",
                              "{kind=\"timeout\"}",
                              "Redis calls that failed, by kind: no answer "
                              "within redis_timeout, connection lost "
                              "while pending, error reply, or refused at "
                              "once while disconnected (SPEC 8)." },
    [STATS_REDIS_FAILED] = { "heavyset_redis_errors_total",
                             "{kind=\"connection\"}", NULL },
    [STATS_REDIS_SCRIPT] = { "heavyset_redis_errors_total",
                             "{kind=\"reply\"}", NULL },
    [STATS_REDIS_UNAVAILABLE] = { "heavyset_redis_errors_total",
                                  "{kind=\"unavailable\"}", NULL },
    [STATS_REDIS_UNREPLICATED] = { "heavyset_redis_errors_total",
                                   "{kind=\"unreplicated\"}", NULL },
    [STATS_REDIS_CONN_LOST] = { "heavyset_redis_connection_losses_total", "",
                                "Redis connections lost, or dropped after "
                                "missed deadlines." },
    [STATS_REDIS_CONNECT_FAILED] = { "heavyset_redis_connect_failures_total",
                                     "", "Redis connection attempts that "
                                         "failed." },
    [STATS_REDIS_DATA_LOST] = { "heavyset_redis_data_losses_total", "",
                                "Times a worker found that Redis had lost "
                                "data (its marker went back: a restart "
                                "without persistence, FLUSHALL, a failover "
                                "to a lagging replica); SPEC 12." },
    [STATS_REDIS_PENDING] = { "heavyset_redis_pending_invalidations_total",
                              "", "PATCHes whose write-through or "
                                  "invalidation Redis did not take at "
                                  "first, left pending and retried until "
                                  "it did (SPEC 12)." },
    [STATS_REDIS_FAILOVERS] = { "heavyset_redis_failovers_total", "",
                                "Sentinel: times the master's address "
                                "changed, as the sentinels announced or "
                                "answered (SPEC 12)." },
    [STATS_SENTINEL_ERRORS] = { "heavyset_redis_sentinel_errors_total", "",
                                "Sentinel: contacts with a sentinel that "
                                "failed (unreachable, AUTH refused, no "
                                "answer, or the master unknown to it)." },
    [STATS_REDIS_WRONG_REPLICA] = {
        WRONG_FAMILY, "{kind=\"replica\"}",
        "Connects that reached a Redis a redis:// store cannot use as its "
        "master, by kind: replica (writes refused), cluster (a cluster "
        "node), sentinel, standalone (redis-cluster:// reached a Redis "
        "that is no cluster node; SPEC 12)." },
    [STATS_REDIS_WRONG_CLUSTER] = { WRONG_FAMILY, "{kind=\"cluster\"}",
                                    NULL },
    [STATS_REDIS_WRONG_SENTINEL] = { WRONG_FAMILY, "{kind=\"sentinel\"}",
                                     NULL },
    [STATS_REDIS_WRONG_STANDALONE] = { WRONG_FAMILY,
                                       "{kind=\"standalone\"}", NULL },
    [STATS_REDIS_CLUSTER_REFRESHES] = {
        "heavyset_redis_cluster_refreshes_total", "",
        "Cluster: slot maps read (CLUSTER SLOTS), at start, after a MOVED "
        "and while a master is unreachable (SPEC 12)." },
    [STATS_REDIS_REDIRECTS_MOVED] = {
        "heavyset_redis_redirects_total", "{kind=\"moved\"}",
        "Cluster: redirections followed, by kind: moved (the slot's master "
        "changed), ask (a slot being migrated)." },
    [STATS_REDIS_REDIRECTS_ASK] = { "heavyset_redis_redirects_total",
                                    "{kind=\"ask\"}", NULL },
    [STATS_REDIS_CLUSTER_RETRIES] = {
        "heavyset_redis_cluster_retries_total", "",
        "Cluster: calls sent again, within their deadline, after TRYAGAIN "
        "(keys of a slot half migrated) or CLUSTERDOWN." },
    [STATS_RERR_AUTH] = { RERR_FAMILY, "{kind=\"auth\"}",
                          "Error replies from Redis, by kind (SPEC §12): "
                          "auth, noperm, readonly, oom, moved, cluster, "
                          "noscript, script, busy, other" },
    [STATS_RERR_NOPERM] = { RERR_FAMILY, "{kind=\"noperm\"}", NULL },
    [STATS_RERR_READONLY] = { RERR_FAMILY, "{kind=\"readonly\"}", NULL },
    [STATS_RERR_OOM] = { RERR_FAMILY, "{kind=\"oom\"}", NULL },
    [STATS_RERR_MOVED] = { RERR_FAMILY, "{kind=\"moved\"}", NULL },
    [STATS_RERR_CLUSTER] = { RERR_FAMILY, "{kind=\"cluster\"}", NULL },
    [STATS_RERR_NOSCRIPT] = { RERR_FAMILY, "{kind=\"noscript\"}", NULL },
    [STATS_RERR_SCRIPT] = { RERR_FAMILY, "{kind=\"script\"}", NULL },
    [STATS_RERR_BUSY] = { RERR_FAMILY, "{kind=\"busy\"}", NULL },
    [STATS_RERR_OTHER] = { RERR_FAMILY, "{kind=\"other\"}", NULL },
    [STATS_CLIENT_TIMEOUTS] = { "heavyset_client_timeouts_total", "",
                                "Client connections closed with a request "
                                "not all sent within client_timeout "
                                "(408)." },
    [STATS_CLIENT_REFUSED] = { "heavyset_client_refused_total", "",
                               "Requests refused, and their connections "
                               "closed, for framing evhttp cannot parse "
                               "(a malformed request line or field, bad "
                               "body framing, past evhttp's limits)." },
    [STATS_ACCEPT_PAUSES] = { "heavyset_accept_paused_total", "",
                              "Times a worker stopped accepting at its "
                              "share of max_connections." },
    [STATS_UPROTO_BAD_STATUS_LINE] = {
        UPROTO_FAMILY, "{kind=\"bad_status_line\"}",
        "Upstream answers refused as malformed, oversized or in a coding "
        "not asked for, by kind; each closed its connection and was "
        "answered 502 (SPEC 11)." },
    [STATS_UPROTO_BAD_HEADER] = {
        UPROTO_FAMILY, "{kind=\"bad_header\"}", NULL },
    [STATS_UPROTO_BAD_FRAMING] = {
        UPROTO_FAMILY, "{kind=\"bad_framing\"}", NULL },
    [STATS_UPROTO_DUPLICATE_LENGTH] = {
        UPROTO_FAMILY, "{kind=\"duplicate_length\"}", NULL },
    [STATS_UPROTO_LENGTH_AND_CHUNKED] = {
        UPROTO_FAMILY, "{kind=\"length_and_chunked\"}", NULL },
    [STATS_UPROTO_BAD_CHUNK] = {
        UPROTO_FAMILY, "{kind=\"bad_chunk\"}", NULL },
    [STATS_UPROTO_BODY_ON_NO_CONTENT] = {
        UPROTO_FAMILY, "{kind=\"body_on_no_content\"}", NULL },
    [STATS_UPROTO_UNEXPECTED_1XX] = {
        UPROTO_FAMILY, "{kind=\"unexpected_1xx\"}", NULL },
    [STATS_UPROTO_TOO_LARGE] = {
        UPROTO_FAMILY, "{kind=\"too_large\"}", NULL },
    [STATS_UPROTO_TRUNCATED] = {
        UPROTO_FAMILY, "{kind=\"truncated\"}", NULL },
    [STATS_UPROTO_EXCESS_DATA] = {
        UPROTO_FAMILY, "{kind=\"excess_data\"}", NULL },
    [STATS_UPROTO_UNREQUESTED_CODING] = {
        UPROTO_FAMILY, "{kind=\"unrequested_coding\"}", NULL },
    [STATS_UPROTO_BAD_CODING] = {
        UPROTO_FAMILY, "{kind=\"bad_coding\"}", NULL },
};

static const struct {
    const char *name;
    const char *help;
} stats_gauges[STATS_GAUGE_COUNT] = {
    [STATS_GAUGE_REDIS_EVICTING] = {
        "heavyset_redis_evicting_connections",
        "Redis connections whose maxmemory-policy is not noeviction: "
        "idempotency records and guards may be evicted (SPEC §12)" },
};

static _Atomic int64_t stats_gauge_values[STATS_GAUGE_COUNT];

static const char *const stats_cache_names[STATS_CACHE_COUNT] = {
    [STATS_CACHE_NONE] = "none",     [STATS_CACHE_HIT] = "hit",
    [STATS_CACHE_MISS] = "miss",     [STATS_CACHE_STALE] = "stale",
    [STATS_CACHE_BYPASS] = "bypass", [STATS_CACHE_REPLAY] = "replay",
};

#define STATS_CLASSES 6             /* 1xx..5xx, and "other" */

static _Atomic uint64_t
    stats_requests[ROUTE_COUNT][STATS_CLASSES][STATS_CACHE_COUNT];
static _Atomic uint64_t stats_upstreams[ROUTE_COUNT];

static _Atomic uint64_t stats_values[STATS_COUNT];

/* Upper bounds of the latency buckets: in us for bucketing, and as
 * Prometheus writes them (seconds) for `le`. */
static const struct {
    uint64_t    us;
    const char *le;
} stats_buckets[STATS_LATENCY_BUCKETS] = {
    { 5000, "0.005" },   { 10000, "0.01" },  { 25000, "0.025" },
    { 50000, "0.05" },   { 100000, "0.1" },  { 250000, "0.25" },
    { 500000, "0.5" },   { 1000000, "1" },   { 2500000, "2.5" },
    { 5000000, "5" },    { 10000000, "10" },
};

/* Per route: calls by bucket (not cumulative: the render adds them up,
 * so a scrape's _count always equals its +Inf bucket), and the sum. */
static _Atomic uint64_t stats_latency[ROUTE_COUNT][STATS_LATENCY_BUCKETS + 1];
static _Atomic uint64_t stats_latency_sum_us[ROUTE_COUNT];

/* Whether ROUTE is forwarded upstream: the only routes with upstream
 * series. The proxy's own routes never are. */
static bool
stats_upstream_route(int route)
{
    return route != ROUTE_NONE && route != ROUTE_HEALTHZ &&
           route != ROUTE_READYZ && route != ROUTE_METRICS;
}

void
stats_add(enum stats_counter c, uint64_t n)
{
    assert(c < STATS_COUNT);
    atomic_fetch_add_explicit(&stats_values[c], n, memory_order_relaxed);
}

void
stats_request(enum route_id route, int status, enum stats_cache cache)
{
    int cls = status >= 100 && status < 600 ? status / 100 - 1 : 5;

    assert(route < ROUTE_COUNT && cache < STATS_CACHE_COUNT);
    atomic_fetch_add_explicit(&stats_requests[route][cls][cache], 1,
                              memory_order_relaxed);
}

void
stats_upstream(enum route_id route)
{
    assert(route < ROUTE_COUNT);
    atomic_fetch_add_explicit(&stats_upstreams[route], 1, memory_order_relaxed);
}

size_t
stats_latency_bucket(uint64_t us)
{
    size_t lo = 0, hi = STATS_LATENCY_BUCKETS;

    /* The first bound >= US (le is inclusive); HI when none is. */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (stats_buckets[mid].us < us) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo;
}

void
stats_upstream_latency(enum route_id route, uint64_t us)
{
    assert(route < ROUTE_COUNT);
    atomic_fetch_add_explicit(&stats_latency[route][stats_latency_bucket(us)],
                              1, memory_order_relaxed);
    atomic_fetch_add_explicit(&stats_latency_sum_us[route], us,
                              memory_order_relaxed);
}

uint64_t
stats_get(enum stats_counter c)
{
    assert(c < STATS_COUNT);
    return atomic_load_explicit(&stats_values[c], memory_order_relaxed);
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
                uint64_t v = atomic_load_explicit(
                    &stats_requests[route][cls][cache], memory_order_relaxed);

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
        if (!stats_upstream_route(route)) {
            continue;
        }
        n = snprintf(buf + *len, cap - *len,
                     "heavyset_upstream_requests_total{route=\"%s\"} %" PRIu64
                     "\n", route_name((enum route_id)route),
                     atomic_load_explicit(&stats_upstreams[route],
                                          memory_order_relaxed));
        if (n < 0 || (size_t)n >= cap - *len) {
            return -1;
        }
        *len += (size_t)n;
    }
    return 0;
}

/* Appends to BUF at *LEN the upstream latency histogram, by route. */
static int
stats_render_latency(char *buf, size_t cap, size_t *len)
{
    int route, b, n;

    n = snprintf(buf + *len, cap - *len,
                 "# HELP heavyset_upstream_duration_seconds Time from "
                 "sending a request upstream to its answer or failure, by "
                 "route.\n"
                 "# TYPE heavyset_upstream_duration_seconds histogram\n");
    if (n < 0 || (size_t)n >= cap - *len) {
        return -1;
    }
    *len += (size_t)n;
    for (route = 0; route < ROUTE_COUNT; route++) {
        const char *name = route_name((enum route_id)route);
        uint64_t    cum = 0, sum;

        if (!stats_upstream_route(route)) {
            continue;
        }
        for (b = 0; b <= STATS_LATENCY_BUCKETS; b++) {
            cum += atomic_load_explicit(&stats_latency[route][b],
                                        memory_order_relaxed);
            n = snprintf(buf + *len, cap - *len,
                         "heavyset_upstream_duration_seconds_bucket{route="
                         "\"%s\",le=\"%s\"} %" PRIu64 "\n",
                         name,
                         b < STATS_LATENCY_BUCKETS ? stats_buckets[b].le
                                                   : "+Inf",
                         cum);
            if (n < 0 || (size_t)n >= cap - *len) {
                return -1;
            }
            *len += (size_t)n;
        }
        sum = atomic_load_explicit(&stats_latency_sum_us[route],
                                   memory_order_relaxed);
        n = snprintf(buf + *len, cap - *len,
                     "heavyset_upstream_duration_seconds_sum{route=\"%s\"} "
                     "%" PRIu64 ".%06" PRIu64 "\n"
                     "heavyset_upstream_duration_seconds_count{route=\"%s\"} "
                     "%" PRIu64 "\n",
                     name, sum / 1000000, sum % 1000000, name, cum);
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
    return ((size_t)STATS_COUNT * 3 + (size_t)STATS_GAUGE_COUNT * 3 +
            (size_t)ROUTE_COUNT * STATS_CLASSES * STATS_CACHE_COUNT +
            (size_t)ROUTE_COUNT * (STATS_LATENCY_BUCKETS + 4) +
            (size_t)ROUTE_COUNT + 8) * STATS_LINE_MAX + 1;
}

void
stats_gauge_add(enum stats_gauge g, int64_t delta)
{
    assert(g < STATS_GAUGE_COUNT);
    atomic_fetch_add_explicit(&stats_gauge_values[g], delta,
                              memory_order_relaxed);
}

int64_t
stats_gauge_get(enum stats_gauge g)
{
    assert(g < STATS_GAUGE_COUNT);
    return atomic_load_explicit(&stats_gauge_values[g], memory_order_relaxed);
}

static int
stats_render_gauges(char *buf, size_t cap, size_t *len)
{
    int g, n;

    for (g = 0; g < STATS_GAUGE_COUNT; g++) {
        n = snprintf(buf + *len, cap - *len,
                     "# HELP %s %s\n# TYPE %s gauge\n%s %" PRId64 "\n",
                     stats_gauges[g].name, stats_gauges[g].help,
                     stats_gauges[g].name, stats_gauges[g].name,
                     stats_gauge_get((enum stats_gauge)g));
        if (n < 0 || (size_t)n >= cap - *len) {
            return -1;
        }
        *len += (size_t)n;
    }
    return 0;
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
    if (stats_render_gauges(buf, cap, &len) != 0 ||
        stats_render_matrix(buf, cap, &len) != 0 ||
        stats_render_latency(buf, cap, &len) != 0) {
        goto full;
    }
    return (int)len;

full:
    if (cap > 0) {
        buf[0] = '\0';
    }
    return -1;
}
