/*
 * hclient.h - a small blocking HTTP/1.1 client for the integration tests:
 * plain sockets, OpenSSL for https, one request per connection, and a
 * deadline on every call, so a hung server fails a test instead of hanging
 * it. The sandbox's admin routes are in hsandbox.h. Test-only: never
 * linked into the programs.
 */
#ifndef HSP_HCLIENT_H
#define HSP_HCLIENT_H

#include <stdbool.h>
#include <stddef.h>

struct json_object;

#define HCLIENT_TIMEOUT_MS  10000   /* default deadline of one call */
#define HCLIENT_RAW_IDLE_MS 500     /* hclient_raw: quiet time that ends it */

struct hheader {
    char *name;                     /* owned; as received */
    char *value;                    /* owned; without surrounding blanks */
};

/*
 * A response. Every pointer is owned by the struct and released by
 * hresp_free; strings are NUL-terminated.
 */
struct hresp {
    int             status;         /* 0 when no complete response came */
    char           *reason;         /* reason phrase, "" when absent */
    struct hheader *headers;        /* in the order received */
    size_t          nheaders;
    char           *body;           /* de-chunked; never NULL after a call */
    size_t          body_len;       /* exact length, without the NUL */
    char           *raw;            /* every byte received, unparsed */
    size_t          raw_len;
    bool            closed;         /* the peer closed (or reset) the
                                     * connection before we stopped */
    bool            timed_out;      /* the deadline passed while waiting */
    double          elapsed_ms;     /* from connect to the end of the call */
    char            error[256];     /* why a call returned -1 */
};

/*
 * Sets the deadline of each later call in this process (MS > 0), the
 * connect, TLS handshake, send and receive together.
 */
void hclient_set_timeout_ms(int ms);

/*
 * Sets the CA file that verifies https servers, copied. NULL restores the
 * default: $HSP_SANDBOX_CA when set, else the system trust store. The
 * peer's certificate and host name (or IP) are always verified.
 */
void hclient_set_ca_file(const char *path);

/*
 * Sends one request to BASE_URL ("http[s]://host[:port][/prefix]") and
 * reads one response. PATH_AND_QUERY is appended to the URL's prefix and
 * sent as is (no encoding). HEADERS is a NULL-terminated array of
 * "Name: value" strings, or NULL. Host is added unless HEADERS has one;
 * when BODY is not NULL, BODY_LEN bytes are sent with a Content-Length
 * unless HEADERS already has Content-Length or Transfer-Encoding.
 *
 * OUT is always initialised; release it with hresp_free. Returns 0 when a
 * complete final response (1xx skipped) was read, else -1 with the reason
 * in OUT->error (OUT->raw holds what did arrive).
 */
int hclient_request(const char *base_url, const char *method,
                    const char *path_and_query, const char *const *headers,
                    const char *body, size_t body_len, struct hresp *out);

/* A GET with the x-hs-token header set to TOKEN (none when NULL). */
int hclient_get(const char *base_url, const char *path_and_query,
                const char *token, struct hresp *out);

/*
 * Sends LEN arbitrary BYTES to BASE_URL's host (over TLS for https) and
 * reads until the peer closes, the deadline passes, or HCLIENT_RAW_IDLE_MS
 * pass quietly after a complete response. OUT->raw holds everything that
 * came back; the first response, when complete, is also parsed into OUT
 * (status 0 otherwise); OUT->closed tells whether the peer closed. A peer
 * that closes while we still send is no error. Returns 0, or -1 (reason in
 * OUT->error) when no connection could be made.
 */
int hclient_raw(const char *base_url, const void *bytes, size_t len,
                struct hresp *out);

/*
 * A plain TCP connection to the host and port of BASE_URL (http:// only),
 * with TCP_NODELAY, for tests that speak HTTP by hand. LIMIT_MS > 0
 * bounds the connect and becomes each send's and receive's timeout; 0
 * waits as long as it takes. Returns the socket (the caller closes it),
 * or -1 with errno set.
 */
int hclient_tcp_open(const char *base_url, int limit_ms);

/* Releases what R owns and zeroes it. NULL-safe; may be called twice. */
void hresp_free(struct hresp *r);

/*
 * The value of the first header NAME (case-insensitive) in R, or NULL.
 * Borrowed: valid until hresp_free.
 */
const char *hresp_header(const struct hresp *r, const char *name);

/* How many headers named NAME (case-insensitive) R has. */
size_t hresp_header_count(const struct hresp *r, const char *name);

/* The value of the Nth (from 0) header named NAME, or NULL. Borrowed. */
const char *hresp_header_nth(const struct hresp *r, const char *name,
                             size_t n);

/*
 * Parses R's body as one JSON value (trailing whitespace allowed).
 * Returns a new reference the caller puts, or NULL.
 */
struct json_object *hresp_json(const struct hresp *r);

#endif /* HSP_HCLIENT_H */
