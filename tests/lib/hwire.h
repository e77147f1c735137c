/*
 * hwire.h - what the HTTP test client's files share, and nothing else
 * includes: byte buffers, base URLs and connections (hconn.c), and the
 * parser of one response (hresp.c). The public API is hclient.h.
 */
#ifndef HSP_HWIRE_H
#define HSP_HWIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

#include "hclient.h"

#define HURL_HOST_MAX   256         /* struct hurl's host name */
#define HURL_PREFIX_MAX 1024        /* and path prefix, with the NUL */

/* A base URL, "http[s]://host[:port][/prefix]", taken apart. */
struct hurl {
    bool tls;                       /* https */
    char host[HURL_HOST_MAX];       /* name or address, no brackets */
    char port[8];                   /* decimal */
    char authority[HURL_HOST_MAX + 16]; /* as written: the Host value */
    char prefix[HURL_PREFIX_MAX];   /* path prefix, no trailing '/' */
};

/* One connection, plain or TLS, and the deadline of everything on it. */
struct hconn {
    int      fd;                    /* -1 when closed */
    SSL_CTX *ctx;                   /* owned; NULL for plain http */
    SSL     *ssl;                   /* owned; NULL for plain http */
    int64_t  deadline;              /* CLOCK_MONOTONIC ms */
};

/* A growable byte buffer, always NUL-terminated once non-empty. */
struct hbuf {
    char  *p;                       /* owned; NULL until the first add */
    size_t len;                     /* bytes used, without the NUL */
    size_t cap;                     /* bytes allocated */
};

/* How a read or write on a connection ended. */
enum hconn_io {
    HCONN_OK,
    HCONN_EOF,                      /* orderly close, or reset by the peer */
    HCONN_TIMEOUT,                  /* the connection's deadline passed */
    HCONN_ERROR
};

/* A monotonic clock in ms. */
int64_t hconn_now_ms(void);

/* Formats the reason a call failed into OUT->error. */
void hconn_error(struct hresp *out, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Appends LEN bytes of DATA (or formatted text) to B. 0, or -1 (memory). */
int hbuf_add(struct hbuf *b, const void *data, size_t len);
int hbuf_printf(struct hbuf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/*
 * Takes B's memory as a NUL-terminated string ("" when empty), its length
 * into *LEN (when not NULL); B is left empty. The caller frees it.
 */
char *hbuf_take(struct hbuf *b, size_t *len);

/* The CA file that verifies https servers, copied (hclient_set_ca_file). */
void hconn_set_ca_file(const char *path);

/* Parses the base URL S into U. 0, or -1 with the reason in OUT->error. */
int hconn_url_parse(const char *s, struct hurl *u, struct hresp *out);

/*
 * Connects C (its fd -1, its deadline set) to U's host, trying every
 * address, then does the TLS handshake and verification for https.
 * Returns 0, or -1 with the reason in OUT->error (errno set when the
 * connect failed); C is then for hconn_close.
 */
int hconn_open(struct hconn *c, const struct hurl *u, struct hresp *out);

/* Closes what C holds; C may be closed again. */
void hconn_close(struct hconn *c);

/* Writes all LEN bytes. A peer that closes meanwhile is HCONN_EOF. */
enum hconn_io hconn_write(struct hconn *c, const char *p, size_t len);

/*
 * Reads what is available (at least one byte) into B; on HCONN_ERROR the
 * reason is in ERR.
 */
enum hconn_io hconn_read(struct hconn *c, struct hbuf *b, char *err,
                         size_t errlen);

/*
 * Parses one final response at the start of P (LEN bytes) into OUT's
 * status, reason, headers and body. HEAD: the request was a HEAD (no
 * body). AT_EOF: the peer has closed, so an unframed body ends here.
 * Returns 1 with *USED set when complete, 0 when more bytes are needed,
 * -1 when malformed (reason in OUT->error).
 */
int hresp_parse(const char *p, size_t len, bool head, bool at_eof,
                struct hresp *out, size_t *used);

#endif /* HSP_HWIRE_H */
