/*
 * hrcli.c - a blocking Redis client of the tests' own, TCP or TLS
 * (hrcli.h).
 */
#include "config.h"

#include "hrcli.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#define HRCLI_TIMEOUT_S 5           /* each read and write */

struct hrcli {
    int          fd;
    SSL_CTX     *ctx;               /* NULL over plain TCP */
    SSL         *ssl;
    redisReader *reader;
    char         error[256];
};

const char *
hrcli_error(const struct hrcli *c)
{
    return c->error;
}

void
hrcli_close(struct hrcli *c)
{
    if (c == NULL) {
        return;
    }
    if (c->ssl != NULL) {
        SSL_free(c->ssl);
    }
    if (c->ctx != NULL) {
        SSL_CTX_free(c->ctx);
    }
    if (c->fd >= 0) {
        close(c->fd);
    }
    if (c->reader != NULL) {
        redisReaderFree(c->reader);
    }
    free(c);
}

/* The TLS handshake on C's connected socket, verifying the chain with
 * CA_FILE and the address 127.0.0.1. 0, or -1 with C->error set. */
static int
tls_start(struct hrcli *c, const char *ca_file)
{
    unsigned long e;

    c->ctx = SSL_CTX_new(TLS_client_method());
    if (c->ctx == NULL ||
        SSL_CTX_load_verify_locations(c->ctx, ca_file, NULL) != 1) {
        snprintf(c->error, sizeof(c->error), "cannot load %s", ca_file);
        return -1;
    }
    SSL_CTX_set_verify(c->ctx, SSL_VERIFY_PEER, NULL);
    c->ssl = SSL_new(c->ctx);
    if (c->ssl == NULL ||
        X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->ssl),
                                      "127.0.0.1") != 1 ||
        SSL_set_fd(c->ssl, c->fd) != 1 || SSL_connect(c->ssl) != 1) {
        e = ERR_get_error();
        snprintf(c->error, sizeof(c->error), "TLS handshake: %s (%s)",
                 e != 0 ? ERR_reason_error_string(e) : "closed",
                 c->ssl != NULL ? X509_verify_cert_error_string(
                                      SSL_get_verify_result(c->ssl))
                                : "no memory");
        return -1;
    }
    return 0;
}

/* Writes the LEN bytes at P. 0, or -1 with C->error set. */
static int
put(struct hrcli *c, const char *p, size_t len)
{
    while (len > 0) {
        ssize_t n = c->ssl != NULL ? SSL_write(c->ssl, p, (int)len)
                                   : send(c->fd, p, len, MSG_NOSIGNAL);

        if (n <= 0) {
            if (c->ssl == NULL && n < 0 && errno == EINTR) {
                continue;
            }
            snprintf(c->error, sizeof(c->error), "write: %s",
                     n == 0 ? "closed" : strerror(errno));
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Reads one reply into *OUT. 0, or -1 with C->error set. */
static int
get(struct hrcli *c, redisReply **out)
{
    char buf[16384];

    *out = NULL;
    for (;;) {
        void   *reply = NULL;
        ssize_t n;

        if (redisReaderGetReply(c->reader, &reply) != REDIS_OK) {
            snprintf(c->error, sizeof(c->error), "protocol: %s",
                     c->reader->errstr);
            return -1;
        }
        if (reply != NULL) {
            *out = reply;
            return 0;
        }
        n = c->ssl != NULL ? SSL_read(c->ssl, buf, (int)sizeof(buf))
                           : recv(c->fd, buf, sizeof(buf), 0);
        if (n <= 0) {
            if (c->ssl == NULL && n < 0 && errno == EINTR) {
                continue;
            }
            snprintf(c->error, sizeof(c->error), "read: %s",
                     n == 0 ? "closed"
                     : errno == EAGAIN ? "timed out" : strerror(errno));
            return -1;
        }
        if (redisReaderFeed(c->reader, buf, (size_t)n) != REDIS_OK) {
            snprintf(c->error, sizeof(c->error), "protocol: %s",
                     c->reader->errstr);
            return -1;
        }
    }
}

/* Sends the formatted command CMD (LEN bytes, freed here), reads its
 * reply. */
static redisReply *
roundtrip(struct hrcli *c, char *cmd, int len)
{
    redisReply *r = NULL;

    if (len < 0) {
        snprintf(c->error, sizeof(c->error), "cannot format the command");
        return NULL;
    }
    if (put(c, cmd, (size_t)len) != 0 || get(c, &r) != 0) {
        r = NULL;
    }
    free(cmd);
    return r;
}

redisReply *
hrcli_vcmd(struct hrcli *c, const char *fmt, va_list ap)
{
    char *cmd = NULL;
    int   len = redisvFormatCommand(&cmd, fmt, ap);

    return roundtrip(c, cmd, len);
}

redisReply *
hrcli_cmd(struct hrcli *c, const char *fmt, ...)
{
    redisReply *r;
    va_list     ap;

    va_start(ap, fmt);
    r = hrcli_vcmd(c, fmt, ap);
    va_end(ap);
    return r;
}

redisReply *
hrcli_argv(struct hrcli *c, int argc, const char **argv,
           const size_t *argvlen)
{
    char *cmd = NULL;
    int   len = redisFormatCommandArgv(&cmd, argc, argv, argvlen);

    return roundtrip(c, cmd, len);
}

struct hrcli *
hrcli_open(int port, const char *ca_file, const char *user,
           const char *password, char *err, size_t errlen)
{
    struct sockaddr_in a = { .sin_family = AF_INET };
    struct timeval     tv = { HRCLI_TIMEOUT_S, 0 };
    struct hrcli      *c = calloc(1, sizeof(*c));
    redisReply        *r;

    if (c == NULL) {
        snprintf(err, errlen, "no memory");
        return NULL;
    }
    c->reader = redisReaderCreate();
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons((uint16_t)port);
    if (c->reader == NULL || c->fd < 0 ||
        setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) != 0 ||
        setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) != 0 ||
        connect(c->fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        snprintf(err, errlen, "connect to port %d: %s", port,
                 strerror(errno));
        hrcli_close(c);
        return NULL;
    }
    if (ca_file != NULL && tls_start(c, ca_file) != 0) {
        snprintf(err, errlen, "port %d: %s", port, c->error);
        hrcli_close(c);
        return NULL;
    }
    if (password != NULL) {
        r = user != NULL ? hrcli_cmd(c, "AUTH %s %s", user, password)
                         : hrcli_cmd(c, "AUTH %s", password);
        if (r == NULL || r->type == REDIS_REPLY_ERROR) {
            snprintf(err, errlen, "AUTH on port %d: %s", port,
                     r != NULL ? r->str : c->error);
            freeReplyObject(r);
            hrcli_close(c);
            return NULL;
        }
        freeReplyObject(r);
    }
    return c;
}
