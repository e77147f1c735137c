/* test_ready.c - the /readyz verdict and its JSON, table-driven. */
#include "config.h"

#include <string.h>

#include <criterion/criterion.h>

#include "ready.h"
#include "store_err.h"

struct ready_case {
    const char        *what;
    struct ready_state st;
    int                want_status;
    const char        *want;        /* the whole body */
};

#define NOW 1000000


/* A state of the upstream columns and Redis counts (designated, so the
 * Redis fault fields left out are zero). */
#define ST(stores_, up_, stop_, last_ms_, last_, ok_ms_, err_ms_, err_) \
    { .stores = (stores_), .redis_up = (up_), .stopping = (stop_),      \
      .last_ms = (last_ms_), .last = (last_), .last_ok_ms = (ok_ms_),   \
      .last_err_ms = (err_ms_), .last_err = (err_) }

static const struct ready_case ready_cases[] = {
    { "just started: nothing connected, no upstream call yet",
      ST(2, 0, false, 0, READY_UP_OK, 0, 0, READY_UP_OK), 200,
      "{\"status\":\"degraded\",\"redis\":{\"status\":\"down\","
      "\"connected\":0,\"workers\":2},\"upstream\":{\"status\":\"unknown\"}}" },
    { "all up, upstream answered",
      ST(2, 2, false, NOW - 50, READY_UP_OK, NOW - 50, 0, READY_UP_OK), 200,
      "{\"status\":\"ready\",\"redis\":{\"status\":\"up\",\"connected\":2,"
      "\"workers\":2},\"upstream\":{\"status\":\"reachable\","
      "\"last_ok_age_ms\":50}}" },
    { "one worker's Redis away",
      ST(2, 1, false, 0, READY_UP_OK, 0, 0, READY_UP_OK), 200,
      "{\"status\":\"degraded\",\"redis\":{\"status\":\"degraded\","
      "\"connected\":1,\"workers\":2},\"upstream\":{\"status\":"
      "\"unknown\"}}" },
    { "upstream failing after it answered",
      ST(1, 1, false, NOW - 10, READY_UP_TIMEOUT, NOW - 5000, NOW - 10,
        READY_UP_TIMEOUT), 200,
      "{\"status\":\"degraded\",\"redis\":{\"status\":\"up\",\"connected\":1,"
      "\"workers\":1},\"upstream\":{\"status\":\"failing\","
      "\"last_ok_age_ms\":5000,\"last_error\":\"timeout\","
      "\"last_error_age_ms\":10}}" },
    { "upstream back after an error",
      ST(1, 1, false, NOW, READY_UP_OK, NOW, NOW - 7, READY_UP_TLS), 200,
      "{\"status\":\"ready\",\"redis\":{\"status\":\"up\",\"connected\":1,"
      "\"workers\":1},\"upstream\":{\"status\":\"reachable\","
      "\"last_ok_age_ms\":0,\"last_error\":\"tls\","
      "\"last_error_age_ms\":7}}" },
    { "stopping: 503 whatever else",
      ST(1, 1, true, NOW, READY_UP_OK, NOW, 0, READY_UP_OK), 503,
      "{\"status\":\"stopping\",\"redis\":{\"status\":\"up\",\"connected\":1,"
      "\"workers\":1},\"upstream\":{\"status\":\"reachable\","
      "\"last_ok_age_ms\":0}}" },
    { "a clock that stepped back gives age 0",
      ST(1, 1, false, NOW + 99, READY_UP_UNREACHABLE, 0, NOW + 99,
        READY_UP_UNREACHABLE), 200,
      "{\"status\":\"degraded\",\"redis\":{\"status\":\"up\",\"connected\":1,"
      "\"workers\":1},\"upstream\":{\"status\":\"failing\","
      "\"last_error\":\"unreachable\",\"last_error_age_ms\":0}}" },
    { "a link refused by AUTH: down, with the reason and its kind",
      { .stores = 1, .refused = 1, .redis_err_ms = NOW - 20,
        .redis_err = RERR_AUTH }, 200,
      "{\"status\":\"degraded\",\"redis\":{\"status\":\"down\","
      "\"connected\":0,\"workers\":1,\"reason\":\"auth: Redis refused "
      "the proxy's AUTH or SELECT (1 of 1 links)\",\"last_error\":\"auth\","
      "\"last_error_age_ms\":20},\"upstream\":{\"status\":\"unknown\"}}" },
    { "connected, but an OOM a second ago: degraded",
      { .stores = 2, .redis_up = 2, .redis_err_ms = NOW - 1000,
        .redis_err = RERR_OOM }, 200,
      "{\"status\":\"degraded\",\"redis\":{\"status\":\"degraded\","
      "\"connected\":2,\"workers\":2,\"reason\":\"oom: Redis answered "
      "errors in the last 10 s\",\"last_error\":\"oom\","
      "\"last_error_age_ms\":1000},\"upstream\":{\"status\":"
      "\"unknown\"}}" },
    { "an old error reply is shown but degrades no more",
      { .stores = 1, .redis_up = 1,
        .redis_err_ms = NOW - READY_REDIS_ERR_RECENT_MS,
        .redis_err = RERR_READONLY }, 200,
      "{\"status\":\"ready\",\"redis\":{\"status\":\"up\","
      "\"connected\":1,\"workers\":1,\"last_error\":\"readonly\","
      "\"last_error_age_ms\":10000},\"upstream\":{\"status\":"
      "\"unknown\"}}" },
    { "a policy that may evict: degraded while it lasts",
      { .stores = 1, .redis_up = 1, .evicting = 1 }, 200,
      "{\"status\":\"degraded\",\"redis\":{\"status\":\"degraded\","
      "\"connected\":1,\"workers\":1,\"reason\":\"eviction: "
      "maxmemory-policy is not noeviction; idempotency records and guards "
      "may be evicted\"},\"upstream\":{\"status\":\"unknown\"}}" },
    { "a replica: degraded, named before the READONLY it causes",
      { .stores = 2, .redis_up = 2, .wrong[READY_WRONG_REPLICA] = 2,
        .redis_err_ms = NOW, .redis_err = RERR_READONLY }, 200,
      "{\"status\":\"degraded\",\"redis\":{\"status\":\"degraded\","
      "\"connected\":2,\"workers\":2,\"reason\":\"redis is a replica: "
      "writes are refused (2 of 2 links)\",\"last_error\":\"readonly\","
      "\"last_error_age_ms\":0},\"upstream\":{\"status\":\"unknown\"}}" },
    { "a cluster node",
      { .stores = 1, .redis_up = 1, .wrong[READY_WRONG_CLUSTER] = 1 }, 200,
      "{\"status\":\"degraded\",\"redis\":{\"status\":\"degraded\","
      "\"connected\":1,\"workers\":1,\"reason\":\"redis is a cluster "
      "node: use redis-cluster:// (1 of 1 links)\"},"
      "\"upstream\":{\"status\":\"unknown\"}}" },
    { "redis-cluster:// on a Redis that is no cluster node",
      { .stores = 1, .redis_up = 1, .wrong[READY_WRONG_STANDALONE] = 1 },
      200,
      "{\"status\":\"degraded\",\"redis\":{\"status\":\"degraded\","
      "\"connected\":1,\"workers\":1,\"reason\":\"redis is not a "
      "cluster node: use redis:// (1 of 1 links)\"},"
      "\"upstream\":{\"status\":\"unknown\"}}" },
    { "cluster: the topology, every master reachable",
      { .stores = 2, .redis_up = 2, .cluster_stores = 2,
        .cluster = { .nodes = 6, .reachable = 6, .slots = 2 * 16384 } },
      200,
      "{\"status\":\"ready\",\"redis\":{\"status\":\"up\","
      "\"connected\":2,\"workers\":2,\"mode\":\"cluster\",\"cluster\":{"
      "\"nodes\":3,\"reachable\":3,\"slots\":16384}},"
      "\"upstream\":{\"status\":\"unknown\"}}" },
    { "cluster: a master away, its slots unserved",
      { .stores = 1, .redis_up = 1, .cluster_stores = 1,
        .cluster = { .nodes = 3, .reachable = 2, .slots = 10923 } },
      200,
      "{\"status\":\"degraded\",\"redis\":{\"status\":\"degraded\","
      "\"connected\":1,\"workers\":1,\"reason\":\"cluster: 2 of 3 "
      "masters reachable, 10923 of 16384 slots served\",\"mode\":"
      "\"cluster\",\"cluster\":{\"nodes\":3,\"reachable\":2,"
      "\"slots\":10923}},\"upstream\":{\"status\":\"unknown\"}}" },
    { "a sentinel",
      { .stores = 1, .redis_up = 1, .wrong[READY_WRONG_SENTINEL] = 1 }, 200,
      "{\"status\":\"degraded\",\"redis\":{\"status\":\"degraded\","
      "\"connected\":1,\"workers\":1,\"reason\":\"redis is a sentinel: "
      "use redis-sentinel://host:port/master-name (1 of 1 links)\"},"
      "\"upstream\":{\"status\":\"unknown\"}}" },
    { "sentinel: the topology, all confirmed",
      { .stores = 2, .redis_up = 2, .sentinel_stores = 2,
        .sentinel_confirmed = 2, .sentinels = 3, .sentinels_reachable = 3,
        .master_name = "mymaster", .master = "127.0.0.1:6380" }, 200,
      "{\"status\":\"ready\",\"redis\":{\"status\":\"up\","
      "\"connected\":2,\"workers\":2,\"mode\":\"sentinel\",\"sentinel\":{"
      "\"master_name\":\"mymaster\",\"master\":\"127.0.0.1:6380\","
      "\"sentinels\":3,\"reachable\":3,\"confirmed\":2}},"
      "\"upstream\":{\"status\":\"unknown\"}}" },
    { "sentinel: none answers",
      { .stores = 1, .redis_up = 1, .sentinel_stores = 1,
        .sentinel_confirmed = 1, .sentinels = 2, .sentinels_reachable = 0,
        .master_name = "m", .master = "h:1" }, 200,
      "{\"status\":\"degraded\",\"redis\":{\"status\":\"degraded\","
      "\"connected\":1,\"workers\":1,\"reason\":\"sentinel: no sentinel "
      "answers (0 of 2 reachable)\",\"mode\":\"sentinel\",\"sentinel\":{"
      "\"master_name\":\"m\",\"master\":\"h:1\",\"sentinels\":2,"
      "\"reachable\":0,\"confirmed\":1}},"
      "\"upstream\":{\"status\":\"unknown\"}}" },
    { "sentinel: a master not confirmed",
      { .stores = 2, .redis_up = 1, .sentinel_stores = 2,
        .sentinel_confirmed = 1, .sentinels = 1, .sentinels_reachable = 1,
        .master_name = "m", .master = "" }, 200,
      "{\"status\":\"degraded\",\"redis\":{\"status\":\"degraded\","
      "\"connected\":1,\"workers\":2,\"reason\":\"sentinel: master not "
      "confirmed (1 of 2 links on a master)\",\"mode\":\"sentinel\","
      "\"sentinel\":{\"master_name\":\"m\",\"master\":\"\","
      "\"sentinels\":1,\"reachable\":1,\"confirmed\":1}},"
      "\"upstream\":{\"status\":\"unknown\"}}" },
    { "refused wins over a recent error and eviction",
      { .stores = 2, .redis_up = 1, .refused = 1, .evicting = 1,
        .redis_err_ms = NOW, .redis_err = RERR_AUTH }, 200,
      "{\"status\":\"degraded\",\"redis\":{\"status\":\"degraded\","
      "\"connected\":1,\"workers\":2,\"reason\":\"auth: Redis refused "
      "the proxy's AUTH or SELECT (1 of 2 links)\",\"last_error\":\"auth\","
      "\"last_error_age_ms\":0},\"upstream\":{\"status\":\"unknown\"}}" },
};

Test(ready, render_table)
{
    size_t i;

    for (i = 0; i < sizeof(ready_cases) / sizeof(ready_cases[0]); i++) {
        const struct ready_case *c = &ready_cases[i];
        char                     buf[READY_RENDER_MAX];
        size_t                   len = 0;
        int                      status;

        status = ready_render(&c->st, NOW, buf, sizeof(buf), &len);
        cr_expect_eq(status, c->want_status, "%s: %d", c->what, status);
        cr_expect_str_eq(buf, c->want, "%s", c->what);
        cr_expect_eq(len, strlen(buf), "%s", c->what);
    }
}

Test(ready, too_small_a_buffer_is_refused)
{
    struct ready_state st = ST(1, 1, false, 0, READY_UP_OK, 0, 0, READY_UP_OK);
    char               buf[20] = "x";
    size_t             len = 0;

    cr_expect_eq(ready_render(&st, NOW, buf, sizeof(buf), &len), -1);
    cr_expect_str_eq(buf, "");
}

Test(ready, snapshot_follows_the_process_state)
{
    struct ready_state st;

    ready_snapshot(&st);
    cr_expect_eq(st.stores, 0);
    cr_expect_eq(st.last_ms, 0, "no upstream call yet");
    ready_redis_store(1);
    ready_redis_store(1);
    ready_redis_up(1);
    ready_upstream(READY_UP_TIMEOUT, 5000);
    ready_upstream(READY_UP_OK, 6000);
    ready_snapshot(&st);
    cr_expect_eq(st.stores, 2);
    cr_expect_eq(st.redis_up, 1);
    cr_expect_eq(st.last, READY_UP_OK);
    cr_expect_eq(st.last_ms, 6000);
    cr_expect_eq(st.last_ok_ms, 6000);
    cr_expect_eq(st.last_err, READY_UP_TIMEOUT);
    cr_expect_eq(st.last_err_ms, 5000);
    cr_expect_not(st.stopping);
    ready_redis_up(-1);
    ready_stopping();
    ready_snapshot(&st);
    cr_expect_eq(st.redis_up, 0);
    cr_expect(st.stopping);
}

Test(ready, snapshot_counts_refused_and_evicting_links)
{
    struct ready_state st;

    ready_redis_refused(1);
    ready_redis_evicting(1);
    ready_redis_evicting(1);
    ready_snapshot(&st);
    cr_expect_eq(st.refused, 1);
    cr_expect_eq(st.evicting, 2);
    cr_expect_eq(st.redis_err_ms, 0, "no error reply noted yet");
    store_err_note(RERR_NOSCRIPT, "test", "NOSCRIPT No matching script");
    ready_snapshot(&st);
    cr_expect_eq(st.redis_err_ms, 0, "NOSCRIPT does not degrade");
    store_err_note(RERR_OOM, "test", "OOM command not allowed");
    ready_snapshot(&st);
    cr_expect_neq(st.redis_err_ms, 0);
    cr_expect_eq(st.redis_err, RERR_OOM);
}
