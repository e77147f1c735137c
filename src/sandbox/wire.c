/*
 * wire.c - the one door to the wire for every answer of the sandbox,
 * API and admin alike: JSON bodies and error payloads with the transport
 * habits of a Node application (early hints, keep-alive, gzip/deflate,
 * chunked), or written raw as one of the misbehaviours (wire.h). Owns
 * only its copy of the habits; the requests it answers are evhttp's,
 * which frees each once answered.
 */
#include "config.h"

#include "sandbox/wire.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <json-c/json.h>

#include "http.h"
#include "json.h"
#include "sandbox/coding.h"

#define WIRE_CONTENT_TYPE "application/json; charset=utf-8"
#define WIRE_BODY_MAX     8192       /* error payloads we build */
#define WIRE_MSG_LEN      256
#define WIRE_PATH_SHOWN   160        /* bytes of a path quoted in errors */
#define WIRE_EARLY_HINTS  "HTTP/1.1 103 Early Hints\r\n" \
    "Link: </api/v1/appointment/s2s/phone/query/dispositions>; " \
    "rel=preload; as=fetch\r\n\r\n"
/* What after-last-chunk leaves on the connection: a whole answer. */
#define WIRE_SURPLUS      "HTTP/1.1 200 OK\r\n" \
    "Content-Type: " WIRE_CONTENT_TYPE "\r\n" \
    "Content-Length: 42\r\n\r\n" WIRE_SURPLUS_BODY

_Static_assert(sizeof(WIRE_SURPLUS_BODY) - 1 == 42,
               "WIRE_SURPLUS's Content-Length");

struct wire {
    struct wire_habits habits;     /* how answers go on the wire */
};

static int wire_addf(struct evbuffer *out, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

struct wire *
wire_new(const struct wire_habits *habits)
{
    struct wire *w = calloc(1, sizeof(*w));

    if (w == NULL) {
        return NULL;
    }
    w->habits = *habits;
    return w;
}

void
wire_free(struct wire *w)
{
    free(w);
}

void
wire_get_habits(const struct wire *w, struct wire_habits *out)
{
    *out = w->habits;
}

void
wire_set_habits(struct wire *w, const struct wire_habits *habits)
{
    w->habits = *habits;
}

/* ---- helpers ---- */

/*
 * Whether the Connection header of the request's headers IN lists TOKEN
 * ("close", "keep-alive"), case-insensitive.
 */
static bool
wire_connection_has(struct evkeyvalq *in, const char *token)
{
    return http_list_has(evhttp_find_header(in, "Connection"), token);
}

/* The bufferevent of REQ's connection, or NULL when the client left. */
static struct bufferevent *
wire_bev(struct evhttp_request *req)
{
    struct evhttp_connection *evcon = evhttp_request_get_connection(req);

    return evcon == NULL ? NULL : evhttp_connection_get_bufferevent(evcon);
}

/* evbuffer_add_printf, returning 0 or -1 like evbuffer_add. */
static int
wire_addf(struct evbuffer *out, const char *fmt, ...)
{
    va_list ap;
    int     n;

    va_start(ap, fmt);
    n = evbuffer_add_vprintf(out, fmt, ap);
    va_end(ap);
    return n < 0 ? -1 : 0;
}

/* An IMF-fixdate for the Date header of raw answers. */
static void
wire_http_date(char *buf, size_t cap)
{
    struct tm tm;
    time_t    now = time(NULL);

    gmtime_r(&now, &tm);
    strftime(buf, cap, "%a, %d %b %Y %H:%M:%S GMT", &tm);
}

/*
 * The coding an unasked-coding answer to IN's Accept-Encoding gets: the
 * first of br, deflate and gzip it does not accept; br when it takes all.
 */
static enum coding_kind
wire_unasked_coding(struct evkeyvalq *in)
{
    static const enum coding_kind order[] = { CODING_BR, CODING_DEFLATE,
                                              CODING_GZIP };
    const char                   *ae = evhttp_find_header(in,
                                                          "Accept-Encoding");
    size_t                        i;

    for (i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
        if (!coding_accepts(ae, order[i])) {
            return order[i];
        }
    }
    return CODING_BR;
}

/*
 * Writes the misbehaving answer MIS (wire.h) of STATUS with the LEN bytes
 * at BODY to REQ's connection, raw, and ends REQ. The bytes go out
 * through evhttp_send_reply_chunk, which passes them on as they are
 * before any evhttp_send_reply_start, and evhttp_send_reply_end then
 * finishes the request once they are written: evhttp keeps the
 * connection (or closes it for http10-close, which sets "Connection:
 * close" among REQ's output headers, never sent) and reads the next
 * request from it as after any answer.
 */
static void
wire_misbehave(struct wire *w, struct evhttp_request *req, int status,
               const char *body, size_t len, enum faults_misbehave mis)
{
    struct evkeyvalq *in = evhttp_request_get_input_headers(req);
    struct evbuffer  *out = evbuffer_new();
    unsigned char    *coded = NULL;
    size_t            coded_len = 0;
    enum coding_kind  c;
    char              date[64];
    bool              closing = wire_connection_has(in, "close");
    int               rc = 0;

    if (out == NULL) {
        evhttp_send_error(req, 500, NULL);
        return;
    }
    wire_http_date(date, sizeof(date));
    if (w->habits.early_hints) {
        rc |= evbuffer_add(out, WIRE_EARLY_HINTS, strlen(WIRE_EARLY_HINTS));
    }
    if (mis == FAULTS_MISBEHAVE_BODY_ON_204) {
        status = 204;
    }
    rc |= wire_addf(out, "HTTP/1.%d %d %s\r\n",
                    mis == FAULTS_MISBEHAVE_HTTP10_CLOSE ? 0 : 1,
                    status, http_reason(status));
    rc |= wire_addf(out, "Content-Type: %s\r\n", WIRE_CONTENT_TYPE);
    switch (mis) {
    case FAULTS_MISBEHAVE_LONG_BODY:
        rc |= wire_addf(out, "Content-Length: %zu\r\n",
                        len >= 3 ? len - 3 : 0);
        break;
    case FAULTS_MISBEHAVE_TWO_LENGTHS:
        rc |= wire_addf(out, "Content-Length: %zu\r\n"
                        "Content-Length: %zu\r\n", len, len + 10);
        break;
    case FAULTS_MISBEHAVE_BAD_HEADER_BYTE:
        rc |= wire_addf(out, "Content-Length: %zu\r\n"
                        "X-Sandbox-Note: bad\x01" "byte\r\n", len);
        break;
    case FAULTS_MISBEHAVE_BAD_HEADER_NAME:
        rc |= wire_addf(out, "Content-Length: %zu\r\n"
                        "X-Sandbox Note: bad name\r\n", len);
        break;
    case FAULTS_MISBEHAVE_UNASKED_CODING:
        c = wire_unasked_coding(in);
        if (coding_encode(c, body, len, &coded, &coded_len) != 0) {
            rc = -1;
            break;
        }
        body = (const char *)coded;
        len = coded_len;
        rc |= wire_addf(out, "Content-Encoding: %s\r\n"
                        "Vary: Accept-Encoding\r\n"
                        "Content-Length: %zu\r\n", coding_name(c),
                        len);
        break;
    case FAULTS_MISBEHAVE_AFTER_LAST_CHUNK:
        rc |= wire_addf(out, "Transfer-Encoding: chunked\r\n");
        break;
    case FAULTS_MISBEHAVE_HTTP10_CLOSE:
        closing = true;
        break;
    case FAULTS_MISBEHAVE_BODY_ON_204:
    case FAULTS_MISBEHAVE_NONE:
    case FAULTS_MISBEHAVE_COUNT:
        break;
    }
    rc |= wire_addf(out, "Date: %s\r\n", date);
    if (closing) {
        rc |= wire_addf(out, "Connection: close\r\n");
    } else if (w->habits.keepalive_s > 0) {
        rc |= wire_addf(out, "Connection: keep-alive\r\n"
                        "Keep-Alive: timeout=%d\r\n",
                        w->habits.keepalive_s);
    }
    rc |= evbuffer_add(out, "\r\n", 2);
    if (mis == FAULTS_MISBEHAVE_AFTER_LAST_CHUNK) {
        rc |= wire_addf(out, "%zx\r\n", len);
        rc |= evbuffer_add(out, body, len);
        rc |= wire_addf(out, "\r\n0\r\n\r\n%s", WIRE_SURPLUS);
    } else {
        rc |= evbuffer_add(out, body, len);
    }
    free(coded);
    if (rc != 0) {
        evbuffer_free(out);
        evhttp_send_error(req, 500, NULL);
        return;
    }
    if (closing) {
        evhttp_add_header(evhttp_request_get_output_headers(req), "Connection",
                          "close");
    }
    evhttp_send_reply_chunk(req, out);
    evhttp_send_reply_end(req);
    evbuffer_free(out);
}

/* ---- answers ---- */

void
wire_bytes(struct wire *w, struct evhttp_request *req, int status,
           const char *s, size_t len, enum faults_misbehave mis)
{
    struct evkeyvalq   *in = evhttp_request_get_input_headers(req);
    struct evkeyvalq   *hdrs = evhttp_request_get_output_headers(req);
    struct bufferevent *bev = wire_bev(req);
    struct evbuffer    *buf;
    unsigned char      *coded = NULL;
    size_t              coded_len, off, n;
    enum coding_kind    c;
    bool                head;
    char                ka[32];

    head = evhttp_request_get_command(req) == EVHTTP_REQ_HEAD;

    if (s == NULL) {
        evhttp_send_error(req, 500, NULL);
        return;
    }
    if (mis != FAULTS_MISBEHAVE_NONE && !head && bev != NULL) {
        wire_misbehave(w, req, status, s, len, mis);
        return;
    }
    buf = evbuffer_new();
    if (buf == NULL) {
        evhttp_send_error(req, 500, NULL);
        return;
    }
    evhttp_add_header(hdrs, "Content-Type", WIRE_CONTENT_TYPE);
    if (w->habits.keepalive_s > 0 && !wire_connection_has(in, "close")) {
        /* evhttp adds "Connection: keep-alive" itself when the request
         * carried one (HTTP/1.0 keep-alive) */
        if (!wire_connection_has(in, "keep-alive")) {
            evhttp_add_header(hdrs, "Connection", "keep-alive");
        }
        snprintf(ka, sizeof(ka), "timeout=%d", w->habits.keepalive_s);
        evhttp_add_header(hdrs, "Keep-Alive", ka);
    }
    if (w->habits.gzip) {
        evhttp_add_header(hdrs, "Vary", "Accept-Encoding");
        c = coding_negotiate(evhttp_find_header(in, "Accept-Encoding"));
        if (!head && len >= (size_t)w->habits.gzip_min &&
            c != CODING_IDENTITY &&
            coding_encode(c, s, len, &coded, &coded_len) == 0) {
            evhttp_add_header(hdrs, "Content-Encoding", coding_name(c));
            s = (const char *)coded;
            len = coded_len;
        }
    }
    if (w->habits.early_hints && bev != NULL) {
        /* before anything evhttp writes for this answer */
        evbuffer_add(bufferevent_get_output(bev), WIRE_EARLY_HINTS,
                     strlen(WIRE_EARLY_HINTS));
    }
    /* No framing at all on a 204 or 304 (RFC 9112 §6.3), as Node. */
    if (w->habits.chunked && !head && status != 204 && status != 304) {
        evhttp_send_reply_start(req, status, http_reason(status));
        for (off = 0; off < len; off += n) {
            n = len - off < WIRE_CHUNK_SIZE ? len - off : WIRE_CHUNK_SIZE;
            if (evbuffer_add(buf, s + off, n) != 0) {
                break;              /* ends short: the client sees it */
            }
            evhttp_send_reply_chunk(req, buf);
        }
        evhttp_send_reply_end(req);
    } else if (evbuffer_add(buf, s, len) != 0) {
        evhttp_send_error(req, 500, NULL);
    } else {
        evhttp_send_reply(req, status, http_reason(status), buf);
    }
    evbuffer_free(buf);
    free(coded);
}

void
wire_json(struct wire *w, struct evhttp_request *req, int status,
          struct json_object *obj, enum faults_misbehave mis)
{
    const char *s;
    size_t      len = 0;

    s = json_compact(obj, &len);
    wire_bytes(w, req, status, s, len, mis);
}

void
wire_error(struct wire *w, struct evhttp_request *req, int status,
           const char *const *msgs, size_t n,
           enum faults_misbehave mis)
{
    char body[WIRE_BODY_MAX];
    int  len;

    len = http_error_body(body, sizeof(body), status, msgs, n);
    if (len < 0) {
        len = http_error_body(body, sizeof(body), status, NULL, 0);
    }
    wire_bytes(w, req, status, body, (size_t)len, mis);
}

void
wire_message(struct wire *w, struct evhttp_request *req, int status,
             const char *msg, enum faults_misbehave mis)
{
    wire_error(w, req, status, &msg, 1, mis);
}

void
wire_no_route(struct wire *w, struct evhttp_request *req, int status,
              const char *method, const char *path)
{
    static const char hex[] = "0123456789ABCDEF";
    char              msg[WIRE_MSG_LEN + 3 * WIRE_PATH_SHOWN];
    size_t            n, i;

    n = (size_t)snprintf(msg, WIRE_MSG_LEN, "Cannot %s ", method);
    if (n >= WIRE_MSG_LEN) {
        n = WIRE_MSG_LEN - 1;
    }
    for (i = 0; path[i] != '\0' && i < WIRE_PATH_SHOWN; i++) {
        unsigned char c = (unsigned char)path[i];

        if (c <= 0x20 || c >= 0x7f) {
            msg[n++] = '%';
            msg[n++] = hex[c >> 4];
            msg[n++] = hex[c & 0xf];
        } else {
            msg[n++] = (char)c;
        }
    }
    msg[n] = '\0';
    wire_message(w, req, status, msg, FAULTS_MISBEHAVE_NONE);
}

/* The answer of @nestjs/throttler, with the wait it implies. */
void
wire_throttled(struct wire *w, struct evhttp_request *req,
               int64_t retry_after, enum faults_misbehave mis)
{
    char secs[24];

    snprintf(secs, sizeof(secs), "%lld", (long long)retry_after);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Retry-After",
                      secs);
    wire_message(w, req, 429, "ThrottlerException: Too Many Requests",
                 mis);
}

/*
 * Closes REQ's connection without an answer. evhttp owns the connection
 * and frees REQ with it; only ever called from a timer, never from inside
 * evhttp's own request callback. A request whose client already left has
 * no connection: "answering" it just frees it.
 */
void
wire_drop(struct evhttp_request *req)
{
    struct evhttp_connection *evcon = evhttp_request_get_connection(req);

    if (evcon == NULL) {
        evhttp_send_reply(req, 500, "Dropped", NULL);
        return;
    }
    evhttp_connection_free(evcon);
}
