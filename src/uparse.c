/*
 * uparse.c - the upstream response parser (see uparse.h).
 *
 * Lines (status, fields, chunk sizes, trailers) are gathered whole into
 * one buffer and judged when their LF arrives; body bytes are handed on
 * as they come, never copied. Every line is bounded before it is
 * buffered, so the buffer never outgrows the head limit. What the
 * fields of the final head mean for framing, reuse and coding is read
 * by ufields; this file judges their bytes and decides the framing.
 */
#include "config.h"

#include "uparse.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "ufields.h"

#define UPARSE_LINE_MIN      256    /* first line buffer */
#define UPARSE_CHUNK_LINE    4096   /* chunk-size line with extensions */
#define UPARSE_CHUNK_DIGITS  16     /* hex digits of a chunk size */

enum uparse_state {
    UPARSE_S_STATUS,                /* in a status line */
    UPARSE_S_FIELD,                 /* in a field line (or the blank) */
    UPARSE_S_BODY_LENGTH,           /* Content-Length bytes left */
    UPARSE_S_BODY_EOF,              /* body until EOF */
    UPARSE_S_CHUNK_SIZE,            /* in a chunk-size line */
    UPARSE_S_CHUNK_DATA,            /* chunk bytes left */
    UPARSE_S_CHUNK_END,             /* the CRLF after chunk data */
    UPARSE_S_TRAILER,               /* in a trailer line (or the blank) */
    UPARSE_S_DONE
};

struct uparse {
    struct uparse_limits lim;
    struct uparse_cbs    cbs;       /* copied */
    void                *arg;       /* borrowed, passed to CBS */
    enum uparse_state    state;
    enum uparse_error    err;       /* sticky */
    bool                 head_request; /* no body whatever it says */
    bool                 started;   /* a byte was fed */
    bool                 interim;   /* the head being read is a 1xx */
    char                *line;      /* owned: the line being gathered */
    size_t               line_len;
    size_t               line_cap;
    size_t               head_used; /* head (or trailer) bytes so far */
    int                  status;    /* final status, 0 before */
    int                  minor;     /* HTTP/1.<minor> */
    struct ufields       fields;    /* what the final head said */
    bool                 eof_body;  /* body delimited by EOF */
    uint64_t             left;      /* of the body or current chunk */
    uint64_t             body;      /* body bytes so far */
};

static const char *const uparse_names[UPARSE_ERROR_COUNT] = {
    [UPARSE_OK] = "ok",
    [UPARSE_BAD_STATUS_LINE] = "bad_status_line",
    [UPARSE_BAD_HEADER] = "bad_header",
    [UPARSE_BAD_FRAMING] = "bad_framing",
    [UPARSE_DUPLICATE_LENGTH] = "duplicate_length",
    [UPARSE_LENGTH_AND_CHUNKED] = "length_and_chunked",
    [UPARSE_BAD_CHUNK] = "bad_chunk",
    [UPARSE_BODY_ON_NO_CONTENT] = "body_on_no_content",
    [UPARSE_UNEXPECTED_1XX] = "unexpected_1xx",
    [UPARSE_TOO_LARGE] = "too_large",
    [UPARSE_TRUNCATED] = "truncated",
    [UPARSE_EXCESS_DATA] = "excess_data",
    [UPARSE_UNREQUESTED_CODING] = "unrequested_coding",
    [UPARSE_BAD_CODING] = "bad_coding",
};

const char *
uparse_error_name(enum uparse_error err)
{
    assert(err < UPARSE_ERROR_COUNT && uparse_names[err] != NULL);
    return uparse_names[err];
}

/* RFC 9110 tchar. */
static bool
is_tchar(unsigned char c)
{
    static const char extra[] = "!#$%&'*+-.^_`|~";

    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
           (c >= 'A' && c <= 'Z') || (c != '\0' && strchr(extra, c) != NULL);
}

/* A byte allowed in a field value (field-vchar, SP, HTAB). */
static bool
is_value_byte(unsigned char c)
{
    return c == '\t' || (c >= 0x20 && c != 0x7f);
}

static bool
is_ows(char c)
{
    return c == ' ' || c == '\t';
}

struct uparse *
uparse_new(const struct uparse_limits *lim, const struct uparse_cbs *cbs,
           void *arg)
{
    struct uparse *p;

    assert(cbs->status != NULL && cbs->field != NULL && cbs->body != NULL);
    p = calloc(1, sizeof(*p));
    if (p == NULL) {
        return NULL;
    }
    p->lim = *lim;
    p->cbs = *cbs;
    p->arg = arg;
    uparse_reset(p, false);
    return p;
}

void
uparse_free(struct uparse *p)
{
    if (p == NULL) {
        return;
    }
    free(p->line);
    free(p);
}

void
uparse_reset(struct uparse *p, bool head_request)
{
    char  *line = p->line;
    size_t cap = p->line_cap;

    memset(&p->state, 0, sizeof(*p) - offsetof(struct uparse, state));
    p->line = line;
    p->line_cap = cap;
    p->state = UPARSE_S_STATUS;
    p->err = UPARSE_OK;
    p->head_request = head_request;
    ufields_init(&p->fields);
}

/* Checks the field line L (N bytes, NUL at L[N]); on a final head,
 * reads it and reports it. */
static enum uparse_error
field_line(struct uparse *p, char *l, size_t n, bool report)
{
    char             *colon, *v, *e;
    size_t            i;
    enum uparse_error err;

    if (is_ows(l[0])) {
        return UPARSE_BAD_HEADER;   /* obs-fold */
    }
    colon = memchr(l, ':', n);
    if (colon == NULL || colon == l) {
        return UPARSE_BAD_HEADER;
    }
    for (i = 0; l + i < colon; i++) {
        if (!is_tchar((unsigned char)l[i])) {
            return UPARSE_BAD_HEADER;
        }
    }
    for (v = colon + 1; v < l + n; v++) {
        if (!is_value_byte((unsigned char)*v)) {
            return UPARSE_BAD_HEADER;
        }
    }
    if (!report) {
        return UPARSE_OK;
    }
    *colon = '\0';
    v = colon + 1;
    while (is_ows(*v)) {
        v++;
    }
    e = l + n;
    while (e > v && is_ows(e[-1])) {
        e--;
    }
    *e = '\0';
    err = ufields_read(&p->fields, l, v);
    if (err == UPARSE_OK) {
        p->cbs.field(p->arg, l, v);
    }
    return err;
}

static enum uparse_error
status_line(struct uparse *p, char *l, size_t n)
{
    int    status;
    char  *reason;
    size_t i;
    bool   plain = true;

    if (n < 12 || memcmp(l, "HTTP/1.", 7) != 0 || l[7] < '0' ||
        l[7] > '9' || l[8] != ' ' || l[9] < '1' || l[9] > '5' ||
        l[10] < '0' || l[10] > '9' || l[11] < '0' || l[11] > '9' ||
        (n > 12 && l[12] != ' ')) {
        return UPARSE_BAD_STATUS_LINE;
    }
    status = (l[9] - '0') * 100 + (l[10] - '0') * 10 + (l[11] - '0');
    reason = n > 12 ? l + 13 : l + n;
    for (i = 0; reason + i < l + n; i++) {
        unsigned char c = (unsigned char)reason[i];

        if (c != '\t' && (c < 0x20 || c == 0x7f)) {
            return UPARSE_BAD_STATUS_LINE;
        }
        if (c == '\t' || c >= 0x80) {
            plain = false;
        }
    }
    if (status == 101) {
        return UPARSE_UNEXPECTED_1XX;
    }
    p->minor = l[7] - '0';
    p->interim = status < 200;
    p->state = UPARSE_S_FIELD;
    if (!p->interim) {
        p->status = status;
        p->cbs.status(p->arg, status,
                      plain && reason[0] != '\0' ? reason : NULL);
    }
    return UPARSE_OK;
}

/* The blank line after the final head: decides the framing. */
static enum uparse_error
head_end(struct uparse *p)
{
    const struct ufields *f = &p->fields;

    if (p->interim) {
        p->state = UPARSE_S_STATUS; /* the final answer comes next */
        return UPARSE_OK;
    }
    if (f->have_length && f->chunked > 0) {
        return UPARSE_LENGTH_AND_CHUNKED;
    }
    /* A 204 must carry no framing for a body; a 304 may give the length
     * of the representation it stands for (RFC 9110 §8.6), not a body. */
    if (p->status == 204 &&
        (f->chunked > 0 || (f->have_length && f->length > 0))) {
        return UPARSE_BODY_ON_NO_CONTENT;
    }
    if (p->status == 304 && f->chunked > 0) {
        return UPARSE_BODY_ON_NO_CONTENT;
    }
    if (p->status == 204 || p->status == 304 || p->head_request) {
        p->state = UPARSE_S_DONE;
    } else if (f->chunked > 0) {
        p->state = UPARSE_S_CHUNK_SIZE;
    } else if (f->have_length) {
        if (f->length > p->lim.body_max) {
            return UPARSE_TOO_LARGE;
        }
        p->left = f->length;
        p->state = f->length > 0 ? UPARSE_S_BODY_LENGTH : UPARSE_S_DONE;
    } else {
        p->eof_body = true;
        p->state = UPARSE_S_BODY_EOF;
    }
    return UPARSE_OK;
}

static int
hex_value(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

static enum uparse_error
chunk_line(struct uparse *p, const char *l, size_t n)
{
    uint64_t size = 0;
    size_t   i;
    int      d;

    for (i = 0; i < n && (d = hex_value(l[i])) >= 0; i++) {
        if (i == UPARSE_CHUNK_DIGITS) {
            return UPARSE_BAD_CHUNK;
        }
        size = size * 16 + (uint64_t)d;
    }
    if (i == 0) {
        return UPARSE_BAD_CHUNK;
    }
    /* Extensions (BWS ";" ...) are ignored, but must be field bytes. */
    for (; i < n && is_ows(l[i]); i++) {
    }
    if (i < n && l[i] != ';') {
        return UPARSE_BAD_CHUNK;
    }
    for (; i < n; i++) {
        if (!is_value_byte((unsigned char)l[i])) {
            return UPARSE_BAD_CHUNK;
        }
    }
    if (size == 0) {
        p->head_used = 0;           /* the trailers' own budget */
        p->state = UPARSE_S_TRAILER;
        return UPARSE_OK;
    }
    if (size > p->lim.body_max - p->body) {
        return UPARSE_TOO_LARGE;
    }
    p->left = size;
    p->state = UPARSE_S_CHUNK_DATA;
    return UPARSE_OK;
}

/* A whole line of RAW bytes (its LF included) is in p->line. */
static enum uparse_error
line_done(struct uparse *p, size_t raw)
{
    char  *l = p->line;
    size_t n = p->line_len - 1;     /* without the LF */

    if (n > 0 && l[n - 1] == '\r') {
        n--;
    }
    l[n] = '\0';
    if (memchr(l, '\r', n) != NULL) {   /* a bare CR */
        return p->state == UPARSE_S_STATUS ? UPARSE_BAD_STATUS_LINE
               : p->state == UPARSE_S_CHUNK_SIZE ||
                       p->state == UPARSE_S_CHUNK_END
                   ? UPARSE_BAD_CHUNK
                   : UPARSE_BAD_HEADER;
    }
    switch (p->state) {
    case UPARSE_S_STATUS:
        p->head_used += raw;
        return status_line(p, l, n);
    case UPARSE_S_FIELD:
        p->head_used += raw;
        return n == 0 ? head_end(p) : field_line(p, l, n, !p->interim);
    case UPARSE_S_CHUNK_SIZE:
        return chunk_line(p, l, n);
    case UPARSE_S_CHUNK_END:
        if (n != 0) {
            return UPARSE_BAD_CHUNK;
        }
        p->state = UPARSE_S_CHUNK_SIZE;
        return UPARSE_OK;
    case UPARSE_S_TRAILER:
        p->head_used += raw;
        if (n == 0) {
            p->state = UPARSE_S_DONE;
            return UPARSE_OK;
        }
        return field_line(p, l, n, false);
    default:
        assert(!"a line in a body state");
        return UPARSE_BAD_CHUNK;
    }
}

/* Adds N bytes at S to the line being gathered, within its bound. */
static enum uparse_error
line_add(struct uparse *p, const char *s, size_t n)
{
    size_t limit, want;
    char  *l;

    switch (p->state) {
    case UPARSE_S_CHUNK_SIZE:
        limit = UPARSE_CHUNK_LINE;
        break;
    case UPARSE_S_CHUNK_END:
        limit = 2;                  /* CRLF */
        break;
    default:
        limit = p->lim.head_max - p->head_used;
        break;
    }
    if (n > limit - p->line_len) {
        return p->state == UPARSE_S_CHUNK_SIZE ||
                       p->state == UPARSE_S_CHUNK_END
                   ? UPARSE_BAD_CHUNK
                   : UPARSE_TOO_LARGE;
    }
    want = p->line_len + n + 1;     /* and a NUL */
    if (want > p->line_cap) {
        size_t cap = p->line_cap == 0 ? UPARSE_LINE_MIN : p->line_cap;

        while (cap < want) {
            cap *= 2;
        }
        l = realloc(p->line, cap);
        if (l == NULL) {
            return UPARSE_TOO_LARGE;    /* cannot hold it */
        }
        p->line = l;
        p->line_cap = cap;
    }
    memcpy(p->line + p->line_len, s, n);
    p->line_len += n;
    return UPARSE_OK;
}

enum uparse_error
uparse_feed(struct uparse *p, const char *buf, size_t len, size_t *used)
{
    size_t      i = 0, n;
    const char *lf;

    if (len > 0 && p->state != UPARSE_S_DONE) {
        p->started = true;
    }
    while (i < len && p->err == UPARSE_OK && p->state != UPARSE_S_DONE) {
        switch (p->state) {
        case UPARSE_S_BODY_LENGTH:
        case UPARSE_S_CHUNK_DATA:
            n = len - i < p->left ? len - i : (size_t)p->left;
            p->cbs.body(p->arg, buf + i, n);
            i += n;
            p->left -= n;
            p->body += n;
            if (p->left == 0) {
                p->state = p->state == UPARSE_S_BODY_LENGTH
                               ? UPARSE_S_DONE
                               : UPARSE_S_CHUNK_END;
            }
            break;
        case UPARSE_S_BODY_EOF:
            n = len - i;
            if (n > p->lim.body_max - p->body) {
                p->err = UPARSE_TOO_LARGE;
                break;
            }
            p->cbs.body(p->arg, buf + i, n);
            i += n;
            p->body += n;
            break;
        default:
            lf = memchr(buf + i, '\n', len - i);
            n = lf != NULL ? (size_t)(lf - (buf + i)) + 1 : len - i;
            p->err = line_add(p, buf + i, n);
            if (p->err != UPARSE_OK) {
                break;
            }
            i += n;
            if (lf != NULL) {
                p->err = line_done(p, p->line_len);
                p->line_len = 0;
            }
            break;
        }
    }
    *used = i;
    return p->err;
}

enum uparse_error
uparse_eof(struct uparse *p)
{
    if (p->err != UPARSE_OK) {
        return p->err;
    }
    if (p->state == UPARSE_S_BODY_EOF) {
        p->state = UPARSE_S_DONE;
    }
    if (p->state != UPARSE_S_DONE) {
        p->err = UPARSE_TRUNCATED;
    }
    return p->err;
}

bool
uparse_done(const struct uparse *p)
{
    return p->err == UPARSE_OK && p->state == UPARSE_S_DONE;
}

bool
uparse_started(const struct uparse *p)
{
    return p->started;
}

int
uparse_status(const struct uparse *p)
{
    return p->status;
}

int
uparse_minor(const struct uparse *p)
{
    return p->minor;
}

bool
uparse_reusable(const struct uparse *p)
{
    return uparse_done(p) && !p->eof_body && p->minor >= 1 &&
           !p->fields.conn_close;
}

int64_t
uparse_keep_alive_timeout(const struct uparse *p)
{
    return p->fields.ka_timeout;
}

enum uparse_coding
uparse_coding(const struct uparse *p)
{
    return ufields_coding(&p->fields);
}

enum uparse_error
uparse_excess_error(const struct uparse *p)
{
    return p->status == 204 || p->status == 304 ? UPARSE_BODY_ON_NO_CONTENT
                                                : UPARSE_EXCESS_DATA;
}
