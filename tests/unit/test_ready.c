/* test_ready.c - the /readyz verdict and its JSON, table-driven. */
#include "config.h"

#include <string.h>

#include <criterion/criterion.h>

#include "ready.h"

struct ready_case {
    const char        *what;
    struct ready_state st;
    int                want_status;
    const char        *want;        /* the whole body */
};

#define NOW 1000000

static const struct ready_case ready_cases[] = {
    { "just started: nothing connected, no upstream call yet",
      { 2, 0, false, 0, READY_UP_OK, 0, 0, READY_UP_OK }, 200,
      "{\"status\":\"degraded\",\"redis\":{\"status\":\"down\","
      "\"connected\":0,\"workers\":2},\"upstream\":{\"status\":\"unknown\"}}" },
    { "all up, upstream answered",
      { 2, 2, false, NOW - 50, READY_UP_OK, NOW - 50, 0, READY_UP_OK }, 200,
      "{\"status\":\"ready\",\"redis\":{\"status\":\"up\",\"connected\":2,"
      "\"workers\":2},\"upstream\":{\"status\":\"reachable\","
      "\"last_ok_age_ms\":50}}" },
    { "one worker's Redis away",
      { 2, 1, false, 0, READY_UP_OK, 0, 0, READY_UP_OK }, 200,
      "{\"status\":\"degraded\",\"redis\":{\"status\":\"degraded\","
      "\"connected\":1,\"workers\":2},\"upstream\":{\"status\":"
      "\"unknown\"}}" },
    { "upstream failing after it answered",
      { 1, 1, false, NOW - 10, READY_UP_TIMEOUT, NOW - 5000, NOW - 10,
        READY_UP_TIMEOUT }, 200,
      "{\"status\":\"degraded\",\"redis\":{\"status\":\"up\",\"connected\":1,"
      "\"workers\":1},\"upstream\":{\"status\":\"failing\","
      "\"last_ok_age_ms\":5000,\"last_error\":\"timeout\","
      "\"last_error_age_ms\":10}}" },
    { "upstream back after an error",
      { 1, 1, false, NOW, READY_UP_OK, NOW, NOW - 7, READY_UP_TLS }, 200,
      "{\"status\":\"ready\",\"redis\":{\"status\":\"up\",\"connected\":1,"
      "\"workers\":1},\"upstream\":{\"status\":\"reachable\","
      "\"last_ok_age_ms\":0,\"last_error\":\"tls\","
      "\"last_error_age_ms\":7}}" },
    { "stopping: 503 whatever else",
      { 1, 1, true, NOW, READY_UP_OK, NOW, 0, READY_UP_OK }, 503,
      "{\"status\":\"stopping\",\"redis\":{\"status\":\"up\",\"connected\":1,"
      "\"workers\":1},\"upstream\":{\"status\":\"reachable\","
      "\"last_ok_age_ms\":0}}" },
    { "a clock that stepped back gives age 0",
      { 1, 1, false, NOW + 99, READY_UP_UNREACHABLE, 0, NOW + 99,
        READY_UP_UNREACHABLE }, 200,
      "{\"status\":\"degraded\",\"redis\":{\"status\":\"up\",\"connected\":1,"
      "\"workers\":1},\"upstream\":{\"status\":\"failing\","
      "\"last_error\":\"unreachable\",\"last_error_age_ms\":0}}" },
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
    struct ready_state st = { 1, 1, false, 0, READY_UP_OK, 0, 0, READY_UP_OK };
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
