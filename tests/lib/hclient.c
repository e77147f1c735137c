/*
 * hclient.c - blocking HTTP/1.1 test client (see hclient.h): builds one
 * request, sends it over a connection of hconn.c and reads the response
 * with the parser of hresp.c, all under one deadline
 * (HCLIENT_TIMEOUT_MS by default).
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "hwire.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sys/socket.h>
#include <sys/time.h>

static int timeout_ms = HCLIENT_TIMEOUT_MS;

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
    hconn_set_ca_file(path);
}

static void
resp_init(struct hresp *out)
{
    memset(out, 0, sizeof(*out));
}

/* Fills what the caller sees when no complete response was parsed. */
static void
resp_finish(struct hresp *out, struct hbuf *raw, int64_t started)
{
    out->raw = hbuf_take(raw, &out->raw_len);
    if (out->body == NULL) {
        out->body = strdup("");
        out->body_len = 0;
    }
    if (out->reason == NULL) {
        out->reason = strdup("");
    }
    out->elapsed_ms = (double)(hconn_now_ms() - started);
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
    struct hurl    u;
    struct hconn   c = { -1, NULL, NULL, 0 };
    struct hbuf    req = { NULL, 0, 0 };
    struct hbuf    raw = { NULL, 0, 0 };
    enum hconn_io  io;
    size_t         i, used;
    int64_t        started;
    bool           head, at_eof = false;
    int            rc = -1, prc;
    char           err[200];

    resp_init(out);
    ignore_sigpipe();
    started = hconn_now_ms();
    c.deadline = started + timeout_ms;
    if (hconn_url_parse(base_url, &u, out) == -1) {
        goto done;
    }
    head = strcmp(method, "HEAD") == 0;

    if (hbuf_printf(&req, "%s %s%s HTTP/1.1\r\n", method, u.prefix,
                    path_and_query) == -1) {
        goto oom;
    }
    if (!headers_have(headers, "Host") &&
        hbuf_printf(&req, "Host: %s\r\n", u.authority) == -1) {
        goto oom;
    }
    for (i = 0; headers != NULL && headers[i] != NULL; i++) {
        if (hbuf_printf(&req, "%s\r\n", headers[i]) == -1) {
            goto oom;
        }
    }
    if (body != NULL && !headers_have(headers, "Content-Length") &&
        !headers_have(headers, "Transfer-Encoding") &&
        hbuf_printf(&req, "Content-Length: %zu\r\n", body_len) == -1) {
        goto oom;
    }
    if (hbuf_add(&req, "\r\n", 2) == -1 ||
        (body != NULL && hbuf_add(&req, body, body_len) == -1)) {
        goto oom;
    }

    if (hconn_open(&c, &u, out) == -1) {
        goto done;
    }
    io = hconn_write(&c, req.p, req.len);
    if (io == HCONN_TIMEOUT) {
        out->timed_out = true;
        hconn_error(out, "timed out sending the request");
        goto done;
    }
    if (io == HCONN_ERROR) {
        hconn_error(out, "sending the request: %s", strerror(errno));
        goto done;
    }
    /* HCONN_EOF: the server closed early; it may still have answered. */

    err[0] = '\0';
    for (;;) {
        io = hconn_read(&c, &raw, err, sizeof(err));
        if (io == HCONN_EOF) {
            at_eof = true;
            out->closed = true;
        } else if (io == HCONN_TIMEOUT) {
            out->timed_out = true;
            hconn_error(out, "timed out after %d ms waiting for the "
                        "response (%zu bytes received)", timeout_ms,
                        raw.len);
            goto done;
        } else if (io == HCONN_ERROR) {
            hconn_error(out, "%s", err);
            goto done;
        }
        prc = hresp_parse(raw.p == NULL ? "" : raw.p, raw.len, head,
                          at_eof, out, &used);
        if (prc == 1) {
            rc = 0;
            goto done;
        }
        if (prc == -1) {
            goto done;
        }
        if (at_eof) {
            hconn_error(out, "connection closed after %zu bytes, before "
                        "a complete response", raw.len);
            goto done;
        }
    }

oom:
    hconn_error(out, "out of memory");
done:
    hconn_close(&c);
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
            resp_finish(out, &(struct hbuf){ NULL, 0, 0 }, hconn_now_ms());
            hconn_error(out, "out of memory");
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
    struct hurl    u;
    struct hconn   c = { -1, NULL, NULL, 0 };
    struct hbuf    raw = { NULL, 0, 0 };
    enum hconn_io  io;
    int64_t        started, deadline;
    size_t         used;
    bool           parsed = false;
    int            rc = -1;
    char           err[200];

    resp_init(out);
    ignore_sigpipe();
    started = hconn_now_ms();
    deadline = started + timeout_ms;
    c.deadline = deadline;
    if (hconn_url_parse(base_url, &u, out) == -1 ||
        hconn_open(&c, &u, out) == -1) {
        goto done;
    }
    rc = 0;
    io = hconn_write(&c, bytes, len);
    if (io == HCONN_TIMEOUT) {
        out->timed_out = true;
        goto done;
    }
    /* HCONN_EOF or HCONN_ERROR: read what the server said before closing. */

    for (;;) {
        io = hconn_read(&c, &raw, err, sizeof(err));
        if (io == HCONN_EOF || io == HCONN_ERROR) {
            out->closed = true;
            break;
        }
        if (io == HCONN_TIMEOUT) {
            out->timed_out = !parsed;
            break;
        }
        if (!parsed && hresp_parse(raw.p, raw.len, false, false, out,
                                   &used) == 1) {
            parsed = true;
        }
        if (parsed) {
            /* Wait a little for anything more (a second response). */
            c.deadline = hconn_now_ms() + HCLIENT_RAW_IDLE_MS;
            if (c.deadline > deadline) {
                c.deadline = deadline;
            }
        }
    }
    if (!parsed && raw.len > 0) {
        /* A response framed by the close itself. */
        if (out->closed) {
            (void)hresp_parse(raw.p, raw.len, false, true, out, &used);
        }
    }
    out->error[0] = '\0';

done:
    hconn_close(&c);
    resp_finish(out, &raw, started);
    return rc;
}


int
hclient_tcp_open(const char *base_url, int limit_ms)
{
    struct hconn   c = { .fd = -1 };
    struct hurl    u;
    struct hresp   out;
    struct timeval tv;

    memset(&out, 0, sizeof(out));
    if (hconn_url_parse(base_url, &u, &out) == -1 || u.tls) {
        errno = EINVAL;
        return -1;
    }
    c.deadline = hconn_now_ms() + (limit_ms > 0 ? limit_ms
                                                  : HCLIENT_TIMEOUT_MS);
    if (hconn_open(&c, &u, &out) == -1) {
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
