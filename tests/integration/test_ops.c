/*
 * test_ops.c - operating the proxy (SPEC §10): /readyz, the /metrics
 * families for upstream latency and Redis errors, the access log (its
 * fields, a file and its reopen on SIGHUP), and the promise that no token
 * and no full phone number reaches a log or /metrics.
 *
 * Like the other suites: one test at a time, a fresh Redis and sandbox
 * each, responses in statics (see test_forward.c). Proxies with an access
 * log file are started here (tests/lib/hproc.h) and log into HSP_TMPDIR.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <json-c/json.h>

#include "hclient.h"
#include "hfixture.h"
#include "hproc.h"
#include "hreq.h"

#define API    "/api/v1/appointment/s2s"
#define QUERY  API "/phone/query"
#define UPDATE API "/phone/update"
#define ALPHA  "hs_test_tenant_alpha_0001"
#define LEAD   "+17205550199"       /* alpha's; this suite's own */

/* The phone and tokens the secrets test sends, in every form it sends
 * them; none may appear in a log or in /metrics. The phone is in no
 * tenant, so it is this suite's alone. */
#define SECRET_PHONE   "+18015559876"
#define SECRET_UNKNOWN "hs_ops_unknown_secret_4242"

#define WAIT_MS 5000                /* for a state to show */
#define POLL_MS 50

static void
ops_init(void)
{
    hfixture_fresh();
}

static void
ops_fini(void)
{
    hproc_stop_all();
    if (!hfixture_redis2_up()) {
        hfixture_redis2_start();
    }
}

TestSuite(ops, .init = ops_init, .fini = ops_fini, .timeout = 90);

/* ---- helpers ------------------------------------------------------------ */

/* GET /readyz of BASE: its status into *STATUS, its body parsed. */
static struct json_object *
readyz(const char *base, int *status)
{
    struct hresp        r;
    struct json_object *o;

    hreq_get(base, "/readyz", NULL, &r);
    *status = r.status;
    cr_expect_str_eq(hreq_hdr(&r, "Content-Type"), "application/json");
    o = hresp_json(&r);
    cr_assert_not_null(o, "/readyz is not JSON: %s", r.body);
    hresp_free(&r);
    return o;
}

/* The string at PATH ("redis.status") in O, or NULL. */
static const char *
jstr(struct json_object *o, const char *a, const char *b)
{
    struct json_object *v = o;

    if (a != NULL && !json_object_object_get_ex(v, a, &v)) {
        return NULL;
    }
    if (b != NULL && !json_object_object_get_ex(v, b, &v)) {
        return NULL;
    }
    return json_object_is_type(v, json_type_string) ? json_object_get_string(v)
                                                     : NULL;
}

/* The integer at A.B in O, or -1 when absent. */
static long long
jint(struct json_object *o, const char *a, const char *b)
{
    struct json_object *v = o;

    if (!json_object_object_get_ex(v, a, &v) ||
        (b != NULL && !json_object_object_get_ex(v, b, &v)) ||
        !json_object_is_type(v, json_type_int)) {
        return -1;
    }
    return json_object_get_int64(v);
}

/* The number NAME in O, or -1 when absent or not a number. */
static double
jdbl(struct json_object *o, const char *name)
{
    struct json_object *v;

    if (!json_object_object_get_ex(o, name, &v) ||
        !(json_object_is_type(v, json_type_double) ||
          json_object_is_type(v, json_type_int))) {
        return -1;
    }
    return json_object_get_double(v);
}

/* Waits (bounded) until /readyz of BASE says redis.status is WANT. */
static struct json_object *
readyz_wait_redis(const char *base, const char *want)
{
    long                end = hfixture_now_ms() + WAIT_MS * 3;
    struct json_object *o;
    int                 status;

    for (;;) {
        o = readyz(base, &status);
        cr_assert_eq(status, 200, "/readyz %d", status);
        if (strcmp(jstr(o, "redis", "status") != NULL
                       ? jstr(o, "redis", "status")
                       : "",
                   want) == 0) {
            return o;
        }
        cr_assert_lt(hfixture_now_ms(), end,
                     "redis.status never became %s: %s", want,
                     json_object_to_json_string(o));
        json_object_put(o);
        hfixture_pause_ms(POLL_MS * 2);
    }
}

/* The whole file PATH as a new string, or NULL when it cannot be read. */
static char *
slurp(const char *path)
{
    FILE  *f = fopen(path, "r");
    char  *s;
    long   len;
    size_t n;

    if (f == NULL) {
        return NULL;
    }
    fseek(f, 0, SEEK_END);
    len = ftell(f);
    fseek(f, 0, SEEK_SET);
    s = malloc((size_t)(len > 0 ? len : 0) + 1);
    cr_assert_not_null(s);
    n = fread(s, 1, (size_t)(len > 0 ? len : 0), f);
    s[n] = '\0';
    fclose(f);
    return s;
}

/*
 * The access-log line of request ID in the file PATH, parsed; waits
 * (bounded) for it, since a request is logged as it ends.
 */
static struct json_object *
access_line(const char *path, const char *id)
{
    char  needle[160];
    long  end = hfixture_now_ms() + WAIT_MS;

    snprintf(needle, sizeof(needle), "\"request_id\":\"%s\"", id);
    for (;;) {
        char *text = slurp(path), *p = text != NULL ? strstr(text, needle)
                                                    : NULL;

        if (p != NULL) {
            char               *start = p, *stop;
            struct json_object *o;

            while (start > text && start[-1] != '\n') {
                start--;
            }
            stop = strchr(p, '\n');
            cr_assert_not_null(stop, "the line of %s does not end", id);
            *stop = '\0';
            o = json_tokener_parse(start);
            cr_assert_not_null(o, "not JSON: %s", start);
            cr_expect_null(strstr(stop + 1, needle),
                           "request %s was logged twice", id);
            free(text);
            return o;
        }
        free(text);
        cr_assert_lt(hfixture_now_ms(), end, "no access-log line for %s in %s",
                     id, path);
        hfixture_pause_ms(POLL_MS);
    }
}

/* Checks the fields every access-log line O has. */
static void
expect_line(struct json_object *o, const char *method, const char *route,
            int status, const char *cache, bool upstream, const char *phone)
{
    struct json_object *v;
    const char         *s = json_object_to_json_string(o);

    cr_expect_str_eq(jstr(o, "type", NULL), "access", "%s", s);
    cr_expect_not_null(jstr(o, "time", NULL), "%s", s);
    cr_expect_eq(strlen(jstr(o, "time", NULL) ? jstr(o, "time", NULL) : ""),
                 24, "ISO 8601 with ms, UTC: %s", s);
    cr_expect_str_eq(jstr(o, "method", NULL), method, "%s", s);
    cr_expect_str_eq(jstr(o, "route", NULL), route, "%s", s);
    cr_expect_eq(jint(o, "status", NULL), status, "%s", s);
    if (cache != NULL) {
        cr_expect_str_eq(jstr(o, "cache", NULL), cache, "%s", s);
    } else {
        cr_expect(json_object_object_get_ex(o, "cache", &v) && v == NULL,
                  "cache is null: %s", s);
    }
    cr_expect(json_object_object_get_ex(o, "upstream_ms", &v), "%s", s);
    if (upstream) {
        cr_expect(json_object_is_type(v, json_type_double) &&
                      json_object_get_double(v) > 0,
                  "an upstream time: %s", s);
    } else {
        cr_expect_null(v, "no upstream call: %s", s);
    }
    cr_expect(json_object_object_get_ex(o, "total_ms", &v) &&
                  json_object_is_type(v, json_type_double),
              "%s", s);
    if (phone != NULL) {
        cr_expect_str_eq(jstr(o, "phone", NULL), phone, "%s", s);
    } else {
        cr_expect_not(json_object_object_get_ex(o, "phone", NULL),
                      "no phone: %s", s);
    }
}

/* Starts a proxy of this suite named NAME with its access log at LOG
 * ($HSP_TMPDIR/NAME-access.log). */
static void
start_logging(const char *name, struct hproc *p, char *log, size_t cap)
{
    char        opt[600];
    const char *opts[2] = { opt, NULL };

    snprintf(log, cap, "%s/%s-access.log", hfixture_env("HSP_TMPDIR"), name);
    unlink(log);
    snprintf(opt, sizeof(opt), "access_log=%s", log);
    cr_assert_eq(hproc_proxy_start(name, opts, p), 0, "%s", p->error);
}

/* ---- /readyz ------------------------------------------------------------ */

Test(ops, readyz_reports_redis_and_the_upstream)
{
    static struct hresp        r;
    static struct json_object *o;
    const char                *base = hfixture_env("HSP_PROXY_URL");
    int                        status;

    /* one upstream call, so the state is known */
    hreq_get(base, QUERY "?phone=%2B17205550199",
             HREQ(.token = ALPHA, .id = "ops-ready-1"), &r);
    cr_assert_eq(r.status, 200, "%d %s", r.status, r.body);
    hresp_free(&r);
    o = readyz_wait_redis(base, "up");
    json_object_put(o);
    o = readyz(base, &status);
    cr_expect_eq(status, 200);
    cr_expect_str_eq(jstr(o, "status", NULL), "ready", "%s",
                     json_object_to_json_string(o));
    cr_expect_str_eq(jstr(o, "redis", "status"), "up");
    cr_expect_eq(jint(o, "redis", "workers"), 2, "the harness's 2 workers");
    cr_expect_eq(jint(o, "redis", "connected"), 2);
    cr_expect_str_eq(jstr(o, "upstream", "status"), "reachable");
    cr_expect_geq(jint(o, "upstream", "last_ok_age_ms"), 0);
    cr_expect_lt(jint(o, "upstream", "last_ok_age_ms"), 60000);
    json_object_put(o);

    /* HEAD answers the same status without a body; other methods 405 */
    cr_assert_eq(hclient_request(base, "HEAD", "/readyz", NULL, NULL, 0, &r),
                 0, "%s", r.error);
    cr_expect_eq(r.status, 200);
    cr_expect_eq(r.body_len, 0);
    hresp_free(&r);
    cr_assert_eq(hclient_request(base, "POST", "/readyz", NULL, "", 0, &r), 0,
                 "%s", r.error);
    cr_expect_eq(r.status, 405);
    cr_expect_str_eq(hresp_header(&r, "Allow"), "GET, HEAD");
    hresp_free(&r);
    cr_expect_eq(hfixture_count("total"), 1, "/readyz never asks upstream");
}

Test(ops, readyz_says_when_the_upstream_fails)
{
    static struct hresp        r;
    static struct json_object *o;
    const char                *base = hfixture_env("HSP_PROXY_DOWN_URL");
    int                        status;

    hreq_get(base, QUERY "?phone=%2B17205550199",
             HREQ(.token = ALPHA, .id = "ops-down-1"), &r);
    cr_assert_eq(r.status, 502, "%d %s", r.status, r.body);
    hresp_free(&r);
    o = readyz(base, &status);
    cr_expect_eq(status, 200, "failing open: still ready to serve");
    cr_expect_str_eq(jstr(o, "status", NULL), "degraded", "%s",
                     json_object_to_json_string(o));
    cr_expect_str_eq(jstr(o, "upstream", "status"), "failing");
    cr_expect_str_eq(jstr(o, "upstream", "last_error"), "unreachable");
    cr_expect_geq(jint(o, "upstream", "last_error_age_ms"), 0);
    cr_expect_str_eq(jstr(o, "redis", "status"), "up");
    json_object_put(o);
}

Test(ops, readyz_and_metrics_follow_redis_down_and_back)
{
    static struct hresp        r;
    static struct json_object *o;
    const char                *base = hfixture_env("HSP_PROXY_R2_URL");
    double                     lost, unavailable;
    int                        status;

    o = readyz_wait_redis(base, "up");
    json_object_put(o);
    lost = hreq_metric(base, "heavyset_redis_connection_losses_total", NULL);
    unavailable = hreq_metric(
        base, "heavyset_redis_errors_total{kind=\"unavailable\"}", NULL);

    hfixture_redis2_stop();
    o = readyz_wait_redis(base, "down");
    cr_expect_str_eq(jstr(o, "status", NULL), "degraded");
    cr_expect_eq(jint(o, "redis", "connected"), 0);
    json_object_put(o);
    cr_expect_geq(hreq_metric(base,
                              "heavyset_redis_connection_losses_total",
                              NULL),
                  lost + 1, "the lost connections are counted");

    /* the request still works (fail-open), and the skipped calls count */
    hreq_get(base, QUERY "?phone=%2B17205550199",
             HREQ(.token = ALPHA, .id = "ops-r2-1"), &r);
    cr_expect_eq(r.status, 200, "fail-open: %d %s", r.status, r.body);
    hresp_free(&r);
    cr_expect_gt(hreq_metric(
                     base, "heavyset_redis_errors_total{kind=\"unavailable\"}",
                     NULL),
                 unavailable, "calls refused while Redis is away count");

    hfixture_redis2_start();
    o = readyz_wait_redis(base, "up");
    cr_expect_eq(jint(o, "redis", "connected"), jint(o, "redis", "workers"));
    json_object_put(o);
    o = readyz(base, &status);
    cr_expect_eq(status, 200);
    json_object_put(o);
}

/* ---- /metrics ------------------------------------------------------------ */

#define HIST "heavyset_upstream_duration_seconds"

Test(ops, upstream_latency_histogram_counts_calls_not_hits)
{
    static struct hresp r;
    const char         *base = hfixture_env("HSP_PROXY_URL");
    double              count, inf, fast, sum;
    bool                found;

    count = hreq_metric(base, HIST "_count{route=\"query\"}", &found);
    cr_expect(found, "the histogram is exposed before any call");
    sum = hreq_metric(base, HIST "_sum{route=\"query\"}", NULL);
    hreq_get(base, QUERY "?phone=%2B17205550199",
             HREQ(.token = ALPHA, .id = "ops-hist-1"), &r);
    cr_assert_eq(r.status, 200, "%d %s", r.status, r.body);
    cr_expect_str_eq(hresp_header(&r, "X-Cache"), "MISS");
    hresp_free(&r);
    hreq_get(base, QUERY "?phone=%2B17205550199",
             HREQ(.token = ALPHA, .id = "ops-hist-2"), &r);
    cr_expect_str_eq(hresp_header(&r, "X-Cache"), "HIT");
    hresp_free(&r);
    cr_expect_eq(hreq_metric(base, HIST "_count{route=\"query\"}", NULL),
                 count + 1, "one upstream call, the hit made none");
    inf = hreq_metric(base, HIST "_bucket{route=\"query\",le=\"+Inf\"}",
                      NULL);
    cr_expect_eq(inf, count + 1, "+Inf equals _count");
    fast = hreq_metric(base, HIST "_bucket{route=\"query\",le=\"0.005\"}",
                       &found);
    cr_expect(found);
    cr_expect_leq(fast, inf, "buckets are cumulative");
    cr_expect_gt(hreq_metric(base, HIST "_sum{route=\"query\"}", NULL),
                 sum, "the sum grows");
}

/* ---- the access log ------------------------------------------------------ */

Test(ops, access_log_lines_have_their_fields)
{
    static struct hproc        p;
    static struct hresp        r;
    static struct json_object *o;
    char                       log[512], tenant[16];
    const char                *t;

    start_logging("ops-access", &p, log, sizeof(log));
    hreq_get(p.url, QUERY "?phone=720-555-0199",
             HREQ(.token = ALPHA, .id = "ops-miss"), &r);
    cr_assert_eq(r.status, 200, "%d %s", r.status, r.body);
    hresp_free(&r);
    hreq_get(p.url, QUERY "?phone=%2B17205550199",
             HREQ(.token = ALPHA, .id = "ops-hit"), &r);
    cr_assert_str_eq(hresp_header(&r, "X-Cache"), "HIT");
    hresp_free(&r);
    hreq_patch(p.url, "{\"phone\":\"" LEAD "\",\"appendComment\":\"ops\"}",
               HREQ(.token = ALPHA, .id = "ops-patch"), &r);
    cr_assert_eq(r.status, 200, "%d %s", r.status, r.body);
    hresp_free(&r);
    hreq_get(p.url, QUERY "?phone=%2B17205550199", HREQ(.id = "ops-401"), &r);
    cr_assert_eq(r.status, 401);
    hresp_free(&r);
    hreq_get(p.url, QUERY "?phone=12", HREQ(.token = ALPHA, .id = "ops-400"),
             &r);
    cr_assert_eq(r.status, 400);
    hresp_free(&r);
    hreq_get(p.url, "/nowhere", HREQ(.id = "ops-404"), &r);
    cr_assert_eq(r.status, 404);
    hresp_free(&r);

    o = access_line(log, "ops-miss");
    expect_line(o, "GET", "query", 200, "MISS", true, "***0199");
    t = jstr(o, "tenant", NULL);
    cr_assert_not_null(t, "a tenant: %s", json_object_to_json_string(o));
    snprintf(tenant, sizeof(tenant), "%s", t);
    cr_expect_eq(strlen(tenant), 8);
    cr_expect_eq(strspn(tenant, "0123456789abcdef"), 8, "hex: %s", tenant);
    cr_expect_leq(jdbl(o, "upstream_ms"), jdbl(o, "total_ms"),
                  "the upstream time is part of the total");
    json_object_put(o);

    o = access_line(log, "ops-hit");
    expect_line(o, "GET", "query", 200, "HIT", false, "***0199");
    cr_expect_str_eq(jstr(o, "tenant", NULL), tenant,
                     "one token, one tenant prefix");
    json_object_put(o);

    o = access_line(log, "ops-patch");
    expect_line(o, "PATCH", "update", 200, NULL, true, "***0199");
    json_object_put(o);

    o = access_line(log, "ops-401");
    expect_line(o, "GET", "query", 401, NULL, false, NULL);
    cr_expect_not(json_object_object_get_ex(o, "tenant", NULL),
                  "no token, no tenant");
    json_object_put(o);

    o = access_line(log, "ops-400");
    expect_line(o, "GET", "query", 400, NULL, false, NULL);
    json_object_put(o);

    o = access_line(log, "ops-404");
    expect_line(o, "GET", "none", 404, NULL, false, NULL);
    json_object_put(o);
    cr_expect_eq(hproc_stop(&p, SIGTERM), 0);
}

Test(ops, access_log_file_reopens_on_sighup)
{
    static struct hproc p;
    static struct hresp r;
    char                log[512], rotated[520], id[64];
    long                end;
    int                 i;

    start_logging("ops-rotate", &p, log, sizeof(log));
    snprintf(rotated, sizeof(rotated), "%s.1", log);
    unlink(rotated);
    hreq_get(p.url, "/healthz", HREQ(.id = "ops-before"), &r);
    hresp_free(&r);
    json_object_put(access_line(log, "ops-before"));

    /* logrotate: move the file, then SIGHUP */
    cr_assert_eq(rename(log, rotated), 0);
    hreq_get(p.url, "/healthz", HREQ(.id = "ops-moved"), &r);
    hresp_free(&r);
    json_object_put(access_line(rotated, "ops-moved"));
    cr_assert_eq(kill(p.pid, SIGHUP), 0);
    end = hfixture_now_ms() + WAIT_MS;
    while (access(log, F_OK) != 0) {
        cr_assert_lt(hfixture_now_ms(), end, "SIGHUP created no new %s", log);
        hfixture_pause_ms(POLL_MS);
    }
    for (i = 0; i < 3; i++) {
        snprintf(id, sizeof(id), "ops-after-%d", i);
        hreq_get(p.url, "/healthz", HREQ(.id = id), &r);
        cr_expect_eq(r.status, 200, "still serving after SIGHUP");
        hresp_free(&r);
        json_object_put(access_line(log, id));
        cr_expect_not(hfixture_file_has(rotated, id), "%s went to the old file", id);
    }
    cr_expect_not(hfixture_file_has(log, "ops-before"));
    cr_expect(hproc_stop(&p, SIGTERM) == 0, "a clean exit after SIGHUP");
}

/* ---- no secrets ---------------------------------------------------------- */

/* Every form of the secrets the test sends: raw, normalised, encoded. */
static const char *const secrets[] = {
    ALPHA,
    SECRET_UNKNOWN,
    "8015559876",                   /* in +18015559876 and 18015559876 */
    "801-555-9876",
    "801) 555-9876",
    "801.555.9876",
    "%28801%29%20555-9876",
    "555-9876",
};

/* Fails when TEXT (from WHERE) holds any form of a secret. */
static void
expect_no_secret(const char *where, const char *text)
{
    size_t i;

    for (i = 0; i < sizeof(secrets) / sizeof(secrets[0]); i++) {
        const char *hit = strstr(text, secrets[i]);
        const char *start = hit;

        if (hit == NULL) {
            continue;
        }
        while (start > text && start[-1] != '\n' && hit - start < 200) {
            start--;
        }
        cr_expect_fail("%s holds \"%s\": %.300s", where, secrets[i], start);
    }
}

Test(ops, no_token_or_phone_in_any_log_or_metrics)
{
    static struct hproc p;
    static struct hresp r;
    static const char *const paths[] = {
        QUERY "?phone=%2B18015559876",
        QUERY "?phone=8015559876",
        QUERY "?phone=%28801%29%20555-9876",
        QUERY "?phone=801.555.9876",
        QUERY "/a0B8X00000DXabc?phone=801-555-9876",
        API "/phone/query/blocks?phone=18015559876&limitDays=3",
        QUERY "?phone=%2B18015559876&token=" ALPHA,
        QUERY "?phone=%2B18015559876&token=" SECRET_UNKNOWN,
        QUERY "?phone=%2B18015559876&phone=8015559876",     /* 400 */
        QUERY "?phone=801555987",                           /* 400 */
    };
    static const char *const bodies[] = {
        "{\"phone\":\"+18015559876\",\"appendComment\":\"ops\"}",
        "{\"phone\":\"(801) 555-9876\",\"cancelAppt\":true,\"blockId\":\"b\"}",
        "{\"phone\":\"801.555.9876\",\"primaryPhone\":\"801-555-9876\"}",
        "{\"phone\":\"801-555-9876\",\"token\":\"" SECRET_UNKNOWN "\"}",
        "{\"phone\":\"8015559876\"",                        /* bad JSON */
    };
    const char *const bases[] = { hfixture_env("HSP_PROXY_URL"), NULL };
    char              log[512], path[1024], id[64];
    const char       *dir = hfixture_env("HSP_TMPDIR");
    struct dirent    *de;
    DIR              *d;
    size_t            i, b, nlogs = 0;
    char             *text;

    start_logging("ops-secrets", &p, log, sizeof(log));
    for (b = 0; b < 2; b++) {
        const char *base = b == 0 ? bases[0] : p.url;

        for (i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
            snprintf(id, sizeof(id), "ops-secret-g%zu-%zu", b, i);
            hreq_get(base, paths[i],
                     HREQ(.token = strstr(paths[i], "token=") ? NULL : ALPHA,
                          .id = id), &r);
            cr_expect_neq(r.status, 0);
            hresp_free(&r);
        }
        for (i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
            snprintf(id, sizeof(id), "ops-secret-p%zu-%zu", b, i);
            hreq_patch(base, bodies[i],
                       HREQ(.token = strstr(bodies[i], "token") ? NULL : ALPHA,
                            .id = id), &r);
            cr_expect_neq(r.status, 0);
            hresp_free(&r);
        }
    }
    /* the last request of each is logged: all are */
    json_object_put(access_line(log, "ops-secret-p1-4"));
    cr_expect_eq(hproc_stop(&p, SIGTERM), 0);

    text = NULL;
    for (b = 0; b < 2; b++) {
        struct hresp m;
        const char  *base = b == 0 ? bases[0] : hfixture_env("HSP_PROXY_B_URL");

        hreq_get(base, "/metrics", NULL, &m);
        expect_no_secret("/metrics", m.body);
        hresp_free(&m);
    }
    d = opendir(dir);
    cr_assert_not_null(d, "%s", dir);
    while ((de = readdir(d)) != NULL) {
        size_t n = strlen(de->d_name);

        if (n < 5 || strcmp(de->d_name + n - 4, ".log") != 0) {
            continue;
        }
        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        text = slurp(path);
        if (text == NULL) {
            continue;
        }
        nlogs++;
        expect_no_secret(de->d_name, text);
        free(text);
    }
    closedir(d);
    cr_expect_geq(nlogs, 3, "the run's logs were read (%zu)", nlogs);
    cr_expect(hfixture_file_has(log, "\"phone\":\"***9876\""),
              "the phone is in the access log, masked");
}
