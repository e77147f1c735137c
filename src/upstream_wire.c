/*
 * upstream_wire.c - the bytes of a request to the upstream (see
 * upstream_wire.h): the request line, the Host the pool names, the
 * caller's end-to-end fields minus the ones the pool writes itself or
 * that must not cross a hop, and the body, always framed.
 *
 * Owns nothing: it appends to the caller's buffer and keeps no state.
 */
#include "config.h"

#include "upstream_wire.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "log.h"

/* Request fields the pool writes itself, or that must not cross a hop:
 * the caller's copies are never sent. */
static const char *const upstream_own_fields[] = {
    "Host", "Content-Length", "Transfer-Encoding", "Accept-Encoding",
    "Connection", "Keep-Alive", "Proxy-Connection", "TE", "Trailer",
    "Upgrade", "Expect",
};

static const struct {
    enum evhttp_cmd_type method;
    const char          *name;
} upstream_methods[] = {
    { EVHTTP_REQ_GET, "GET" },         { EVHTTP_REQ_POST, "POST" },
    { EVHTTP_REQ_HEAD, "HEAD" },       { EVHTTP_REQ_PUT, "PUT" },
    { EVHTTP_REQ_DELETE, "DELETE" },   { EVHTTP_REQ_OPTIONS, "OPTIONS" },
    { EVHTTP_REQ_TRACE, "TRACE" },     { EVHTTP_REQ_CONNECT, "CONNECT" },
    { EVHTTP_REQ_PATCH, "PATCH" },
};

void
upstream_wire_host(char *buf, size_t cap, const struct url_upstream *url)
{
    bool v6 = strchr(url->host, ':') != NULL;

    if (url->port == (url->tls ? 443 : 80)) {
        snprintf(buf, cap, "%s%s%s", v6 ? "[" : "", url->host,
                 v6 ? "]" : "");
    } else {
        snprintf(buf, cap, "%s%s%s:%u", v6 ? "[" : "", url->host,
                 v6 ? "]" : "", url->port);
    }
}

/* Whether NAME: VALUE can be written without splitting the head (defence
 * in depth: evhttp parsed these already). */
static bool
field_safe(const char *name, const char *value)
{
    const unsigned char *s;

    if (name[0] == '\0') {
        return false;
    }
    for (s = (const unsigned char *)name; *s != '\0'; s++) {
        if (*s <= ' ' || *s == ':' || *s >= 0x7f) {
            return false;
        }
    }
    for (s = (const unsigned char *)value; *s != '\0'; s++) {
        if ((*s < ' ' && *s != '\t') || *s == 0x7f) {
            return false;
        }
    }
    return true;
}

int
upstream_wire_build(struct evbuffer *w, const struct upstream_request *rq,
                    const char *host)
{
    const struct evkeyval *h;
    const char            *method = NULL;
    size_t                 i, len;
    bool                   own;
    int                    rc = 0;

    for (i = 0; i < sizeof(upstream_methods) / sizeof(upstream_methods[0]);
         i++) {
        if (upstream_methods[i].method == rq->method) {
            method = upstream_methods[i].name;
        }
    }
    if (method == NULL || strpbrk(rq->uri, " \r\n") != NULL) {
        return -1;
    }
    len = rq->body != NULL ? evbuffer_get_length(rq->body) : 0;
    rc |= evbuffer_add_printf(w, "%s %s HTTP/1.1\r\nHost: %s\r\n", method,
                              rq->uri, host);
    if (rq->headers != NULL) {
        TAILQ_FOREACH(h, rq->headers, next) {
            own = false;
            for (i = 0; i < sizeof(upstream_own_fields) /
                                sizeof(upstream_own_fields[0]);
                 i++) {
                own = own || strcasecmp(h->key, upstream_own_fields[i]) == 0;
            }
            if (rq->request_id != NULL && rq->request_id[0] != '\0' &&
                strcasecmp(h->key, "X-Request-Id") == 0) {
                own = true;
            }
            if (own) {
                continue;
            }
            if (!field_safe(h->key, h->value)) {
                log_warn("upstream: not forwarding an unsafe %s field",
                         h->key);
                continue;
            }
            rc |= evbuffer_add_printf(w, "%s: %s\r\n", h->key, h->value);
        }
    }
    if (rq->request_id != NULL && rq->request_id[0] != '\0' &&
        field_safe("X-Request-Id", rq->request_id)) {
        rc |= evbuffer_add_printf(w, "X-Request-Id: %s\r\n", rq->request_id);
    }
    /* Our own coding, never the client's: entries hold identity bodies
     * and we decode only what we asked for (SPEC §11). */
    rc |= evbuffer_add_printf(w, "Accept-Encoding: gzip\r\n");
    /* Every body is framed, and PATCH/POST/PUT always are (PITFALLS
     * §4.1.2: an unframed PATCH body is read as the next request). */
    if (len > 0 || rq->method == EVHTTP_REQ_PATCH ||
        rq->method == EVHTTP_REQ_POST || rq->method == EVHTTP_REQ_PUT) {
        rc |= evbuffer_add_printf(w, "Content-Length: %zu\r\n", len);
    }
    rc |= evbuffer_add(w, "\r\n", 2);
    if (len > 0) {
        rc |= evbuffer_add(w, evbuffer_pullup(rq->body, -1), len);
    }
    return rc < 0 ? -1 : 0;
}
