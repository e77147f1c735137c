/*
 * uparse.h - a parser of one HTTP/1.x response from the upstream (RFC
 * 9112, SPEC §11 "Upstream framing"), fed bytes as they arrive, in any
 * split. Pure: no libevent, no I/O; uconn.c drives it.
 *
 * It decides the framing itself and refuses every answer whose framing
 * or fields could be read two ways, because a pooled connection that is
 * misread hands one request's bytes to the next (another tenant's):
 *
 *   - a status line "HTTP/1.x SP 3DIGIT [SP reason]" ending in CRLF. A
 *     bare LF also ends a line (head, chunk and trailer lines): RFC 9112
 *     §2.2 lets a recipient accept it and curl, Go and Node do; it cannot
 *     move where a message ends. A CR anywhere else is an error.
 *   - field names are RFC 9110 tokens, a colon follows the name at once;
 *     values hold no CTL but HTAB (obs-text 0x80-0xFF is allowed); a line
 *     that starts with SP or HTAB (obs-fold) is refused: a fold can hide
 *     a Transfer-Encoding from one reader and not from another.
 *   - interim 1xx answers (100, 103, ...) are consumed with their fields
 *     (checked, then dropped) and parsing goes on with the next status
 *     line; 101 is an error, we never ask to switch protocols.
 *   - framing: no body after 1xx, 204, 304 or a HEAD request;
 *     Transfer-Encoding must be exactly "chunked"; Content-Length repeats
 *     (fields or a list) only with one value; both together are refused;
 *     with neither the body runs to EOF (and the connection is spent).
 *   - bodies and heads are bounded by the caller's limits.
 *
 * The message ends where its framing says: uparse_feed stops there and
 * says how many bytes it used, so the caller sees any byte past the end.
 */
#ifndef HSP_UPARSE_H
#define HSP_UPARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "uparse_types.h"

struct uparse_limits {
    size_t head_max;                /* all head lines (and interim heads'),
                                       bytes; the trailers alike */
    size_t body_max;                /* body bytes, after de-chunking */
};

/*
 * What the parser reports, all on ARG. Strings are NUL-terminated and
 * borrowed for the duration of the call. Only the final answer's status
 * line and fields are reported, never an interim answer's or a trailer.
 */
struct uparse_cbs {
    /* The final status line. REASON is the reason phrase when it is
     * non-empty and only visible ASCII and SP, else NULL. */
    void (*status)(void *arg, int status, const char *reason);
    /* One field of the final head, its value without surrounding OWS. */
    void (*field)(void *arg, const char *name, const char *value);
    /* LEN body bytes (de-chunked) at P. */
    void (*body)(void *arg, const char *p, size_t len);
};

struct uparse;                      /* opaque */

/*
 * Creates a parser under LIM that reports to CBS (copied) with ARG.
 * Returns NULL when out of memory. The caller frees it with uparse_free.
 */
struct uparse *uparse_new(const struct uparse_limits *lim,
                          const struct uparse_cbs *cbs, void *arg);

/* Frees P. NULL-safe. */
void uparse_free(struct uparse *p);

/* Starts P on a new answer; HEAD_REQUEST: it answers a HEAD (no body). */
void uparse_reset(struct uparse *p, bool head_request);

/*
 * Feeds LEN bytes at BUF. Sets *USED to how many belong to the answer:
 * LEN, or fewer once it has ended (uparse_done) within them. Returns
 * UPARSE_OK or the error that refused the answer; an error is sticky.
 */
enum uparse_error uparse_feed(struct uparse *p, const char *buf, size_t len,
                              size_t *used);

/*
 * Tells P the connection reached EOF. Returns UPARSE_OK when that ended
 * an answer whose body runs to EOF (or it had already ended), else
 * UPARSE_TRUNCATED (or the sticky error).
 */
enum uparse_error uparse_eof(struct uparse *p);

/* Whether the answer has ended. */
bool uparse_done(const struct uparse *p);

/* Whether any byte of an answer (interim ones included) was fed. */
bool uparse_started(const struct uparse *p);

/* The final status (0 before its line), and its HTTP/1.x minor version. */
int uparse_status(const struct uparse *p);
int uparse_minor(const struct uparse *p);

/*
 * Whether the connection may carry another request once this answer is
 * done: it ended by its framing (not at EOF), on HTTP/1.1, and said no
 * "Connection: close". HTTP/1.0 is never reused, keep-alive or not: the
 * saving is small and 1.0 keep-alive is rare and loosely implemented.
 */
bool uparse_reusable(const struct uparse *p);

/* The final head's Keep-Alive timeout=N, in seconds, or -1. */
int64_t uparse_keep_alive_timeout(const struct uparse *p);

/* The final head's Content-Encoding. */
enum uparse_coding uparse_coding(const struct uparse *p);

/* The error for bytes past the end of the answer: body_on_no_content
 * after a 204 or 304, else excess_data. */
enum uparse_error uparse_excess_error(const struct uparse *p);

/* The stable name of ERR ("bad_header", ...; "ok" for UPARSE_OK). */
const char *uparse_error_name(enum uparse_error err);

#endif /* HSP_UPARSE_H */
