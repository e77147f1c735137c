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

#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <json-c/json.h>

#include "gz.h"
#include "hclient.h"
#include "hsandbox.h"
#include "hfixture.h"
#include "hproc.h"
#include "hreq.h"

#define API     "/api/v1/appointment/s2s"
#define ALPHA   "hs_test_tenant_alpha_0001"
#define BRAVO   "hs_test_tenant_bravo_0002"
#define SHARED  "%2B18015551234"    /* in alpha and bravo, other data */
#define PROXY   hfixture_env("HSP_PROXY_URL")

/* ---- helpers ------------------------------------------------------------ */

/* The "path" the sandbox saw last (its raw request target). */
static void
last_target(char *out, size_t cap)
{
    struct json_object *last = hsandbox_last(), *v;

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
    hreq_get(PROXY, API "/phone/query?phone=" SHARED "&token=" BRAVO,
             HREQ(.headers = hdr), &a);
    expect_400(&a, "token");
    /* Connection would strip the header on the way: the upstream would
     * then answer for the query's tenant. */
    hreq_get(PROXY, API "/phone/query?phone=" SHARED "&token=" BRAVO,
             HREQ(.headers = hop), &b);
    expect_400(&b, "Connection");
    hreq_get(PROXY,
             API "/phone/query?phone=" SHARED "&token=" ALPHA "&token=" BRAVO,
             NULL, &c);
    expect_400(&c, "token");
    cr_expect_eq(hfixture_count("total"), before,
                 "a refused request reached the upstream");
    /* The same token twice is one tenant. */
    hreq_get(PROXY, API "/phone/query?phone=" SHARED "&token=" ALPHA,
             HREQ(.headers = same), &d);
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
    hreq_get(PROXY,
             API "/phone/query?phone=" SHARED "&TOKEN=" BRAVO "&token=" ALPHA,
             NULL, &a);
    cr_assert_eq(a.status, 200, "%d %s", a.status, a.body);
    last_target(target, sizeof(target));
    cr_expect(strstr(target, "token=" ALPHA) != NULL, "%s", target);
    hreq_get(hfixture_env("HSP_SANDBOX_URL"), API "/phone/query?phone=" SHARED,
             HREQ(.token = ALPHA), &direct);
    cr_assert_eq(direct.status, 200);
    cr_expect(a.body_len == direct.body_len &&
                  memcmp(a.body, direct.body, a.body_len) == 0,
              "not alpha's lead: %s", a.body);
    hreq_get(PROXY, API "/phone/query?phone=" SHARED, HREQ(.token = ALPHA),
             &b);
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

        hreq_get(PROXY, paths[i], NULL, &r);
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
    hreq_get(PROXY, API "/phone/query?phone=" SHARED, HREQ(.headers = headers),
             &r);
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
    hreq_get(PROXY, API "/phone/query?token=" ALPHA "&phone=(801)+555-1234",
             NULL, &a);
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
    cr_assert_eq(hclient_raw(PROXY, req, sizeof(req) - 1, &r),
                 0, "%s", r.error);
    cr_assert_eq(r.status, 200, "%d %s", r.status, r.raw);
    last_target(target, sizeof(target));
    cr_expect_str_eq(target, API "/phone/query?phone=" SHARED);
    last = hsandbox_last();
    cr_assert_not_null(last);
    cr_expect(strstr(hsandbox_last_header(last, "Host"), "other.example") ==
                  NULL,
              "Host %s", hsandbox_last_header(last, "Host"));
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

        hreq_get(PROXY, paths[i], HREQ(.headers = hdr), &r);
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
    hreq_get(PROXY, API "/phone/query?phone=" SHARED, HREQ(.headers = cond),
             &a);
    cr_assert_eq(a.status, 200, "%d %s", a.status, a.body);
    last = hsandbox_last();
    cr_assert_not_null(last);
    for (i = 0; i < sizeof(gone) / sizeof(gone[0]); i++) {
        cr_expect_null(hsandbox_last_header(last, gone[i]), "%s went upstream",
                       gone[i]);
    }
    cr_expect(hsandbox_last_header(last, "Accept-Encoding") == NULL ||
                  strstr(hsandbox_last_header(last, "Accept-Encoding"),
                         "br") == NULL,
              "the client's Accept-Encoding went upstream");
    json_object_put(last);
    /* The plain client after it gets the whole body. */
    hreq_get(PROXY, API "/phone/query?phone=" SHARED, HREQ(.headers = plain),
             &b);
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
    hreq_get(PROXY, API "/phone/query?phone=" SHARED, HREQ(.headers = plain),
             &a);
    cr_assert_eq(a.status, 200);
    etag = hresp_header(&a, "ETag");
    cr_assert_not_null(etag, "a miss has no ETag");
    cr_expect_eq(etag[0], '"', "a weak or unquoted ETag: %s", etag);
    hreq_get(PROXY, API "/phone/query?phone=" SHARED, HREQ(.headers = plain),
             &b);
    cr_assert_str_eq(hresp_header(&b, "X-Cache"), "HIT");
    cr_expect_str_eq(hresp_header(&b, "ETag"), etag);
    snprintf(inm, sizeof(inm), "If-None-Match: W/\"zz\", %s", etag);
    hreq_get(PROXY, API "/phone/query?phone=" SHARED, HREQ(.headers = cond),
             &c);
    cr_expect_eq(c.status, 304, "%d", c.status);
    cr_expect_eq(c.body_len, 0);
    cr_expect_str_eq(hresp_header(&c, "ETag"), etag);
    snprintf(inm, sizeof(inm), "If-None-Match: \"other\"");
    hreq_get(PROXY, API "/phone/query?phone=" SHARED, HREQ(.headers = cond),
             &d);
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
    hreq_send("HEAD", PROXY, API "/phone/query?phone=" SHARED, NULL,
              HREQ(.headers = hdr), &h);
    cr_assert_eq(h.status, 200, "%d %s", h.status, h.raw);
    cr_expect_eq(h.body_len, 0);
    cr_expect_str_eq(hresp_header(&h, "X-Cache"), "MISS");
    hreq_get(PROXY, API "/phone/query?phone=" SHARED, HREQ(.headers = hdr),
             &g);
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
    cr_assert_eq(hclient_raw(PROXY, req, (size_t)n, &r), 0);
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
    cr_assert_eq(hclient_raw(PROXY, req, sizeof(req) - 1, &r),
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
    hreq_get(PROXY, "/healthz", NULL, &r);
    cr_assert_eq(r.status, 200);
    cr_expect_not_null(hresp_header(&r, "Keep-Alive"));
    cr_expect(hresp_header(&r, "Keep-Alive") != NULL &&
                  strncmp(hresp_header(&r, "Keep-Alive"), "timeout=", 8) == 0,
              "%s", hresp_header(&r, "Keep-Alive"));
    hresp_free(&r);
}

/* ---- §11: what a real upstream does ------------------------------------- */

/* Sets the sandbox's habits (POST /__sandbox/config; fresh() undoes). */
static void
sandbox_habits(const char *json)
{
    cr_assert_eq(hsandbox_config(json), 0, "config %s", json);
}

/* The proxy's counter of upstream protocol errors of KIND. */
static double
proto_errors(const char *kind)
{
    char series[128];
    bool found;

    snprintf(series, sizeof(series),
             "heavyset_upstream_protocol_errors_total{kind=\"%s\"}", kind);
    return hreq_metric(PROXY, series, &found);
}

/* Asserts R's body is, byte for byte, what the sandbox answers TOKEN for
 * PATH directly (without Accept-Encoding: identity). */
static void
expect_direct_body(const struct hresp *r, const char *path,
                   const char *token)
{
    struct hresp d;

    hreq_get(hfixture_env("HSP_SANDBOX_URL"), path, HREQ(.token = token), &d);
    cr_expect_eq(r->status, d.status, "%d, sandbox %d", r->status, d.status);
    cr_expect(r->body_len == d.body_len &&
                  memcmp(r->body, d.body, d.body_len) == 0,
              "through the proxy: %.200s\nfrom the sandbox: %.200s", r->body,
              d.body);
    hresp_free(&d);
}

/* Finding 1: a gzip answer is stored decoded, and served as JSON to
 * every client, with or without Accept-Encoding. */
Test(real, a_gzip_upstream_answer_is_stored_and_served_decoded)
{
    static const char *const ae[] = { "x-hs-token: " ALPHA,
                                      "Accept-Encoding: gzip, deflate",
                                      NULL };
    static const char *const plain[] = { "x-hs-token: " ALPHA, NULL };
    static const char        path[] = API "/phone/query?phone=" SHARED;
    struct json_object      *last;
    struct hresp             a, b;
    const char              *sent;

    hfixture_fresh();
    sandbox_habits("{\"gzip\":true,\"gzip_min\":0,\"chunked\":true,"
                   "\"early_hints\":true}");
    hreq_get(PROXY, path, HREQ(.headers = ae), &a);
    cr_assert_eq(a.status, 200, "%d %.200s", a.status, a.raw);
    cr_expect_null(hresp_header(&a, "Content-Encoding"));
    last = hsandbox_last();
    cr_assert_not_null(last);
    sent = hsandbox_last_header(last, "Accept-Encoding");
    cr_expect(sent != NULL && strcmp(sent, "gzip") == 0,
              "the proxy asked for %s", sent != NULL ? sent : "(none)");
    json_object_put(last);
    expect_direct_body(&a, path, ALPHA);
    hreq_get(PROXY, path, HREQ(.headers = plain), &b);
    cr_expect_str_eq(hresp_header(&b, "X-Cache"), "HIT");
    cr_expect_null(hresp_header(&b, "Content-Encoding"));
    expect_direct_body(&b, path, ALPHA);
    hresp_free(&a);
    hresp_free(&b);
}

/* Finding 1: a coding the proxy did not ask for reaches that client as
 * 502, and nothing is stored. */
Test(real, an_unasked_coding_is_502_and_never_stored)
{
    static const char *const mis[] = { "x-hs-token: " ALPHA,
                                       "X-Sandbox-Misbehave: unasked-coding",
                                       NULL };
    static const char        path[] = API "/phone/query?phone=" SHARED;
    struct hresp             a, b;
    double                   before = proto_errors("unrequested_coding");

    hfixture_fresh();
    hreq_get(PROXY, path, HREQ(.headers = mis), &a);
    cr_expect_eq(a.status, 502, "%d %.200s", a.status, a.body);
    cr_expect(strstr(a.body, "\"statusCode\":502") != NULL, "%s", a.body);
    cr_expect_eq(proto_errors("unrequested_coding"), before + 1);
    hreq_get(PROXY, path, HREQ(.token = ALPHA), &b);
    cr_expect_str_eq(hresp_header(&b, "X-Cache"), "MISS");
    expect_direct_body(&b, path, ALPHA);
    hresp_free(&a);
    hresp_free(&b);
}

/* Finding 2: an answer whose framing is wrong gets 502, its connection
 * is closed, and the next request, another tenant's, gets its own
 * answer, never the bytes left behind. */
Test(real, bad_upstream_framing_is_502_and_never_reaches_another_tenant)
{
    static const struct {
        const char *misbehave;
        const char *kind;
    } cases[] = {
        { "long-body", "excess_data" },
        { "two-lengths", "duplicate_length" },
        { "body-on-204", "body_on_no_content" },
        { "after-last-chunk", "excess_data" },
        { "bad-header-byte", "bad_header" },
        { "bad-header-name", "bad_header" },
    };
    static const char path[] = API "/phone/query?phone=" SHARED;
    size_t            i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char         mh[64];
        const char  *mis[] = { "x-hs-token: " ALPHA, mh, NULL };
        struct hresp a, b, c;
        double       before = proto_errors(cases[i].kind);

        hfixture_fresh();
        snprintf(mh, sizeof(mh), "X-Sandbox-Misbehave: %s",
                 cases[i].misbehave);
        hreq_get(PROXY, path, HREQ(.headers = mis), &a);
        cr_expect_eq(a.status, 502, "%s: %d %.200s", cases[i].misbehave,
                     a.status, a.raw);
        cr_expect_eq(proto_errors(cases[i].kind), before + 1, "%s: %s",
                     cases[i].misbehave, cases[i].kind);
        hreq_get(PROXY, path, HREQ(.token = BRAVO), &b);
        cr_expect_eq(b.status, 200, "%s: %d", cases[i].misbehave, b.status);
        expect_direct_body(&b, path, BRAVO);
        hreq_get(PROXY, path, HREQ(.token = ALPHA), &c);
        cr_expect_str_eq(hresp_header(&c, "X-Cache"), "MISS",
                         "%s: the bad answer was stored",
                         cases[i].misbehave);
        expect_direct_body(&c, path, ALPHA);
        hresp_free(&a);
        hresp_free(&b);
        hresp_free(&c);
    }
}

/* Finding 2: a PATCH whose answer is framed wrong stores nothing in its
 * Idempotency-Key record: the retry is forwarded again. */
Test(real, a_badly_framed_patch_answer_is_not_recorded)
{
    static const char body[] = "{\"phone\":\"+18015551234\","
                               "\"appendComment\":\"framing\"}";
    char         key[96];
    const char  *mis[] = { "x-hs-token: " ALPHA,
                           "Content-Type: application/json", key,
                           "X-Sandbox-Misbehave: long-body", NULL };
    const char  *ok[] = { "x-hs-token: " ALPHA,
                          "Content-Type: application/json", key, NULL };
    struct hresp a, b;

    hfixture_fresh();
    snprintf(key, sizeof(key), "Idempotency-Key: framing-%ld",
             (long)getpid());
    hreq_send("PATCH", PROXY, API "/phone/update", body, HREQ(.headers = mis),
              &a);
    cr_expect_eq(a.status, 502, "%d %.200s", a.status, a.raw);
    hreq_send("PATCH", PROXY, API "/phone/update", body, HREQ(.headers = ok),
              &b);
    cr_expect_eq(b.status, 200, "%d %.200s", b.status, b.body);
    cr_expect_null(hresp_header(&b, "Idempotent-Replayed"),
                   "the 502 was recorded");
    hresp_free(&a);
    hresp_free(&b);
}

/* Finding 6: a 103 Early Hints is not the answer. */
Test(real, interim_answers_are_consumed)
{
    static const char path[] = API "/phone/query?phone=" SHARED;
    struct hresp      a;

    hfixture_fresh();
    sandbox_habits("{\"early_hints\":true}");
    hreq_get(PROXY, path, HREQ(.token = ALPHA), &a);
    cr_assert_eq(a.status, 200, "%d %.200s", a.status, a.raw);
    cr_expect(strstr(a.raw, "103") == NULL || strstr(a.raw, "HTTP/1.1 103")
                                                  == NULL,
              "a 103 reached the client: %.200s", a.raw);
    expect_direct_body(&a, path, ALPHA);
    hresp_free(&a);
}

/* Finding 8: an HTTP/1.0 answer without keep-alive is relayed, and its
 * connection not pooled. */
Test(real, an_http10_upstream_connection_is_not_reused)
{
    static const char *const mis[] = { "x-hs-token: " ALPHA,
                                       "X-Sandbox-Misbehave: http10-close",
                                       NULL };
    static const char path[] = API "/phone/query?phone=" SHARED;
    struct hresp      a, b;

    hfixture_fresh();
    hreq_get(PROXY, path, HREQ(.headers = mis), &a);
    cr_expect_eq(a.status, 200, "%d %.200s", a.status, a.raw);
    expect_direct_body(&a, path, ALPHA);
    hreq_get(PROXY, path, HREQ(.token = BRAVO), &b);
    cr_expect_eq(b.status, 200);
    expect_direct_body(&b, path, BRAVO);
    hresp_free(&a);
    hresp_free(&b);
}

/* Finding 5: only a 200 with a JSON object becomes the cached lead; a 202
 * or 204 drops it, and the answer keeps its reason phrase. */
Test(real, a_2xx_that_is_no_lead_drops_the_cached_lead)
{
    static const char path[] = API "/phone/query?phone=" SHARED;
    static const char body[] = "{\"phone\":\"+18015551234\","
                               "\"appendComment\":\"queued\"}";
    static const struct {
        const char *answer;
        int         status;
        const char *reason;
    } cases[] = {
        { "X-Sandbox-Answer: 202", 202, "Accepted" },
        { "X-Sandbox-Answer: 204", 204, "No Content" },
    };
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char  *hdr[] = { "x-hs-token: " ALPHA,
                               "Content-Type: application/json",
                               cases[i].answer, NULL };
        struct hresp w, p, g;

        hfixture_fresh();
        hreq_get(PROXY, path, HREQ(.token = ALPHA), &w);
        cr_assert_eq(w.status, 200);
        hreq_send("PATCH", PROXY, API "/phone/update", body,
                  HREQ(.headers = hdr), &p);
        cr_expect_eq(p.status, cases[i].status, "%d %.200s", p.status,
                     p.raw);
        cr_expect_str_eq(p.reason, cases[i].reason);
        hreq_get(PROXY, path, HREQ(.token = ALPHA), &g);
        cr_expect_eq(g.status, 200, "a %d became the lead: %d %.100s",
                     cases[i].status, g.status, g.body);
        cr_expect_str_eq(hresp_header(&g, "X-Cache"), "MISS",
                         "the old lead was kept after a %d",
                         cases[i].status);
        expect_direct_body(&g, path, ALPHA);
        hresp_free(&w);
        hresp_free(&p);
        hresp_free(&g);
    }
}

/* Finding 8: Cache-Control: no-store or private keeps the answer out. */
Test(real, upstream_no_store_and_private_are_not_stored)
{
    static const char *const values[] = { "no-store", "private, max-age=60" };
    static const char        path[] = API "/phone/query?phone=" SHARED;
    size_t                   i;

    for (i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
        char         cc[64];
        const char  *hdr[] = { "x-hs-token: " ALPHA, cc, NULL };
        struct hresp a, b;

        hfixture_fresh();
        snprintf(cc, sizeof(cc), "X-Sandbox-Cache-Control: %s", values[i]);
        hreq_get(PROXY, path, HREQ(.headers = hdr), &a);
        cr_assert_eq(a.status, 200, "%d", a.status);
        cr_expect(strstr(hresp_header(&a, "Cache-Status"),
                         "detail=no-store") != NULL,
                  "%s", hresp_header(&a, "Cache-Status"));
        cr_expect(strstr(hresp_header(&a, "Cache-Status"), "stored") ==
                      NULL,
                  "%s", hresp_header(&a, "Cache-Status"));
        hreq_get(PROXY, path, HREQ(.token = ALPHA), &b);
        cr_expect_str_eq(hresp_header(&b, "X-Cache"), "MISS",
                         "a %s answer was stored", values[i]);
        hresp_free(&a);
        hresp_free(&b);
    }
}

/* §11: with gzip = on, a body over 1 KB goes gzip-coded to a client that
 * takes gzip, identity to the others, the entry identity either way. */
Test(real, gzip_on_codes_big_answers_for_clients_that_take_gzip)
{
    static const char *const over[] = { "gzip=on", NULL };
    static const char        path[] = API "/phone/query?phone=" SHARED;
    static const char *const gz_hdr[] = { "x-hs-token: " ALPHA,
                                          "Accept-Encoding: gzip, deflate",
                                          NULL };
    static const char *const no_gz[] = { "x-hs-token: " ALPHA,
                                         "Accept-Encoding: gzip;q=0, br",
                                         NULL };
    static const char *const upd[] = { "x-hs-token: " ALPHA,
                                       "Content-Type: application/json",
                                       NULL };
    char          body[1024];
    struct hproc  px;
    struct hresp  p, a, b;
    unsigned char *plain = NULL;
    size_t         plain_len = 0;

    hfixture_fresh();
    cr_assert_eq(hproc_proxy_start("gzip-proxy", over, &px), 0, "%s",
                 px.error);
    /* Seed leads are under 1 KB: long names make this one bigger. */
    snprintf(body, sizeof(body), "{\"phone\":\"+18015551234\","
             "\"firstName\":\"%0200d\",\"lastName\":\"%0200d\","
             "\"streetAddress\":\"%0200d\"}", 1, 2, 3);
    cr_assert_eq(hclient_request(px.url, "PATCH", API "/phone/update", upd,
                                 body, strlen(body), &p),
                 0);
    cr_assert_eq(p.status, 200, "%d %.200s", p.status, p.body);
    cr_assert(p.body_len > 1024, "the lead is only %zu bytes", p.body_len);
    cr_assert_eq(hclient_request(px.url, "GET", path, gz_hdr, NULL, 0, &a),
                 0);
    cr_assert_eq(a.status, 200);
    cr_expect_str_eq(hresp_header(&a, "Content-Encoding"), "gzip");
    cr_expect_str_eq(hresp_header(&a, "Vary"), "Accept-Encoding");
    cr_assert_eq(gz_inflate(a.body, a.body_len, 1 << 20, &plain,
                            &plain_len),
                 GZ_OK);
    cr_expect(plain_len == p.body_len &&
                  memcmp(plain, p.body, plain_len) == 0,
              "the coded body is not the lead");
    cr_assert_eq(hclient_request(px.url, "GET", path, no_gz, NULL, 0, &b),
                 0);
    cr_expect_null(hresp_header(&b, "Content-Encoding"));
    cr_expect_str_eq(hresp_header(&b, "Vary"), "Accept-Encoding");
    cr_expect(b.body_len == p.body_len &&
                  memcmp(b.body, p.body, b.body_len) == 0);
    cr_expect_str_neq(hresp_header(&a, "ETag"), hresp_header(&b, "ETag"),
                      "two representations share an ETag");
    free(plain);
    hresp_free(&p);
    hresp_free(&a);
    hresp_free(&b);
    cr_expect_eq(hproc_stop(&px, SIGTERM), 0);
}

/* §3, §11: a GET's JSON token counts like the header's: it keys the
 * cache (a hit for the tenant it names), and it must agree with the
 * others. */
Test(real, a_get_body_token_counts)
{
    static const char body[] = "{\"token\":\"" ALPHA "\"}";
    static const char path[] = API "/phone/query?phone=" SHARED;
    static const char *const json[] = { "Content-Type: application/json",
                                        NULL };
    static const char *const other[] = { "x-hs-token: " BRAVO,
                                         "Content-Type: application/json",
                                         NULL };
    struct hresp w, a, b;
    long         before;

    hfixture_fresh();
    hreq_get(PROXY, path, HREQ(.token = ALPHA), &w);
    cr_assert_eq(w.status, 200);
    before = hfixture_count("total");
    hreq_send("GET", PROXY, path, body, HREQ(.headers = json), &a);
    cr_expect_eq(a.status, 200, "%d %.200s", a.status, a.body);
    cr_expect_str_eq(hresp_header(&a, "X-Cache"), "HIT");
    cr_expect(a.body_len == w.body_len &&
                  memcmp(a.body, w.body, a.body_len) == 0,
              "not alpha's entry: %.200s", a.body);
    hreq_send("GET", PROXY, path, body, HREQ(.headers = other), &b);
    expect_400(&b, "token");
    cr_expect_eq(hfixture_count("total"), before,
                 "the upstream was asked");
    hresp_free(&w);
    hresp_free(&a);
    hresp_free(&b);
}

/* §11: on a miss, a GET's body goes upstream with it, and the upstream
 * (the sandbox reads GET bodies, as the real API does) answers for the
 * token it holds. */
Test(real, a_get_body_goes_upstream_on_a_miss)
{
    static const char body[] = "{\"token\":\"" ALPHA "\"}";
    static const char path[] = API "/phone/query?phone=" SHARED;
    static const char *const json[] = { "Content-Type: application/json",
                                        NULL };
    struct json_object *last, *v;
    struct hresp        a;

    hfixture_fresh();
    hreq_send("GET", PROXY, path, body, HREQ(.headers = json), &a);
    cr_assert_eq(a.status, 200, "%d %.200s", a.status, a.body);
    cr_expect_str_eq(hresp_header(&a, "X-Cache"), "MISS");
    last = hsandbox_last();
    cr_assert_not_null(last);
    cr_expect(json_object_object_get_ex(last, "method", &v) &&
                  strcmp(json_object_get_string(v), "GET") == 0,
              "method %s", json_object_to_json_string(last));
    cr_expect(json_object_object_get_ex(last, "body", &v) &&
                  strcmp(json_object_get_string(v), body) == 0,
              "body %s", json_object_to_json_string(last));
    json_object_put(last);
    expect_direct_body(&a, path, ALPHA);
    hresp_free(&a);
}
