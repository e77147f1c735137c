/*
 * hclient.c - blocking HTTP/1.1 test client: sockets, OpenSSL, a parser
 * for one response (Content-Length, chunked or read-to-close framing), and
 * the sandbox admin and seed helpers.
 *
 * Every call runs under one deadline (HCLIENT_TIMEOUT_MS by default): the
 * connect polls, and each read or write first sets SO_RCVTIMEO/SO_SNDTIMEO
 * to the time left, which bounds blocking SSL_read/SSL_write as well.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "hclient.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <json-c/json.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#define URL_HOST_MAX   256
#define URL_PREFIX_MAX 1024
#define READ_CHUNK     16384

struct url {
    bool tls;                       /* https */
    char host[URL_HOST_MAX];        /* name or address, no brackets */
    char port[8];                   /* decimal */
    char authority[URL_HOST_MAX + 16]; /* as written: the Host value */
    char prefix[URL_PREFIX_MAX];    /* path prefix without a trailing '/' */
};

struct conn {
    int      fd;                    /* -1 when closed */
    SSL_CTX *ctx;                   /* owned; NULL for plain http */
    SSL     *ssl;                   /* owned; NULL for plain http */
    int64_t  deadline;              /* CLOCK_MONOTONIC ms */
};

/* A growable byte buffer, always NUL-terminated once non-empty. */
struct buf {
    char  *p;
    size_t len;
    size_t cap;
};

enum io_result {
    IO_OK,
    IO_EOF,                         /* orderly close, or reset by the peer */
    IO_TIMEOUT,
    IO_ERROR
};

static int   timeout_ms = HCLIENT_TIMEOUT_MS;
static char *ca_file;               /* owned; NULL: the default */

/* ---- small helpers ---------------------------------------------------- */

static int64_t
now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void set_error(struct hresp *out, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
set_error(struct hresp *out, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(out->error, sizeof(out->error), fmt, ap);
    va_end(ap);
}

static int
buf_add(struct buf *b, const void *data, size_t len)
{
    char  *p;
    size_t cap;

    if (b->len + len + 1 > b->cap) {
        cap = b->cap == 0 ? 1024 : b->cap;
        while (cap < b->len + len + 1) {
            cap *= 2;
        }
        p = realloc(b->p, cap);
        if (p == NULL) {
            return -1;
        }
        b->p = p;
        b->cap = cap;
    }
    if (len > 0) {
        memcpy(b->p + b->len, data, len);
    }
    b->len += len;
    b->p[b->len] = '\0';
    return 0;
}

static int
buf_printf(struct buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int
buf_printf(struct buf *b, const char *fmt, ...)
{
    va_list ap;
    char    small[512];
    char   *big;
    int     n, rc;

    va_start(ap, fmt);
    n = vsnprintf(small, sizeof(small), fmt, ap);
    va_end(ap);
    if (n < 0) {
        return -1;
    }
    if ((size_t)n < sizeof(small)) {
        return buf_add(b, small, (size_t)n);
    }
    big = malloc((size_t)n + 1);
    if (big == NULL) {
        return -1;
    }
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    rc = buf_add(b, big, (size_t)n);
    free(big);
    return rc;
}

/* Takes B's memory as a NUL-terminated string ("" when empty). */
static char *
buf_take(struct buf *b, size_t *len)
{
    char *p;

    if (b->p == NULL && buf_add(b, "", 0) == -1) {
        return NULL;
    }
    p = b->p;
    if (len != NULL) {
        *len = b->len;
    }
    memset(b, 0, sizeof(*b));
    return p;
}

static char *
strndup_or_null(const char *s, size_t n)
{
    char *p;

    p = malloc(n + 1);
    if (p != NULL) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

/* Whether the comma-separated list LIST has the token TOKEN. */
static bool
list_has_token(const char *list, const char *token)
{
    size_t      tlen = strlen(token);
    const char *p = list;
    const char *end;

    while (*p != '\0') {
        while (*p == ' ' || *p == '\t' || *p == ',') {
            p++;
        }
        end = p;
        while (*end != '\0' && *end != ',') {
            end++;
        }
        while (end > p && (end[-1] == ' ' || end[-1] == '\t')) {
            end--;
        }
        if ((size_t)(end - p) == tlen && strncasecmp(p, token, tlen) == 0) {
            return true;
        }
        p = end;
        while (*p != '\0' && *p != ',') {
            p++;
        }
    }
    return false;
}

/* Whether the NULL-terminated "Name: value" array HEADERS has NAME. */
static bool
headers_have(const char *const *headers, const char *name)
{
    size_t n = strlen(name);
    size_t i;

    for (i = 0; headers != NULL && headers[i] != NULL; i++) {
        if (strncasecmp(headers[i], name, n) == 0 && headers[i][n] == ':') {
            return true;
        }
    }
    return false;
}

/* ---- URLs ------------------------------------------------------------- */

static int
url_parse(const char *s, struct url *u, struct hresp *out)
{
    const char *p, *auth_end, *host_end, *port_start;
    size_t      n;

    memset(u, 0, sizeof(*u));
    if (s == NULL) {
        set_error(out, "no base URL (is the variable exported?)");
        return -1;
    }
    if (strncmp(s, "http://", 7) == 0) {
        p = s + 7;
    } else if (strncmp(s, "https://", 8) == 0) {
        p = s + 8;
        u->tls = true;
    } else {
        set_error(out, "unsupported URL \"%s\"", s);
        return -1;
    }
    auth_end = p + strcspn(p, "/?#");
    n = (size_t)(auth_end - p);
    if (n == 0 || n >= sizeof(u->authority)) {
        set_error(out, "bad authority in URL \"%s\"", s);
        return -1;
    }
    memcpy(u->authority, p, n);

    if (*p == '[') {
        host_end = memchr(p, ']', n);
        if (host_end == NULL) {
            set_error(out, "unclosed '[' in URL \"%s\"", s);
            return -1;
        }
        p++;
        port_start = host_end + 1;
    } else {
        host_end = memchr(p, ':', n);
        if (host_end == NULL) {
            host_end = auth_end;
        }
        port_start = host_end;
    }
    n = (size_t)(host_end - p);
    if (n == 0 || n >= sizeof(u->host)) {
        set_error(out, "bad host in URL \"%s\"", s);
        return -1;
    }
    memcpy(u->host, p, n);

    if (port_start < auth_end && *port_start == ':') {
        n = (size_t)(auth_end - port_start - 1);
        if (n == 0 || n >= sizeof(u->port) ||
            strspn(port_start + 1, "0123456789") < n) {
            set_error(out, "bad port in URL \"%s\"", s);
            return -1;
        }
        memcpy(u->port, port_start + 1, n);
    } else if (port_start != auth_end) {
        set_error(out, "bad authority in URL \"%s\"", s);
        return -1;
    } else {
        strcpy(u->port, u->tls ? "443" : "80");
    }

    n = strcspn(auth_end, "?#");
    while (n > 0 && auth_end[n - 1] == '/') {
        n--;
    }
    if (n >= sizeof(u->prefix)) {
        set_error(out, "URL prefix too long in \"%s\"", s);
        return -1;
    }
    memcpy(u->prefix, auth_end, n);
    return 0;
}

/* ---- connections ------------------------------------------------------ */

static void
conn_close(struct conn *c)
{
    if (c->ssl != NULL) {
        SSL_free(c->ssl);
    }
    if (c->ctx != NULL) {
        SSL_CTX_free(c->ctx);
    }
    if (c->fd != -1) {
        close(c->fd);
    }
    c->ssl = NULL;
    c->ctx = NULL;
    c->fd = -1;
}

/* Sets FD's send and receive timeouts to the time left before C's
 * deadline. Returns -1 when it has passed. */
static int
conn_arm(struct conn *c)
{
    struct timeval tv;
    int64_t        left = c->deadline - now_ms();

    if (left <= 0) {
        return -1;
    }
    tv.tv_sec = (time_t)(left / 1000);
    tv.tv_usec = (suseconds_t)(left % 1000) * 1000;
    setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    return 0;
}

/* Connects FD to AI before C's deadline. Returns 0, or an errno value. */
static int
connect_one(struct conn *c, const struct addrinfo *ai)
{
    struct pollfd pfd;
    socklen_t     len;
    int           flags, err, rc;
    int64_t       left;

    flags = fcntl(c->fd, F_GETFL);
    if (flags == -1 || fcntl(c->fd, F_SETFL, flags | O_NONBLOCK) == -1) {
        return errno;
    }
    if (connect(c->fd, ai->ai_addr, ai->ai_addrlen) == -1) {
        if (errno != EINPROGRESS) {
            return errno;
        }
        for (;;) {
            left = c->deadline - now_ms();
            if (left <= 0) {
                return ETIMEDOUT;
            }
            pfd.fd = c->fd;
            pfd.events = POLLOUT;
            rc = poll(&pfd, 1, left > INT_MAX ? INT_MAX : (int)left);
            if (rc == -1 && errno == EINTR) {
                continue;
            }
            if (rc == -1) {
                return errno;
            }
            if (rc == 0) {
                return ETIMEDOUT;
            }
            break;
        }
        len = sizeof(err);
        if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1) {
            return errno;
        }
        if (err != 0) {
            return err;
        }
    }
    if (fcntl(c->fd, F_SETFL, flags) == -1) {
        return errno;
    }
    return 0;
}

static void
set_ssl_error(struct hresp *out, const char *what)
{
    char          msg[160];
    unsigned long e;

    e = ERR_get_error();
    if (e == 0) {
        set_error(out, "%s: %s", what, errno != 0 ? strerror(errno) : "failed");
    } else {
        ERR_error_string_n(e, msg, sizeof(msg));
        set_error(out, "%s: %s", what, msg);
    }
    ERR_clear_error();
}

static int
conn_tls(struct conn *c, const struct url *u, struct hresp *out)
{
    const char        *ca;
    unsigned char      addr[16];
    X509_VERIFY_PARAM *param;
    bool               is_ip;
    long               vr;
    int                rc;

    c->ctx = SSL_CTX_new(TLS_client_method());
    if (c->ctx == NULL) {
        set_ssl_error(out, "SSL_CTX_new");
        return -1;
    }
    SSL_CTX_set_options(c->ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
    ca = ca_file != NULL ? ca_file : getenv("HSP_SANDBOX_CA");
    if (ca != NULL && *ca != '\0') {
        if (SSL_CTX_load_verify_locations(c->ctx, ca, NULL) != 1) {
            set_ssl_error(out, "loading the CA file");
            return -1;
        }
    } else if (SSL_CTX_set_default_verify_paths(c->ctx) != 1) {
        set_ssl_error(out, "loading the system trust store");
        return -1;
    }
    SSL_CTX_set_verify(c->ctx, SSL_VERIFY_PEER, NULL);

    c->ssl = SSL_new(c->ctx);
    if (c->ssl == NULL || SSL_set_fd(c->ssl, c->fd) != 1) {
        set_ssl_error(out, "SSL_new");
        return -1;
    }
    is_ip = inet_pton(AF_INET, u->host, addr) == 1 ||
            inet_pton(AF_INET6, u->host, addr) == 1;
    param = SSL_get0_param(c->ssl);
    if (is_ip) {
        rc = X509_VERIFY_PARAM_set1_ip_asc(param, u->host);
    } else {
        X509_VERIFY_PARAM_set_hostflags(param,
                                        X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
        rc = SSL_set_tlsext_host_name(c->ssl, u->host) == 1 &&
             SSL_set1_host(c->ssl, u->host) == 1;
    }
    if (rc != 1) {
        set_ssl_error(out, "setting the peer name");
        return -1;
    }
    if (conn_arm(c) == -1) {
        set_error(out, "timed out before the TLS handshake");
        out->timed_out = true;
        return -1;
    }
    errno = 0;
    rc = SSL_connect(c->ssl);
    if (rc != 1) {
        vr = SSL_get_verify_result(c->ssl);
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            out->timed_out = true;
            set_error(out, "timed out during the TLS handshake");
            ERR_clear_error();
        } else if (vr != X509_V_OK) {
            set_error(out, "TLS verification failed: %s",
                      X509_verify_cert_error_string(vr));
            ERR_clear_error();
        } else {
            set_ssl_error(out, "TLS handshake");
        }
        return -1;
    }
    return 0;
}

static int
conn_open(struct conn *c, const struct url *u, struct hresp *out)
{
    struct addrinfo hints, *res, *ai;
    int             rc, err = 0;

    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_ADDRCONFIG;
    rc = getaddrinfo(u->host, u->port, &hints, &res);
    if (rc != 0) {
        set_error(out, "resolving %s: %s", u->host, gai_strerror(rc));
        return -1;
    }
    /* "localhost" may resolve to ::1 first while the server listens on
     * 127.0.0.1 only: try every address, as curl does. */
    for (ai = res; ai != NULL; ai = ai->ai_next) {
        c->fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
                       ai->ai_protocol);
        if (c->fd == -1) {
            err = errno;
            continue;
        }
        err = connect_one(c, ai);
        if (err == 0) {
            break;
        }
        close(c->fd);
        c->fd = -1;
        if (err == ETIMEDOUT) {
            break;
        }
    }
    freeaddrinfo(res);
    if (c->fd == -1) {
        set_error(out, "connecting to %s:%s: %s", u->host, u->port,
                  strerror(err));
        out->timed_out = err == ETIMEDOUT;
        errno = err;
        return -1;
    }
    rc = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &rc, sizeof(rc));
    if (u->tls && conn_tls(c, u, out) == -1) {
        return -1;
    }
    return 0;
}

int
hclient_tcp_open(const char *base_url, int limit_ms)
{
    struct conn    c = { .fd = -1 };
    struct url     u;
    struct hresp   out;
    struct timeval tv;

    memset(&out, 0, sizeof(out));
    if (url_parse(base_url, &u, &out) == -1 || u.tls) {
        errno = EINVAL;
        return -1;
    }
    c.deadline = now_ms() + (limit_ms > 0 ? limit_ms
                                            : HCLIENT_TIMEOUT_MS);
    if (conn_open(&c, &u, &out) == -1) {
        return -1;                  /* errno is connect's */
    }
    if (limit_ms > 0) {
        tv.tv_sec = limit_ms / 1000;
        tv.tv_usec = (suseconds_t)(limit_ms % 1000) * 1000;
        setsockopt(c.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        setsockopt(c.fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    }
    return c.fd;
}

/* Writes all LEN bytes. A peer that closes meanwhile is IO_EOF. */
static enum io_result
conn_write(struct conn *c, const char *p, size_t len)
{
    ssize_t n;
    int     rc, e;

    while (len > 0) {
        if (conn_arm(c) == -1) {
            return IO_TIMEOUT;
        }
        if (c->ssl != NULL) {
            errno = 0;
            rc = SSL_write(c->ssl, p, len > INT_MAX ? INT_MAX : (int)len);
            if (rc <= 0) {
                e = errno;
                ERR_clear_error();
                if (e == EAGAIN || e == EWOULDBLOCK) {
                    return IO_TIMEOUT;
                }
                return e == EPIPE || e == ECONNRESET || e == 0 ? IO_EOF
                                                               : IO_ERROR;
            }
            n = rc;
        } else {
            n = send(c->fd, p, len, MSG_NOSIGNAL);
            if (n == -1) {
                if (errno == EINTR) {
                    continue;
                }
                if (errno == EAGAIN || errno == EWOULDBLOCK) {
                    return IO_TIMEOUT;
                }
                return errno == EPIPE || errno == ECONNRESET ? IO_EOF
                                                             : IO_ERROR;
            }
        }
        p += n;
        len -= (size_t)n;
    }
    return IO_OK;
}

/* Reads what is available (at least one byte) into B. */
static enum io_result
conn_read(struct conn *c, struct buf *b, char *err, size_t errlen)
{
    char    chunk[READ_CHUNK];
    ssize_t n;
    int     rc, e;

    for (;;) {
        if (conn_arm(c) == -1) {
            return IO_TIMEOUT;
        }
        if (c->ssl != NULL) {
            errno = 0;
            rc = SSL_read(c->ssl, chunk, sizeof(chunk));
            if (rc > 0) {
                n = rc;
            } else {
                e = errno;
                switch (SSL_get_error(c->ssl, rc)) {
                case SSL_ERROR_ZERO_RETURN:
                    return IO_EOF;
                case SSL_ERROR_WANT_READ:
                case SSL_ERROR_WANT_WRITE:
                    /* SO_RCVTIMEO expired: the socket BIO saw EAGAIN. */
                    ERR_clear_error();
                    return IO_TIMEOUT;
                case SSL_ERROR_SYSCALL:
                    ERR_clear_error();
                    if (e == EAGAIN || e == EWOULDBLOCK) {
                        return IO_TIMEOUT;
                    }
                    if (e == 0 || e == ECONNRESET) {
                        return IO_EOF;
                    }
                    snprintf(err, errlen, "reading: %s", strerror(e));
                    return IO_ERROR;
                default:
                    ERR_error_string_n(ERR_get_error(), err, errlen);
                    ERR_clear_error();
                    return IO_ERROR;
                }
            }
        } else {
            n = recv(c->fd, chunk, sizeof(chunk), 0);
            if (n == -1 && errno == EINTR) {
                continue;
            }
            if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
                return IO_TIMEOUT;
            }
            if (n == -1 && errno == ECONNRESET) {
                return IO_EOF;
            }
            if (n == -1) {
                snprintf(err, errlen, "reading: %s", strerror(errno));
                return IO_ERROR;
            }
            if (n == 0) {
                return IO_EOF;
            }
        }
        if (buf_add(b, chunk, (size_t)n) == -1) {
            snprintf(err, errlen, "out of memory");
            return IO_ERROR;
        }
        return IO_OK;
    }
}

/* ---- response parsing ------------------------------------------------- */

static void
headers_free(struct hheader *h, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        free(h[i].name);
        free(h[i].value);
    }
    free(h);
}

/* Finds the end of the head ("\r\n\r\n") in P..P+LEN; NULL if absent. */
static const char *
find_head_end(const char *p, size_t len)
{
    size_t i;

    for (i = 0; i + 3 < len; i++) {
        if (p[i] == '\r' && p[i + 1] == '\n' && p[i + 2] == '\r' &&
            p[i + 3] == '\n') {
            return p + i + 4;
        }
    }
    return NULL;
}

/*
 * Parses the status line and header lines in P..END (END just past the
 * blank line) into TMP. Returns 0 or -1 (malformed).
 */
static int
parse_head(const char *p, const char *end, struct hresp *tmp)
{
    const char     *eol, *colon, *v, *ve;
    struct hheader *h;
    char            code[4];

    eol = strstr(p, "\r\n");
    if (eol == NULL || eol - p < 12 || strncmp(p, "HTTP/1.", 7) != 0 ||
        p[8] != ' ' || strspn(p + 9, "0123456789") < 3) {
        return -1;
    }
    memcpy(code, p + 9, 3);
    code[3] = '\0';
    tmp->status = atoi(code);
    v = p + 12;
    while (v < eol && *v == ' ') {
        v++;
    }
    tmp->reason = strndup_or_null(v, (size_t)(eol - v));
    if (tmp->reason == NULL) {
        return -1;
    }

    for (p = eol + 2; p < end - 2; p = eol + 2) {
        eol = strstr(p, "\r\n");
        colon = memchr(p, ':', (size_t)(eol - p));
        if (colon == NULL || colon == p) {
            return -1;
        }
        v = colon + 1;
        while (v < eol && (*v == ' ' || *v == '\t')) {
            v++;
        }
        ve = eol;
        while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t')) {
            ve--;
        }
        h = realloc(tmp->headers, (tmp->nheaders + 1) * sizeof(*h));
        if (h == NULL) {
            return -1;
        }
        tmp->headers = h;
        h = &tmp->headers[tmp->nheaders];
        h->name = strndup_or_null(p, (size_t)(colon - p));
        h->value = strndup_or_null(v, (size_t)(ve - v));
        tmp->nheaders++;
        if (h->name == NULL || h->value == NULL) {
            return -1;
        }
    }
    return 0;
}

/*
 * Decodes a chunked body at P..P+LEN into BODY. Returns 1 with *USED set
 * when the last chunk and the trailers have arrived, 0 when more bytes
 * are needed, -1 when malformed.
 */
static int
parse_chunked(const char *p, size_t len, struct buf *body, size_t *used)
{
    size_t      pos = 0, size;
    const char *eol, *end;
    char       *num_end;

    for (;;) {
        eol = memmem(p + pos, len - pos, "\r\n", 2);
        if (eol == NULL) {
            return 0;
        }
        errno = 0;
        size = strtoul(p + pos, &num_end, 16);
        if (num_end == p + pos || errno != 0 ||
            (num_end < eol && *num_end != ';' && *num_end != ' ')) {
            return -1;
        }
        pos = (size_t)(eol - p) + 2;
        if (size == 0) {
            /* Trailers, then the blank line. */
            for (;;) {
                eol = memmem(p + pos, len - pos, "\r\n", 2);
                if (eol == NULL) {
                    return 0;
                }
                end = eol + 2;
                if (eol == p + pos) {
                    *used = (size_t)(end - p);
                    return 1;
                }
                pos = (size_t)(end - p);
            }
        }
        if (len - pos < size + 2) {
            return 0;
        }
        if (p[pos + size] != '\r' || p[pos + size + 1] != '\n') {
            return -1;
        }
        if (buf_add(body, p + pos, size) == -1) {
            return -1;
        }
        pos += size + 2;
    }
}

/*
 * Parses one final response at the start of P (LEN bytes) into OUT's
 * status, reason, headers and body. HEAD: the request was a HEAD (no
 * body). AT_EOF: the peer has closed, so an unframed body ends here.
 * Returns 1 with *USED set when complete, 0 when more bytes are needed,
 * -1 when malformed (reason in OUT->error).
 */
static int
parse_response(const char *p, size_t len, bool head, bool at_eof,
               struct hresp *out, size_t *used)
{
    struct hresp       tmp;
    struct buf         body = { NULL, 0, 0 };
    const char        *head_end, *te, *cl;
    size_t             start = 0, head_len, body_used = 0;
    char              *num_end;
    unsigned long long clen;
    int                rc;

    memset(&tmp, 0, sizeof(tmp));
    for (;;) {
        head_end = find_head_end(p + start, len - start);
        if (head_end == NULL) {
            return 0;
        }
        if (parse_head(p + start, head_end, &tmp) == -1) {
            set_error(out, "malformed response head");
            rc = -1;
            goto done;
        }
        if (tmp.status >= 200 || tmp.status == 101) {
            break;
        }
        /* An interim 1xx: skip it. */
        hresp_free(&tmp);
        start = (size_t)(head_end - p);
    }
    head_len = (size_t)(head_end - p);
    p = head_end;
    len -= head_len;

    te = hresp_header(&tmp, "Transfer-Encoding");
    cl = hresp_header(&tmp, "Content-Length");
    rc = 1;
    if (head || tmp.status == 204 || tmp.status == 304 || tmp.status == 101) {
        body_used = 0;
    } else if (te != NULL && list_has_token(te, "chunked")) {
        rc = parse_chunked(p, len, &body, &body_used);
        if (rc == -1) {
            set_error(out, "malformed chunked body");
        }
    } else if (cl != NULL) {
        errno = 0;
        clen = strtoull(cl, &num_end, 10);
        if (num_end == cl || *num_end != '\0' || errno != 0 ||
            hresp_header_count(&tmp, "Content-Length") > 1) {
            set_error(out, "bad Content-Length \"%s\"", cl);
            rc = -1;
        } else if (len < clen) {
            rc = 0;
        } else {
            body_used = (size_t)clen;
            if (buf_add(&body, p, body_used) == -1) {
                rc = -1;
            }
        }
    } else if (at_eof) {
        body_used = len;
        if (buf_add(&body, p, len) == -1) {
            rc = -1;
        }
    } else {
        rc = 0;                     /* read to close */
    }

    if (rc == 1) {
        tmp.body = buf_take(&body, &tmp.body_len);
        if (tmp.body == NULL) {
            rc = -1;
            goto done;
        }
        *used = head_len + body_used;
        out->status = tmp.status;
        out->reason = tmp.reason;
        out->headers = tmp.headers;
        out->nheaders = tmp.nheaders;
        out->body = tmp.body;
        out->body_len = tmp.body_len;
        memset(&tmp, 0, sizeof(tmp));
    }

done:
    free(body.p);
    hresp_free(&tmp);
    return rc;
}

/* ---- public: requests ------------------------------------------------- */

void
hclient_set_timeout_ms(int ms)
{
    if (ms > 0) {
        timeout_ms = ms;
    }
}

void
hclient_set_ca_file(const char *path)
{
    free(ca_file);
    ca_file = path != NULL ? strdup(path) : NULL;
}

static void
resp_init(struct hresp *out)
{
    memset(out, 0, sizeof(*out));
}

/* Fills what the caller sees when no complete response was parsed. */
static void
resp_finish(struct hresp *out, struct buf *raw, int64_t started)
{
    out->raw = buf_take(raw, &out->raw_len);
    if (out->body == NULL) {
        out->body = strdup("");
        out->body_len = 0;
    }
    if (out->reason == NULL) {
        out->reason = strdup("");
    }
    out->elapsed_ms = (double)(now_ms() - started);
}

static void
ignore_sigpipe(void)
{
    static bool done;

    /* OpenSSL writes with write(2); a peer that closes first would kill
     * the test process with SIGPIPE instead of failing one assertion. */
    if (!done) {
        signal(SIGPIPE, SIG_IGN);
        done = true;
    }
}

int
hclient_request(const char *base_url, const char *method,
                const char *path_and_query, const char *const *headers,
                const char *body, size_t body_len, struct hresp *out)
{
    struct url     u;
    struct conn    c = { -1, NULL, NULL, 0 };
    struct buf     req = { NULL, 0, 0 };
    struct buf     raw = { NULL, 0, 0 };
    enum io_result io;
    size_t         i, used;
    int64_t        started;
    bool           head, at_eof = false;
    int            rc = -1, prc;
    char           err[200];

    resp_init(out);
    ignore_sigpipe();
    started = now_ms();
    c.deadline = started + timeout_ms;
    if (url_parse(base_url, &u, out) == -1) {
        goto done;
    }
    head = strcmp(method, "HEAD") == 0;

    if (buf_printf(&req, "%s %s%s HTTP/1.1\r\n", method, u.prefix,
                   path_and_query) == -1) {
        goto oom;
    }
    if (!headers_have(headers, "Host") &&
        buf_printf(&req, "Host: %s\r\n", u.authority) == -1) {
        goto oom;
    }
    for (i = 0; headers != NULL && headers[i] != NULL; i++) {
        if (buf_printf(&req, "%s\r\n", headers[i]) == -1) {
            goto oom;
        }
    }
    if (body != NULL && !headers_have(headers, "Content-Length") &&
        !headers_have(headers, "Transfer-Encoding") &&
        buf_printf(&req, "Content-Length: %zu\r\n", body_len) == -1) {
        goto oom;
    }
    if (buf_add(&req, "\r\n", 2) == -1 ||
        (body != NULL && buf_add(&req, body, body_len) == -1)) {
        goto oom;
    }

    if (conn_open(&c, &u, out) == -1) {
        goto done;
    }
    io = conn_write(&c, req.p, req.len);
    if (io == IO_TIMEOUT) {
        out->timed_out = true;
        set_error(out, "timed out sending the request");
        goto done;
    }
    if (io == IO_ERROR) {
        set_error(out, "sending the request: %s", strerror(errno));
        goto done;
    }
    /* IO_EOF: the server closed early; it may still have answered. */

    err[0] = '\0';
    for (;;) {
        io = conn_read(&c, &raw, err, sizeof(err));
        if (io == IO_EOF) {
            at_eof = true;
            out->closed = true;
        } else if (io == IO_TIMEOUT) {
            out->timed_out = true;
            set_error(out, "timed out after %d ms waiting for the response "
                      "(%zu bytes received)", timeout_ms, raw.len);
            goto done;
        } else if (io == IO_ERROR) {
            set_error(out, "%s", err);
            goto done;
        }
        prc = parse_response(raw.p == NULL ? "" : raw.p, raw.len, head,
                             at_eof, out, &used);
        if (prc == 1) {
            rc = 0;
            goto done;
        }
        if (prc == -1) {
            goto done;
        }
        if (at_eof) {
            set_error(out, "connection closed after %zu bytes, before a "
                      "complete response", raw.len);
            goto done;
        }
    }

oom:
    set_error(out, "out of memory");
done:
    conn_close(&c);
    free(req.p);
    resp_finish(out, &raw, started);
    return rc;
}

int
hclient_get(const char *base_url, const char *path_and_query,
            const char *token, struct hresp *out)
{
    const char *headers[2] = { NULL, NULL };
    char       *h = NULL;
    int         rc;

    if (token != NULL) {
        if (asprintf(&h, "x-hs-token: %s", token) == -1) {
            resp_init(out);
            resp_finish(out, &(struct buf){ NULL, 0, 0 }, now_ms());
            set_error(out, "out of memory");
            return -1;
        }
        headers[0] = h;
    }
    rc = hclient_request(base_url, "GET", path_and_query, headers, NULL, 0,
                         out);
    free(h);
    return rc;
}

int
hclient_raw(const char *base_url, const void *bytes, size_t len,
            struct hresp *out)
{
    struct url     u;
    struct conn    c = { -1, NULL, NULL, 0 };
    struct buf     raw = { NULL, 0, 0 };
    enum io_result io;
    int64_t        started, deadline;
    size_t         used;
    bool           parsed = false;
    int            rc = -1;
    char           err[200];

    resp_init(out);
    ignore_sigpipe();
    started = now_ms();
    deadline = started + timeout_ms;
    c.deadline = deadline;
    if (url_parse(base_url, &u, out) == -1 || conn_open(&c, &u, out) == -1) {
        goto done;
    }
    rc = 0;
    io = conn_write(&c, bytes, len);
    if (io == IO_TIMEOUT) {
        out->timed_out = true;
        goto done;
    }
    /* IO_EOF or IO_ERROR: read what the server said before closing. */

    for (;;) {
        io = conn_read(&c, &raw, err, sizeof(err));
        if (io == IO_EOF || io == IO_ERROR) {
            out->closed = true;
            break;
        }
        if (io == IO_TIMEOUT) {
            out->timed_out = !parsed;
            break;
        }
        if (!parsed && parse_response(raw.p, raw.len, false, false, out,
                                      &used) == 1) {
            parsed = true;
        }
        if (parsed) {
            /* Wait a little for anything more (a second response). */
            c.deadline = now_ms() + HCLIENT_RAW_IDLE_MS;
            if (c.deadline > deadline) {
                c.deadline = deadline;
            }
        }
    }
    if (!parsed && raw.len > 0) {
        /* A response framed by the close itself. */
        if (out->closed) {
            (void)parse_response(raw.p, raw.len, false, true, out, &used);
        }
    }
    out->error[0] = '\0';

done:
    conn_close(&c);
    resp_finish(out, &raw, started);
    return rc;
}

/* ---- public: responses ------------------------------------------------ */

void
hresp_free(struct hresp *r)
{
    if (r == NULL) {
        return;
    }
    free(r->reason);
    headers_free(r->headers, r->nheaders);
    free(r->body);
    free(r->raw);
    memset(r, 0, sizeof(*r));
}

const char *
hresp_header_nth(const struct hresp *r, const char *name, size_t n)
{
    size_t i;

    for (i = 0; i < r->nheaders; i++) {
        if (strcasecmp(r->headers[i].name, name) == 0) {
            if (n == 0) {
                return r->headers[i].value;
            }
            n--;
        }
    }
    return NULL;
}

const char *
hresp_header(const struct hresp *r, const char *name)
{
    return hresp_header_nth(r, name, 0);
}

size_t
hresp_header_count(const struct hresp *r, const char *name)
{
    size_t i, n = 0;

    for (i = 0; i < r->nheaders; i++) {
        if (strcasecmp(r->headers[i].name, name) == 0) {
            n++;
        }
    }
    return n;
}

/* Parses LEN bytes of P as one JSON value; trailing blanks allowed. */
static struct json_object *
json_parse_all(const char *p, size_t len)
{
    struct json_tokener *tok;
    struct json_object  *obj;
    size_t               end;

    if (p == NULL || len > INT_MAX) {
        return NULL;
    }
    tok = json_tokener_new();
    if (tok == NULL) {
        return NULL;
    }
    obj = json_tokener_parse_ex(tok, p, (int)len);
    if (obj != NULL) {
        end = json_tokener_get_parse_end(tok);
        while (end < len && strchr(" \t\r\n", p[end]) != NULL) {
            end++;
        }
        if (end != len) {
            json_object_put(obj);
            obj = NULL;
        }
    }
    json_tokener_free(tok);
    return obj;
}

struct json_object *
hresp_json(const struct hresp *r)
{
    return json_parse_all(r->body, r->body_len);
}

/* ---- public: sandbox admin and seed ----------------------------------- */

long
hclient_sandbox_count(const char *name)
{
    struct hresp        r;
    struct json_object *root = NULL, *v, *reqs;
    long                n = -1;

    if (hclient_get(getenv("HSP_SANDBOX_URL"), "/__sandbox/stats", NULL,
                    &r) == -1 || r.status != 200) {
        fprintf(stderr, "hclient: sandbox stats: %s (status %d)\n", r.error,
                r.status);
        goto done;
    }
    root = hresp_json(&r);
    if (root == NULL) {
        fprintf(stderr, "hclient: sandbox stats are not JSON: %s\n", r.body);
        goto done;
    }
    if (!(json_object_object_get_ex(root, name, &v) &&
          json_object_is_type(v, json_type_int)) &&
        !(json_object_object_get_ex(root, "requests", &reqs) &&
          json_object_object_get_ex(reqs, name, &v) &&
          json_object_is_type(v, json_type_int))) {
        fprintf(stderr, "hclient: sandbox stats have no counter %s: %s\n",
                name, r.body);
        goto done;
    }
    n = (long)json_object_get_int64(v);

done:
    json_object_put(root);
    hresp_free(&r);
    return n;
}

static int
sandbox_post(const char *path, const char *json)
{
    static const char *const headers[] = {
        "Content-Type: application/json", NULL
    };
    struct hresp r;
    int          rc;

    rc = hclient_request(getenv("HSP_SANDBOX_URL"), "POST", path, headers,
                         json, strlen(json), &r);
    if (rc == -1 || r.status < 200 || r.status > 299) {
        fprintf(stderr, "hclient: POST %s: %s (status %d) %s\n", path,
                r.error, r.status, r.body);
        rc = -1;
    }
    hresp_free(&r);
    return rc;
}

int
hclient_sandbox_reset(void)
{
    return sandbox_post("/__sandbox/reset", "{}");
}

int
hclient_sandbox_config(const char *json)
{
    return sandbox_post("/__sandbox/config", json);
}

struct json_object *
hclient_sandbox_last(void)
{
    struct hresp        r;
    struct json_object *root = NULL;

    if (hclient_get(getenv("HSP_SANDBOX_URL"), "/__sandbox/last", NULL,
                    &r) == 0 && r.status == 200) {
        root = hresp_json(&r);
    }
    if (root == NULL) {
        fprintf(stderr, "hclient: sandbox last: %s (status %d) %s\n",
                r.error, r.status, r.body);
    }
    hresp_free(&r);
    return root;
}

const char *
hclient_last_header(struct json_object *last, const char *name)
{
    struct json_object *headers, *v;

    if (last == NULL || !json_object_object_get_ex(last, "headers",
                                                    &headers)) {
        return NULL;
    }
    json_object_object_foreach(headers, key, val) {
        if (strcasecmp(key, name) != 0) {
            continue;
        }
        v = val;
        if (json_object_is_type(v, json_type_array)) {
            v = json_object_array_get_idx(v, 0);
        }
        return v != NULL && json_object_is_type(v, json_type_string)
                   ? json_object_get_string(v)
                   : NULL;
    }
    return NULL;
}

struct json_object *
hclient_seed_load(void)
{
    const char         *path = getenv("HSP_SEED_FILE");
    struct json_object *root;

    if (path == NULL) {
        fprintf(stderr, "hclient: HSP_SEED_FILE is not set\n");
        return NULL;
    }
    root = json_object_from_file(path);
    if (root == NULL) {
        fprintf(stderr, "hclient: %s: %s\n", path, json_util_get_last_err());
    }
    return root;
}
