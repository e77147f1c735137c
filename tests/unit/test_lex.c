/* test_lex.c - the raw request lexer: verdicts, refusals, where it stops. */
#include "config.h"

#include <criterion/criterion.h>

#include <string.h>

#include "lex.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

#define HEAD_MAX 64                 /* the limits of the "limited" cases */
#define BODY_MAX 10

struct lex_case {
    const char *raw;
    size_t      len;                /* 0: strlen(raw) */
    bool        limited;            /* under HEAD_MAX and BODY_MAX */
    int         fatal;              /* the refusal's status, or 0 */
    const char *verdict;            /* a substring of it, or NULL */
    bool        done;               /* the request ended (or was refused) */
    size_t      used;               /* bytes that were the request's; 0:
                                       all of them */
};

static const struct lex_case lex_cases[] = {
    /* Good requests, whole or cut short. */
    { "GET / HTTP/1.1\r\nHost: x\r\n\r\n", 0, false, 0, NULL, true, 0 },
    { "GET / HTTP/1.1\nHost: x\n\n", 0, false, 0, NULL, true, 0 },
    { "GET / HTTP/1.0\r\n\r\n", 0, false, 0, NULL, true, 0 },
    { "\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n", 0, false, 0, NULL, true, 0 },
    { "\nGET / HTTP/1.1\r\n\r\n", 0, false, 0, NULL, true, 0 },
    { "GET / HTTP/1.1\r\nHost: x\r\n", 0, false, 0, NULL, false, 0 },
    { "GET /a?b=%20c HTTP/1.1\r\nX-Empty:\r\nY:  v  \r\n\r\n", 0, false, 0,
      NULL, true, 0 },
    { "OPTIONS * HTTP/1.1\r\n\r\n", 0, false, 0, NULL, true, 0 },
    /* PURGE (SPEC §13), which evhttp reads as a TRACE (client.c): no body
     * read, so one sent is the proxy's to refuse (http_fields_check). */
    { "PURGE /x HTTP/1.1\r\nHost: x\r\n\r\n", 0, false, 0, NULL, true, 0 },
    { "PURGE /x HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}", 0, false, 0,
      NULL, true, 40 },
    { "purge /x HTTP/1.1\r\n\r\n", 0, false, 501, "not implemented", true,
      19 },
    /* What the proxy refuses itself, after evhttp parsed it. */
    { "GET / HTTP/1.1\r\nX: a\r\n b\r\n\r\n", 0, false, 0, "folding", true,
      0 },
    { "GET / HTTP/1.1\r\nX: a\r\n\tb\r\n\r\n", 0, false, 0, "folding", true,
      0 },
    { "GET / HTTP/1.1\r\nTransfer-Encoding:\r\n chunked\r\n\r\n", 0, false,
      0, "folding", true, 0 },
    { "GET / HTTP/1.1\r\nX: a\0b\r\n\r\n", 26, false, 0, "NUL", true, 0 },
    { "PATCH / HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n",
      0, false, 0, NULL, true, 0 },
    /* A GET's body is read like any other (SPEC §11). */
    { "GET / HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello", 0, false, 0, NULL,
      true, 37 },
    { "GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
      "5\r\nhello\r\n0\r\n\r\nGET", 0, false, 0, NULL, true, 61 },
    { "HEAD / HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello", 0, false, 0,
      NULL, true, 38 },
    /* The body is not the head: anything goes there. */
    { "PATCH / HTTP/1.1\r\n\r\n{\n  \"a\": 1\0}", 32, false, 0, NULL, true,
      20 },
    /* The request line, as evhttp would refuse it. */
    { "GARBAGE\r\n\r\n", 0, false, 400, "malformed request line", true, 9 },
    { "GET /x\r\n\r\n", 0, false, 400, "malformed request line", true, 8 },
    { "GET  /x HTTP/1.1\r\n\r\n", 0, false, 400, "malformed request line",
      true, 5 },
    { "GET /a b HTTP/1.1\r\n\r\n", 0, false, 400, "malformed request line",
      true, 19 },
    { "GET /a\tb HTTP/1.1\r\n\r\n", 0, false, 400, "malformed request line",
      true, 7 },
    { "GET /a\0 HTTP/1.1\r\n\r\n", 20, false, 400, "malformed request line",
      true, 7 },
    { "G(T / HTTP/1.1\r\n\r\n", 0, false, 400, "malformed request line",
      true, 2 },
    { "GET / HTTP/1.1 \r\n\r\n", 0, false, 400, "malformed request line",
      true, 17 },
    { "GET / http/1.1\r\n\r\n", 0, false, 400, "malformed request line",
      true, 16 },
    { "GET / HTTP/9.9\r\n\r\n", 0, false, 505, "version", true, 16 },
    { "GET / HTTP/2.0\r\n\r\n", 0, false, 505, "version", true, 16 },
    { "CONNECT x:443 HTTP/1.1\r\n\r\n", 0, false, 501, "not implemented",
      true, 24 },
    { "TRACE / HTTP/1.1\r\n\r\n", 0, false, 501, "not implemented", true,
      18 },
    { "get / HTTP/1.1\r\n\r\n", 0, false, 501, "not implemented", true,
      16 },
    { "AVERYLONGMETHODNAMEOFTHIRTYCHARS / HTTP/1.1\r\n\r\n", 0, false, 501,
      "not implemented", true, 45 },
    { "\r\n\r\n\nGET / HTTP/1.1\r\n\r\n", 0, false, 0, NULL, true, 0 },
    { "GET / HTTP/1.1\rX\r\n\r\n", 0, false, 400, "bare CR", true, 16 },
    /* Field lines. */
    { "GET / HTTP/1.1\r\nBadheader\r\n\r\n", 0, false, 400,
      "malformed header field", true, 27 },
    { "GET / HTTP/1.1\r\nHost : x\r\n\r\n", 0, false, 400,
      "malformed header field", true, 21 },
    { "GET / HTTP/1.1\r\n: x\r\n\r\n", 0, false, 400,
      "malformed header field", true, 17 },
    { "GET / HTTP/1.1\r\nX: a\rb\r\n\r\n", 0, false, 400, "bare CR", true,
      22 },
    { "GET / HTTP/1.1\r\nContent-Length: abc\r\n\r\n", 0, false, 400,
      "invalid Content-Length", true, 37 },
    { "GET / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 0, false, 400,
      "invalid Content-Length", true, 36 },
    { "GET / HTTP/1.1\r\nContent-Length:\r\n\r\n", 0, false, 400,
      "invalid Content-Length", true, 33 },
    { "GET / HTTP/1.1\r\nContent-Length: 1 2\r\n\r\n", 0, false, 400,
      "invalid Content-Length", true, 37 },
    { "GET / HTTP/1.1\r\ncontent-LENGTH:  7 \r\n\r\nabcdefg", 0, false, 0,
      NULL, true, 39 },
    { "PUT / HTTP/1.1\r\nContent-Length: 1000000000000000000\r\n\r\n", 0,
      false, 400, "invalid Content-Length", true, 53 },
    { "PUT / HTTP/1.1\r\nContent-Length: 5\r\n"
      "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 0, false, 400,
      "Content-Length and Transfer-Encoding", true, 65 },
    { "PUT / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n"
      "Content-Length: 5\r\n\r\n0\r\n\r\n", 0, false, 400,
      "Content-Length and Transfer-Encoding", true, 65 },
    { "PUT / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n"
      "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 0, false, 400,
      "chunked, once", true, 74 },
    { "PUT / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 0,
      false, 400, "chunked, once", true, 52 },
    /* Chunked bodies. */
    { "PATCH / HTTP/1.1\r\nTransfer-Encoding: Chunked\r\n\r\n"
      "2\r\n{}\r\n0\r\n\r\nGET", 0, false, 0, NULL, true, 60 },
    { "PATCH / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
      "1\r\n{\r\n\r\n1\r\n}\r\n0\r\nX-Trailer: 1\r\n\r\n", 0, false, 0,
      NULL, true, 0 },
    { "PATCH / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
      "A\r\n0123456789\r\n0\r\n\r\n", 0, false, 0, NULL, true, 0 },
    { "PATCH / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
      "2\r\n{}\r\n", 0, false, 0, NULL, false, 0 },
    { "PATCH / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 0,
      false, 400, "invalid chunk size", true, 49 },
    { "PATCH / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n-5\r\n", 0,
      false, 400, "invalid chunk size", true, 49 },
    { "PATCH / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5x\r\n", 0,
      false, 400, "invalid chunk size", true, 50 },
    { "PATCH / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n \r\n", 0,
      false, 400, "invalid chunk size", true, 49 },
    { "PATCH / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0x10\r\n", 0,
      false, 400, "invalid chunk size", true, 50 },
    { "PATCH / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\n",
      0, false, 400, "invalid chunk size", true, 50 },
    { "PATCH / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
      "fffffffffffffffffffffff\r\n", 0, false, 400, "invalid chunk size",
      true, 64 },
    { "PATCH / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
      "2\r\n{}XY\r\n", 0, false, 400, "invalid chunk size", true, 54 },
    { "PATCH / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
      "0\r\nBad trailer\r\n\r\n", 0, false, 400, "malformed header field",
      true, 55 },
    /* A GET's chunked body is read (evhttp sees a PUT): lexed too. */
    { "GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 0,
      false, 400, "invalid chunk size", true, 47 },
    /* A HEAD's is not read by evhttp: not lexed either. */
    { "HEAD / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 0,
      false, 0, NULL, true, 47 },
    /* Past evhttp's limits (here HEAD_MAX and BODY_MAX). */
    { "GET /aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
      "aaaaaaaaaa HTTP/1.1\r\n\r\n", 0, true, 414, "request line too long",
      true, 65 },
    { "GET / HTTP/1.1\r\nX: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
      "aaaaaaaaaaaaaaaa\r\n\r\n", 0, true, 431,
      "request header fields too large", true, 65 },
    /* 64 bytes: just within HEAD_MAX. */
    { "GET / HTTP/1.1\r\nX: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n"
      "\r\n", 0, true, 0, NULL, true, 0 },
    { "PATCH / HTTP/1.1\r\nContent-Length: 11\r\n\r\n", 0, true, 413,
      "request body too large", true, 38 },
    { "PATCH / HTTP/1.1\r\nContent-Length: 10\r\n\r\n0123456789", 0, true,
      0, NULL, true, 40 },
    { "PATCH / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
      "5\r\n01234\r\n6\r\n", 0, true, 413, "request body too large", true,
      61 },
    { "PATCH / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
      "5\r\n01234\r\n5\r\n56789\r\n0\r\n\r\n", 0, true, 0, NULL, true, 0 },
    /* Trailers count against the head's limit, as evhttp counts them. */
    { "PATCH / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
      "0\r\nX: aaaaaaaaaaaaaaaa\r\n\r\n", 0, true, 431,
      "request header fields too large", true, 68 },
};

static void
check_case(size_t i, const struct lex_case *c)
{
    static const struct lex_limits lim = { HEAD_MAX, BODY_MAX, 0 };
    size_t      len = c->len > 0 ? c->len : strlen(c->raw);
    size_t      used_whole, used_bytes = 0, k;
    struct lex  whole, bytes;
    const char *why = NULL, *v;
    int         fatal;

    lex_reset(&whole, c->limited ? &lim : NULL);
    used_whole = lex_feed(&whole, c->raw, len);
    /* Byte by byte, as a slow client sends it: the same answer. */
    lex_reset(&bytes, c->limited ? &lim : NULL);
    for (k = 0; k < len; k++) {
        used_bytes += lex_feed(&bytes, c->raw + k, 1);
    }
    fatal = lex_fatal(&whole, &why);
    cr_expect_eq(fatal, c->fatal, "case %zu: fatal %d (%s)", i, fatal,
                 why != NULL ? why : "-");
    v = lex_verdict(&whole);
    if (c->verdict == NULL) {
        cr_expect_null(v, "case %zu: %s", i, v);
    } else {
        cr_expect(v != NULL && strstr(v, c->verdict) != NULL,
                  "case %zu: %s", i, v != NULL ? v : "(null)");
    }
    if (c->fatal != 0) {
        cr_expect(why != NULL && strstr(why, c->verdict) != NULL,
                  "case %zu: why %s", i, why != NULL ? why : "(null)");
    }
    cr_expect_eq(whole.state == LEX_DONE, c->done, "case %zu: done", i);
    cr_expect_eq(used_whole, c->used > 0 ? c->used : len,
                 "case %zu: used %zu: %.40s", i, used_whole, c->raw);
    cr_expect_eq(used_bytes, used_whole, "case %zu: by bytes", i);
    cr_expect_eq(bytes.state, whole.state, "case %zu: by bytes", i);
    cr_expect_eq(bytes.fatal, whole.fatal, "case %zu: by bytes", i);
    cr_expect_eq(bytes.folded, whole.folded, "case %zu: by bytes", i);
    cr_expect_eq(bytes.nul, whole.nul, "case %zu: by bytes", i);
}

Test(lex, table)
{
    size_t i;

    for (i = 0; i < NELEM(lex_cases); i++) {
        check_case(i, &lex_cases[i]);
    }
}

/* A refusal is final: more bytes change nothing, and none are taken. */
Test(lex, refusal_is_final)
{
    struct lex  lx;
    const char *why;

    lex_reset(&lx, NULL);
    lex_feed(&lx, "GET / HTTP/7.0\r\n", 16);
    cr_assert_eq(lex_fatal(&lx, &why), 505);
    cr_expect_eq(lex_feed(&lx, "\r\nGET / HTTP/1.1\r\n\r\n", 20), 0);
    cr_expect_eq(lex_fatal(&lx, &why), 505);
    cr_expect_str_eq(why, "HTTP version not supported");
}

/* lex_reset forgets everything of the request before. */
Test(lex, reset_starts_over)
{
    struct lex lx;

    lex_reset(&lx, NULL);
    lex_feed(&lx, "GET / HTTP/1.1\r\nX: a\r\n b\r\n\r\n", 28);
    cr_assert_not_null(lex_verdict(&lx));
    lex_reset(&lx, NULL);
    cr_expect_eq(lex_feed(&lx, "GET / HTTP/1.1\r\n\r\n", 18), 18);
    cr_expect_null(lex_verdict(&lx));
    cr_expect_eq(lx.state, LEX_DONE);
}

/* A client waiting for 100 Continue hears 413 first when its body would
 * be refused anyway; without the expectation the body is read (and the
 * proxy answers 413 after it, on a connection that goes on). */
Test(lex, expect_continue_over_max_body)
{
    static const struct lex_limits lim = { 4096, 2048, 100 };
    static const struct {
        const char *raw;
        int         fatal;
    } cases[] = {
        { "PATCH / HTTP/1.1\r\nExpect: 100-continue\r\n"
          "Content-Length: 101\r\n\r\n", 413 },
        { "PATCH / HTTP/1.1\r\nContent-Length: 101\r\n"
          "expect:  100-Continue \r\n\r\n", 413 },
        { "PATCH / HTTP/1.1\r\nExpect: 100-continue\r\n"
          "Content-Length: 100\r\n\r\n", 0 },
        { "PATCH / HTTP/1.1\r\nContent-Length: 101\r\n\r\n", 0 },
        { "GET / HTTP/1.1\r\nExpect: 100-continue\r\n"
          "Content-Length: 5000\r\n\r\n", 413 },
    };
    size_t i;

    for (i = 0; i < NELEM(cases); i++) {
        struct lex lx;

        lex_reset(&lx, &lim);
        lex_feed(&lx, cases[i].raw, strlen(cases[i].raw));
        cr_expect_eq(lex_fatal(&lx, NULL), cases[i].fatal, "case %zu", i);
    }
}
