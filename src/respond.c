/* respond.c - the proxy's answers, on evhttp. */
#include "config.h"

#include "respond.h"

#include <assert.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "cache.h"
#include "http.h"

#define RESPOND_ERROR_MAX 1024

static void
respond_common(struct evkeyvalq *out, const char *request_id,
               const struct respond_cache *cache)
{
    char buf[160];

    evhttp_remove_header(out, "X-Request-Id");
    evhttp_add_header(out, "X-Request-Id", request_id);
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
    respond_common(out, request_id, NULL);
    respond_send(client, status, buf, (size_t)len);
}

void
respond_relay(struct evhttp_request *client, const char *request_id,
              int status, const struct evkeyvalq *headers,
              struct evbuffer *body, const struct respond_cache *cache)
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
    respond_common(out, request_id, cache);
    evhttp_send_reply(client, status, http_reason(status), body);
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
    respond_common(out, request_id, cache);
    respond_send(client, e->status, e->body, e->body_len);
}

void
respond_text(struct evhttp_request *client, const char *request_id,
             int status, const char *ctype, const char *text, size_t len)
{
    struct evkeyvalq *out = evhttp_request_get_output_headers(client);

    evhttp_add_header(out, "Content-Type", ctype);
    evhttp_add_header(out, "Cache-Control", "no-store");
    respond_common(out, request_id, NULL);
    respond_send(client, status, text, len);
}

void
respond_json(struct evhttp_request *client, const char *request_id,
             int status, const char *json)
{
    respond_text(client, request_id, status, "application/json", json,
                 strlen(json));
}
