/* test_http.c - hop-by-hop table, reasons, error bodies, request ids. */
#include "config.h"

#include <criterion/criterion.h>

#include <stdlib.h>
#include <string.h>

#include "http.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

struct hop_case {
    const char *name;
    const char *connection;         /* the Connection value, or NULL */
    bool        want;
};

static const struct hop_case hop_cases[] = {
    { "Connection", NULL, true },
    { "Keep-Alive", NULL, true },
    { "Proxy-Authenticate", NULL, true },
    { "Proxy-Authorization", NULL, true },
    { "Proxy-Connection", NULL, true },
    { "TE", NULL, true },
    { "Trailer", NULL, true },
    { "Transfer-Encoding", NULL, true },
    { "Upgrade", NULL, true },
    { "connection", NULL, true },
    { "KEEP-ALIVE", NULL, true },
    { "transfer-encoding", NULL, true },
    { "te", NULL, true },
    { "Content-Type", NULL, false },
    { "Content-Length", NULL, false },      /* dropped elsewhere */
    { "Cache-Control", NULL, false },
    { "X-Request-Id", NULL, false },
    { "x-hs-token", NULL, false },
    { "Trailers", NULL, false },
    { "Upgrade-Insecure-Requests", NULL, false },
    { "TE2", NULL, false },
    { "", NULL, false },
    { "X-Foo", "close", false },
    { "X-Foo", "keep-alive, X-Foo", true },
    { "x-foo", "Keep-Alive, X-FOO", true },
    { "X-Foo", " x-bar ,x-foo ", true },
    { "X-Foo", ",,x-foo,,", true },
    { "X-Foo", "x-foo\t", true },
    { "X-Foo", "\tx-foo", true },
    { "X-Foo", "X-Foobar", false },         /* not a prefix match */
    { "X-Foobar", "X-Foo", false },
    { "X-Foo", "X-Fo", false },
    { "X-Foo", "", false },
    { "X-Foo", ", ,", false },
    { "X-Foo", "X-Bar, X-Baz", false },
    { "Upgrade", "close", true },           /* the table still applies */
};

Test(http, hop_by_hop_table)
{
    size_t i;

    for (i = 0; i < NELEM(hop_cases); i++) {
        const struct hop_case *c = &hop_cases[i];

        cr_expect_eq(http_is_hop_by_hop(c->name, c->connection), c->want,
                     "'%s' with Connection '%s': want %s", c->name,
                     c->connection == NULL ? "(none)" : c->connection,
                     c->want ? "hop-by-hop" : "end-to-end");
    }
}

struct reason_case {
    int         status;
    const char *want;
};

static const struct reason_case reason_cases[] = {
    { 200, "OK" },
    { 304, "Not Modified" },
    { 400, "Bad Request" },
    { 401, "Unauthorized" },
    { 404, "Not Found" },
    { 405, "Method Not Allowed" },
    { 409, "Conflict" },
    { 413, "Payload Too Large" },
    { 422, "Unprocessable Entity" },
    { 429, "Too Many Requests" },
    { 500, "Internal Server Error" },
    { 502, "Bad Gateway" },
    { 503, "Service Unavailable" },
    { 504, "Gateway Timeout" },
    { 103, "Early Hints" },
    { 202, "Accepted" },
    { 299, "Success" },
    { 499, "Client Error" },
    { 0, "Unknown" },
    { -1, "Unknown" },
    { 99999, "Unknown" },
};

Test(http, reason_table)
{
    size_t i;

    for (i = 0; i < NELEM(reason_cases); i++) {
        cr_expect_str_eq(http_reason(reason_cases[i].status),
                         reason_cases[i].want, "status %d",
                         reason_cases[i].status);
    }
}

struct body_case {
    int               status;
    const char *const msgs[3];
    size_t            n;
    const char       *want;
};

static const struct body_case body_cases[] = {
    { 502, { "upstream unreachable" }, 1,
      "{\"statusCode\":502,\"message\":[\"upstream unreachable\"],"
      "\"error\":\"Bad Gateway\"}" },
    { 400, { "phone must be a valid phone number", "blockId and cancelAppt "
             "cannot be combined" }, 2,
      "{\"statusCode\":400,\"message\":[\"phone must be a valid phone "
      "number\",\"blockId and cancelAppt cannot be combined\"],"
      "\"error\":\"Bad Request\"}" },
    { 401, { NULL }, 0,
      "{\"statusCode\":401,\"message\":[],\"error\":\"Unauthorized\"}" },
    { 400, { "a\"b\\c/d" }, 1,
      "{\"statusCode\":400,\"message\":[\"a\\\"b\\\\c/d\"],"
      "\"error\":\"Bad Request\"}" },
    { 400, { "tab\there\nnl\x01\x1f" }, 1,
      "{\"statusCode\":400,\"message\":[\"tab\\u0009here\\u000anl\\u0001"
      "\\u001f\"],\"error\":\"Bad Request\"}" },
    { 422, { "caf\xc3\xa9", "" }, 2,
      "{\"statusCode\":422,\"message\":[\"caf\xc3\xa9\",\"\"],"
      "\"error\":\"Unprocessable Entity\"}" },
    { 299, { "x" }, 1,
      "{\"statusCode\":299,\"message\":[\"x\"],\"error\":\"Success\"}" },
};

Test(http, error_body_table)
{
    char   buf[512];
    size_t i;

    for (i = 0; i < NELEM(body_cases); i++) {
        const struct body_case *c = &body_cases[i];
        int                     len;

        len = http_error_body(buf, sizeof(buf), c->status, c->msgs, c->n);
        cr_expect_str_eq(buf, c->want, "case %zu", i);
        cr_expect_eq(len, (int)strlen(c->want), "case %zu: length %d", i,
                     len);
    }
}

/*
 * Every capacity from 0 up: below length + 1 the call fails with an empty
 * string, from there on it succeeds, and it never writes past CAP (the
 * buffer is exactly CAP bytes, so ASan sees any overrun).
 */
Test(http, error_body_capacity)
{
    size_t i, cap;

    for (i = 0; i < NELEM(body_cases); i++) {
        const struct body_case *c = &body_cases[i];
        size_t                  want = strlen(c->want);

        for (cap = 0; cap <= want + 2; cap++) {
            char *buf = cap == 0 ? NULL : malloc(cap);
            int   len;

            len = http_error_body(buf, cap, c->status, c->msgs, c->n);
            if (cap <= want) {
                cr_expect_eq(len, -1, "case %zu, cap %zu: fit", i, cap);
                if (cap > 0) {
                    cr_expect_eq(buf[0], '\0', "case %zu, cap %zu", i, cap);
                }
            } else {
                cr_expect_eq(len, (int)want, "case %zu, cap %zu: %d", i, cap,
                             len);
                cr_expect_str_eq(buf, c->want, "case %zu, cap %zu", i, cap);
            }
            free(buf);
        }
    }
}

struct id_case {
    const char *id;
    bool        want;
};

static const struct id_case id_cases[] = {
    { "abc", true },
    { "0b6f3d0c-4c1e-4b8e-9a39-6d7c2f1e8a90", true },
    { "x", true },
    { "!#$%&'()*+,-./:;<=>?@[\\]^_`{|}~", true },
    { "", false },
    { "a b", false },
    { " abc", false },
    { "abc\t", false },
    { "ab\ncd", false },
    { "ab\rcd", false },
    { "\x7f", false },
    { "caf\xc3\xa9", false },
    { "\x01", false },
};

Test(http, request_id_valid_table)
{
    char   id[HTTP_REQUEST_ID_MAX + 2];
    size_t i;

    for (i = 0; i < NELEM(id_cases); i++) {
        cr_expect_eq(http_request_id_valid(id_cases[i].id), id_cases[i].want,
                     "id '%s'", id_cases[i].id);
    }
    memset(id, 'a', sizeof(id));
    id[HTTP_REQUEST_ID_MAX] = '\0';
    cr_expect(http_request_id_valid(id), "%d characters", HTTP_REQUEST_ID_MAX);
    id[HTTP_REQUEST_ID_MAX] = 'a';
    id[HTTP_REQUEST_ID_MAX + 1] = '\0';
    cr_expect_not(http_request_id_valid(id), "%d characters",
                  HTTP_REQUEST_ID_MAX + 1);
}

Test(http, request_id_new)
{
    char   a[33], b[33], small[32];
    size_t i;

    cr_assert_eq(http_request_id_new(a, sizeof(a)), 0);
    cr_assert_eq(http_request_id_new(b, sizeof(b)), 0);
    cr_expect_eq(strlen(a), 32);
    cr_expect_eq(strspn(a, "0123456789abcdef"), 32, "'%s' is not hex", a);
    cr_expect_eq(strspn(b, "0123456789abcdef"), 32, "'%s' is not hex", b);
    cr_expect_str_neq(a, b, "two ids are the same");
    cr_expect(http_request_id_valid(a), "a new id is a valid id");
    memset(small, 'x', sizeof(small));
    cr_expect_eq(http_request_id_new(small, sizeof(small)), -1,
                 "32 bytes cannot hold 32 digits and a NUL");
    for (i = 0; i < sizeof(small); i++) {
        cr_expect_eq(small[i], 'x', "byte %zu written on failure", i);
    }
}

Test(http, retry_after_table)
{
    /* 2015-10-21 07:28:00 GMT is 1445412480 s. */
    static const int64_t now = 1445412480000LL;
    static const struct {
        const char *v;
        int64_t     ms;
    } cases[] = {
        { NULL, -1 },
        { "", -1 },
        { "0", 0 },
        { "120", 120000 },
        { " 7 ", 7000 },
        { "1.5", -1 },
        { "-3", -1 },
        { "12abc", -1 },
        { "Wed, 21 Oct 2015 07:28:00 GMT", 0 },
        { "Wed, 21 Oct 2015 07:29:30 GMT", 90000 },
        { "Wed, 21 Oct 2015 07:00:00 GMT", 0 },     /* past: now */
        { "Wed, 21 Oct 2015 07:29:30 UTC", -1 },
        { "yesterday", -1 },
    };
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        cr_expect_eq(http_retry_after_ms(cases[i].v, now), cases[i].ms,
                     "case %zu (%s): %lld", i,
                     cases[i].v != NULL ? cases[i].v : "NULL",
                     (long long)http_retry_after_ms(cases[i].v, now));
    }
}

/* ---- request checks (SPEC §8) ------------------------------------------ */

struct fields_case {
    const char *fields[6][2];       /* name, value; NULL name ends */
    size_t      query_len;
    int         status;
    bool        close;
};

static const struct fields_case fields_cases[] = {
    { { { "Host", "x" } }, 0, 0, false },
    { { { "Content-Length", "5" } }, 0, 0, false },
    { { { "Transfer-Encoding", "chunked" } }, 0, 0, false },
    { { { "Transfer-Encoding", "CHUNKED" } }, 0, 0, false },
    { { { "Content-Length", "5" }, { "Transfer-Encoding", "chunked" } }, 0,
      400, true },
    { { { "transfer-encoding", "chunked" }, { "content-length", "0" } }, 0,
      400, true },
    { { { "Content-Length", "5" }, { "Content-Length", "6" } }, 0, 400,
      true },
    { { { "Content-Length", "5" }, { "Content-Length", "5" } }, 0, 400,
      true },
    { { { "Transfer-Encoding", "gzip" } }, 0, 400, true },
    { { { "Transfer-Encoding", "gzip, chunked" } }, 0, 400, true },
    { { { "Transfer-Encoding", " chunked" } }, 0, 400, true },
    { { { "Transfer-Encoding", "chunked" },
        { "Transfer-Encoding", "chunked" } }, 0, 400, true },
    { { { "A", "1" }, { "B", "2" }, { "C", "3" }, { "D", "4" } }, 0, 431,
      false },                      /* max_headers is 3 here */
    { { { "A", "0123456789012345678901234567890123456789" } }, 0, 431,
      false },                      /* 1 + 40 + 4 > 40 bytes */
    { { { "A", "01234567890123456789012345678901234" } }, 0, 0, false },
    { { { "Host", "x" } }, 64, 0, false },
    { { { "Host", "x" } }, 65, 414, false },
    /* Framing first: it also closes the connection. */
    { { { "A", "1" }, { "B", "2" }, { "Content-Length", "1" },
        { "Content-Length", "1" } }, 65, 400, true },
};

Test(http, fields_check_table)
{
    static const struct http_limits lim = { 3, 40, 64 };
    size_t i, j;

    for (i = 0; i < NELEM(fields_cases); i++) {
        const struct fields_case *c = &fields_cases[i];
        struct http_fields        f;
        struct http_verdict       v;

        memset(&f, 0, sizeof(f));
        for (j = 0; j < 6 && c->fields[j][0] != NULL; j++) {
            http_fields_add(&f, c->fields[j][0], c->fields[j][1]);
        }
        http_fields_check(&f, true, c->query_len, &lim, &v);
        cr_expect_eq(v.status, c->status, "case %zu: status %d", i,
                     v.status);
        cr_expect_eq(v.close, c->close, "case %zu: close", i);
        cr_expect_eq(v.msg == NULL, c->status == 0, "case %zu: msg", i);
    }
}

/* A body where evhttp reads none (GET): it would be the next request. */
static const struct fields_case no_body_cases[] = {
    { { { "Content-Length", "40" } }, 0, 400, true },
    { { { "Transfer-Encoding", "chunked" } }, 0, 400, true },
    { { { "Content-Length", "0" } }, 0, 0, false },
    { { { "Host", "x" } }, 0, 0, false },
};

Test(http, fields_check_without_a_body)
{
    static const struct http_limits lim = { 3, 40, 64 };
    size_t i, j;

    for (i = 0; i < NELEM(no_body_cases); i++) {
        const struct fields_case *c = &no_body_cases[i];
        struct http_fields        f;
        struct http_verdict       v;

        memset(&f, 0, sizeof(f));
        for (j = 0; j < 6 && c->fields[j][0] != NULL; j++) {
            http_fields_add(&f, c->fields[j][0], c->fields[j][1]);
        }
        http_fields_check(&f, false, c->query_len, &lim, &v);
        cr_expect_eq(v.status, c->status, "case %zu: status %d", i,
                     v.status);
        cr_expect_eq(v.close, c->close, "case %zu: close", i);
    }
}

/* Paths the router and the upstream could read differently: 400. */
static const struct {
    const char *path;
    bool        ok;
} path_cases[] = {
    { "/api/v1/appointment/s2s/phone/query", true },
    { "/api/v1/appointment/s2s/phone/query/abc.def", true },
    { "/api/v1/appointment/s2s/phone/query/...", true },
    { "/a/.b/c..", true },
    { "/", true },
    { "/api/v1/appointment/s2s/phone/query/../update", false },
    { "/api/v1/appointment/s2s/phone/./query", false },
    { "/api/v1/appointment/s2s/phone/query/..", false },
    { "/api/v1/appointment/s2s/phone/query/.", false },
    { "/x/%2e%2E/y", false },
    { "/x/.%2e/y", false },
    { "/x/%2E/y", false },
    { "/api/v1/appointment/s2s/phone/query%2fblocks", false },
    { "/api/v1/appointment/s2s/phone/query%2Fblocks", false },
    { "/a%5cb", false },
    { "/a\\b", false },
    { "api/v1", false },
    { "", false },
};

Test(http, path_ok_table)
{
    size_t i;

    for (i = 0; i < NELEM(path_cases); i++) {
        cr_expect_eq(http_path_ok(path_cases[i].path), path_cases[i].ok,
                     "%s", path_cases[i].path);
    }
}

Test(http, etag_is_a_quoted_body_hash)
{
    char a[HTTP_ETAG_MAX], b[HTTP_ETAG_MAX], c[HTTP_ETAG_MAX];

    http_etag("{\"id\":1}", 8, a);
    http_etag("{\"id\":1}", 8, b);
    http_etag("{\"id\":2}", 8, c);
    cr_expect_eq(strlen(a), HTTP_ETAG_HEX + 2);
    cr_expect_eq(a[0], '"');
    cr_expect_eq(a[HTTP_ETAG_HEX + 1], '"');
    cr_expect_str_eq(a, b);
    cr_expect_str_neq(a, c);
    http_etag("", 0, a);
    cr_expect_eq(strlen(a), HTTP_ETAG_HEX + 2);
}

/* Bodies that differ in one bit, one byte, one place, or only in their
 * length (trailing NULs) never share an ETag. */
Test(http, etag_tells_near_bodies_apart)
{
    enum { N = 40 };
    static char    tags[4 * N + 64][HTTP_ETAG_MAX];
    unsigned char  body[N];
    size_t         n = 0, i, j, k;

    memset(body, 'a', sizeof(body));
    for (i = 0; i <= N; i++) {          /* lengths 0..N of the same bytes */
        http_etag(body, i, tags[n++]);
    }
    for (i = 0; i < N; i++) {           /* one bit flipped, each place */
        body[i] ^= 1;
        http_etag(body, N, tags[n++]);
        body[i] ^= 1;
    }
    memset(body, 0, sizeof(body));
    for (i = 1; i <= N; i++) {          /* NULs only: only lengths differ */
        http_etag(body, i, tags[n++]);
    }
    for (j = 0; j < n; j++) {
        for (k = j + 1; k < n; k++) {
            cr_expect_str_neq(tags[j], tags[k], "tags %zu and %zu", j, k);
        }
    }
}

static const struct {
    const char *inm;
    bool        match;
} inm_cases[] = {
    { "\"e3b0c44298fc1c149afbf4c8996fb924\"", true },
    { "W/\"e3b0c44298fc1c149afbf4c8996fb924\"", true },
    { "\"x\", \"e3b0c44298fc1c149afbf4c8996fb924\"", true },
    { "\"x\",W/\"e3b0c44298fc1c149afbf4c8996fb924\"", true },
    { "*", true },
    { "\"e3b0c44298fc1c149afbf4c8996fb925\"", false },
    { "\"e3b0c44298fc1c149afbf4c8996fb92\"", false },
    { "e3b0c44298fc1c149afbf4c8996fb924", false },
    { "", false },
    { "\"unterminated", false },
    { "\"x\", junk, \"y\"", false },
};

Test(http, if_none_match_table)
{
    static const char etag[] = "\"e3b0c44298fc1c149afbf4c8996fb924\"";
    size_t            i;

    for (i = 0; i < NELEM(inm_cases); i++) {
        cr_expect_eq(http_etag_match(inm_cases[i].inm, etag),
                     inm_cases[i].match, "%s", inm_cases[i].inm);
    }
}

static const struct {
    const char *ae;
    bool        gzip;
} ae_cases[] = {
    { NULL, false },
    { "", false },
    { "identity", false },
    { "gzip", true },
    { "gzip, deflate", true },
    { "deflate, GZIP", true },
    { "x-gzip", true },
    { "br;q=1.0, gzip;q=0.8, *;q=0.1", true },
    { "gzip;q=0", false },
    { "gzip; q=0.000", false },
    { "gzip;q=0.001", true },
    { "*", true },
    { "*;q=0", false },
    { "*, gzip;q=0", false },
    { "gzip;q=0, *", false },
    { "deflate, br", false },
    { "gzipx", false },
};

Test(http, accepts_gzip_table)
{
    size_t i;

    for (i = 0; i < NELEM(ae_cases); i++) {
        cr_expect_eq(http_accepts_gzip(ae_cases[i].ae), ae_cases[i].gzip,
                     "%s", ae_cases[i].ae ? ae_cases[i].ae : "(null)");
    }
}
