/*
 * http.h - pure HTTP helpers shared by the proxy and the sandbox: the
 * hop-by-hop header table, reason phrases, the upstream's error payload
 * (SPEC §7) and X-Request-Id checks. No libevent: unit-tested alone.
 */
#ifndef HSP_HTTP_H
#define HSP_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HTTP_REQUEST_ID_MAX 128     /* longer client ids are replaced */
#define HTTP_REASON_MAX     64      /* a relayed reason phrase, truncated */

/*
 * Whether header NAME is hop-by-hop (RFC 9110 §7.6.1), or is named in
 * CONNECTION, the value of the message's Connection header (may be NULL).
 * Such headers are never forwarded in either direction.
 */
bool http_is_hop_by_hop(const char *name, const char *connection);

/*
 * Whether the comma-separated token list LIST (a Connection value; may be
 * NULL) holds NAME, compared in any case, a whole element at a time.
 */
bool http_list_has(const char *list, const char *name);

/* The reason phrase of STATUS ("Bad Gateway"): the registered one, else
 * its class's ("Success" for an unregistered 2xx); "Unknown" outside
 * 100..599. */
const char *http_reason(int status);

/* The registered reason phrase of STATUS, or NULL when it has none. */
const char *http_reason_registered(int status);

/*
 * Whether PATH, a raw (percent-encoded) request path, may be forwarded:
 * it starts with '/', holds no dot-segment ("." or "..", raw or as %2e)
 * and no encoded slash or backslash (%2f, %5c, '\\'). Each of those is
 * read one way by the proxy's router and perhaps another by the
 * upstream or a balancer in front of it (SPEC §11), so they get 400.
 */
bool http_path_ok(const char *path);

#define HTTP_ETAG_HEX 32            /* hex digits of an ETag */
#define HTTP_ETAG_MAX (HTTP_ETAG_HEX + 3)   /* quotes and NUL */

/*
 * Writes the strong ETag of the LEN bytes at BODY into OUT
 * (HTTP_ETAG_MAX bytes): a 64-bit hash of them and their length, in
 * hex, quoted.
 */
void http_etag(const void *body, size_t len, char *out);

/*
 * Whether the Accept-Encoding value ACCEPT_ENCODING (may be NULL) takes
 * gzip: `gzip` or `x-gzip` with a q-value above 0, or `*` when gzip is
 * not named (RFC 9110 §12.5.3).
 */
bool http_accepts_gzip(const char *accept_encoding);

/*
 * Whether the If-None-Match value IF_NONE_MATCH matches ETAG (quoted):
 * `*`, or ETAG in its list, compared weakly (a W/ prefix is ignored).
 */
bool http_etag_match(const char *if_none_match, const char *etag);

/*
 * Writes the upstream's error payload for STATUS with the N messages MSGS:
 * {"statusCode":502,"message":["upstream unreachable"],"error":"Bad Gateway"}
 * Strings are JSON-escaped. Returns the length, or -1 when it does not fit
 * in CAP bytes of BUF (BUF is then an empty string).
 */
int http_error_body(char *buf, size_t cap, int status,
                    const char *const *msgs, size_t n);

/*
 * The request checks of SPEC §8 that evhttp does not make: a request's
 * header fields, fed one by one to http_fields_add, then judged by
 * http_fields_check. Zero a struct http_fields before the first field.
 */
struct http_fields {
    size_t count;                   /* header fields */
    size_t bytes;                   /* "name: value\r\n" of each */
    size_t content_length;          /* Content-Length fields */
    bool   cl_nonzero;              /* one is not "0" */
    size_t transfer_encoding;       /* Transfer-Encoding fields */
    bool   te_not_chunked;          /* one says other than "chunked" */
};

/* The limits http_fields_check applies (conf: max_headers, ...). */
struct http_limits {
    size_t max_headers;
    size_t max_header_size;
    size_t max_query;
};

/* What http_fields_check found. */
struct http_verdict {
    int         status;             /* 0: fine; else the 4xx to answer */
    const char *msg;                /* the reason, for the error payload */
    bool        close;              /* the framing is in doubt: close the
                                       connection after answering */
};

void http_fields_add(struct http_fields *f, const char *name,
                     const char *value);

/*
 * Judges F and the query string of QUERY_LEN bytes against LIM, in this
 * order: ambiguous framing (Content-Length with Transfer-Encoding, more
 * than one Content-Length or Transfer-Encoding, a coding other than
 * chunked, or a body announced on a request whose method evhttp reads no
 * body for, BODY_READ false: GET, HEAD, DELETE, OPTIONS; 400 and close,
 * RFC 9112 §6.1, §6.3), then too many fields (431), too many header
 * bytes (431), too long a query (414).
 */
void http_fields_check(const struct http_fields *f, bool body_read,
                       size_t query_len, const struct http_limits *lim,
                       struct http_verdict *out);

/*
 * Whether ID may be echoed as an X-Request-Id: 1..HTTP_REQUEST_ID_MAX
 * visible ASCII characters. Anything else is replaced by a generated id.
 */
bool http_request_id_valid(const char *id);

/*
 * Writes a random request id (32 lowercase hex digits) into OUT, which
 * holds at least 33 bytes. Returns 0, or -1 if no randomness was had.
 */
int http_request_id_new(char *out, size_t cap);

/*
 * The wait a Retry-After value V asks for, in ms from NOW_MS (Unix ms):
 * delta-seconds ("120") or an IMF-fixdate ("Wed, 21 Oct 2015 07:28:00
 * GMT"), RFC 9110 §10.2.3. Returns -1 when V is NULL or neither; 0 for a
 * date already past.
 */
int64_t http_retry_after_ms(const char *v, int64_t now_ms);

#endif /* HSP_HTTP_H */
