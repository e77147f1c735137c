/*
 * hconn.c - the HTTP test client's transport (see hwire.h): byte buffers,
 * base URLs, and connections (TCP, TLS with OpenSSL) read and written
 * under a deadline.
 *
 * Every call runs under the connection's deadline: the connect polls, and
 * each read or write first sets SO_RCVTIMEO/SO_SNDTIMEO to the time left,
 * which bounds blocking SSL_read/SSL_write as well.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "hwire.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#define READ_CHUNK 16384

static char *ca_file;               /* owned; NULL: the default */

/* ---- small helpers ---------------------------------------------------- */

int64_t
hconn_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void
hconn_error(struct hresp *out, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(out->error, sizeof(out->error), fmt, ap);
    va_end(ap);
}

int
hbuf_add(struct hbuf *b, const void *data, size_t len)
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

int
hbuf_printf(struct hbuf *b, const char *fmt, ...)
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
        return hbuf_add(b, small, (size_t)n);
    }
    big = malloc((size_t)n + 1);
    if (big == NULL) {
        return -1;
    }
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    rc = hbuf_add(b, big, (size_t)n);
    free(big);
    return rc;
}

char *
hbuf_take(struct hbuf *b, size_t *len)
{
    char *p;

    if (b->p == NULL && hbuf_add(b, "", 0) == -1) {
        return NULL;
    }
    p = b->p;
    if (len != NULL) {
        *len = b->len;
    }
    memset(b, 0, sizeof(*b));
    return p;
}

void
hconn_set_ca_file(const char *path)
{
    free(ca_file);
    ca_file = path != NULL ? strdup(path) : NULL;
}

/* ---- URLs ------------------------------------------------------------- */

int
hconn_url_parse(const char *s, struct hurl *u, struct hresp *out)
{
    const char *p, *auth_end, *host_end, *port_start;
    size_t      n;

    memset(u, 0, sizeof(*u));
    if (s == NULL) {
        hconn_error(out, "no base URL (is the variable exported?)");
        return -1;
    }
    if (strncmp(s, "http://", 7) == 0) {
        p = s + 7;
    } else if (strncmp(s, "https://", 8) == 0) {
        p = s + 8;
        u->tls = true;
    } else {
        hconn_error(out, "unsupported URL \"%s\"", s);
        return -1;
    }
    auth_end = p + strcspn(p, "/?#");
    n = (size_t)(auth_end - p);
    if (n == 0 || n >= sizeof(u->authority)) {
        hconn_error(out, "bad authority in URL \"%s\"", s);
        return -1;
    }
    memcpy(u->authority, p, n);

    if (*p == '[') {
        host_end = memchr(p, ']', n);
        if (host_end == NULL) {
            hconn_error(out, "unclosed '[' in URL \"%s\"", s);
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
        hconn_error(out, "bad host in URL \"%s\"", s);
        return -1;
    }
    memcpy(u->host, p, n);

    if (port_start < auth_end && *port_start == ':') {
        n = (size_t)(auth_end - port_start - 1);
        if (n == 0 || n >= sizeof(u->port) ||
            strspn(port_start + 1, "0123456789") < n) {
            hconn_error(out, "bad port in URL \"%s\"", s);
            return -1;
        }
        memcpy(u->port, port_start + 1, n);
    } else if (port_start != auth_end) {
        hconn_error(out, "bad authority in URL \"%s\"", s);
        return -1;
    } else {
        strcpy(u->port, u->tls ? "443" : "80");
    }

    n = strcspn(auth_end, "?#");
    while (n > 0 && auth_end[n - 1] == '/') {
        n--;
    }
    if (n >= sizeof(u->prefix)) {
        hconn_error(out, "URL prefix too long in \"%s\"", s);
        return -1;
    }
    memcpy(u->prefix, auth_end, n);
    return 0;
}

/* ---- connections ------------------------------------------------------ */

void
hconn_close(struct hconn *c)
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
conn_arm(struct hconn *c)
{
    struct timeval tv;
    int64_t        left = c->deadline - hconn_now_ms();

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
connect_one(struct hconn *c, const struct addrinfo *ai)
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
            left = c->deadline - hconn_now_ms();
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
        hconn_error(out, "%s: %s", what,
                    errno != 0 ? strerror(errno) : "failed");
    } else {
        ERR_error_string_n(e, msg, sizeof(msg));
        hconn_error(out, "%s: %s", what, msg);
    }
    ERR_clear_error();
}

static int
conn_tls(struct hconn *c, const struct hurl *u, struct hresp *out)
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
        hconn_error(out, "timed out before the TLS handshake");
        out->timed_out = true;
        return -1;
    }
    errno = 0;
    rc = SSL_connect(c->ssl);
    if (rc != 1) {
        vr = SSL_get_verify_result(c->ssl);
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            out->timed_out = true;
            hconn_error(out, "timed out during the TLS handshake");
            ERR_clear_error();
        } else if (vr != X509_V_OK) {
            hconn_error(out, "TLS verification failed: %s",
                        X509_verify_cert_error_string(vr));
            ERR_clear_error();
        } else {
            set_ssl_error(out, "TLS handshake");
        }
        return -1;
    }
    return 0;
}

int
hconn_open(struct hconn *c, const struct hurl *u, struct hresp *out)
{
    struct addrinfo hints, *res, *ai;
    int             rc, err = 0;

    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_ADDRCONFIG;
    rc = getaddrinfo(u->host, u->port, &hints, &res);
    if (rc != 0) {
        hconn_error(out, "resolving %s: %s", u->host, gai_strerror(rc));
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
        hconn_error(out, "connecting to %s:%s: %s", u->host, u->port,
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

/* Writes all LEN bytes. A peer that closes meanwhile is HCONN_EOF. */
enum hconn_io
hconn_write(struct hconn *c, const char *p, size_t len)
{
    ssize_t n;
    int     rc, e;

    while (len > 0) {
        if (conn_arm(c) == -1) {
            return HCONN_TIMEOUT;
        }
        if (c->ssl != NULL) {
            errno = 0;
            rc = SSL_write(c->ssl, p, len > INT_MAX ? INT_MAX : (int)len);
            if (rc <= 0) {
                e = errno;
                ERR_clear_error();
                if (e == EAGAIN || e == EWOULDBLOCK) {
                    return HCONN_TIMEOUT;
                }
                return e == EPIPE || e == ECONNRESET || e == 0 ? HCONN_EOF
                                                               : HCONN_ERROR;
            }
            n = rc;
        } else {
            n = send(c->fd, p, len, MSG_NOSIGNAL);
            if (n == -1) {
                if (errno == EINTR) {
                    continue;
                }
                if (errno == EAGAIN || errno == EWOULDBLOCK) {
                    return HCONN_TIMEOUT;
                }
                return errno == EPIPE || errno == ECONNRESET ? HCONN_EOF
                                                             : HCONN_ERROR;
            }
        }
        p += n;
        len -= (size_t)n;
    }
    return HCONN_OK;
}

/* Reads what is available (at least one byte) into B. */
enum hconn_io
hconn_read(struct hconn *c, struct hbuf *b, char *err, size_t errlen)
{
    char    chunk[READ_CHUNK];
    ssize_t n;
    int     rc, e;

    for (;;) {
        if (conn_arm(c) == -1) {
            return HCONN_TIMEOUT;
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
                    return HCONN_EOF;
                case SSL_ERROR_WANT_READ:
                case SSL_ERROR_WANT_WRITE:
                    /* SO_RCVTIMEO expired: the socket BIO saw EAGAIN. */
                    ERR_clear_error();
                    return HCONN_TIMEOUT;
                case SSL_ERROR_SYSCALL:
                    ERR_clear_error();
                    if (e == EAGAIN || e == EWOULDBLOCK) {
                        return HCONN_TIMEOUT;
                    }
                    if (e == 0 || e == ECONNRESET) {
                        return HCONN_EOF;
                    }
                    snprintf(err, errlen, "reading: %s", strerror(e));
                    return HCONN_ERROR;
                default:
                    ERR_error_string_n(ERR_get_error(), err, errlen);
                    ERR_clear_error();
                    return HCONN_ERROR;
                }
            }
        } else {
            n = recv(c->fd, chunk, sizeof(chunk), 0);
            if (n == -1 && errno == EINTR) {
                continue;
            }
            if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
                return HCONN_TIMEOUT;
            }
            if (n == -1 && errno == ECONNRESET) {
                return HCONN_EOF;
            }
            if (n == -1) {
                snprintf(err, errlen, "reading: %s", strerror(errno));
                return HCONN_ERROR;
            }
            if (n == 0) {
                return HCONN_EOF;
            }
        }
        if (hbuf_add(b, chunk, (size_t)n) == -1) {
            snprintf(err, errlen, "out of memory");
            return HCONN_ERROR;
        }
        return HCONN_OK;
    }
}

