/*
 * lex.h - a lexer of a request's raw bytes, fed them as they arrive and
 * before evhttp parses them (client.c), for two jobs evhttp 2.1 does
 * badly:
 *
 *   - What evhttp hides once it has parsed a header: obs-fold
 *     continuation lines (evhttp joins them to the previous field, which
 *     RFC 9112 §5.2 lets a server reject instead: we do, a fold can hide
 *     a Transfer-Encoding) and NUL bytes in a field value (evhttp cuts the
 *     value there without a word). These are lex_verdict: the request
 *     still reaches the proxy, which answers 400 in the upstream's format
 *     and closes.
 *
 *   - What evhttp refuses itself, with its own HTML page and no hook
 *     (PITFALLS §4.1): a malformed request line, an HTTP version other
 *     than 1.x, a method it does not know, a field line without a name
 *     and a colon, a Content-Length that is not a number, one together
 *     with Transfer-Encoding, a chunk size that is not hexadecimal, a
 *     head or a body past evhttp's limits. These are lex_fatal: the
 *     lexer judges them on the same bytes first, no later than evhttp
 *     would, so that the proxy answers in the upstream's format and
 *     closes before evhttp reads the request at all.
 *
 * The lexer is strict where evhttp is lenient (chunk extensions, a
 * field name with a space before its colon): each such request would be
 * misread by evhttp or by the upstream, and a clear 400 is the answer a
 * client can act on.
 *
 * A GET is read with its body (SPEC §11: the upstream reads a JSON
 * token there): evhttp reads none for a GET, so client.c has evhttp see
 * it as a PUT, and the lexer frames its body like any other.
 *
 * It reads one request: the request line, the field lines, and for a
 * chunked body its chunk framing and trailer section (both of which
 * evhttp parses with the same strictness problems). Bytes past that are
 * the next request's, and lex_reset starts again on them.
 */
#ifndef HSP_LEX_H
#define HSP_LEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LEX_TOKEN_MAX 24            /* method, field name, short values */

/* The order matters: lex_feed counts METHOD..VALUE as the head, and
 * METHOD..VERSION as its request line. */
enum lex_state {
    LEX_START,                      /* before the request line */
    LEX_METHOD,
    LEX_TARGET,
    LEX_VERSION,
    LEX_LINE_CR,                    /* a CR ended a line: LF must follow */
    LEX_FIELD,                      /* at the start of a field line */
    LEX_NAME,
    LEX_VALUE,
    LEX_CHUNK_SIZE,                 /* at or in a chunk-size line */
    LEX_CHUNK_DATA,
    LEX_DONE                        /* the request ended (or was refused) */
};

/* evhttp's limits, which the fatal verdicts must not come later than. */
struct lex_limits {
    size_t  head_max;               /* request line and fields, bytes */
    int64_t body_max;               /* body bytes */
    int64_t body_refuse;            /* the proxy's own max_body: a request
                                       that expects 100-continue with a
                                       larger Content-Length is refused
                                       before evhttp invites its body; 0
                                       for none */
};

struct lex {
    enum lex_state  state;
    enum lex_state  after_cr;       /* where LEX_LINE_CR goes on LF */
    struct lex_limits lim;
    size_t          head;           /* head bytes so far (and trailers') */
    size_t          tok_len;        /* of TOK (may exceed its size) */
    char            tok[LEX_TOKEN_MAX]; /* method, name, or value start */
    char            method[LEX_TOKEN_MAX];
    bool            body_read;      /* evhttp reads a body for the method */
    bool            trailer;        /* the field lines are trailers */
    bool            value_cl;       /* the current field: Content-Length */
    bool            value_te;       /* ... Transfer-Encoding */
    bool            value_expect;   /* ... Expect */
    bool            expect_continue; /* Expect: 100-continue */
    int64_t         length;         /* the (last) Content-Length */
    bool            value_started;  /* past the OWS after the colon */
    bool            folded;         /* a line began with SP or HTAB */
    bool            nul;            /* a NUL byte in a field value */
    int             content_length; /* Content-Length fields */
    int             transfer_encoding; /* Transfer-Encoding fields */
    bool            chunked;        /* that one said "chunked" */
    int64_t         body;           /* chunk bytes so far */
    int64_t         chunk_left;     /* of the current chunk's data */
    int             digits;         /* of the current chunk size */
    int             fatal;          /* 0, or the status of the refusal */
    const char     *why;            /* its message */
};

/* Starts LX on a new request, under LIM (NULL: no size limits). */
void lex_reset(struct lex *lx, const struct lex_limits *lim);

/*
 * Feeds LEN bytes of P. Returns how many were the request's: LEN, or
 * fewer when it ended (or was refused) within them.
 */
size_t lex_feed(struct lex *lx, const char *p, size_t len);

/*
 * The status of a refusal that must be answered before evhttp reads the
 * request (400, 413, 414, 431, 501 or 505), with its message in *WHY; 0
 * when there is none (yet).
 */
int lex_fatal(const struct lex *lx, const char **why);

/* Why the proxy must refuse the request it got ("..."), or NULL. */
const char *lex_verdict(const struct lex *lx);

#endif /* HSP_LEX_H */
