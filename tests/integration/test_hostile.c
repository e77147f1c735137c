/*
 * test_hostile.c - hostile HTTP against the real proxy (SPEC §8): request
 * smuggling shapes, bytes that are not text, absurd sizes and counts,
 * slow clients and too many of them. Raw bytes over plain sockets, since
 * no polite client sends these.
 *
 * Every test warms one lead into the cache first, then after its abuse
 * checks that nothing hangs, that the answer is a 4xx (in the upstream's
 * JSON format where the proxy makes it; evhttp's own page and a close
 * where evhttp answers before the proxy sees a request), that nothing
 * smuggled reached the upstream (the sandbox's request counter), and
 * that the cached lead is still served whole: a normal request works
 * afterwards, and nothing cached was damaged.
 *
 * The main proxy ($HSP_PROXY_URL) has the default limits but max_body 8k;
 * timeouts and the connection cap are tested on proxies of their own.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <json-c/json.h>

#include "hclient.h"
#include "hsandbox.h"
#include "hfixture.h"
#include "hreq.h"
#include "hproc.h"

#define API "/api/v1/appointment/s2s"

/* The limits the tests lean on: conf defaults, and run.sh's max_body. */
#define MAX_HEADER_SIZE 8192
#define MAX_HEADERS     100
#define MAX_QUERY       4096
#define MAX_BODY        8192
#define EVHTTP_LIMIT    (2 * (MAX_HEADER_SIZE + MAX_QUERY) + 1024)

/* ---- fixtures ----------------------------------------------------------- */

static struct json_object *seed;

static struct json_object *
seed_tenant(size_t t)
{
    struct json_object *tenants;

    if (seed == NULL) {
        seed = hsandbox_seed_load();
        cr_assert_not_null(seed, "cannot load the seed file");
    }
    cr_assert(json_object_object_get_ex(seed, "tenants", &tenants));
    cr_assert_not_null(json_object_array_get_idx(tenants, t));
    return json_object_array_get_idx(tenants, t);
}

static const char *
token(size_t t)
{
    struct json_object *v;

    cr_assert(json_object_object_get_ex(seed_tenant(t), "token", &v));
    return json_object_get_string(v);
}

/* The phone of lead L of tenant T, as a query value ('+' encoded). */
static const char *
qphone(size_t t, size_t l, char *buf, size_t cap)
{
    struct json_object *leads, *lead, *v;
    const char         *p;
    size_t              o = 0;

    cr_assert(json_object_object_get_ex(seed_tenant(t), "leads", &leads));
    lead = json_object_array_get_idx(leads, l);
    cr_assert(lead != NULL && json_object_object_get_ex(lead, "phone", &v));
    for (p = json_object_get_string(v); *p != '\0' && o + 4 < cap; p++) {
        if (*p == '+') {
            memcpy(buf + o, "%2B", 3);
            o += 3;
        } else {
            buf[o++] = *p;
        }
    }
    buf[o] = '\0';
    return buf;
}

static void
hostile_init(void)
{
    hfixture_fresh();
}

static void
hostile_fini(void)
{
    hproc_stop_all();
    if (seed != NULL) {
        json_object_put(seed);
        seed = NULL;
    }
}

TestSuite(hostile, .init = hostile_init, .fini = hostile_fini,
          .timeout = 60);

/* ---- the lead that must come through unharmed --------------------------- */

static char  lead_path[256];        /* GET path of the warmed lead */
static char *lead_body;             /* its body, as first answered */

/* Caches lead 0 of tenant 0 through BASE: a MISS, then a HIT. */
static void
warm_lead(const char *base)
{
    static struct hresp r;
    char                q[64];

    snprintf(lead_path, sizeof(lead_path), API "/phone/query?phone=%s",
             qphone(0, 0, q, sizeof(q)));
    hreq_get(base, lead_path, HREQ(.token = token(0)), &r);
    cr_assert_eq(r.status, 200, "warming the lead: %d %s", r.status,
                 r.body);
    free(lead_body);
    lead_body = strdup(r.body);
    cr_assert_not_null(lead_body);
    hresp_free(&r);
    hreq_get(base, lead_path, HREQ(.token = token(0)), &r);
    cr_assert_str_eq(hreq_hdr(&r, "X-Cache"), "HIT");
    hresp_free(&r);
}

/* The proxy at BASE still serves the warmed lead, from the cache, whole. */
static void
expect_lead_intact(const char *base)
{
    static struct hresp r;

    hreq_get(base, lead_path, HREQ(.token = token(0)), &r);
    cr_expect_eq(r.status, 200, "the lead after the abuse: %d %s", r.status,
                 r.body);
    cr_expect_str_eq(hreq_hdr(&r, "X-Cache"), "HIT");
    cr_expect_str_eq(r.body, lead_body, "the cached lead changed");
    hresp_free(&r);
}

/* ---- raw requests ------------------------------------------------------- */

/* Bytes of a hostile request, NULs allowed. */
struct raw {
    char   p[80 * 1024];
    size_t len;
};

static void
raw_add(struct raw *w, const void *p, size_t n)
{
    cr_assert_lt(w->len + n, sizeof(w->p), "raw request too large");
    memcpy(w->p + w->len, p, n);
    w->len += n;
}

static void
raw_str(struct raw *w, const char *s)
{
    raw_add(w, s, strlen(s));
}

__attribute__((format(printf, 2, 3))) static void
raw_fmt(struct raw *w, const char *fmt, ...)
{
    va_list ap;
    int     n;

    va_start(ap, fmt);
    n = vsnprintf(w->p + w->len, sizeof(w->p) - w->len, fmt, ap);
    va_end(ap);
    cr_assert(n >= 0 && (size_t)n < sizeof(w->p) - w->len);
    w->len += (size_t)n;
}

/* A good GET of lead L of tenant 0 (not cached but for L 0). */
static void
raw_good_get(struct raw *w, size_t l)
{
    char q[64];

    raw_fmt(w, "GET " API "/phone/query?phone=%s HTTP/1.1\r\n"
               "Host: proxy\r\nx-hs-token: %s\r\n\r\n",
            qphone(0, l, q, sizeof(q)), token(0));
}

/*
 * How many whole responses R holds, one after the other, each framed by
 * its Content-Length; *NTH (when not NULL) points at the second one.
 */
static size_t
responses_at(const struct hresp *r, const char **second)
{
    size_t pos = 0, n = 0;

    if (second != NULL) {
        *second = NULL;
    }
    while (pos + 9 <= r->raw_len &&
           memcmp(r->raw + pos, "HTTP/1.1 ", 9) == 0) {
        const char *head = r->raw + pos;
        const char *end = memmem(head, r->raw_len - pos, "\r\n\r\n", 4);
        const char *cl;
        size_t      len = 0;

        if (end == NULL) {
            break;
        }
        for (cl = head; cl < end; cl++) {
            if (strncasecmp(cl, "\r\nContent-Length:", 17) == 0) {
                len = strtoul(cl + 17, NULL, 10);
                break;
            }
        }
        if (n == 1 && second != NULL) {
            *second = head;
        }
        n++;
        pos = (size_t)(end + 4 - r->raw) + len;
    }
    return n;
}

static size_t
responses(const struct hresp *r)
{
    return responses_at(r, NULL);
}

/* Sends W to BASE as is; asserts that something came back. */
static void
send_raw(const char *base, const struct raw *w, struct hresp *out)
{
    cr_assert_eq(hclient_raw(base, w->p, w->len, out), 0, "%s", out->error);
    cr_assert(!out->timed_out, "no answer: the proxy hangs (got %zu bytes)",
              out->raw_len);
}

/* R is the proxy's own STATUS error, with MSG among its messages. */
static void
expect_json_error(const struct hresp *r, int status, const char *msg)
{
    const char *ct = hresp_header(r, "Content-Type");
    char        want[32];

    cr_expect_eq(r->status, status, "status %d, want %d: %.300s", r->status,
                 status, r->raw);
    cr_expect(ct != NULL && strncasecmp(ct, "application/json", 16) == 0,
              "Content-Type %s", ct != NULL ? ct : "(none)");
    snprintf(want, sizeof(want), "{\"statusCode\":%d,", status);
    cr_expect(strncmp(r->body, want, strlen(want)) == 0, "body %s",
              r->body);
    if (msg != NULL) {
        cr_expect(strstr(r->body, msg) != NULL, "no \"%s\" in %s", msg,
                  r->body);
    }
}

/*
 * A request the proxy cannot trust the framing of: its STATUS with MSG
 * in the upstream's format (never evhttp's HTML page), the connection
 * closed after it, and nothing after it read as a request.
 */
static void
expect_closed_with(const struct hresp *r, int status, const char *msg)
{
    expect_json_error(r, status, msg);
    cr_expect(r->closed, "the connection stayed open");
    cr_expect_eq(responses(r), 1, "%zu responses: %.600s", responses(r),
                 r->raw);
}

static void
expect_refused_and_closed(const struct hresp *r, const char *msg)
{
    expect_closed_with(r, 400, msg);
}

/* A 4xx the proxy made (JSON), then the pipelined good request's 200. */
static void
expect_error_then_served(const struct hresp *r, int status,
                         const char *msg)
{
    const char *second;

    expect_json_error(r, status, msg);
    cr_expect_eq(responses_at(r, &second), 2, "%zu responses: %.600s",
                 responses(r), r->raw);
    cr_expect(second != NULL && strncmp(second, "HTTP/1.1 200", 12) == 0,
              "the next request on the connection: %.300s",
              second != NULL ? second : "(none)");
}

/* ---- request smuggling -------------------------------------------------- */

/*
 * A PATCH with the framing headers FRAMING (where '@' stands for the
 * length of what follows the header) and the body BODY, followed on
 * the same connection by a GET of lead 1 that a desynchronised reader
 * would take for a second request. Sends it, and checks that the proxy
 * refused the first with MSG and closed, and that the upstream saw
 * nothing at all. Shapes evhttp would refuse with its own page are
 * refused by the proxy's lexer first, in the same format.
 */
static void
smuggle(const char *framing, const char *body, const char *msg)
{
    static struct hresp r;
    const char         *base = hfixture_env("HSP_PROXY_URL");
    struct raw         *w = calloc(1, sizeof(*w));
    struct raw          tail = { .len = 0 };
    long                before;

    cr_assert_not_null(w);
    warm_lead(base);
    raw_good_get(&tail, 1);
    raw_fmt(w, "PATCH " API "/phone/update HTTP/1.1\r\nHost: proxy\r\n"
               "x-hs-token: %s\r\nContent-Type: application/json\r\n",
            token(0));
    for (; *framing != '\0'; framing++) {
        if (*framing == '@') {
            raw_fmt(w, "%zu", tail.len + strlen(body));
        } else {
            raw_add(w, framing, 1);
        }
    }
    raw_str(w, "\r\n");
    raw_str(w, body);
    raw_add(w, tail.p, tail.len);
    before = hfixture_count("total");
    send_raw(base, w, &r);
    expect_refused_and_closed(&r, msg);
    cr_expect_eq(hfixture_count("total"), before,
                 "the upstream saw a request");
    hresp_free(&r);
    free(w);
    expect_lead_intact(base);
}

/*
 * A framing that could smuggle a request: smuggle()'s arguments. As
 * arrays: parameters reach the test's process as bytes (see test_idem.c).
 */
struct smuggle_case {
    char framing[80];               /* header lines; '@' the length */
    char body[8];
    char msg[40];                   /* the 400's message */
};

ParameterizedTestParameters(hostile, ambiguous_framing_is_400_and_closed)
{
    static struct smuggle_case cases[] = {
        /* Content-Length with chunked, in either order */
        { "Content-Length: @\r\nTransfer-Encoding: chunked\r\n",
          "0\r\n\r\n", "Content-Length and Transfer-Encoding" },
        { "Transfer-Encoding: chunked\r\nContent-Length: @\r\n",
          "0\r\n\r\n", "Content-Length and Transfer-Encoding" },
        /* two different Content-Lengths: evhttp takes the first (2), so
         * the GET would be a second request */
        { "Content-Length: 2\r\nContent-Length: @\r\n", "{}",
          "more than one Content-Length" },
        /* two equal ones */
        { "Content-Length: 2\r\nContent-Length: 2\r\nX-Len: @\r\n",
          "{}", "more than one Content-Length" },
        /* a Transfer-Encoding other than chunked */
        { "Transfer-Encoding: gzip\r\nX-Len: @\r\n", "",
          "Transfer-Encoding must be chunked" },
        { "Transfer-Encoding: gzip, chunked\r\nX-Len: @\r\n",
          "0\r\n\r\n", "Transfer-Encoding must be chunked" },
        { "Transfer-Encoding: chunked\r\n"
          "Transfer-Encoding: chunked\r\nX-Len: @\r\n", "0\r\n\r\n",
          "Transfer-Encoding must be chunked" },
    };

    return cr_make_param_array(struct smuggle_case, cases,
                               sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct smuggle_case *c, hostile,
                  ambiguous_framing_is_400_and_closed)
{
    cr_log_info("%s", c->framing);
    smuggle(c->framing, c->body, c->msg);
}

/*
 * Sends METHOD on the warm lead with a Content-Length whose body is a
 * whole second request, into OUT; asserts the upstream saw nothing.
 */
static void
body_spelling_a_request(const char *method, struct hresp *out)
{
    const char *base = hfixture_env("HSP_PROXY_URL");
    struct raw  w = { .len = 0 }, tail = { .len = 0 };
    long        before;

    warm_lead(base);
    raw_good_get(&tail, 1);
    raw_fmt(&w, "%s %s HTTP/1.1\r\nHost: proxy\r\nx-hs-token: %s\r\n"
                "Content-Length: %zu\r\n\r\n", method, lead_path,
            token(0), tail.len);
    raw_add(&w, tail.p, tail.len);
    before = hfixture_count("total");
    send_raw(base, &w, out);
    cr_expect_eq(responses(out), 1, "%s: the body was answered as a "
                 "request: %.600s", method, out->raw);
    cr_expect_eq(hfixture_count("total"), before,
                 "%s: the upstream saw a request", method);
}

/* A GET's body is its body (SPEC §11): read by its framing, never taken
 * for the next request, even when it spells one. */
Test(hostile, a_body_on_a_get_is_its_body_not_a_request)
{
    static struct hresp r;

    body_spelling_a_request("GET", &r);
    cr_expect_eq(r.status, 200, "%.300s", r.raw);
    hresp_free(&r);
    expect_lead_intact(hfixture_env("HSP_PROXY_URL"));
}

/* evhttp reads no body for a HEAD: a Content-Length on one would make
 * its body the next request. */
Test(hostile, a_body_on_a_head_is_400_and_closed)
{
    static struct hresp r;

    body_spelling_a_request("HEAD", &r);
    cr_expect_eq(r.status, 400, "%.300s", r.raw);
    cr_expect(r.closed, "the connection stayed open");
    hresp_free(&r);
    expect_lead_intact(hfixture_env("HSP_PROXY_URL"));
}

Test(hostile, obs_fold_is_400_and_closed)
{
    /* To evhttp this is no chunked body, but an empty one. */
    smuggle("Transfer-Encoding:\r\n chunked\r\nX-Len: @\r\n", "0\r\n\r\n",
            "obsolete line folding");
    smuggle("X-Len: @\r\nX-Note: a\r\n\tb\r\n", "",
            "obsolete line folding");
}

/* The same, as the second request on a connection: its bytes came with
 * the first, before the proxy started reading it. */
Test(hostile, a_pipelined_fold_is_400_and_closed)
{
    static struct hresp r;
    const char         *base = hfixture_env("HSP_PROXY_URL");
    struct raw          w = { .len = 0 };
    const char         *second;
    long                before;

    warm_lead(base);
    raw_good_get(&w, 0);
    raw_fmt(&w, "GET %s HTTP/1.1\r\nHost: proxy\r\nx-hs-token: %s\r\n"
                "X-Note: a\r\n b\r\n\r\n", lead_path, token(0));
    raw_good_get(&w, 1);
    before = hfixture_count("total");
    send_raw(base, &w, &r);
    cr_expect_eq(r.status, 200, "%.300s", r.raw);
    cr_expect_eq(responses_at(&r, &second), 2, "%.900s", r.raw);
    cr_expect(second != NULL &&
                  strncmp(second, "HTTP/1.1 400 ", 13) == 0 &&
                  strstr(second, "obsolete line folding") != NULL,
              "second answer: %.300s", second != NULL ? second : "(none)");
    cr_expect(r.closed, "the connection stayed open");
    cr_expect_eq(hfixture_count("total"), before);
    hresp_free(&r);
    expect_lead_intact(base);
}

Test(hostile, invalid_chunk_sizes_are_refused)
{
    static const char *const sizes[] = {
        "zz", "-5", "fffffffffffffffffffffff", "5x", " ", "0x10",
    };
    static struct hresp      r;
    const char              *base = hfixture_env("HSP_PROXY_URL");
    struct raw               w;
    size_t                   i;
    long                     before;

    warm_lead(base);
    for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        w.len = 0;
        raw_fmt(&w, "PATCH " API "/phone/update HTTP/1.1\r\nHost: proxy\r\n"
                    "x-hs-token: %s\r\nTransfer-Encoding: chunked\r\n\r\n"
                    "%s\r\n{}\r\n0\r\n\r\n", token(0), sizes[i]);
        raw_good_get(&w, 1);
        before = hfixture_count("total");
        send_raw(base, &w, &r);
        expect_closed_with(&r, 400, "invalid chunk size");
        cr_expect_eq(hfixture_count("total"), before, "chunk size \"%s\"",
                     sizes[i]);
        hresp_free(&r);
    }
    expect_lead_intact(base);
}

/* ---- bytes that are not text -------------------------------------------- */

/*
 * Heads that evhttp 2.1 would answer with its own HTML page (or, for
 * CONNECT, an unframed page on a connection left open): the proxy's
 * lexer answers each in the upstream's format and closes, and the good
 * GET pipelined after it is never read.
 */
Test(hostile, malformed_heads_get_the_upstreams_format_and_a_close)
{
    static const struct {
        const char *head;           /* up to the blank line, exclusive */
        int         status;
        const char *msg;
    } cases[] = {
        { "GARBAGE\r\n", 400, "malformed request line" },
        { "GET /x\r\n", 400, "malformed request line" },
        { "GET  /x HTTP/1.1\r\n", 400, "malformed request line" },
        { "GET / HTTP/9.9\r\nHost: proxy\r\n", 505,
          "HTTP version not supported" },
        { "CONNECT proxy:443 HTTP/1.1\r\nHost: proxy\r\n", 501,
          "request method not implemented" },
        { "TRACE / HTTP/1.1\r\nHost: proxy\r\n", 501,
          "request method not implemented" },
        { "BREW / HTTP/1.1\r\nHost: proxy\r\n", 501,
          "request method not implemented" },
        { "GET / HTTP/1.1\r\nHost: proxy\r\nNo colon here\r\n", 400,
          "malformed header field" },
        { "GET / HTTP/1.1\r\nHost : proxy\r\n", 400,
          "malformed header field" },
        { "GET / HTTP/1.1\r\nHost: pr\roxy\r\n", 400, "bare CR" },
        { "PATCH " API "/phone/update HTTP/1.1\r\nHost: proxy\r\n"
          "Content-Length: abc\r\n", 400, "invalid Content-Length" },
        { "PATCH " API "/phone/update HTTP/1.1\r\nHost: proxy\r\n"
          "Content-Length: -1\r\n", 400, "invalid Content-Length" },
        { "PATCH " API "/phone/update HTTP/1.1\r\nHost: proxy\r\n"
          "Transfer-Encoding: chunked\r\n\r\n2;ext=1\r\n{}\r\n0\r\n",
          400, "invalid chunk size" },
    };
    static struct hresp r;
    const char         *base = hfixture_env("HSP_PROXY_URL");
    struct raw         *w = calloc(1, sizeof(*w));
    double              refused;
    long                before;
    size_t              i;

    cr_assert_not_null(w);
    warm_lead(base);
    before = hfixture_count("total");
    refused = hreq_metric(base, "heavyset_client_refused_total", NULL);
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        w->len = 0;
        raw_str(w, cases[i].head);
        raw_str(w, "\r\n");
        raw_good_get(w, 0);
        send_raw(base, w, &r);
        cr_expect(hresp_header(&r, "Content-Type") != NULL,
                  "case %zu: %.300s", i, r.raw);
        expect_closed_with(&r, cases[i].status, cases[i].msg);
        hresp_free(&r);
    }
    cr_expect_eq(hfixture_count("total"), before, "the upstream saw one");
    cr_expect_eq(hreq_metric(base, "heavyset_client_refused_total", NULL),
                 refused + (double)(sizeof(cases) / sizeof(cases[0])),
                 "every refusal counted");
    /* Empty lines before a request line are ignored (RFC 9112 §2.2),
     * which evhttp alone would answer with its 400 page. */
    w->len = 0;
    raw_str(w, "\r\n\r\n\n");
    raw_good_get(w, 0);
    raw_good_get(w, 0);
    send_raw(base, w, &r);
    cr_expect_eq(r.status, 200, "%.300s", r.raw);
    cr_expect_eq(responses(&r), 2, "%.600s", r.raw);
    hresp_free(&r);
    free(w);
    expect_lead_intact(base);
}

Test(hostile, nul_in_a_header_value_is_400_and_closed)
{
    static struct hresp r;
    const char         *base = hfixture_env("HSP_PROXY_URL");
    struct raw          w = { .len = 0 };
    long                before;

    warm_lead(base);
    /* evhttp would cut the token at the NUL without a word. */
    raw_fmt(&w, "GET %s HTTP/1.1\r\nHost: proxy\r\nx-hs-token: %s", lead_path,
            token(0));
    raw_add(&w, "\0junk", 5);
    raw_str(&w, "\r\n\r\n");
    raw_good_get(&w, 1);
    before = hfixture_count("total");
    send_raw(base, &w, &r);
    expect_refused_and_closed(&r, "NUL byte");
    cr_expect_eq(hfixture_count("total"), before);
    hresp_free(&r);
    expect_lead_intact(base);
}

Test(hostile, nul_in_the_query_is_refused_without_an_upstream_call)
{
    static struct hresp r;
    const char         *base = hfixture_env("HSP_PROXY_URL");
    struct raw          w;
    long                before;

    warm_lead(base);
    /* %00 after the cached lead's phone: not the lead (it was filed under
     * it before), a 400 of the proxy's own. */
    w.len = 0;
    raw_fmt(&w, "GET %s%%00x HTTP/1.1\r\nHost: proxy\r\nx-hs-token: %s\r\n"
                "\r\n", lead_path, token(0));
    raw_good_get(&w, 0);
    before = hfixture_count("total");
    send_raw(base, &w, &r);
    expect_error_then_served(&r, 400, "phone must be a valid phone number");
    cr_expect_eq(hfixture_count("total"), before);
    hresp_free(&r);

    /* A raw NUL in the request line: refused before evhttp cuts it. */
    w.len = 0;
    raw_fmt(&w, "GET %s", lead_path);
    raw_add(&w, "\0", 1);
    raw_fmt(&w, " HTTP/1.1\r\nHost: proxy\r\nx-hs-token: %s\r\n\r\n",
            token(0));
    send_raw(base, &w, &r);
    expect_closed_with(&r, 400, "malformed request line");
    cr_expect_eq(hfixture_count("total"), before);
    hresp_free(&r);
    expect_lead_intact(base);
}

Test(hostile, invalid_utf8_in_the_query_is_400_locally)
{
    static const char *const queries[] = {
        "phone=%FF%FE%FD", "phone=\xff\xfe\xfd", "phone=%C0%AF1801555",
        "phone=\xc3\x28", "phone=%2B1801%E2%82",
    };
    static struct hresp      r;
    const char              *base = hfixture_env("HSP_PROXY_URL");
    struct raw               w;
    size_t                   i;
    long                     before = -1;

    warm_lead(base);
    before = hfixture_count("total");
    for (i = 0; i < sizeof(queries) / sizeof(queries[0]); i++) {
        w.len = 0;
        raw_fmt(&w, "GET " API "/phone/query?%s HTTP/1.1\r\nHost: proxy\r\n"
                    "x-hs-token: %s\r\n\r\n", queries[i], token(0));
        raw_good_get(&w, 0);
        send_raw(base, &w, &r);
        expect_error_then_served(&r, 400, "phone");
        hresp_free(&r);
    }
    cr_expect_eq(hfixture_count("total"), before);
    expect_lead_intact(base);
}

Test(hostile, invalid_utf8_in_headers_and_bodies_is_a_4xx)
{
    static struct hresp r;
    const char         *base = hfixture_env("HSP_PROXY_URL");
    struct raw          w;
    char                q[64];
    static const char   bad_json[] = "{\"phone\":\"\xff\xfe\",\"firstName\":"
                                     "\"\xc3\x28\"}";
    static const char   nul_json[] = "{\"phone\":\"+1801\0\"}";

    warm_lead(base);
    /* A token that is not UTF-8: the upstream does not know it. */
    w.len = 0;
    raw_fmt(&w, "GET " API "/phone/query?phone=%s HTTP/1.1\r\nHost: proxy\r\n"
                "x-hs-token: \xff\xfe%s\r\n\r\n", qphone(0, 1, q, sizeof(q)),
            token(0));
    raw_good_get(&w, 0);
    send_raw(base, &w, &r);
    cr_expect(r.status >= 400 && r.status < 500, "status %d", r.status);
    cr_expect_eq(responses(&r), 2, "%.600s", r.raw);
    hresp_free(&r);

    /* JSON bodies with bytes that are not UTF-8, and with a NUL. */
    w.len = 0;
    raw_fmt(&w, "PATCH " API "/phone/update HTTP/1.1\r\nHost: proxy\r\n"
                "x-hs-token: %s\r\nContent-Type: application/json\r\n"
                "Content-Length: %zu\r\n\r\n", token(0), sizeof(bad_json) - 1);
    raw_add(&w, bad_json, sizeof(bad_json) - 1);
    raw_good_get(&w, 0);
    send_raw(base, &w, &r);
    expect_error_then_served(&r, 400, NULL);
    hresp_free(&r);

    w.len = 0;
    raw_fmt(&w, "PATCH " API "/phone/update HTTP/1.1\r\nHost: proxy\r\n"
                "x-hs-token: %s\r\nContent-Type: application/json\r\n"
                "Content-Length: %zu\r\n\r\n", token(0), sizeof(nul_json) - 1);
    raw_add(&w, nul_json, sizeof(nul_json) - 1);
    raw_good_get(&w, 0);
    send_raw(base, &w, &r);
    expect_error_then_served(&r, 400, NULL);
    hresp_free(&r);
    expect_lead_intact(base);
}

/* ---- absurd sizes and counts -------------------------------------------- */

/* A GET of the warmed lead with the query string made by EXTRA. */
static void
query_case(const char *base, const char *extra, size_t reps, struct hresp *r)
{
    struct raw *w = calloc(1, sizeof(*w));
    size_t      i;

    cr_assert_not_null(w);
    raw_fmt(w, "GET %s", lead_path);
    for (i = 0; i < reps; i++) {
        raw_str(w, extra);
    }
    raw_fmt(w, " HTTP/1.1\r\nHost: proxy\r\nx-hs-token: %s\r\n\r\n",
            token(0));
    raw_good_get(w, 0);
    send_raw(base, w, r);
    free(w);
}

Test(hostile, absurd_query_strings)
{
    static struct hresp r;
    const char         *base = hfixture_env("HSP_PROXY_URL");
    long                before;

    warm_lead(base);
    before = hfixture_count("total");
    /* Over max_query: 414 of the proxy's own; the connection goes on. */
    query_case(base, "&pad=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
               MAX_QUERY / 50 + 1, &r);
    expect_error_then_served(&r, 414, "query string too long");
    hresp_free(&r);
    /* Thousands of parameters under the limit: the lead, from the cache
     * (the proxy keys on the parameters it knows). */
    query_case(base, "&a=1", (MAX_QUERY - 100) / 4, &r);
    cr_expect_eq(r.status, 200, "%.300s", r.raw);
    cr_expect_eq(responses(&r), 2);
    hresp_free(&r);
    /* phone= again and again: which one would the upstream take? */
    query_case(base, "&phone=%2B18015550000", 100, &r);
    expect_error_then_served(&r, 400, "phone must be a string");
    hresp_free(&r);
    cr_expect_eq(hfixture_count("total"), before);
    /* Past evhttp's own line limit: 414 all the same, and a close. */
    query_case(base, "&pad=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
               EVHTTP_LIMIT / 50 + 1, &r);
    expect_closed_with(&r, 414, "request line too long");
    hresp_free(&r);
    cr_expect_eq(hfixture_count("total"), before);
    expect_lead_intact(base);
}

/* A GET of the warmed lead with N more headers, each NAME<i> with a value
 * of VLEN bytes. */
static void
headers_case(const char *base, const char *name, size_t vlen, size_t n,
             struct hresp *r)
{
    struct raw *w = calloc(1, sizeof(*w));
    char        value[1024];
    size_t      i;

    cr_assert_not_null(w);
    cr_assert_lt(vlen, sizeof(value));
    memset(value, 'v', vlen);
    value[vlen] = '\0';
    raw_fmt(w, "GET %s HTTP/1.1\r\nHost: proxy\r\nx-hs-token: %s\r\n",
            lead_path, token(0));
    for (i = 0; i < n; i++) {
        raw_fmt(w, "%s%zu: %s\r\n", name, i, value);
    }
    raw_str(w, "\r\n");
    raw_good_get(w, 0);
    send_raw(base, w, r);
    free(w);
}

Test(hostile, absurd_header_counts_and_sizes)
{
    static struct hresp r;
    const char         *base = hfixture_env("HSP_PROXY_URL");
    long                before;

    warm_lead(base);
    before = hfixture_count("total");
    /* More fields than max_headers (with Host and x-hs-token): 431; the
     * connection goes on. */
    headers_case(base, "X-H", 1, MAX_HEADERS - 1, &r);
    expect_error_then_served(&r, 431, "too many header fields");
    hresp_free(&r);
    /* Just under: served. */
    headers_case(base, "X-H", 1, MAX_HEADERS - 2, &r);
    cr_expect_eq(r.status, 200, "%.300s", r.raw);
    hresp_free(&r);
    /* Few fields, more bytes than max_header_size: 431. */
    headers_case(base, "X-Big-", 500, MAX_HEADER_SIZE / 500 + 1, &r);
    expect_error_then_served(&r, 431, "request header fields too large");
    hresp_free(&r);
    cr_expect_eq(hfixture_count("total"), before);
    /* Past evhttp's own header limit: 431 all the same, and a close. */
    headers_case(base, "X-Huge-", 1000, EVHTTP_LIMIT / 1000 + 1, &r);
    expect_closed_with(&r, 431, "request header fields too large");
    hresp_free(&r);
    cr_expect_eq(hfixture_count("total"), before);
    expect_lead_intact(base);
}

/* A chunked PATCH of LEN body bytes in chunks of 1000. */
static void
chunked_case(const char *base, size_t len, struct hresp *r)
{
    struct raw *w = calloc(1, sizeof(*w));
    char        chunk[1000];

    cr_assert_not_null(w);
    memset(chunk, ' ', sizeof(chunk));
    raw_fmt(w, "PATCH " API "/phone/update HTTP/1.1\r\nHost: proxy\r\n"
               "x-hs-token: %s\r\nContent-Type: application/json\r\n"
               "Transfer-Encoding: chunked\r\n\r\n", token(0));
    while (len > 0) {
        size_t n = len < sizeof(chunk) ? len : sizeof(chunk);

        raw_fmt(w, "%zx\r\n", n);
        raw_add(w, chunk, n);
        raw_str(w, "\r\n");
        len -= n;
    }
    raw_str(w, "0\r\n\r\n");
    raw_good_get(w, 0);
    send_raw(base, w, r);
    free(w);
}

Test(hostile, absurd_bodies_chunked_or_not)
{
    static struct hresp r;
    const char         *base = hfixture_env("HSP_PROXY_URL");
    struct raw          w = { .len = 0 };
    long                before;

    warm_lead(base);
    before = hfixture_count("total");
    /* Chunked, over max_body: 413 of the proxy's own; it goes on. */
    chunked_case(base, MAX_BODY + 1000, &r);
    expect_error_then_served(&r, 413, "request body too large");
    hresp_free(&r);
    /* Chunked, past evhttp's limit (max_body + 64k): 413 all the same,
     * and a close. */
    chunked_case(base, MAX_BODY + 66 * 1024, &r);
    expect_closed_with(&r, 413, "request body too large");
    hresp_free(&r);
    /* A Content-Length of a petabyte: refused before any byte of it. */
    raw_fmt(&w, "PATCH " API "/phone/update HTTP/1.1\r\nHost: proxy\r\n"
                "x-hs-token: %s\r\nContent-Length: 1000000000000000\r\n\r\n"
                "{}", token(0));
    send_raw(base, &w, &r);
    expect_closed_with(&r, 413, "request body too large");
    hresp_free(&r);
    cr_expect_eq(hfixture_count("total"), before);
    expect_lead_intact(base);
}

/* ---- slow clients and many of them -------------------------------------- */

/* A TCP connection to the host and port of BASE ("http://h:p"). */
static int
tcp_open(const char *base)
{
    int fd = hclient_tcp_open(base, 0);

    cr_assert_geq(fd, 0, "connect %s: %s", base, strerror(errno));
    return fd;
}

/* Whether BUF (GOT bytes) holds one whole response. */
static bool
whole_response(const char *buf, size_t got)
{
    const char *end = memmem(buf, got, "\r\n\r\n", 4);
    const char *cl = strcasestr(buf, "\r\nContent-Length:");

    return end != NULL && cl != NULL && cl < end &&
           (size_t)(end + 4 - buf) + strtoul(cl + 17, NULL, 10) <= got;
}

/*
 * Reads from FD for up to MS ms into BUF (CAP bytes, NUL-terminated), or
 * until one whole response came when ONE. Returns the bytes read; *CLOSED
 * says whether the peer closed.
 */
static size_t
read_for(int fd, char *buf, size_t cap, long ms, bool one, bool *closed)
{
    long   end = hfixture_now_ms() + ms, left;
    size_t got = 0;

    *closed = false;
    buf[0] = '\0';
    while ((left = end - hfixture_now_ms()) > 0 && got + 1 < cap) {
        struct pollfd p = { fd, POLLIN, 0 };
        ssize_t       n;

        if (poll(&p, 1, (int)left) <= 0) {
            break;
        }
        n = recv(fd, buf + got, cap - 1 - got, 0);
        if (n <= 0) {
            *closed = true;
            break;
        }
        got += (size_t)n;
        buf[got] = '\0';
        if (one && whole_response(buf, got)) {
            break;
        }
    }
    buf[got] = '\0';
    return got;
}

/*
 * Sends HEAD at once, then TRICKLE one byte every 200 ms until the peer
 * closes or 4 s pass. Returns when it closed (ms from the connect), or -1;
 * what came back is in BUF.
 */
static long
trickle(const char *base, const char *head, const char *trickle_bytes,
        char *buf, size_t cap)
{
    long   t0 = hfixture_now_ms();
    int    fd = tcp_open(base);
    size_t i, got = 0;
    bool   closed = false;

    cr_assert_eq(send(fd, head, strlen(head), MSG_NOSIGNAL),
                 (ssize_t)strlen(head));
    for (i = 0; !closed && hfixture_now_ms() - t0 < 4000; i++) {
        char c = trickle_bytes[i % strlen(trickle_bytes)];

        (void)send(fd, &c, 1, MSG_NOSIGNAL);
        got += read_for(fd, buf + got, cap - got, 200, false, &closed);
    }
    close(fd);
    return closed ? hfixture_now_ms() - t0 : -1;
}

Test(hostile, slow_clients_are_cut_at_client_timeout)
{
    static const char *const opts[] = { "client_timeout=1s", NULL };
    static struct hproc      p;
    char                     head[512], buf[2048];
    long                     ms;
    int                      fd;
    bool                     closed;
    double                   timeouts;

    cr_assert_eq(hproc_proxy_start("hostile-slow", opts, &p), 0, "%s",
                 p.error);
    warm_lead(p.url);
    timeouts = hreq_metric(p.url, "heavyset_client_timeouts_total", NULL);

    /* Headers at one byte each 200 ms: evhttp's own timeout would never
     * fire, since every byte restarts it. */
    snprintf(head, sizeof(head), "GET %s HTTP/1.1\r\nHost: proxy\r\n",
             lead_path);
    ms = trickle(p.url, head, "X-Slow: aaaaaaaaaaaaaaaaaaaaaaaaa\r\n", buf,
                 sizeof(buf));
    cr_expect(ms >= 900 && ms <= 3000, "slow headers cut after %ld ms", ms);
    cr_expect(strncmp(buf, "HTTP/1.1 408 ", 13) == 0, "got: %.300s", buf);
    cr_expect(strstr(buf, "{\"statusCode\":408,") != NULL, "got: %.300s",
              buf);

    /* A slow body, the same. */
    snprintf(head, sizeof(head),
             "PATCH " API "/phone/update HTTP/1.1\r\nHost: proxy\r\n"
             "x-hs-token: %s\r\nContent-Length: 500\r\n\r\n", token(0));
    ms = trickle(p.url, head, " ", buf, sizeof(buf));
    cr_expect(ms >= 900 && ms <= 3000, "slow body cut after %ld ms", ms);
    cr_expect(strncmp(buf, "HTTP/1.1 408 ", 13) == 0, "got: %.300s", buf);

    /* An idle connection: closed, without a word (RFC 9112 §9.5). */
    fd = tcp_open(p.url);
    ms = hfixture_now_ms();
    read_for(fd, buf, sizeof(buf), 4000, false, &closed);
    ms = hfixture_now_ms() - ms;
    close(fd);
    cr_expect(closed && ms >= 900 && ms <= 3000,
              "idle connection: closed %d after %ld ms", closed, ms);
    cr_expect_eq(buf[0], '\0', "an idle connection got: %.300s", buf);

    /* A request sent in pieces, all within the timeout: served. */
    fd = tcp_open(p.url);
    snprintf(head, sizeof(head),
             "GET %s HTTP/1.1\r\nHost: proxy\r\nx-hs-token: %s\r\n\r\n",
             lead_path, token(0));
    cr_assert_eq(send(fd, head, 20, MSG_NOSIGNAL), 20);
    hfixture_pause_ms(300);
    cr_assert_eq(send(fd, head + 20, strlen(head) - 20, MSG_NOSIGNAL),
                 (ssize_t)(strlen(head) - 20));
    read_for(fd, buf, sizeof(buf), 2000, true, &closed);
    cr_expect(strncmp(buf, "HTTP/1.1 200 ", 13) == 0, "got: %.300s", buf);
    /* ... and the connection then idles out after the answer. */
    ms = hfixture_now_ms();
    read_for(fd, buf, sizeof(buf), 4000, false, &closed);
    ms = hfixture_now_ms() - ms;
    close(fd);
    cr_expect(closed && ms >= 700 && ms <= 3000,
              "kept-alive connection: closed %d after %ld ms", closed, ms);

    /* The two slow requests, not the idle connections. */
    cr_expect_eq(hreq_metric(p.url, "heavyset_client_timeouts_total",
                             NULL) - timeouts, 2);
    expect_lead_intact(p.url);
    cr_expect_eq(hproc_stop(&p, SIGTERM), 0, "%s", p.error);
}

Test(hostile, past_max_connections_clients_wait_for_a_free_one)
{
    static const char *const opts[] = { "max_connections=2",
                                        "client_timeout=10s", NULL };
    static struct hproc      p;
    static const char        req[] = "GET /healthz HTTP/1.1\r\nHost: p\r\n"
                                     "\r\n";
    char                     buf[2048];
    int                      a, b, c;
    bool                     closed;
    long                     t0;

    cr_assert_eq(hproc_proxy_start("hostile-cap", opts, &p), 0, "%s",
                 p.error);
    /* hproc_proxy_start's own /healthz connection must be gone first. */
    hfixture_pause_ms(200);
    a = tcp_open(p.url);
    b = tcp_open(p.url);
    hfixture_pause_ms(300);
    /* The third is queued by the kernel, not accepted: no answer. */
    c = tcp_open(p.url);
    cr_assert_eq(send(c, req, sizeof(req) - 1, MSG_NOSIGNAL),
                 (ssize_t)(sizeof(req) - 1));
    read_for(c, buf, sizeof(buf), 800, true, &closed);
    cr_expect_eq(buf[0], '\0', "answered past max_connections: %.200s", buf);
    cr_expect(!closed, "closed past max_connections");
    /* One of the two leaves: the third is accepted and served. */
    close(a);
    t0 = hfixture_now_ms();
    read_for(c, buf, sizeof(buf), 3000, true, &closed);
    cr_expect(strncmp(buf, "HTTP/1.1 200 ", 13) == 0,
              "after a connection closed: %.200s", buf);
    cr_expect_lt(hfixture_now_ms() - t0, 2000);
    close(b);
    close(c);
    /* Below the cap again: /metrics gets in. */
    cr_expect_geq(hreq_metric(p.url, "heavyset_accept_paused_total",
                              NULL), 1);
    cr_expect_eq(hproc_stop(&p, SIGTERM), 0, "%s", p.error);
}
