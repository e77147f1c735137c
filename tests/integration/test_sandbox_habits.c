/*
 * test_sandbox_habits.c - heavyset-sandbox's transport habits (SPEC §1,
 * §11) and its X-Sandbox-Misbehave answers, on the wire: each test starts
 * a sandbox of its own over plain HTTP (tests/lib/hproc.h), mostly with
 * --realistic and a 1 s keep-alive timeout to stay fast, and reads the
 * bytes it sends over a raw socket.
 */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <json-c/json.h>
#include <zlib.h>

#include "hclient.h"
#include "hfixture.h"
#include "hreq.h"
#include "hproc.h"

#define API       "/api/v1/appointment/s2s"
#define DISPO     API "/phone/query/dispositions"
#define LEAD_PATH API "/phone/query?phone=%2B18015551234"
#define ALPHA     "hs_test_tenant_alpha_0001"
#define RAW_MAX   (256 * 1024)
#define QUIET_MS  300               /* no more bytes: the answer is whole */
#define EH        "HTTP/1.1 103 Early Hints\r\n" \
    "Link: </api/v1/appointment/s2s/phone/query/dispositions>; " \
    "rel=preload; as=fetch\r\n\r\n"
#define CT        "Content-Type: application/json; charset=utf-8\r\n"
#define KA1       "Date: D\r\nConnection: keep-alive\r\nKeep-Alive: " \
    "timeout=1\r\n\r\n"
#define SURPLUS   "HTTP/1.1 200 OK\r\n" CT "Content-Length: 42\r\n\r\n" \
    "{\"sandbox\":\"surplus after the last chunk\"}"

static const char *const realistic[] = {
    "--realistic", "--keepalive-timeout", "1", NULL,
};

/* Bytes read from one connection. */
struct raw {
    char   *p;                      /* owned, NUL-terminated */
    size_t  len;
    bool    closed;                 /* the sandbox closed the connection */
    long    closed_ms;              /* when, from the end of the send */
};

static void
sandbox_fini(void)
{
    hproc_stop_all();
}

TestSuite(sandbox_habits, .fini = sandbox_fini);

static void
start(struct hproc *p, const char *name, const char *const *args)
{
    cr_assert_eq(hproc_sandbox_start(name, args, p), 0, "%s", p->error);
}

/*
 * Reads from FD into OUT until the peer closes, or QUIET_MS pass without
 * a byte once at least WANT bytes are there, or LIMIT_MS pass in all.
 */
static void
raw_read(int fd, size_t want, long limit_ms, long t0, struct raw *out)
{
    long end = hfixture_now_ms() + limit_ms;

    for (;;) {
        struct pollfd pfd = { fd, POLLIN, 0 };
        long          now = hfixture_now_ms();
        long          wait = out->len >= want ? QUIET_MS : end - now;
        ssize_t       n;

        if (wait <= 0 || poll(&pfd, 1, (int)wait) <= 0) {
            return;
        }
        cr_assert_lt(out->len, RAW_MAX - 1, "too many bytes");
        n = recv(fd, out->p + out->len, RAW_MAX - 1 - out->len, 0);
        if (n <= 0) {
            out->closed = true;
            out->closed_ms = hfixture_now_ms() - t0;
            return;
        }
        out->len += (size_t)n;
        out->p[out->len] = '\0';
    }
}

/*
 * Sends REQ on a new connection to BASE and reads the answer as
 * raw_read does. The caller frees OUT->p.
 */
static void
exchange(const char *base, const char *req, size_t want, struct raw *out)
{
    int  fd = hclient_tcp_open(base, 5000);
    long t0;

    cr_assert_geq(fd, 0, "connect %s: %s", base, strerror(errno));
    memset(out, 0, sizeof(*out));
    out->p = calloc(1, RAW_MAX);
    cr_assert_not_null(out->p);
    cr_assert_eq(send(fd, req, strlen(req), MSG_NOSIGNAL),
                 (ssize_t)strlen(req));
    t0 = hfixture_now_ms();
    raw_read(fd, want, 5000, t0, out);
    close(fd);
}

/* A GET of PATH as the alpha tenant with the header lines EXTRA. */
static char *
get_req(const char *path, const char *extra)
{
    char *s = NULL;

    cr_assert_gt(asprintf(&s, "GET %s HTTP/1.1\r\nHost: sandbox\r\n"
                          "x-hs-token: " ALPHA "\r\n%s\r\n", path, extra), 0);
    return s;
}

/* Replaces the value of every "Date: " line of S with "D", in place. */
static void
mask_dates(char *s, size_t *len)
{
    char *p = s;

    while ((p = strstr(p, "\r\nDate: ")) != NULL) {
        char  *v = p + 8, *e = strstr(v, "\r\n");
        size_t tail;

        cr_assert_not_null(e);
        tail = *len - (size_t)(e - s);
        *v = 'D';
        memmove(v + 1, e, tail + 1);
        *len -= (size_t)(e - v) - 1;
        p = v;
    }
}

/* Expects the LEN bytes of GOT to be exactly WANT (WANT_LEN bytes). */
static void
expect_bytes(const char *what, const char *got, size_t len, const char *want,
             size_t want_len)
{
    size_t i;

    for (i = 0; i < len && i < want_len && got[i] == want[i]; i++) {
    }
    cr_expect(len == want_len && i == len,
              "%s: %zu bytes, want %zu; first difference at %zu:\n"
              "got:  %.*s\nwant: %.*s", what, len, want_len, i,
              (int)(len - i < 80 ? len - i : 80), got + i,
              (int)(want_len - i < 80 ? want_len - i : 80), want + i);
}

/* How many times NEEDLE occurs in S. */
static size_t
count_str(const char *s, const char *needle)
{
    size_t n = 0;

    while ((s = strstr(s, needle)) != NULL) {
        n++;
        s++;
    }
    return n;
}

/* The identity body of GET PATH from BASE (de-chunked by hclient). */
static char *
identity_body(const char *base, const char *path, size_t *len)
{
    struct hresp r;
    char        *body;

    hreq_get(base, path, HREQ(.token = ALPHA), &r);
    cr_assert_eq(r.status, 200);
    cr_assert_null(hresp_header(&r, "Content-Encoding"));
    body = malloc(r.body_len + 1);
    cr_assert_not_null(body);
    memcpy(body, r.body, r.body_len + 1);
    *len = r.body_len;
    hresp_free(&r);
    return body;
}

/* Inflates IN with WINDOW_BITS; a new NUL-terminated buffer in *OUT. */
static size_t
inflate_body(int window_bits, const char *in, size_t len, char **out)
{
    z_stream zs;
    size_t   cap = 1 << 20;
    int      rc;

    *out = calloc(1, cap);
    cr_assert_not_null(*out);
    memset(&zs, 0, sizeof(zs));
    cr_assert_eq(inflateInit2(&zs, window_bits), Z_OK);
    zs.next_in = (Bytef *)(uintptr_t)in;
    zs.avail_in = (uInt)len;
    zs.next_out = (Bytef *)*out;
    zs.avail_out = (uInt)(cap - 1);
    rc = inflate(&zs, Z_FINISH);
    cr_assert_eq(rc, Z_STREAM_END, "inflate: %d", rc);
    cr_expect_eq(zs.avail_in, 0, "bytes after the compressed stream");
    inflateEnd(&zs);
    return zs.total_out;
}

/* Makes the alpha lead's answer larger than compression()'s 1 KiB. */
static void
grow_lead(const char *base)
{
    static const char *const headers[] = {
        "x-hs-token: " ALPHA, "Content-Type: application/json", NULL,
    };
    char         body[700], pad[251];
    struct hresp r;

    memset(pad, 'A', sizeof(pad) - 1);
    pad[sizeof(pad) - 1] = '\0';
    snprintf(body, sizeof(body), "{\"phone\":\"+18015551234\","
             "\"streetAddress\":\"%s\",\"city\":\"%s\"}", pad, pad);
    cr_assert_eq(hclient_request(base, "PATCH", API "/phone/update", headers,
                                 body, strlen(body), &r), 0, "%s", r.error);
    cr_assert_eq(r.status, 200, "PATCH: %d %s", r.status, r.body);
    hresp_free(&r);
}

/* ---- habits ------------------------------------------------------------ */

/* A gzip (and a deflate) answer decodes to the identity answer. */
Test(sandbox_habits, gzip_decodes_to_identity)
{
    static const char *const gzip_hdr[] = {
        "x-hs-token: " ALPHA, "Accept-Encoding: gzip, deflate, br", NULL,
    };
    static const char *const deflate_hdr[] = {
        "x-hs-token: " ALPHA, "Accept-Encoding: deflate", NULL,
    };
    static const char *const refused_hdr[] = {
        "x-hs-token: " ALPHA, "Accept-Encoding: gzip;q=0, identity", NULL,
    };
    struct hproc        sb;
    struct hresp        r;
    struct json_object *a, *b;
    char               *ident, *dec;
    size_t              ilen, dlen;

    start(&sb, "sandbox-gzip", realistic);
    grow_lead(sb.url);
    ident = identity_body(sb.url, LEAD_PATH, &ilen);
    cr_assert_geq(ilen, 1024, "the lead is %zu bytes", ilen);

    cr_assert_eq(hclient_request(sb.url, "GET", LEAD_PATH, gzip_hdr, NULL, 0,
                                 &r), 0, "%s", r.error);
    cr_expect_eq(r.status, 200);
    cr_expect_str_eq(hresp_header(&r, "Content-Encoding"), "gzip");
    cr_expect_str_eq(hresp_header(&r, "Vary"), "Accept-Encoding");
    cr_expect_str_eq(hresp_header(&r, "Transfer-Encoding"), "chunked");
    cr_expect_null(hresp_header(&r, "Content-Length"));
    cr_expect_lt(r.body_len, ilen);
    dlen = inflate_body(16 + MAX_WBITS, r.body, r.body_len, &dec);
    cr_expect_eq(dlen, ilen);
    cr_expect(memcmp(dec, ident, ilen) == 0, "gzip decodes to another body");
    a = json_tokener_parse(dec);
    b = json_tokener_parse(ident);
    cr_expect(a != NULL && json_object_equal(a, b), "not the same JSON");
    json_object_put(a);
    json_object_put(b);
    free(dec);
    hresp_free(&r);

    cr_assert_eq(hclient_request(sb.url, "GET", LEAD_PATH, deflate_hdr, NULL,
                                 0, &r), 0, "%s", r.error);
    cr_expect_str_eq(hresp_header(&r, "Content-Encoding"), "deflate");
    dlen = inflate_body(MAX_WBITS, r.body, r.body_len, &dec);  /* zlib */
    cr_expect(dlen == ilen && memcmp(dec, ident, ilen) == 0);
    free(dec);
    hresp_free(&r);

    cr_assert_eq(hclient_request(sb.url, "GET", LEAD_PATH, refused_hdr, NULL,
                                 0, &r), 0, "%s", r.error);
    cr_expect_null(hresp_header(&r, "Content-Encoding"));
    cr_expect(r.body_len == ilen && memcmp(r.body, ident, ilen) == 0);
    hresp_free(&r);

    /* under 1 KiB: identity, but Vary all the same (compression()) */
    cr_assert_eq(hclient_request(sb.url, "GET", DISPO, gzip_hdr, NULL, 0,
                                 &r), 0, "%s", r.error);
    cr_expect_null(hresp_header(&r, "Content-Encoding"));
    cr_expect_str_eq(hresp_header(&r, "Vary"), "Accept-Encoding");
    cr_expect(r.body_len > 0 && r.body[0] == '{');
    hresp_free(&r);
    free(ident);
    hfixture_stop(&sb);
}

/*
 * 103 first, then the final answer, chunked, with Keep-Alive: timeout=1;
 * then the idle connection is closed by the sandbox after about 1 s.
 */
Test(sandbox_habits, early_hints_chunked_keepalive)
{
    struct hproc sb;
    struct raw   raw;
    char        *req = get_req(DISPO, ""), *want, *body;
    size_t       blen;
    int          n;

    start(&sb, "sandbox-ka", realistic);
    body = identity_body(sb.url, DISPO, &blen);
    n = asprintf(&want, EH "HTTP/1.1 200 OK\r\n" CT
                 "Connection: keep-alive\r\nKeep-Alive: timeout=1\r\n"
                 "Vary: Accept-Encoding\r\nTransfer-Encoding: chunked\r\n"
                 "Date: D\r\n\r\n%zx\r\n%s\r\n0\r\n\r\n", blen, body);
    cr_assert_gt(n, 0);

    /* read until the sandbox closes the idle connection (limit 5 s) */
    {
        int  fd = hclient_tcp_open(sb.url, 5000);
        long t0;

        cr_assert_geq(fd, 0);
        memset(&raw, 0, sizeof(raw));
        raw.p = calloc(1, RAW_MAX);
        cr_assert_not_null(raw.p);
        cr_assert_eq(send(fd, req, strlen(req), MSG_NOSIGNAL),
                     (ssize_t)strlen(req));
        t0 = hfixture_now_ms();
        raw_read(fd, SIZE_MAX, hfixture_slow_ms(5000), t0, &raw);
        close(fd);
    }
    cr_expect(raw.closed, "the idle connection is still open after 5 s");
    /* the answer takes a few ms; idle then 1 s, generously bounded */
    cr_expect(raw.closed_ms >= 900 && raw.closed_ms <= hfixture_slow_ms(3000),
              "closed after %ld ms, want about 1000", raw.closed_ms);
    mask_dates(raw.p, &raw.len);
    expect_bytes("103 then a chunked 200", raw.p, raw.len, want, strlen(want));
    free(raw.p);
    free(want);
    free(body);
    free(req);
    hfixture_stop(&sb);
}

/* Without the habits, answers are what they always were. */
Test(sandbox_habits, off_by_default)
{
    static const char *const none[] = { NULL };
    static const char *const gzip_hdr[] = {
        "x-hs-token: " ALPHA, "Accept-Encoding: gzip", NULL,
    };
    struct hproc sb;
    struct raw   raw;
    struct hresp r;
    char        *req = get_req(DISPO, "Accept-Encoding: gzip\r\n");

    start(&sb, "sandbox-plain", none);
    exchange(sb.url, req, 1, &raw);
    cr_expect(strncmp(raw.p, "HTTP/1.1 200 OK\r\n", 17) == 0, "%s", raw.p);
    cr_expect_null(strstr(raw.p, "Early Hints"));
    cr_expect_null(strstr(raw.p, "Keep-Alive"));
    cr_expect_null(strstr(raw.p, "Vary"));
    cr_expect_null(strstr(raw.p, "Transfer-Encoding"));
    cr_expect_not_null(strstr(raw.p, "\r\nContent-Length: "));
    cr_expect_not(raw.closed);
    free(raw.p);
    free(req);
    grow_lead(sb.url);
    cr_assert_eq(hclient_request(sb.url, "GET", LEAD_PATH, gzip_hdr, NULL, 0,
                                 &r), 0, "%s", r.error);
    cr_expect_null(hresp_header(&r, "Content-Encoding"));
    hresp_free(&r);
    hfixture_stop(&sb);
}

/* ---- misbehaviours ---------------------------------------------------- */

struct kind_case {
    const char *kind;
    const char *extra;              /* more request header lines */
};

/* The exact bytes the sandbox must send for KIND with body B (BLEN). */
static size_t
expected(const char *kind, const char *b, size_t blen, char **out)
{
    char  *s = NULL;
    int    n = -1;

    if (strcmp(kind, "long-body") == 0) {
        n = asprintf(&s, EH "HTTP/1.1 200 OK\r\n" CT
                     "Content-Length: %zu\r\n" KA1 "%s", blen - 3, b);
    } else if (strcmp(kind, "two-lengths") == 0) {
        n = asprintf(&s, EH "HTTP/1.1 200 OK\r\n" CT "Content-Length: %zu\r\n"
                     "Content-Length: %zu\r\n" KA1 "%s", blen, blen + 10, b);
    } else if (strcmp(kind, "body-on-204") == 0) {
        n = asprintf(&s, EH "HTTP/1.1 204 No Content\r\n" CT KA1 "%s", b);
    } else if (strcmp(kind, "bad-header-byte") == 0) {
        n = asprintf(&s, EH "HTTP/1.1 200 OK\r\n" CT "Content-Length: %zu\r\n"
                     "X-Sandbox-Note: bad\x01" "byte\r\n" KA1 "%s", blen, b);
    } else if (strcmp(kind, "bad-header-name") == 0) {
        n = asprintf(&s, EH "HTTP/1.1 200 OK\r\n" CT "Content-Length: %zu\r\n"
                     "X-Sandbox Note: bad name\r\n" KA1 "%s", blen, b);
    } else if (strcmp(kind, "unasked-coding") == 0) {
        /* brotli, stored: WBITS 16, one uncompressed meta-block, the
         * empty last one (RFC 7932), written out by hand */
        unsigned m = (unsigned)blen - 1;

        cr_assert_lt(blen, 32768);
        n = asprintf(&s, EH "HTTP/1.1 200 OK\r\n" CT "Content-Encoding: br\r\n"
                     "Vary: Accept-Encoding\r\nContent-Length: %zu\r\n" KA1
                     "%c%c%c%s%c", blen + 4, (m & 0xf) << 4, (m >> 4) & 0xff,
                     ((m >> 12) & 0xf) | 0x10, b, 0x03);
    } else if (strcmp(kind, "after-last-chunk") == 0) {
        n = asprintf(&s, EH "HTTP/1.1 200 OK\r\n" CT
                     "Transfer-Encoding: chunked\r\n" KA1
                     "%zx\r\n%s\r\n0\r\n\r\n" SURPLUS, blen, b);
    } else if (strcmp(kind, "http10-close") == 0) {
        n = asprintf(&s, EH "HTTP/1.0 200 OK\r\n" CT
                     "Date: D\r\nConnection: close\r\n\r\n%s", b);
    }
    cr_assert_gt(n, 0, "no expectation for %s", kind);
    *out = s;
    return (size_t)n;
}

Test(sandbox_habits, misbehave_bytes)
{
    static const struct kind_case cases[] = {
        { "long-body", "" },
        { "two-lengths", "" },
        { "body-on-204", "" },
        { "bad-header-byte", "" },
        { "bad-header-name", "" },
        { "unasked-coding", "Accept-Encoding: gzip, deflate\r\n" },
        { "after-last-chunk", "" },
        { "http10-close", "" },
    };
    struct hproc sb;
    char        *body;
    size_t       blen, i;

    start(&sb, "sandbox-misbehave", realistic);
    body = identity_body(sb.url, DISPO, &blen);
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char      *extra, *req, *want;
        size_t     wlen;
        struct raw raw;

        cr_assert_gt(asprintf(&extra, "%sX-Sandbox-Misbehave: %s\r\n",
                              cases[i].extra, cases[i].kind), 0);
        req = get_req(DISPO, extra);
        wlen = expected(cases[i].kind, body, blen, &want);
        exchange(sb.url, req, wlen, &raw);
        mask_dates(raw.p, &raw.len);
        expect_bytes(cases[i].kind, raw.p, raw.len, want, wlen);
        /* kept alive, surplus and all, as the real bugs leave it; only
         * http10-close closes (the 1 s idle timeout is further away than
         * QUIET_MS) */
        cr_expect_eq(raw.closed, strcmp(cases[i].kind, "http10-close") == 0,
                     "%s: closed %d", cases[i].kind, raw.closed);
        free(raw.p);
        free(want);
        free(req);
        free(extra);
    }
    free(body);
    hfixture_stop(&sb);
}

/* What long-body leaves on the connection is read with the next answer. */
Test(sandbox_habits, long_body_tail_stays_on_the_connection)
{
    struct hproc sb;
    struct raw   raw;
    char        *first = get_req(DISPO, "X-Sandbox-Misbehave: long-body\r\n");
    char        *second = get_req(DISPO, ""), *both, *body;
    size_t       blen;

    start(&sb, "sandbox-tail", realistic);
    body = identity_body(sb.url, DISPO, &blen);
    cr_assert_gt(asprintf(&both, "%s%s", first, second), 0);
    exchange(sb.url, both, 2 * blen + 300, &raw);
    /* the first answer's last 3 bytes, then the second answer's 103 */
    {
        char *at = strstr(raw.p, body + blen - 3);
        char *eh = strstr(raw.p + 1, EH);

        cr_assert_not_null(at);
        cr_expect(eh != NULL && at + 3 == eh,
                  "the 3 surplus bytes are not followed by the next answer");
        cr_expect_not_null(eh != NULL ? strstr(eh, "HTTP/1.1 200 OK") : NULL);
    }
    free(raw.p);
    free(both);
    free(body);
    free(first);
    free(second);
    hfixture_stop(&sb);
}

/* An unknown kind is a 400 in the API's format that lists the kinds. */
Test(sandbox_habits, misbehave_unknown_kind)
{
    static const char *const headers[] = {
        "x-hs-token: " ALPHA, "X-Sandbox-Misbehave: explode", NULL,
    };
    struct hproc sb;
    struct hresp r;

    start(&sb, "sandbox-unknown", realistic);
    cr_assert_eq(hclient_request(sb.url, "GET", DISPO, headers, NULL, 0, &r),
                 0, "%s", r.error);
    cr_expect_eq(r.status, 400);
    cr_expect_not_null(strstr(r.body, "\"statusCode\":400"));
    cr_expect_not_null(strstr(r.body, "X-Sandbox-Misbehave must be one of"));
    cr_expect_not_null(strstr(r.body, "after-last-chunk"));
    hresp_free(&r);
    hfixture_stop(&sb);
}

/*
 * --misbehave applies to every API answer, never to admin routes; the
 * header wins ("none" included); POST /__sandbox/config changes it.
 */
Test(sandbox_habits, misbehave_flag_and_config)
{
    static const char *const args[] = { "--misbehave", "two-lengths", NULL };
    static const char *const cfg_hdr[] = {
        "Content-Type: application/json", NULL,
    };
    static const char set_long[] = "{\"misbehave\":\"long-body\"}";
    static const char set_bad[] = "{\"misbehave\":\"nope\",\"gzip\":1}";
    struct hproc sb;
    struct raw   raw;
    struct hresp r;
    char        *req = get_req(DISPO, ""), *none;

    start(&sb, "sandbox-flag", args);
    exchange(sb.url, req, 1, &raw);
    cr_expect_eq(count_str(raw.p, "\r\nContent-Length: "), 2, "%s", raw.p);
    free(raw.p);

    none = get_req(DISPO, "X-Sandbox-Misbehave: none\r\n");
    cr_assert_eq(hclient_raw(sb.url, none, strlen(none), &r), 0, "%s",
                 r.error);
    cr_expect_eq(r.status, 200);
    cr_expect_eq(hresp_header_count(&r, "Content-Length"), 1);
    hresp_free(&r);
    free(none);

    hreq_get(sb.url, "/__sandbox/stats", NULL, &r);
    cr_expect_eq(r.status, 200);
    cr_expect_eq(hresp_header_count(&r, "Content-Length"), 1);
    hresp_free(&r);

    cr_assert_eq(hclient_request(sb.url, "POST", "/__sandbox/config",
                                 cfg_hdr, set_long, strlen(set_long), &r), 0,
                 "%s", r.error);
    cr_expect_eq(r.status, 200);
    cr_expect_not_null(strstr(r.body, "\"misbehave\":\"long-body\""));
    hresp_free(&r);
    exchange(sb.url, req, 1, &raw);
    cr_expect_eq(count_str(raw.p, "\r\nContent-Length: "), 1, "%s", raw.p);
    {
        const char *cl = strstr(raw.p, "\r\nContent-Length: ");
        const char *end = strstr(raw.p, "\r\n\r\n");

        cr_assert(cl != NULL && end != NULL);
        cr_expect_eq(strtoul(cl + 18, NULL, 10) + 3,
                     raw.len - (size_t)(end + 4 - raw.p),
                     "long-body: %s", raw.p);
    }
    free(raw.p);

    cr_assert_eq(hclient_request(sb.url, "POST", "/__sandbox/config",
                                 cfg_hdr, set_bad, strlen(set_bad), &r), 0,
                 "%s", r.error);
    cr_expect_eq(r.status, 400);
    cr_expect_not_null(strstr(r.body, "misbehave must be"));
    cr_expect_not_null(strstr(r.body, "gzip must be a boolean"));
    hresp_free(&r);
    free(req);
    hfixture_stop(&sb);
}

/* --realistic alone means a 5 s timeout; an explicit flag wins over it. */
Test(sandbox_habits, realistic_defaults_and_overrides)
{
    static const char *const args[] = {
        "--chunked", "off", "--realistic", "--early-hints", "off", NULL,
    };
    struct hproc sb;
    struct raw   raw;
    char        *req = get_req(DISPO, "");

    start(&sb, "sandbox-defaults", args);
    exchange(sb.url, req, 1, &raw);
    cr_expect(strncmp(raw.p, "HTTP/1.1 200 OK\r\n", 17) == 0,
              "no 103 with --early-hints off: %s", raw.p);
    cr_expect_not_null(strstr(raw.p, "\r\nKeep-Alive: timeout=5\r\n"));
    cr_expect_not_null(strstr(raw.p, "\r\nConnection: keep-alive\r\n"));
    cr_expect_not_null(strstr(raw.p, "\r\nVary: Accept-Encoding\r\n"));
    cr_expect_not_null(strstr(raw.p, "\r\nContent-Length: "));
    cr_expect_null(strstr(raw.p, "Transfer-Encoding"));
    free(raw.p);
    free(req);
    hfixture_stop(&sb);
}

/* unasked-coding takes a coding the request did not accept, for real. */
Test(sandbox_habits, unasked_coding_is_never_an_accepted_one)
{
    static const char *const args[] = {
        "--misbehave", "unasked-coding", NULL,
    };
    static const char *const br_only[] = {
        "x-hs-token: " ALPHA, "Accept-Encoding: br", NULL,
    };
    static const char *const br_deflate[] = {
        "x-hs-token: " ALPHA, "Accept-Encoding: br, deflate", NULL,
    };
    static const char *const plain[] = {
        "x-hs-token: " ALPHA, "X-Sandbox-Misbehave: none", NULL,
    };
    struct hproc sb;
    struct hresp r;
    char        *ident, *dec;
    size_t       ilen, dlen;

    start(&sb, "sandbox-unasked", args);
    cr_assert_eq(hclient_request(sb.url, "GET", DISPO, plain, NULL, 0, &r),
                 0, "%s", r.error);
    ident = strdup(r.body);
    ilen = r.body_len;
    hresp_free(&r);
    cr_assert_not_null(ident);

    cr_assert_eq(hclient_request(sb.url, "GET", DISPO, br_only, NULL, 0, &r),
                 0, "%s", r.error);
    cr_expect_str_eq(hresp_header(&r, "Content-Encoding"), "deflate");
    dlen = inflate_body(MAX_WBITS, r.body, r.body_len, &dec);
    cr_expect(dlen == ilen && memcmp(dec, ident, ilen) == 0);
    free(dec);
    hresp_free(&r);

    cr_assert_eq(hclient_request(sb.url, "GET", DISPO, br_deflate, NULL, 0,
                                 &r), 0, "%s", r.error);
    cr_expect_str_eq(hresp_header(&r, "Content-Encoding"), "gzip");
    dlen = inflate_body(16 + MAX_WBITS, r.body, r.body_len, &dec);
    cr_expect(dlen == ilen && memcmp(dec, ident, ilen) == 0);
    free(dec);
    hresp_free(&r);
    free(ident);
    hfixture_stop(&sb);
}
