/* respond.c - the proxy's answers, on evhttp. */
#include "config.h"

#include "respond.h"

#include <assert.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "cache.h"
#include "gz.h"
#include "http.h"

#define RESPOND_ERROR_MAX 1024
#define RESPOND_GZIP_MIN  1024      /* smaller bodies go uncoded: the
                                       coding's header and the CPU would
                                       outweigh the bytes saved */

/* The idle timeout advertised to clients, in seconds; 0: none. Set from
 * the main thread, read by every worker. */
static _Atomic int64_t respond_keepalive_s;

void
respond_set_keepalive(int64_t idle_ms)
{
    atomic_store_explicit(&respond_keepalive_s, idle_ms / 1000,
                          memory_order_relaxed);
}

/*
 * Says how long an idle connection stays open (Keep-Alive: timeout=N,
 * the hint Node's and other clients' pools read to retire a connection
 * before the server closes it, so that no request is sent on a dying
 * one). client.c closes idle connections no sooner. Not on a connection
 * that closes after this answer.
 */
static void
respond_keepalive(struct evhttp_request *client, struct evkeyvalq *out)
{
    const char *in = evhttp_find_header(
        evhttp_request_get_input_headers(client), "Connection");
    const char *own = evhttp_find_header(out, "Connection");
    int64_t     s = atomic_load_explicit(&respond_keepalive_s,
                                         memory_order_relaxed);
    /* Formatted once per thread and value: this runs on every answer. */
    static _Thread_local int64_t fmt_s = -1;
    static _Thread_local char    fmt[40];

    if (s <= 0 || http_list_has(in, "close") || http_list_has(own, "close")) {
        return;
    }
    if (s != fmt_s) {
        snprintf(fmt, sizeof(fmt), "timeout=%" PRId64, s);
        fmt_s = s;
    }
    evhttp_add_header(out, "Keep-Alive", fmt);
}

static void
respond_common(struct evhttp_request *client, struct evkeyvalq *out,
               const char *request_id, const struct respond_cache *cache)
{
    char buf[160];

    evhttp_remove_header(out, "X-Request-Id");
    evhttp_add_header(out, "X-Request-Id", request_id);
    respond_keepalive(client, out);
    if (cache == NULL) {
        return;
    }
    if (cache->x_cache != NULL) {
        evhttp_remove_header(out, "X-Cache");
        evhttp_add_header(out, "X-Cache", cache->x_cache);
    }
    if (cache->status != NULL) {
        snprintf(buf, sizeof(buf), "heavyset-proxy; %s", cache->status);
        evhttp_remove_header(out, "Cache-Status");
        evhttp_add_header(out, "Cache-Status", buf);
    }
    if (cache->replayed) {
        evhttp_remove_header(out, "Idempotent-Replayed");
        evhttp_add_header(out, "Idempotent-Replayed", "true");
    }
    if (cache->age_s >= 0) {
        snprintf(buf, sizeof(buf), "%" PRId64, cache->age_s);
        evhttp_remove_header(out, "Age");
        evhttp_add_header(out, "Age", buf);
    }
}

/* Sends STATUS with the LEN bytes at DATA as the body. */
static void
respond_send(struct evhttp_request *client, int status, const void *data,
             size_t len)
{
    struct evbuffer *body = evbuffer_new();

    if (body != NULL) {
        evbuffer_add(body, data, len);
    }
    evhttp_send_reply(client, status, http_reason(status), body);
    if (body != NULL) {
        evbuffer_free(body);
    }
}

void
respond_error(struct evhttp_request *client, const char *request_id,
              int status, const char *const *msgs, size_t n,
              const struct respond_header *extra)
{
    struct evkeyvalq *out = evhttp_request_get_output_headers(client);
    char              buf[RESPOND_ERROR_MAX];
    int               len;

    len = http_error_body(buf, sizeof(buf), status, msgs, n);
    if (len < 0) {
        const char *fallback = http_reason(status);

        len = http_error_body(buf, sizeof(buf), status, &fallback, 1);
    }
    assert(len > 0);
    evhttp_add_header(out, "Content-Type", "application/json");
    if (extra != NULL) {
        evhttp_add_header(out, extra->name, extra->value);
    }
    respond_common(client, out, request_id, NULL);
    respond_send(client, status, buf, (size_t)len);
}

/* An answer of a cacheable route as it goes out (respond_cached). */
struct respond_body {
    int            status;
    const void    *data;            /* borrowed, or GZ */
    size_t         len;
    unsigned char *gz;              /* owned: the gzip coding, or NULL */
};

/*
 * Prepares an answer of a cacheable route (SPEC §11), whose identity
 * body B holds:
 *
 *  - a strong ETag, a hash of the body (respond_relay drops any the
 *    upstream sent: it names the upstream's representation, which the
 *    proxy may not be serving). A 200 whose ETag the client holds
 *    becomes a 304, answered here: fills never forward a client's
 *    validators.
 *  - with `gzip = on`, Vary: Accept-Encoding always, and a gzip coding of
 *    a body over RESPOND_GZIP_MIN for a client that takes gzip, with an
 *    ETag of its own (another representation, other bytes).
 *  - for HEAD, the Content-Length the GET would have (evhttp writes none
 *    and drops the body).
 */
static void
respond_cached(struct evhttp_request *client, struct evkeyvalq *out,
               const struct respond_cache *cache, struct respond_body *b)
{
    struct evkeyvalq *in = evhttp_request_get_input_headers(client);
    const char       *inm = evhttp_find_header(in, "If-None-Match");
    char              etag[HTTP_ETAG_MAX], etag_gz[HTTP_ETAG_MAX + 8];
    char              clen[24];
    unsigned char    *gz = NULL;
    size_t            gzlen = 0;

    if (cache->gzip) {
        evhttp_add_header(out, "Vary", "Accept-Encoding");
    }
    if (b->status != 200 && b->status != 404) {
        return;
    }
    http_etag(b->data, b->len, etag);
    /* The coded representation's tag: the same, "-gzip" inside the
     * quotes (built by hand: this runs on every answer). */
    memcpy(etag_gz, etag, HTTP_ETAG_HEX + 1);
    memcpy(etag_gz + HTTP_ETAG_HEX + 1, "-gzip\"", sizeof("-gzip\""));
    if (b->status == 200 && inm != NULL &&
        (http_etag_match(inm, etag) || http_etag_match(inm, etag_gz))) {
        b->status = 304;
        evhttp_add_header(out, "ETag", etag);
        return;
    }
    if (cache->gzip && b->len > RESPOND_GZIP_MIN &&
        http_accepts_gzip(evhttp_find_header(in, "Accept-Encoding")) &&
        gz_deflate(b->data, b->len, GZ_LEVEL_DEFAULT, &gz, &gzlen) == GZ_OK) {
        b->gz = gz;
        b->data = gz;
        b->len = gzlen;
        evhttp_add_header(out, "Content-Encoding", "gzip");
        evhttp_add_header(out, "ETag", etag_gz);
    } else {
        evhttp_add_header(out, "ETag", etag);
    }
    if (evhttp_request_get_command(client) == EVHTTP_REQ_HEAD) {
        snprintf(clen, sizeof(clen), "%zu", b->len);
        evhttp_add_header(out, "Content-Length", clen);
    }
}

void
respond_relay(struct evhttp_request *client, const char *request_id,
              int status, const char *reason,
              const struct evkeyvalq *headers, struct evbuffer *body,
              const struct respond_cache *cache)
{
    struct evkeyvalq *out = evhttp_request_get_output_headers(client);
    const char       *conn = evhttp_find_header(headers, "Connection");
    struct evkeyval  *h;

    TAILQ_FOREACH(h, headers, next) {
        /* evhttp frames the body it sends, so Content-Length goes too
         * (PITFALLS §4.1.4). */
        if (http_is_hop_by_hop(h->key, conn) ||
            strcasecmp(h->key, "Content-Length") == 0) {
            continue;
        }
        evhttp_add_header(out, h->key, h->value);
    }
    respond_common(client, out, request_id, cache);
    if (cache != NULL && cache->validate) {
        struct respond_body b = { status, NULL, evbuffer_get_length(body),
                                  NULL };

        /* The upstream's validator and Vary name its representation,
         * not the one the proxy serves (respond_cached). */
        evhttp_remove_header(out, "ETag");
        evhttp_remove_header(out, "Vary");
        b.data = evbuffer_pullup(body, -1);
        respond_cached(client, out, cache, &b);
        if (b.gz != NULL || b.status == 304) {
            evbuffer_drain(body, evbuffer_get_length(body));
            evbuffer_add(body, b.data, b.status == 304 ? 0 : b.len);
            free(b.gz);
        }
        status = b.status;
    }
    evhttp_send_reply(client, status, reason != NULL ? reason
                                                     : http_reason(status),
                      body);
}

void
respond_entry(struct evhttp_request *client, const char *request_id,
              const struct cache_entry *e, const struct respond_cache *cache)
{
    struct evkeyvalq *out = evhttp_request_get_output_headers(client);
    char              ctype[CACHE_CTYPE_MAX + 1];

    if (e->ctype_len > 0) {
        snprintf(ctype, sizeof(ctype), "%.*s", (int)e->ctype_len, e->ctype);
        evhttp_add_header(out, "Content-Type", ctype);
    }
    respond_common(client, out, request_id, cache);
    if (cache != NULL && cache->validate) {
        struct respond_body b = { e->status, e->body, e->body_len, NULL };

        respond_cached(client, out, cache, &b);
        respond_send(client, b.status, b.data, b.status == 304 ? 0 : b.len);
        free(b.gz);
        return;
    }
    respond_send(client, e->status, e->body, e->body_len);
}

void
respond_text(struct evhttp_request *client, const char *request_id,
             int status, const char *ctype, const char *text, size_t len)
{
    struct evkeyvalq *out = evhttp_request_get_output_headers(client);

    evhttp_add_header(out, "Content-Type", ctype);
    evhttp_add_header(out, "Cache-Control", "no-store");
    respond_common(client, out, request_id, NULL);
    respond_send(client, status, text, len);
}

void
respond_json(struct evhttp_request *client, const char *request_id,
             int status, const char *json)
{
    respond_text(client, request_id, status, "application/json", json,
                 strlen(json));
}
