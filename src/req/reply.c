/*
 * req/reply.c - every write to a client (req/reply.h).
 */
#include "config.h"

#include "req/reply.h"

#include <inttypes.h>
#include <stdio.h>

#include "cache.h"
#include "conf.h"
#include "http.h"
#include "req/req.h"
#include "respond.h"

static const char *const reply_x_caches[STATS_CACHE_COUNT] = {
    [STATS_CACHE_NONE] = NULL,       [STATS_CACHE_HIT] = "HIT",
    [STATS_CACHE_MISS] = "MISS",     [STATS_CACHE_STALE] = "STALE",
    [STATS_CACHE_BYPASS] = "BYPASS", [STATS_CACHE_REPLAY] = "REPLAY",
};

static const char *const reply_fwds[] = {
    [REPLY_FWD_MISS] = "miss",       [REPLY_FWD_BYPASS] = "bypass",
    [REPLY_FWD_REQUEST] = "request", [REPLY_FWD_STALE] = "stale",
};

static const char *const reply_details[] = {
    [REPLY_DETAIL_NONE] = NULL,
    [REPLY_DETAIL_STORE_UNAVAILABLE] = "store-unavailable",
    [REPLY_DETAIL_NO_STORE] = "no-store",
    [REPLY_DETAIL_SWR] = "stale-while-revalidate",
    [REPLY_DETAIL_SIE] = "stale-if-error",
    [REPLY_DETAIL_RATE_LIMITED] = "rate-limited",
    [REPLY_DETAIL_REPLAY] = "idempotent-replay",
};

const char *
reply_x_cache(enum stats_cache c)
{
    return reply_x_caches[c];
}

char *
reply_cache_status(const struct reply_cache *c, char *buf, size_t cap)
{
    const char *detail = reply_details[c->detail];
    char        fs[32] = "";

    switch (c->x_cache) {
    case STATS_CACHE_HIT:
        snprintf(buf, cap, "hit; ttl=%" PRId64 "%s", c->ttl_s,
                 c->collapsed ? "; collapsed" : "");
        break;
    case STATS_CACHE_REPLAY:
        snprintf(buf, cap, "hit; detail=%s",
                 reply_details[REPLY_DETAIL_REPLAY]);
        break;
    case STATS_CACHE_STALE:
        if (c->fwd_status > 0) {
            snprintf(fs, sizeof(fs), "; fwd-status=%d", c->fwd_status);
        }
        snprintf(buf, cap, "fwd=stale%s; ttl=%" PRId64 "; detail=%s", fs,
                 c->ttl_s, detail != NULL ? detail : "");
        break;
    case STATS_CACHE_MISS:
    case STATS_CACHE_BYPASS:
    case STATS_CACHE_NONE:
    case STATS_CACHE_COUNT:
        snprintf(buf, cap, "fwd=%s%s%s%s%s", reply_fwds[c->fwd],
                 c->stored ? "; stored" : "",
                 c->collapsed ? "; collapsed" : "",
                 detail != NULL ? "; detail=" : "",
                 detail != NULL ? detail : "");
        break;
    }
    return buf;
}

void
reply_upstream_status(enum upstream_error err, int *status, const char **msg)
{
    switch (err) {
    case UPSTREAM_ETIMEOUT:
        *status = 504;
        *msg = "upstream timeout";
        return;
    case UPSTREAM_ETLS:
        *status = 502;
        *msg = "upstream TLS verification failed";
        return;
    case UPSTREAM_EPROTO:
        *status = 502;
        *msg = "invalid upstream response";
        return;
    case UPSTREAM_OK:
    case UPSTREAM_EUNREACHABLE:
        break;
    }
    *status = 502;
    *msg = "upstream unreachable";
}

/*
 * Whether R still has a client to answer; if so, notes what it will get
 * and takes the client from R, so that nothing answers it twice.
 */
static struct evhttp_request *
reply_take(struct req *r, int status, enum stats_cache cache)
{
    struct evhttp_request *client = r->client;

    if (client == NULL) {
        return NULL;
    }
    r->client = NULL;
    r->ans_status = status;
    r->ans_cache = cache;
    r->answer_us = req_mono_us();
    return client;
}

void
reply_error(struct req *r, int status, const char *msg)
{
    reply_error_n(r, status, &msg, 1);
}

void
reply_error_n(struct req *r, int status, const char *const *msgs, size_t n)
{
    struct evhttp_request *client = reply_take(r, status, STATS_CACHE_NONE);

    if (client != NULL) {
        respond_error(client, r->request_id, status, msgs, n, NULL);
    }
}

void
reply_error_with(struct req *r, int status, const char *msg,
                 const char *header, const char *value)
{
    struct respond_header  extra = { header, value };
    struct evhttp_request *client = reply_take(r, status, STATS_CACHE_NONE);

    if (client != NULL) {
        respond_error(client, r->request_id, status, &msg, 1, &extra);
    }
}

void
reply_relay(struct req *r, const struct reply_cache *c)
{
    struct respond_cache   rc = { .age_s = -1 };
    struct evhttp_request *client;
    enum stats_cache       x = c != NULL ? c->x_cache : STATS_CACHE_NONE;
    char                   status[128];

    client = reply_take(r, r->status, x);
    if (client == NULL) {
        return;
    }
    rc.x_cache = reply_x_cache(x);
    if (rc.x_cache != NULL) {
        rc.status = reply_cache_status(c, status, sizeof(status));
    }
    rc.validate = r->kind == REQ_KIND_READ;
    rc.gzip = r->env->cf->gzip;
    respond_relay(client, r->request_id, r->status,
                  r->reason[0] != '\0' ? r->reason : NULL, &r->headers,
                  r->body, rc.x_cache != NULL ? &rc : NULL);
}

void
reply_held(struct req *r)
{
    const char *msg;
    int         status;

    if (r->uerr == UPSTREAM_OK) {
        reply_relay(r, NULL);
        return;
    }
    reply_upstream_status(r->uerr, &status, &msg);
    reply_error(r, status, msg);
}

void
reply_entry(struct req *r, const struct cache_entry *e,
            enum stats_cache x_cache, const char *status, int64_t age_s,
            bool replayed)
{
    struct respond_cache   rc = {
        .x_cache = reply_x_cache(x_cache), .status = status, .age_s = age_s,
        .replayed = replayed, .validate = r->kind == REQ_KIND_READ,
        .gzip = r->kind == REQ_KIND_READ && r->env->cf->gzip };
    struct evhttp_request *client;

    client = reply_take(r, e->status, x_cache);
    if (client != NULL) {
        respond_entry(client, r->request_id, e, &rc);
    }
}

void
reply_json(struct req *r, int status, const char *json)
{
    struct evhttp_request *client = reply_take(r, status, STATS_CACHE_NONE);

    if (client != NULL) {
        respond_json(client, r->request_id, status, json);
    }
}

void
reply_text(struct req *r, int status, const char *ctype, const char *text,
           size_t len)
{
    struct evhttp_request *client = reply_take(r, status, STATS_CACHE_NONE);

    if (client != NULL) {
        respond_text(client, r->request_id, status, ctype, text, len);
    }
}
