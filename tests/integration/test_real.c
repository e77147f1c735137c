/*
 * test_real.c - what real clients and real upstreams do (SPEC §3, §11):
 * the tenant the proxy keys on is the one the upstream answers for, the
 * request the upstream sees is exactly what the key names, and what a
 * client sends that a polite test client never would (bodies on GET,
 * HEAD, validators, absolute-form targets, odd queries) gets the answer a
 * drop-in proxy owes it.
 *
 * Each test starts fresh (hfixture_fresh) and reads what the upstream saw
 * from the sandbox's /__sandbox/last and its counters.
 */
#include "config.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <json-c/json.h>

#include "hclient.h"
#include "hfixture.h"

#define API     "/api/v1/appointment/s2s"
#define ALPHA   "hs_test_tenant_alpha_0001"
#define BRAVO   "hs_test_tenant_bravo_0002"
#define SHARED  "%2B18015551234"    /* in alpha and bravo, other data */
#define PROXY   "HSP_PROXY_URL"

/* ---- helpers ------------------------------------------------------------ */

/* Sends METHOD PATH with HEADERS (NULL-terminated) and BODY (or NULL). */
static void
request(const char *method, const char *path, const char *const *headers,
        const char *body, struct hresp *out)
{
    cr_assert_eq(hclient_request(hfixture_env(PROXY), method, path, headers,
                                 body, body != NULL ? strlen(body) : 0, out),
                 0, "%s %s: %s", method, path, out->error);
}

/* The "path" the sandbox saw last (its raw request target). */
static void
last_target(char *out, size_t cap)
{
    struct json_object *last = hclient_sandbox_last(), *v;

    cr_assert_not_null(last, "no last request at the sandbox");
    cr_assert(json_object_object_get_ex(last, "path", &v), "no path");
    snprintf(out, cap, "%s", json_object_get_string(v));
    json_object_put(last);
}

/* Asserts R is a 400 in the upstream's format whose message has WHAT. */
static void
expect_400(const struct hresp *r, const char *what)
{
    cr_expect_eq(r->status, 400, "status %d: %s", r->status, r->body);
    cr_expect(strstr(r->body, "\"statusCode\":400") != NULL, "%s", r->body);
    cr_expect(strstr(r->body, what) != NULL, "%s lacks %s", r->body, what);
}

/* ---- §3: one tenant, the one the upstream answers for ------------------- */

/* Finding 4: the header and the query name two tenants. */
Test(real, two_tokens_that_differ_are_refused)
{
    static const char *const hdr[] = { "x-hs-token: " ALPHA, NULL };
    static const char *const hop[] = { "x-hs-token: " ALPHA,
                                       "Connection: x-hs-token", NULL };
    static const char *const same[] = { "x-hs-token: " ALPHA, NULL };
    struct hresp a, b, c, d;
    long         before;

    hfixture_fresh();
    before = hfixture_count("total");
    request("GET", API "/phone/query?phone=" SHARED "&token=" BRAVO, hdr,
            NULL, &a);
    expect_400(&a, "token");
    /* Connection would strip the header on the way: the upstream would
     * then answer for the query's tenant. */
    request("GET", API "/phone/query?phone=" SHARED "&token=" BRAVO, hop,
            NULL, &b);
    expect_400(&b, "Connection");
    request("GET", API "/phone/query?phone=" SHARED "&token=" ALPHA
            "&token=" BRAVO, NULL, NULL, &c);
    expect_400(&c, "token");
    cr_expect_eq(hfixture_count("total"), before,
                 "a refused request reached the upstream");
    /* The same token twice is one tenant. */
    request("GET", API "/phone/query?phone=" SHARED "&token=" ALPHA, same,
            NULL, &d);
    cr_expect_eq(d.status, 200, "%d %s", d.status, d.body);
    hresp_free(&a);
    hresp_free(&b);
    hresp_free(&c);
    hresp_free(&d);
}

/* Finding 4: `TOKEN` is another parameter, as it is to the upstream:
 * the answer cached for alpha is alpha's. */
Test(real, query_names_are_case_sensitive)
{
    struct hresp a, b, direct;
    char         target[512];

    hfixture_fresh();
    request("GET", API "/phone/query?phone=" SHARED "&TOKEN=" BRAVO
            "&token=" ALPHA, NULL, NULL, &a);
    cr_assert_eq(a.status, 200, "%d %s", a.status, a.body);
    last_target(target, sizeof(target));
    cr_expect(strstr(target, "token=" ALPHA) != NULL, "%s", target);
    hfixture_get(hfixture_env("HSP_SANDBOX_URL"),
                 API "/phone/query?phone=" SHARED, ALPHA, NULL, &direct);
    cr_assert_eq(direct.status, 200);
    cr_expect(a.body_len == direct.body_len &&
                  memcmp(a.body, direct.body, a.body_len) == 0,
              "not alpha's lead: %s", a.body);
    hfixture_get(hfixture_env(PROXY), API "/phone/query?phone=" SHARED,
                 ALPHA, NULL, &b);
    cr_expect_str_eq(hresp_header(&b, "X-Cache"), "HIT");
    cr_expect(b.body_len == direct.body_len &&
                  memcmp(b.body, direct.body, b.body_len) == 0,
              "alpha's entry holds another tenant's lead: %s", b.body);
    hresp_free(&a);
    hresp_free(&b);
    hresp_free(&direct);
}

/* Finding 6: empty pairs do not void the query. */
Test(real, empty_query_pairs_are_tolerated)
{
    static const char *const paths[] = {
        API "/phone/query?&phone=" SHARED "&token=" ALPHA,
        API "/phone/query?phone=" SHARED "&&token=" ALPHA "&&",
        API "/phone/query?flag&phone=" SHARED "&token=" ALPHA,
    };
    size_t i;

    hfixture_fresh();
    for (i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        struct hresp r;

        request("GET", paths[i], NULL, NULL, &r);
        cr_expect_eq(r.status, 200, "%s: %d %s", paths[i], r.status, r.body);
        hresp_free(&r);
    }
}

/* Finding 6: a token of 4 KB or more is a token, not "empty". */
Test(real, long_header_tokens_are_tokens)
{
    static char  hdr[6000];
    const char  *headers[] = { hdr, NULL };
    struct hresp r;
    int          n;

    hfixture_fresh();
    n = snprintf(hdr, sizeof(hdr), "x-hs-token: ");
    memset(hdr + n, 'k', 5000);
    hdr[n + 5000] = '\0';
    request("GET", API "/phone/query?phone=" SHARED, headers, NULL, &r);
    /* The sandbox knows no such tenant: its 401, not the proxy's. */
    cr_expect_eq(r.status, 401, "%d %s", r.status, r.body);
    cr_expect(strstr(r.body, "token should not be empty") == NULL, "%s",
              r.body);
    cr_expect_eq(hfixture_count("total"), 1, "the upstream was not asked");
    hresp_free(&r);
}

/* §3: the phone goes upstream as the number the key names. */
Test(real, the_phone_goes_upstream_in_e164)
{
    struct hresp a;
    char         target[512];

    hfixture_fresh();
    hfixture_get(hfixture_env(PROXY),
                 API "/phone/query?token=" ALPHA "&phone=(801)+555-1234",
                 NULL, NULL, &a);
    cr_assert_eq(a.status, 200, "%d %s", a.status, a.body);
    last_target(target, sizeof(target));
    cr_expect_str_eq(target, API "/phone/query?token=" ALPHA
                     "&phone=%2B18015551234");
    hresp_free(&a);
}

/* ---- §11: strict where a difference could be exploited ----------------- */

/* Finding 8: an absolute-form target goes upstream in origin form. */
Test(real, absolute_form_goes_upstream_in_origin_form)
{
    static const char req[] =
        "GET http://other.example" API "/phone/query?phone=" SHARED
        " HTTP/1.1\r\nHost: other.example\r\nx-hs-token: " ALPHA
        "\r\nConnection: close\r\n\r\n";
    struct hresp        r;
    struct json_object *last;
    char                target[512];

    hfixture_fresh();
    cr_assert_eq(hclient_raw(hfixture_env(PROXY), req, sizeof(req) - 1, &r),
                 0, "%s", r.error);
    cr_assert_eq(r.status, 200, "%d %s", r.status, r.raw);
    last_target(target, sizeof(target));
    cr_expect_str_eq(target, API "/phone/query?phone=" SHARED);
    last = hclient_sandbox_last();
    cr_assert_not_null(last);
    cr_expect(strstr(hclient_last_header(last, "Host"), "other.example") ==
                  NULL,
              "Host %s", hclient_last_header(last, "Host"));
    json_object_put(last);
    hresp_free(&r);
}

/* Finding 8: dot-segments and encoded slashes never reach the upstream. */
Test(real, dot_segments_and_encoded_slashes_get_400)
{
    static const char *const paths[] = {
        API "/phone/query/../query?phone=" SHARED,
        API "/phone/./query?phone=" SHARED,
        API "/phone/query/%2e%2e/update",
        API "/phone/query%2Fblocks?phone=" SHARED,
    };
    static const char *const hdr[] = { "x-hs-token: " ALPHA, NULL };
    size_t i;

    hfixture_fresh();
    for (i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        struct hresp r;

        request("GET", paths[i], hdr, NULL, &r);
        expect_400(&r, "dot-segments");
        hresp_free(&r);
    }
    cr_expect_eq(hfixture_count("total"), 0);
}

/* Finding 3: a fill never carries the client's validators or ranges. */
Test(real, fills_are_whole_and_unconditional)
{
    static const char *const cond[] = {
        "x-hs-token: " ALPHA, "If-None-Match: \"abc\"",
        "If-Modified-Since: Sat, 01 Jan 2000 00:00:00 GMT",
        "Range: bytes=0-3", "If-Range: \"abc\"", "Accept-Encoding: br",
        NULL };
    static const char *const plain[] = { "x-hs-token: " ALPHA, NULL };
    struct json_object *last;
    struct hresp        a, b;
    size_t              i;
    static const char *const gone[] = { "If-None-Match", "If-Modified-Since",
                                        "Range", "If-Range" };

    hfixture_fresh();
    request("GET", API "/phone/query?phone=" SHARED, cond, NULL, &a);
    cr_assert_eq(a.status, 200, "%d %s", a.status, a.body);
    last = hclient_sandbox_last();
    cr_assert_not_null(last);
    for (i = 0; i < sizeof(gone) / sizeof(gone[0]); i++) {
        cr_expect_null(hclient_last_header(last, gone[i]), "%s went upstream",
                       gone[i]);
    }
    cr_expect(hclient_last_header(last, "Accept-Encoding") == NULL ||
                  strstr(hclient_last_header(last, "Accept-Encoding"),
                         "br") == NULL,
              "the client's Accept-Encoding went upstream");
    json_object_put(last);
    /* The plain client after it gets the whole body. */
    request("GET", API "/phone/query?phone=" SHARED, plain, NULL, &b);
    cr_expect_eq(b.status, 200);
    cr_expect_eq(b.body_len, a.body_len);
    cr_expect(b.body_len > 0 && memcmp(a.body, b.body, a.body_len) == 0);
    hresp_free(&a);
    hresp_free(&b);
}

/* §11: entries carry a strong ETag, and the proxy answers If-None-Match. */
Test(real, etag_on_miss_and_hit_and_304_from_the_proxy)
{
    static const char *const plain[] = { "x-hs-token: " ALPHA, NULL };
    char         inm[128];
    const char  *cond[] = { "x-hs-token: " ALPHA, inm, NULL };
    struct hresp a, b, c, d;
    const char  *etag;

    hfixture_fresh();
    request("GET", API "/phone/query?phone=" SHARED, plain, NULL, &a);
    cr_assert_eq(a.status, 200);
    etag = hresp_header(&a, "ETag");
    cr_assert_not_null(etag, "a miss has no ETag");
    cr_expect_eq(etag[0], '"', "a weak or unquoted ETag: %s", etag);
    request("GET", API "/phone/query?phone=" SHARED, plain, NULL, &b);
    cr_assert_str_eq(hresp_header(&b, "X-Cache"), "HIT");
    cr_expect_str_eq(hresp_header(&b, "ETag"), etag);
    snprintf(inm, sizeof(inm), "If-None-Match: W/\"zz\", %s", etag);
    request("GET", API "/phone/query?phone=" SHARED, cond, NULL, &c);
    cr_expect_eq(c.status, 304, "%d", c.status);
    cr_expect_eq(c.body_len, 0);
    cr_expect_str_eq(hresp_header(&c, "ETag"), etag);
    snprintf(inm, sizeof(inm), "If-None-Match: \"other\"");
    request("GET", API "/phone/query?phone=" SHARED, cond, NULL, &d);
    cr_expect_eq(d.status, 200);
    cr_expect_eq(hfixture_count("total"), 1, "one upstream call in all");
    hresp_free(&a);
    hresp_free(&b);
    hresp_free(&c);
    hresp_free(&d);
}

/* Finding 6: HEAD is a GET without the body, not a 405. */
Test(real, head_is_get_without_the_body)
{
    static const char *const hdr[] = { "x-hs-token: " ALPHA, NULL };
    struct hresp h, g;
    char         len[24];

    hfixture_fresh();
    request("HEAD", API "/phone/query?phone=" SHARED, hdr, NULL, &h);
    cr_assert_eq(h.status, 200, "%d %s", h.status, h.raw);
    cr_expect_eq(h.body_len, 0);
    cr_expect_str_eq(hresp_header(&h, "X-Cache"), "MISS");
    request("GET", API "/phone/query?phone=" SHARED, hdr, NULL, &g);
    cr_assert_eq(g.status, 200);
    cr_expect_str_eq(hresp_header(&g, "X-Cache"), "HIT");
    snprintf(len, sizeof(len), "%zu", g.body_len);
    cr_expect_str_eq(hresp_header(&h, "Content-Length"), len);
    cr_expect_str_eq(hresp_header(&h, "ETag"), hresp_header(&g, "ETag"));
    hresp_free(&h);
    hresp_free(&g);
}

/* Finding 6: a GET's body is read by its framing, never taken for the
 * next request on the connection. */
Test(real, a_get_body_is_read_not_taken_for_a_request)
{
    static const char body[] = "{\"token\":\"" ALPHA "\"}";
    char         req[1024];
    struct hresp r;
    int          n;

    hfixture_fresh();
    n = snprintf(req, sizeof(req),
                 "GET %s/phone/query?phone=%s HTTP/1.1\r\nHost: x\r\n"
                 "x-hs-token: %s\r\nContent-Type: application/json\r\n"
                 "Content-Length: %zu\r\n\r\n%s"
                 "GET /healthz HTTP/1.1\r\nHost: x\r\n"
                 "Connection: close\r\n\r\n",
                 API, SHARED, ALPHA, sizeof(body) - 1, body);
    cr_assert_eq(hclient_raw(hfixture_env(PROXY), req, (size_t)n, &r), 0);
    cr_expect_eq(r.status, 200, "%d %s", r.status, r.raw);
    cr_expect(strstr(r.raw, "{\"status\":\"ok\"}") != NULL,
              "the second request was not answered: %s", r.raw);
    cr_expect(strstr(r.raw, "HTTP/1.1 400") == NULL, "%s", r.raw);
    hresp_free(&r);
}

/* Finding 8: no 100 Continue before a 413. */
Test(real, no_continue_before_413)
{
    static const char req[] =
        "PATCH " API "/phone/update HTTP/1.1\r\nHost: x\r\n"
        "x-hs-token: " ALPHA "\r\nContent-Type: application/json\r\n"
        "Expect: 100-continue\r\nContent-Length: 70000\r\n\r\n";
    struct hresp r;

    hfixture_fresh();
    cr_assert_eq(hclient_raw(hfixture_env(PROXY), req, sizeof(req) - 1, &r),
                 0);
    cr_expect_eq(r.status, 413, "%d %s", r.status, r.raw);
    cr_expect(strstr(r.raw, "100 Continue") == NULL, "%s", r.raw);
    hresp_free(&r);
}

/* Finding 7: answers say how long an idle connection stays open. */
Test(real, keep_alive_timeout_is_advertised)
{
    struct hresp r;

    hfixture_fresh();
    hfixture_get(hfixture_env(PROXY), "/healthz", NULL, NULL, &r);
    cr_assert_eq(r.status, 200);
    cr_expect_not_null(hresp_header(&r, "Keep-Alive"));
    cr_expect(hresp_header(&r, "Keep-Alive") != NULL &&
                  strncmp(hresp_header(&r, "Keep-Alive"), "timeout=", 8) == 0,
              "%s", hresp_header(&r, "Keep-Alive"));
    hresp_free(&r);
}
