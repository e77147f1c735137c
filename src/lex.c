/*
 * lex.c - the raw request lexer (lex.h says what for).
 *
 * One byte at a time, in one state machine, so that a request sent whole
 * and one sent a byte a second get the same verdict at the same byte.
 * Every line ends in LF or CRLF; a CR anywhere else in the head or the
 * chunk framing is refused (RFC 9112 §2.2 lets a recipient treat a bare
 * CR as invalid; evhttp would keep it inside a value).
 */
#include "config.h"

#include "lex.h"

#include <string.h>

#define LEX_CL_DIGITS    18         /* Content-Length below 10^18 */
#define LEX_CHUNK_DIGITS 15         /* a chunk below 16^15 bytes */

/*
 * The methods evhttp parses and the proxy lets through (proxy.c's
 * evhttp_set_allowed_methods); evhttp answers any other with its own 501
 * page, or its 400 page when it does not know the word at all. PURGE
 * (SPEC §13) is a word evhttp 2.1 does not know: client.c has it read as
 * a TRACE, which evhttp reads without a body and this table refuses, so
 * every TRACE evhttp hands over came as a PURGE.
 */
static const char *const lex_methods[] = {
    "GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "PURGE",
};

/* RFC 9110 §5.6.2: a token character. */
static bool
lex_tchar(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
           (c >= 'A' && c <= 'Z') ||
           (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static int
lex_hex(unsigned char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    c |= 0x20;
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Adds C to the token being read (counted past its size, never stored). */
static void
lex_tok(struct lex *lx, unsigned char c)
{
    if (lx->tok_len < sizeof(lx->tok) - 1) {
        lx->tok[lx->tok_len] = (char)c;
        lx->tok[lx->tok_len + 1] = '\0';
    }
    lx->tok_len++;
}

/* The token, when it was stored whole, without trailing SP/HTAB. */
static const char *
lex_tok_trimmed(struct lex *lx)
{
    if (lx->tok_len >= sizeof(lx->tok)) {
        return NULL;
    }
    lx->tok[lx->tok_len] = '\0';
    while (lx->tok_len > 0 && (lx->tok[lx->tok_len - 1] == ' ' ||
                               lx->tok[lx->tok_len - 1] == '\t')) {
        lx->tok[--lx->tok_len] = '\0';
    }
    return lx->tok;
}

static void
lex_refuse(struct lex *lx, int status, const char *why)
{
    lx->fatal = status;
    lx->why = why;
    lx->state = LEX_DONE;
}

/* The request line ended, its version in the token. */
static void
lex_request_line(struct lex *lx)
{
    const char *v = lx->tok;
    size_t      i;

    if (lx->tok_len != 8 || strncmp(v, "HTTP/", 5) != 0 || v[5] < '0' ||
        v[5] > '9' || v[6] != '.' || v[7] < '0' || v[7] > '9') {
        lex_refuse(lx, 400, "malformed request line");
        return;
    }
    if (strcmp(v, "HTTP/1.1") != 0 && strcmp(v, "HTTP/1.0") != 0) {
        lex_refuse(lx, 505, "HTTP version not supported");
        return;
    }
    for (i = 0; i < sizeof(lex_methods) / sizeof(lex_methods[0]); i++) {
        if (strcmp(lx->method, lex_methods[i]) == 0) {
            break;
        }
    }
    if (i == sizeof(lex_methods) / sizeof(lex_methods[0])) {
        lex_refuse(lx, 501, "request method not implemented");
        return;
    }
    /* evhttp reads a body only for these (evhttp_method_may_have_body),
     * and for a GET, which client.c has it read as a PUT. */
    lx->body_read = strcmp(lx->method, "GET") == 0 ||
                    strcmp(lx->method, "POST") == 0 ||
                    strcmp(lx->method, "PUT") == 0 ||
                    strcmp(lx->method, "PATCH") == 0;
    lx->state = LEX_FIELD;
}

/* A field line ended: the framing fields are judged as they come. */
static void
lex_field(struct lex *lx)
{
    const char *v = lex_tok_trimmed(lx);
    int64_t     n = 0;
    size_t      i;

    lx->state = LEX_FIELD;
    if (lx->value_cl) {
        lx->content_length++;
        if (v == NULL || *v == '\0' || strlen(v) > LEX_CL_DIGITS) {
            lex_refuse(lx, 400, "invalid Content-Length");
            return;
        }
        for (i = 0; v[i] != '\0'; i++) {
            if (v[i] < '0' || v[i] > '9') {
                lex_refuse(lx, 400, "invalid Content-Length");
                return;
            }
            n = n * 10 + (v[i] - '0');
        }
        lx->length = n;
        if (lx->lim.body_max > 0 && n > lx->lim.body_max) {
            lex_refuse(lx, 413, "request body too large");
        }
    } else if (lx->value_expect) {
        lx->expect_continue = v != NULL && strcmp(v, "100-continue") == 0;
    } else if (lx->value_te) {
        lx->transfer_encoding++;
        lx->chunked = v != NULL && strcmp(v, "chunked") == 0;
    }
}

/* The empty line after the fields: the body's framing is settled. */
static void
lex_head_end(struct lex *lx)
{
    if (lx->trailer) {
        lx->state = LEX_DONE;
        return;
    }
    if (lx->folded) {
        /* A fold may continue a framing field: the proxy refuses the
         * request for the fold itself, and closes. */
        lx->state = LEX_DONE;
        return;
    }
    if (lx->transfer_encoding > 0 && lx->content_length > 0) {
        lex_refuse(lx, 400, "Content-Length and Transfer-Encoding together");
        return;
    }
    if (lx->transfer_encoding > 1 ||
        (lx->transfer_encoding == 1 && !lx->chunked)) {
        lex_refuse(lx, 400, "Transfer-Encoding must be chunked, once");
        return;
    }
    /* A client that waits for 100 Continue is told 413 instead, before
     * evhttp invites a body that would only be refused. */
    if (lx->expect_continue && lx->content_length > 0 &&
        lx->lim.body_refuse > 0 && lx->length > lx->lim.body_refuse) {
        lex_refuse(lx, 413, "request body too large");
        return;
    }
    /* Without a body read, the bytes after the head are the next
     * request to evhttp: the proxy refuses this one (a body where none
     * is allowed) and closes, so they are nobody's. */
    lx->state = lx->chunked && lx->body_read ? LEX_CHUNK_SIZE : LEX_DONE;
}

/* A chunk-size line ended. */
static void
lex_chunk_line(struct lex *lx)
{
    if (lx->digits == 0) {
        return;                     /* an empty line: evhttp skips them */
    }
    lx->digits = 0;
    if (lx->chunk_left == 0) {      /* the last chunk: trailers follow */
        lx->trailer = true;
        lx->state = LEX_FIELD;
        return;
    }
    lx->body += lx->chunk_left;
    if (lx->lim.body_max > 0 && lx->body > lx->lim.body_max) {
        lex_refuse(lx, 413, "request body too large");
        return;
    }
    lx->state = LEX_CHUNK_DATA;
}

/* A line read in state ST ended (LF, or CRLF). */
static void
lex_eol(struct lex *lx, enum lex_state st)
{
    switch (st) {
    case LEX_START:
        /* RFC 9112 §2.2: empty lines before the request line are
         * ignored (client.c drops them before evhttp, which would not). */
        lx->state = LEX_START;
        break;
    case LEX_VERSION:
        lex_request_line(lx);
        break;
    case LEX_FIELD:
        lex_head_end(lx);
        break;
    case LEX_VALUE:
        lex_field(lx);
        break;
    case LEX_CHUNK_SIZE:
        lx->state = LEX_CHUNK_SIZE;
        lex_chunk_line(lx);
        break;
    case LEX_METHOD:
    case LEX_TARGET:
        lex_refuse(lx, 400, "malformed request line");
        break;
    case LEX_NAME:
        lex_refuse(lx, 400, "malformed header field");
        break;
    case LEX_LINE_CR:
    case LEX_CHUNK_DATA:
    case LEX_DONE:
        break;
    }
}

/* One byte C of a line in state lx->state (not CR, not LF). */
static void
lex_byte(struct lex *lx, unsigned char c)
{
    switch (lx->state) {
    case LEX_METHOD:
        if (c == ' ' && lx->tok_len > 0) {
            if (lx->tok_len < sizeof(lx->method)) {
                memcpy(lx->method, lx->tok, lx->tok_len + 1);
            }                       /* else too long to be one we know */
            lx->tok_len = 0;
            lx->state = LEX_TARGET;
        } else if (lex_tchar(c)) {
            lex_tok(lx, c);
        } else {
            lex_refuse(lx, 400, "malformed request line");
        }
        break;
    case LEX_TARGET:
        if (c == ' ' && lx->tok_len > 0) {
            lx->tok_len = 0;
            lx->state = LEX_VERSION;
        } else if (c <= ' ' || c == 0x7f) {
            lex_refuse(lx, 400, "malformed request line");
        } else {
            lx->tok_len++;          /* the proxy judges the target */
        }
        break;
    case LEX_VERSION:
        lex_tok(lx, c);
        break;
    case LEX_FIELD:
        if (c == ' ' || c == '\t') {
            lx->folded = true;
            lx->value_cl = lx->value_te = lx->value_expect = false;
            lx->state = LEX_VALUE;
        } else if (lex_tchar(c)) {
            lx->tok_len = 0;
            lex_tok(lx, c >= 'A' && c <= 'Z' ? c | 0x20 : c);
            lx->state = LEX_NAME;
        } else {
            lex_refuse(lx, 400, "malformed header field");
        }
        break;
    case LEX_NAME:
        if (c == ':') {
            bool whole = lx->tok_len < sizeof(lx->tok);

            /* Framing fields in trailers are not framing (RFC 9112 §7.1.2)
             * and evhttp ignores them there. */
            lx->value_cl = whole && !lx->trailer &&
                           strcmp(lx->tok, "content-length") == 0;
            lx->value_te = whole && !lx->trailer &&
                           strcmp(lx->tok, "transfer-encoding") == 0;
            lx->value_expect = whole && !lx->trailer &&
                               strcmp(lx->tok, "expect") == 0;
            lx->value_started = false;
            lx->tok_len = 0;
            lx->state = LEX_VALUE;
        } else if (lex_tchar(c)) {
            lex_tok(lx, c >= 'A' && c <= 'Z' ? c | 0x20 : c);
        } else {
            lex_refuse(lx, 400, "malformed header field");
        }
        break;
    case LEX_VALUE:
        if (c == '\0') {
            lx->nul = true;
        }
        if (!lx->value_started && (c == ' ' || c == '\t')) {
            break;                  /* OWS before the value */
        }
        lx->value_started = true;
        if (lx->value_cl || lx->value_te || lx->value_expect) {
            lex_tok(lx, c >= 'A' && c <= 'Z' ? c | 0x20 : c);
        }
        break;
    case LEX_CHUNK_SIZE: {
        int d = lex_hex(c);

        if (d < 0 || ++lx->digits > LEX_CHUNK_DIGITS) {
            lex_refuse(lx, 400, "invalid chunk size");
            break;
        }
        lx->chunk_left = lx->chunk_left * 16 + d;
        break;
    }
    case LEX_START:
    case LEX_LINE_CR:
    case LEX_CHUNK_DATA:
    case LEX_DONE:
        break;
    }
}

void
lex_reset(struct lex *lx, const struct lex_limits *lim)
{
    memset(lx, 0, sizeof(*lx));
    lx->state = LEX_START;
    if (lim != NULL) {
        lx->lim = *lim;
    }
}

size_t
lex_feed(struct lex *lx, const char *p, size_t len)
{
    size_t i = 0;

    while (i < len && lx->state != LEX_DONE) {
        unsigned char  c = (unsigned char)p[i];
        enum lex_state line;

        if (lx->state == LEX_CHUNK_DATA) {
            size_t n = len - i;

            if ((int64_t)n > lx->chunk_left) {
                n = (size_t)lx->chunk_left;
            }
            i += n;
            lx->chunk_left -= (int64_t)n;
            if (lx->chunk_left == 0) {
                lx->state = LEX_CHUNK_SIZE;
            }
            continue;
        }
        i++;
        if (lx->state == LEX_START && c != '\r' && c != '\n') {
            lx->state = LEX_METHOD;
        }
        /* The head (and trailers) count against evhttp's limit, as it
         * counts them: every byte, so never fewer than it does. */
        line = lx->state == LEX_LINE_CR ? lx->after_cr : lx->state;
        if (line >= LEX_METHOD && line <= LEX_VALUE &&
            lx->lim.head_max > 0 && ++lx->head > lx->lim.head_max) {
            if (line <= LEX_VERSION) {   /* still the request line */
                lex_refuse(lx, 414, "request line too long");
            } else {
                lex_refuse(lx, 431, "request header fields too large");
            }
            break;
        }
        if (lx->state == LEX_LINE_CR) {
            if (c != '\n') {
                lex_refuse(lx, 400, "bare CR in the request");
                break;
            }
            lex_eol(lx, lx->after_cr);
        } else if (c == '\r') {
            lx->after_cr = lx->state;
            lx->state = LEX_LINE_CR;
        } else if (c == '\n') {
            lex_eol(lx, lx->state);
        } else {
            lex_byte(lx, c);
        }
    }
    return i;
}

int
lex_fatal(const struct lex *lx, const char **why)
{
    if (lx->fatal != 0 && why != NULL) {
        *why = lx->why;
    }
    return lx->fatal;
}

const char *
lex_verdict(const struct lex *lx)
{
    if (lx->fatal != 0) {
        return lx->why;
    }
    if (lx->nul) {
        return "NUL byte in the request header";
    }
    if (lx->folded) {
        return "obsolete line folding in the request header";
    }
    return NULL;
}
