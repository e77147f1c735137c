/* test_access.c - access-log lines (format, masking) and the sink. */
#include "config.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <json-c/json.h>

#include "access.h"

#define TENANT "0123456789abcdef0123456789abcdef"
#define T0     1795824645123LL      /* 2026-11-28T00:10:45.123Z */

struct format_case {
    const char         *what;
    struct access_entry e;
    bool                json;
    const char         *want;
};

static const struct format_case format_cases[] = {
    { "a hit",
      { T0, "req-1", "GET", "query", 200, "HIT", -1, 1234, TENANT,
        "+18015551234" }, true,
      "{\"type\":\"access\",\"time\":\"2026-11-28T00:10:45.123Z\","
      "\"request_id\":\"req-1\",\"method\":\"GET\",\"route\":\"query\","
      "\"status\":200,\"cache\":\"HIT\",\"upstream_ms\":null,"
      "\"total_ms\":1.234,\"tenant\":\"01234567\",\"phone\":\"***1234\"}\n" },
    { "a PATCH with an upstream call",
      { T0 + 877, "r\"2\\", "PATCH", "update", 200, NULL, 45678, 50001,
        TENANT, "+447700900123" }, true,
      "{\"type\":\"access\",\"time\":\"2026-11-28T00:10:46.000Z\","
      "\"request_id\":\"r\\\"2\\\\\",\"method\":\"PATCH\","
      "\"route\":\"update\",\"status\":200,\"cache\":null,"
      "\"upstream_ms\":45.678,\"total_ms\":50.001,\"tenant\":\"01234567\","
      "\"phone\":\"***0123\"}\n" },
    { "control characters are escaped",
      { T0, "a\001" "b", "GET", "query", 200, "HIT", -1, 0, "", "" }, true,
      "{\"type\":\"access\",\"time\":\"2026-11-28T00:10:45.123Z\","
      "\"request_id\":\"a\\u0001b\",\"method\":\"GET\",\"route\":\"query\","
      "\"status\":200,\"cache\":\"HIT\",\"upstream_ms\":null,"
      "\"total_ms\":0.000}\n" },
    { "a local 401: no tenant, no phone",
      { T0, "x", "GET", "dispositions", 401, NULL, -1, 7, "", "" }, true,
      "{\"type\":\"access\",\"time\":\"2026-11-28T00:10:45.123Z\","
      "\"request_id\":\"x\",\"method\":\"GET\",\"route\":\"dispositions\","
      "\"status\":401,\"cache\":null,\"upstream_ms\":null,"
      "\"total_ms\":0.007}\n" },
    { "text",
      { T0, "req-1", "GET", "query", 200, "MISS", 12000, 13500, TENANT,
        "+18015551234" }, false,
      "2026-11-28T00:10:45.123Z access id=req-1 method=GET route=query "
      "status=200 cache=MISS upstream_ms=12.000 total_ms=13.500 "
      "tenant=01234567 phone=***1234\n" },
    { "a phone too short to mask is left out",
      { T0, "x", "GET", "query", 400, NULL, -1, 0, TENANT, "12-3" }, true,
      "{\"type\":\"access\",\"time\":\"2026-11-28T00:10:45.123Z\","
      "\"request_id\":\"x\",\"method\":\"GET\",\"route\":\"query\","
      "\"status\":400,\"cache\":null,\"upstream_ms\":null,"
      "\"total_ms\":0.000,\"tenant\":\"01234567\"}\n" },
    { "text, nothing optional",
      { T0, "x", "HEAD", "none", 404, NULL, -1, 0, NULL, NULL }, false,
      "2026-11-28T00:10:45.123Z access id=x method=HEAD route=none "
      "status=404 cache=- upstream_ms=- total_ms=0.000 tenant=- "
      "phone=-\n" },
};

Test(access, format_table)
{
    size_t i;

    for (i = 0; i < sizeof(format_cases) / sizeof(format_cases[0]); i++) {
        const struct format_case *c = &format_cases[i];
        char                      buf[ACCESS_LINE_MAX];
        size_t                    n;

        n = access_format(&c->e, c->json, buf, sizeof(buf));
        cr_expect_str_eq(buf, c->want, "%s", c->what);
        cr_expect_eq(n, strlen(buf), "%s", c->what);
        if (c->json) {
            struct json_object *o = json_tokener_parse(buf);

            cr_expect_not_null(o, "%s: not JSON", c->what);
            json_object_put(o);
        }
    }
}

Test(access, a_long_line_is_cut_and_still_ends_a_line)
{
    struct access_entry e = { T0, "req-1", "GET", "query", 200, "HIT", -1,
                              0, TENANT, "+18015551234" };
    char                buf[40];
    size_t              n = access_format(&e, true, buf, sizeof(buf));

    cr_expect_eq(n, sizeof(buf) - 1);
    cr_expect_eq(buf[n - 1], '\n');
    cr_expect_eq(buf[n], '\0');
}

/* The whole content of PATH, as a new string. */
static char *
slurp(const char *path)
{
    FILE  *f = fopen(path, "r");
    char  *s = calloc(1, 65536);
    size_t n;

    cr_assert_not_null(f, "%s", path);
    cr_assert_not_null(s);
    n = fread(s, 1, 65535, f);
    s[n] = '\0';
    fclose(f);
    return s;
}

Test(access, file_sink_reopen_and_off)
{
    struct access_entry e = { T0, "one", "GET", "query", 200, "HIT", -1, 0,
                              TENANT, "+18015551234" };
    char                dir[] = "/tmp/test_access.XXXXXX";
    char                path[256], moved[256], err[256];
    char               *a, *b;

    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/access.log", dir);
    snprintf(moved, sizeof(moved), "%s/access.log.1", dir);
    cr_assert_eq(access_setup(path, true, err, sizeof(err)), 0, "%s", err);
    cr_expect(access_enabled());
    access_write(&e);
    cr_assert_eq(rename(path, moved), 0);
    e.request_id = "two";
    access_write(&e);               /* still the old file: not reopened */
    cr_assert_eq(access_reopen(), 0);
    e.request_id = "three";
    access_write(&e);
    a = slurp(moved);
    b = slurp(path);
    cr_expect_not_null(strstr(a, "\"request_id\":\"one\""));
    cr_expect_not_null(strstr(a, "\"request_id\":\"two\""));
    cr_expect_null(strstr(a, "\"request_id\":\"three\""));
    cr_expect_not_null(strstr(b, "\"request_id\":\"three\""));
    cr_expect_null(strstr(b, "\"request_id\":\"one\""));
    free(a);
    free(b);

    /* text from now on, then off: nothing more is written */
    cr_assert_eq(access_setup(path, false, err, sizeof(err)), 0, "%s", err);
    e.request_id = "four";
    access_write(&e);
    cr_assert_eq(access_setup("off", true, err, sizeof(err)), 0);
    cr_expect_not(access_enabled());
    e.request_id = "five";
    access_write(&e);
    b = slurp(path);
    cr_expect_not_null(strstr(b, " access id=four "));
    cr_expect_null(strstr(b, "five"));
    free(b);

    cr_expect_eq(access_setup("/nonexistent/dir/x.log", true, err,
                              sizeof(err)), -1);
    cr_expect_not_null(strstr(err, "/nonexistent/dir/x.log"), "%s", err);
    access_close();
    unlink(path);
    unlink(moved);
    rmdir(dir);
}
