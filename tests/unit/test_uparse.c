/*
 * test_uparse.c - the upstream response parser. Every case is fed whole
 * and then one byte at a time, and must come out the same both ways.
 */
#include "config.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "uparse.h"

#define SMALL_HEAD 64
#define SMALL_BODY 10

struct got {
    int    status;
    char   reason[64];
    bool   reason_null;
    char   fields[1024];
    char   body[1024];
    size_t body_len;
};

static void
on_status(void *arg, int status, const char *reason)
{
    struct got *g = arg;

    g->status = status;
    g->reason_null = reason == NULL;
    snprintf(g->reason, sizeof(g->reason), "%s", reason != NULL ? reason : "");
}

static void
on_field(void *arg, const char *name, const char *value)
{
    struct got *g = arg;
    size_t      n = strlen(g->fields);

    snprintf(g->fields + n, sizeof(g->fields) - n, "%s=%s|", name, value);
}

static void
on_body(void *arg, const char *p, size_t len)
{
    struct got *g = arg;

    cr_assert_leq(g->body_len + len, sizeof(g->body) - 1);
    memcpy(g->body + g->body_len, p, len);
    g->body_len += len;
}

struct ucase {
    const char       *name;
    const char       *in;
    size_t            len;          /* 0: strlen(in) */
    bool              head;         /* answers a HEAD */
    bool              small;        /* SMALL_HEAD / SMALL_BODY limits */
    bool              eof;          /* then the connection ends */
    enum uparse_error err;
    int               status;
    const char       *body;         /* NULL: "" */
    size_t            excess;       /* bytes left past the end */
    bool              reusable;
    const char       *fields;       /* NULL: not checked */
};

#define OK UPARSE_OK

static const struct ucase cases[] = {
    /* Status lines. */
    { "plain", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi", 0, false,
      false, false, OK, 200, "hi", 0, true, "Content-Length=2|" },
    { "bare LF line ends", "HTTP/1.1 200 OK\nContent-Length: 2\n\nhi", 0,
      false, false, false, OK, 200, "hi", 0, true, NULL },
    { "empty reason", "HTTP/1.1 204 \r\n\r\n", 0, false, false, false, OK,
      204, NULL, 0, true, "" },
    { "no reason at all", "HTTP/1.1 204\r\n\r\n", 0, false, false, false,
      OK, 204, NULL, 0, true, NULL },
    { "HTTP/2 status line", "HTTP/2 200 OK\r\n\r\n", 0, false, false, false,
      UPARSE_BAD_STATUS_LINE, 0, NULL, 0, false, NULL },
    { "lower-case http", "http/1.1 200 OK\r\n\r\n", 0, false, false, false,
      UPARSE_BAD_STATUS_LINE, 0, NULL, 0, false, NULL },
    { "two-digit status", "HTTP/1.1 20 OK\r\n\r\n", 0, false, false, false,
      UPARSE_BAD_STATUS_LINE, 0, NULL, 0, false, NULL },
    { "status 600", "HTTP/1.1 600 X\r\n\r\n", 0, false, false, false,
      UPARSE_BAD_STATUS_LINE, 0, NULL, 0, false, NULL },
    { "no SP after status", "HTTP/1.1 200OK\r\n\r\n", 0, false, false, false,
      UPARSE_BAD_STATUS_LINE, 0, NULL, 0, false, NULL },
    { "CTL in reason", "HTTP/1.1 200 O\001K\r\n\r\n", 0, false, false, false,
      UPARSE_BAD_STATUS_LINE, 0, NULL, 0, false, NULL },
    { "bare CR in status line", "HTTP/1.1 200 O\rK\r\n\r\n", 0, false, false,
      false, UPARSE_BAD_STATUS_LINE, 0, NULL, 0, false, NULL },
    { "leading blank line", "\r\nHTTP/1.1 200 OK\r\n\r\n", 0, false, false,
      false, UPARSE_BAD_STATUS_LINE, 0, NULL, 0, false, NULL },
    /* Fields. */
    { "OWS trimmed", "HTTP/1.1 200 OK\r\nX-A: \t v w \t\r\nContent-Length:"
      "0\r\n\r\n", 0, false, false, false, OK, 200, NULL, 0, true,
      "X-A=v w|Content-Length=0|" },
    { "obs-text allowed", "HTTP/1.1 200 OK\r\nX-A: caf\xc3\xa9\r\n"
      "Content-Length: 0\r\n\r\n", 0, false, false, false, OK, 200, NULL, 0,
      true, "X-A=caf\xc3\xa9|Content-Length=0|" },
    { "obs-fold", "HTTP/1.1 200 OK\r\nX-A: a\r\n b\r\nContent-Length: 0\r\n"
      "\r\n", 0, false, false, false, UPARSE_BAD_HEADER, 200, NULL, 0, false,
      NULL },
    { "space before colon", "HTTP/1.1 200 OK\r\nX-A : a\r\n\r\n", 0, false,
      false, false, UPARSE_BAD_HEADER, 200, NULL, 0, false, NULL },
    { "no colon", "HTTP/1.1 200 OK\r\nX-A a\r\n\r\n", 0, false, false, false,
      UPARSE_BAD_HEADER, 200, NULL, 0, false, NULL },
    { "empty name", "HTTP/1.1 200 OK\r\n: a\r\n\r\n", 0, false, false, false,
      UPARSE_BAD_HEADER, 200, NULL, 0, false, NULL },
    { "bad byte in name", "HTTP/1.1 200 OK\r\nX(A): a\r\n\r\n", 0, false,
      false, false, UPARSE_BAD_HEADER, 200, NULL, 0, false, NULL },
    { "NUL in value", "HTTP/1.1 200 OK\r\nX-A: a\0b\r\n\r\n", 30, false,
      false, false, UPARSE_BAD_HEADER, 200, NULL, 0, false, NULL },
    { "DEL in value", "HTTP/1.1 200 OK\r\nX-A: a\177b\r\n\r\n", 0, false,
      false, false, UPARSE_BAD_HEADER, 200, NULL, 0, false, NULL },
    { "bare CR in value", "HTTP/1.1 200 OK\r\nX-A: a\rb\r\n\r\n", 0, false,
      false, false, UPARSE_BAD_HEADER, 200, NULL, 0, false, NULL },
    /* Interim answers. */
    { "100 then 200", "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n"
      "Content-Length: 1\r\n\r\nx", 0, false, false, false, OK, 200, "x", 0,
      true, "Content-Length=1|" },
    { "103 with fields dropped", "HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n"
      "\r\nHTTP/1.1 103 Early Hints\r\nLink: </b>\r\n\r\nHTTP/1.1 200 OK\r\n"
      "Content-Length: 0\r\n\r\n", 0, false, false, false, OK, 200, NULL, 0,
      true, "Content-Length=0|" },
    { "bad field in a 103", "HTTP/1.1 103 Early Hints\r\nLi nk: x\r\n\r\n",
      0, false, false, false, UPARSE_BAD_HEADER, 0, NULL, 0, false, NULL },
    { "101", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\n\r\n", 0,
      false, false, false, UPARSE_UNEXPECTED_1XX, 0, NULL, 0, false, NULL },
    { "only a 100, then EOF", "HTTP/1.1 100 Continue\r\n\r\n", 0, false,
      false, true, UPARSE_TRUNCATED, 0, NULL, 0, false, NULL },
    /* No-body statuses. */
    { "204 then bytes", "HTTP/1.1 204 No Content\r\n\r\nxyz", 0, false, false,
      false, OK, 204, NULL, 3, true, NULL },
    { "204 with a length", "HTTP/1.1 204 No Content\r\nContent-Length: 3\r\n"
      "\r\nxyz", 0, false, false, false, UPARSE_BODY_ON_NO_CONTENT, 204, NULL,
      0, false, NULL },
    { "204 chunked", "HTTP/1.1 204 No Content\r\nTransfer-Encoding: chunked"
      "\r\n\r\n0\r\n\r\n", 0, false, false, false, UPARSE_BODY_ON_NO_CONTENT,
      204, NULL, 0, false, NULL },
    { "304 with the entity's length", "HTTP/1.1 304 Not Modified\r\n"
      "Content-Length: 42\r\n\r\n", 0, false, false, false, OK, 304, NULL, 0,
      true, NULL },
    { "304 chunked", "HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: "
      "chunked\r\n\r\n", 0, false, false, false, UPARSE_BODY_ON_NO_CONTENT,
      304, NULL, 0, false, NULL },
    { "HEAD answer", "HTTP/1.1 200 OK\r\nContent-Length: 42\r\n\r\n", 0, true,
      false, false, OK, 200, NULL, 0, true, NULL },
    /* Content-Length. */
    { "body longer than its length", "HTTP/1.1 200 OK\r\nContent-Length: 2"
      "\r\n\r\nhiHTTP/1.1 200 OK\r\n\r\n", 0, false, false, false, OK, 200,
      "hi", 19, true, NULL },
    { "same length twice", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n"
      "Content-Length: 2\r\n\r\nhi", 0, false, false, false, OK, 200, "hi", 0,
      true, NULL },
    { "same length as a list", "HTTP/1.1 200 OK\r\nContent-Length: 2, 2\r\n"
      "\r\nhi", 0, false, false, false, OK, 200, "hi", 0, true, NULL },
    { "two lengths", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n"
      "Content-Length: 3\r\n\r\nhi!", 0, false, false, false,
      UPARSE_DUPLICATE_LENGTH, 200, NULL, 0, false, NULL },
    { "two lengths as a list", "HTTP/1.1 200 OK\r\nContent-Length: 2, 3\r\n"
      "\r\nhi!", 0, false, false, false, UPARSE_DUPLICATE_LENGTH, 200, NULL, 0,
      false, NULL },
    { "length not a number", "HTTP/1.1 200 OK\r\nContent-Length: 2x\r\n"
      "\r\nhi", 0, false, false, false, UPARSE_BAD_FRAMING, 200, NULL, 0,
      false, NULL },
    { "negative length", "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", 0,
      false, false, false, UPARSE_BAD_FRAMING, 200, NULL, 0, false, NULL },
    { "empty length", "HTTP/1.1 200 OK\r\nContent-Length:\r\n\r\n", 0, false,
      false, false, UPARSE_BAD_FRAMING, 200, NULL, 0, false, NULL },
    { "empty length element", "HTTP/1.1 200 OK\r\nContent-Length: ,\r\n\r\n",
      0, false, false, false, UPARSE_BAD_FRAMING, 200, NULL, 0, false, NULL },
    { "length and chunked", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n"
      "Transfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n", 0, false,
      false, false, UPARSE_LENGTH_AND_CHUNKED, 200, NULL, 0, false, NULL },
    { "truncated by length", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"
      "hi", 0, false, false, true, UPARSE_TRUNCATED, 200, "hi", 0, false,
      NULL },
    { "truncated head", "HTTP/1.1 200 OK\r\nContent-Le", 0, false, false,
      true, UPARSE_TRUNCATED, 200, NULL, 0, false, NULL },
    /* Body to EOF. */
    { "no framing: body to EOF", "HTTP/1.1 200 OK\r\n\r\nall of it", 0,
      false, false, true, OK, 200, "all of it", 0, false, NULL },
    /* Transfer-Encoding. */
    { "chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
      "2\r\nhi\r\nA;ext=1\r\n0123456789\r\n0\r\nX-T: 1\r\n\r\n", 0, false,
      false, false, OK, 200, "hi0123456789", 0, true, NULL },
    { "chunked, upper-case hex", "HTTP/1.1 200 OK\r\nTransfer-Encoding: "
      "Chunked\r\n\r\na\r\n0123456789\r\n0\r\n\r\n", 0, false, false, false,
      OK, 200, "0123456789", 0, true, NULL },
    { "data past the last chunk", "HTTP/1.1 200 OK\r\nTransfer-Encoding: "
      "chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\nextra", 0, false, false, false, OK,
      200, "hi", 5, true, NULL },
    { "gzip, chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked"
      "\r\n\r\n", 0, false, false, false, UPARSE_BAD_FRAMING, 200, NULL, 0,
      false, NULL },
    { "chunked, chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
      "Transfer-Encoding: chunked\r\n\r\n", 0, false, false, false,
      UPARSE_BAD_FRAMING, 200, NULL, 0, false, NULL },
    { "identity TE", "HTTP/1.1 200 OK\r\nTransfer-Encoding: identity\r\n"
      "\r\n", 0, false, false, false, UPARSE_BAD_FRAMING, 200, NULL, 0, false,
      NULL },
    { "chunk size not hex", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked"
      "\r\n\r\nzz\r\n", 0, false, false, false, UPARSE_BAD_CHUNK, 200, NULL,
      0, false, NULL },
    { "chunk size empty", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked"
      "\r\n\r\n\r\n", 0, false, false, false, UPARSE_BAD_CHUNK, 200, NULL, 0,
      false, NULL },
    { "chunk size too many digits", "HTTP/1.1 200 OK\r\nTransfer-Encoding: "
      "chunked\r\n\r\n00000000000000001\r\nx", 0, false, false, false,
      UPARSE_BAD_CHUNK, 200, NULL, 0, false, NULL },
    { "chunk size with junk", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked"
      "\r\n\r\n2x\r\nhi\r\n", 0, false, false, false, UPARSE_BAD_CHUNK, 200,
      NULL, 0, false, NULL },
    { "chunk data too long", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked"
      "\r\n\r\n2\r\nhix\r\n0\r\n\r\n", 0, false, false, false,
      UPARSE_BAD_CHUNK, 200, "hi", 0, false, NULL },
    { "bad trailer", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
      "0\r\nX T: 1\r\n\r\n", 0, false, false, false, UPARSE_BAD_HEADER, 200,
      NULL, 0, false, NULL },
    { "EOF before the last chunk", "HTTP/1.1 200 OK\r\nTransfer-Encoding: "
      "chunked\r\n\r\n2\r\nhi\r\n", 0, false, false, true, UPARSE_TRUNCATED,
      200, "hi", 0, false, NULL },
    /* Limits. */
    { "head too large", "HTTP/1.1 200 OK\r\nX-A: 0123456789012345678901234567"
      "89012345678901234567890123456789\r\n\r\n", 0, false, true, false,
      UPARSE_TOO_LARGE, 200, NULL, 0, false, NULL },
    { "interim heads count", "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 100 "
      "Continue\r\n\r\nHTTP/1.1 100 Continue\r\n\r\n", 0, false, true, false,
      UPARSE_TOO_LARGE, 0, NULL, 0, false, NULL },
    { "length too large", "HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n", 0,
      false, true, false, UPARSE_TOO_LARGE, 200, NULL, 0, false, NULL },
    { "length at the limit", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n"
      "0123456789", 0, false, true, false, OK, 200, "0123456789", 0, true,
      NULL },
    { "chunks too large", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
      "\r\n6\r\n012345\r\n6\r\n", 0, false, true, false, UPARSE_TOO_LARGE,
      200, "012345", 0, false, NULL },
    { "EOF body too large", "HTTP/1.1 200 OK\r\n\r\n0123456789x", 0, false,
      true, false, UPARSE_TOO_LARGE, 200, NULL, 0, false, NULL },
    /* Reuse. */
    { "HTTP/1.0 is never reused", "HTTP/1.0 200 OK\r\nConnection: keep-alive"
      "\r\nContent-Length: 0\r\n\r\n", 0, false, false, false, OK, 200, NULL,
      0, false, NULL },
    { "Connection: close", "HTTP/1.1 200 OK\r\nConnection: Keep-Alive, Close"
      "\r\nContent-Length: 0\r\n\r\n", 0, false, false, false, OK, 200, NULL,
      0, false, NULL },
};

struct result {
    enum uparse_error err;
    struct got        got;
    size_t            used;
    bool              done;
    bool              reusable;
};

static void
run(const struct ucase *c, size_t step, struct result *r)
{
    struct uparse_limits lim = { 64 * 1024, 8 * 1024 * 1024 };
    struct uparse_cbs    cbs = { on_status, on_field, on_body };
    struct uparse       *p;
    size_t               len = c->len != 0 ? c->len : strlen(c->in);
    size_t               off = 0, used;

    if (c->small) {
        lim.head_max = SMALL_HEAD;
        lim.body_max = SMALL_BODY;
    }
    memset(r, 0, sizeof(*r));
    p = uparse_new(&lim, &cbs, &r->got);
    cr_assert_not_null(p);
    uparse_reset(p, c->head);
    while (off < len && r->err == UPARSE_OK && !uparse_done(p)) {
        size_t n = step == 0 || len - off < step ? len - off : step;

        r->err = uparse_feed(p, c->in + off, n, &used);
        cr_assert_leq(used, n);
        off += used;
        if (r->err == UPARSE_OK && !uparse_done(p)) {
            cr_assert_eq(used, n, "%s: stopped early", c->name);
        }
    }
    if (r->err == UPARSE_OK && c->eof) {
        r->err = uparse_eof(p);
    }
    r->used = off;
    r->done = uparse_done(p);
    r->reusable = uparse_reusable(p);
    cr_expect(uparse_started(p), "%s: started", c->name);
    uparse_free(p);
}

Test(uparse, table_whole_and_byte_by_byte)
{
    size_t i, s;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct ucase *c = &cases[i];
        size_t              len = c->len != 0 ? c->len : strlen(c->in);
        static const size_t steps[] = { 0, 1, 3 };

        for (s = 0; s < sizeof(steps) / sizeof(steps[0]); s++) {
            struct result r;

            run(c, steps[s], &r);
            cr_expect_eq(r.err, c->err, "%s (step %zu): %s, want %s", c->name,
                         steps[s], uparse_error_name(r.err),
                         uparse_error_name(c->err));
            cr_expect_eq(r.got.status, c->status, "%s (step %zu): status %d",
                         c->name, steps[s], r.got.status);
            if (c->err == UPARSE_OK || c->body != NULL) {
                /* After an error, how much body came first depends on
                 * the split, unless the case says. */
                cr_expect_eq(r.got.body_len, strlen(c->body ? c->body : ""),
                             "%s (step %zu): body length %zu", c->name,
                             steps[s], r.got.body_len);
                cr_expect_str_eq(r.got.body, c->body ? c->body : "", "%s",
                                 c->name);
            }
            if (c->err == UPARSE_OK) {
                cr_expect(r.done, "%s (step %zu): not done", c->name,
                          steps[s]);
                cr_expect_eq(len - r.used, c->excess,
                             "%s (step %zu): %zu bytes left", c->name,
                             steps[s], len - r.used);
                cr_expect_eq(r.reusable, c->reusable, "%s: reusable",
                             c->name);
            } else {
                cr_expect(!r.reusable, "%s: reusable after an error",
                          c->name);
            }
            if (c->fields != NULL) {
                cr_expect_str_eq(r.got.fields, c->fields, "%s", c->name);
            }
        }
    }
}

/* The parser from a single-case run, kept for its accessors. */
static struct uparse *
parse(const char *in, struct got *g)
{
    struct uparse_limits lim = { 64 * 1024, 8 * 1024 * 1024 };
    struct uparse_cbs    cbs = { on_status, on_field, on_body };
    struct uparse       *p = uparse_new(&lim, &cbs, g);
    size_t               used;

    memset(g, 0, sizeof(*g));
    cr_assert_not_null(p);
    cr_assert_eq(uparse_feed(p, in, strlen(in), &used), UPARSE_OK, "%s", in);
    return p;
}

Test(uparse, reason_phrase)
{
    static const struct {
        const char *line;
        const char *reason;         /* NULL: reported as NULL */
    } rs[] = {
        { "HTTP/1.1 202 Accepted\r\n\r\n", "Accepted" },
        { "HTTP/1.1 299 Whatever You Say\r\n\r\n", "Whatever You Say" },
        { "HTTP/1.1 200 \r\n\r\n", NULL },
        { "HTTP/1.1 200 caf\xc3\xa9\r\n\r\n", NULL },
        { "HTTP/1.1 200 a\tb\r\n\r\n", NULL },
    };
    size_t i;

    for (i = 0; i < sizeof(rs) / sizeof(rs[0]); i++) {
        struct got     g;
        struct uparse *p = parse(rs[i].line, &g);

        if (rs[i].reason == NULL) {
            cr_expect(g.reason_null, "%s", rs[i].line);
        } else {
            cr_expect(!g.reason_null);
            cr_expect_str_eq(g.reason, rs[i].reason);
        }
        uparse_free(p);
    }
}

Test(uparse, keep_alive_and_codings)
{
    static const struct {
        const char        *head;
        int64_t            timeout;
        enum uparse_coding coding;
    } ks[] = {
        { "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", -1,
          UPARSE_CODING_IDENTITY },
        { "HTTP/1.1 200 OK\r\nKeep-Alive: timeout=5\r\nContent-Length: 0\r\n"
          "\r\n", 5, UPARSE_CODING_IDENTITY },
        { "HTTP/1.1 200 OK\r\nKeep-Alive: max=100, TIMEOUT=60\r\n"
          "Content-Length: 0\r\n\r\n", 60, UPARSE_CODING_IDENTITY },
        { "HTTP/1.1 200 OK\r\nKeep-Alive: timeout=abc\r\nContent-Length: 0"
          "\r\n\r\n", -1, UPARSE_CODING_IDENTITY },
        { "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 0"
          "\r\n\r\n", -1, UPARSE_CODING_GZIP },
        { "HTTP/1.1 200 OK\r\nContent-Encoding: X-GZIP\r\nContent-Length: 0"
          "\r\n\r\n", -1, UPARSE_CODING_GZIP },
        { "HTTP/1.1 200 OK\r\nContent-Encoding: identity\r\n"
          "Content-Length: 0\r\n\r\n", -1, UPARSE_CODING_IDENTITY },
        { "HTTP/1.1 200 OK\r\nContent-Encoding: deflate\r\nContent-Length: 0"
          "\r\n\r\n", -1, UPARSE_CODING_OTHER },
        { "HTTP/1.1 200 OK\r\nContent-Encoding: br\r\nContent-Length: 0"
          "\r\n\r\n", -1, UPARSE_CODING_OTHER },
        { "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Encoding: "
          "gzip\r\nContent-Length: 0\r\n\r\n", -1, UPARSE_CODING_OTHER },
    };
    size_t i;

    for (i = 0; i < sizeof(ks) / sizeof(ks[0]); i++) {
        struct got     g;
        struct uparse *p = parse(ks[i].head, &g);

        cr_expect(uparse_done(p), "%s", ks[i].head);
        cr_expect_eq(uparse_keep_alive_timeout(p), ks[i].timeout, "%s",
                     ks[i].head);
        cr_expect_eq(uparse_coding(p), ks[i].coding, "%s", ks[i].head);
        uparse_free(p);
    }
}

Test(uparse, excess_kinds_and_reset)
{
    struct got     g;
    struct uparse *p = parse("HTTP/1.1 204 No Content\r\n\r\n", &g);
    size_t         used;

    cr_expect_eq(uparse_excess_error(p), UPARSE_BODY_ON_NO_CONTENT);
    uparse_reset(p, false);
    cr_expect(!uparse_started(p));
    cr_expect_eq(uparse_feed(p, "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n"
                             "ab", 40, &used), UPARSE_OK);
    cr_expect_eq(used, 39);
    cr_expect_eq(uparse_excess_error(p), UPARSE_EXCESS_DATA);
    cr_expect_eq(uparse_minor(p), 1);
    cr_expect_eq(uparse_status(p), 200);
    uparse_free(p);
}

Test(uparse, error_names_are_stable)
{
    static const char *const names[UPARSE_ERROR_COUNT] = {
        "ok", "bad_status_line", "bad_header", "bad_framing",
        "duplicate_length", "length_and_chunked", "bad_chunk",
        "body_on_no_content", "unexpected_1xx", "too_large", "truncated",
        "excess_data", "unrequested_coding", "bad_coding",
    };
    int i;

    for (i = 0; i < UPARSE_ERROR_COUNT; i++) {
        cr_expect_str_eq(uparse_error_name((enum uparse_error)i), names[i]);
    }
}
