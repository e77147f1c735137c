/*
 * req/forward.c - the upstream call of a request (req/forward.h).
 */
#include "config.h"

#include "req/forward.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>

#include "budget.h"
#include "conf.h"
#include "http.h"
#include "key.h"
#include "ready.h"
#include "req/req.h"
#include "stats.h"
#include "upstream.h"

/*
 * Request headers never passed upstream, besides the hop-by-hop ones: the
 * upstream's Host and framing are the upstream client's to write, and
 * its Accept-Encoding too (SPEC §11: entries hold identity bodies, and
 * what the proxy can decode is its own business). A read fills the cache
 * for everyone, so it goes whole and unconditional: a client's validators
 * and ranges are answered by the proxy from the entry (respond.c), never
 * by an upstream 304 or 206 that other clients would then be handed.
 */
static const struct {
    const char *name;
    bool        reads_only;
} forward_unforwarded[] = {
    { "Host", false },              { "Content-Length", false },
    { "Expect", false },            { "X-Request-Id", false },
    { "Accept-Encoding", false },   { "If-None-Match", true },
    { "If-Modified-Since", true },  { "If-Match", true },
    { "If-Unmodified-Since", true },{ "If-Range", true },
    { "Range", true },
};

static bool
forward_header_passes(const struct req *r, const char *name)
{
    size_t i;

    for (i = 0;
         i < sizeof(forward_unforwarded) / sizeof(forward_unforwarded[0]);
         i++) {
        if (strcasecmp(name, forward_unforwarded[i].name) == 0) {
            return forward_unforwarded[i].reads_only && r->kind == REQ_KIND_WRITE;
        }
    }
    return true;
}

/* Builds the end-to-end request headers to pass upstream into OUT. */
static void
forward_headers(const struct req *r, struct evkeyvalq *out)
{
    struct evkeyvalq *in = evhttp_request_get_input_headers(r->client);
    const char       *conn = evhttp_find_header(in, "Connection");
    struct evkeyval  *h;

    TAILQ_FOREACH(h, in, next) {
        if (http_is_hop_by_hop(h->key, conn) ||
            !forward_header_passes(r, h->key)) {
            continue;
        }
        evhttp_add_header(out, h->key, h->value);
    }
}

/*
 * The request target to send upstream, in a new string the caller frees
 * (NULL when out of memory): always origin form, whatever form the client
 * used (an absolute-form target names a host that a host-routing balancer
 * might obey), and for a lookup with the phone as the E.164 number the
 * cache key names (SPEC §3).
 */
static char *
forward_target(const struct req *r)
{
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(r->client);
    const char              *path = evhttp_uri_get_path(uri);
    const char              *query = evhttp_uri_get_query(uri);
    size_t                   plen = strlen(path);
    size_t                   qlen = query != NULL ? strlen(query) : 0;
    size_t                   cap = plen + 2 + qlen + 16;
    char                    *t = malloc(cap);
    int                      n;

    if (t == NULL) {
        return NULL;
    }
    memcpy(t, path, plen);
    t[plen] = '\0';
    if (query == NULL) {
        return t;
    }
    t[plen] = '?';
    if (r->kind == REQ_KIND_READ && r->phone[0] != '\0') {
        /* The E.164 form is never longer than a valid phone as sent
         * (an 11-digit NANP number gains one '+' as "%2B" at most). */
        n = key_query_set_phone(query, r->phone, t + plen + 1,
                                cap - plen - 1);
        if (n >= 0) {
            return t;
        }
    }
    memcpy(t + plen + 1, query, qlen + 1);
    return t;
}

/* upstream_send's callback: times the call, then hands R its answer. */
static void
forward_on_done(enum upstream_error err, const struct upstream_response *resp,
                const char *why, void *arg)
{
    static const enum ready_upstream outcomes[] = {
        [UPSTREAM_OK] = READY_UP_OK,
        [UPSTREAM_EUNREACHABLE] = READY_UP_UNREACHABLE,
        [UPSTREAM_ETLS] = READY_UP_TLS,
        [UPSTREAM_ETIMEOUT] = READY_UP_TIMEOUT,
        [UPSTREAM_EPROTO] = READY_UP_PROTOCOL,
    };
    struct req                *r = arg;
    struct req_upstream_result res = { err, resp };
    int64_t                    took = req_mono_us() - r->up_start_us;

    took = took > 0 ? took : 0;
    r->up_us += took;
    r->up_called = true;
    stats_upstream_latency(r->route.id, (uint64_t)took);
    ready_upstream(outcomes[err], req_now_ms());
    req_event(r, REQ_EV_UPSTREAM, &res);
}

/* Sends R upstream: SENT, or UNSENT when the call cannot be made. */
static enum forward_outcome
forward_send(struct req *r)
{
    struct upstream_request rq;
    struct evkeyvalq        headers;
    struct upstream        *up;
    char                   *target;

    up = r->route.id == ROUTE_QUERY_CRM && r->env->lowlat != NULL
             ? r->env->lowlat
             : r->env->upstream;
    TAILQ_INIT(&headers);
    forward_headers(r, &headers);
    target = forward_target(r);
    memset(&rq, 0, sizeof(rq));
    /* The upstream API has GET and PATCH routes only: a HEAD is fetched
     * as a GET (it fills the cache like one; evhttp drops the body). */
    rq.method = r->kind == REQ_KIND_WRITE ? EVHTTP_REQ_PATCH : EVHTTP_REQ_GET;
    rq.uri = target;
    rq.headers = &headers;
    rq.request_id = r->request_id;
    rq.body = evhttp_request_get_input_buffer(r->client);
    rq.idempotent = r->kind != REQ_KIND_WRITE;
    r->call = target != NULL ? upstream_send(up, &rq, forward_on_done, r)
                             : NULL;
    evhttp_clear_headers(&headers);
    free(target);
    if (r->call == NULL) {
        return FORWARD_UNSENT;
    }
    stats_upstream(r->route.id);
    r->up_start_us = req_mono_us();
    return FORWARD_SENT;
}

static void
forward_on_budget_cb(bool granted, int64_t wait_ms, void *arg)
{
    struct req_budget_result res = { granted, wait_ms };

    req_event(arg, REQ_EV_BUDGET, &res);
}

static void
forward_on_rate_timer(evutil_socket_t fd, short what, void *arg)
{
    req_event(arg, REQ_EV_BUDGET, NULL);
}

enum forward_outcome
forward_spend(struct req *r, int64_t *wait_ms)
{
    *wait_ms = 0;
    if (r->spend_ms == 0) {
        r->spend_ms = req_now_ms();
    }
    switch (budget_take(r->env->budget, r->tenant,
                        r->kind == REQ_KIND_WRITE ? BUDGET_WRITE : BUDGET_READ,
                        forward_on_budget_cb, r, &r->bop, wait_ms)) {
    case BUDGET_GRANTED:
        return forward_send(r);
    case BUDGET_PENDING:
        return FORWARD_PENDING;
    case BUDGET_DENIED:
        break;
    }
    return FORWARD_DENIED;
}

enum forward_outcome
forward_on_budget(struct req *r, const struct req_budget_result *res,
                  int64_t *wait_ms)
{
    if (res == NULL) {
        return forward_spend(r, wait_ms);
    }
    if (res->granted) {
        return forward_send(r);
    }
    *wait_ms = res->wait_ms;
    return FORWARD_DENIED;
}

bool
forward_wait(struct req *r, int64_t wait_ms)
{
    int64_t        left, ms;
    struct timeval tv;

    left = r->env->cf->rate_limit_wait_ms - (req_now_ms() - r->spend_ms);
    if (r->client == NULL || left <= 0) {
        return false;
    }
    ms = wait_ms < left ? wait_ms : left;
    if (r->rate_timer == NULL) {
        r->rate_timer = evtimer_new(r->env->base, forward_on_rate_timer, r);
    }
    if (r->rate_timer == NULL) {
        return false;
    }
    if (!r->rate_waited) {
        r->rate_waited = true;
        stats_add(STATS_RATE_WAITS, 1);
    }
    tv.tv_sec = (time_t)(ms / 1000);
    tv.tv_usec = (suseconds_t)(ms % 1000) * 1000;
    evtimer_add(r->rate_timer, &tv);
    return true;
}

void
forward_retry_after(int64_t wait_ms, char out[24])
{
    snprintf(out, 24, "%" PRId64, wait_ms > 0 ? (wait_ms + 999) / 1000 : 1);
}

void
forward_keep(struct req *r, const struct upstream_response *resp)
{
    struct evkeyval *h;

    r->status = resp->status;
    /* A registered status gets its registered phrase, on hits and misses
     * alike; an unregistered one (299) keeps the upstream's. */
    snprintf(r->reason, sizeof(r->reason), "%s",
             resp->reason != NULL && http_reason_registered(r->status) == NULL
                 ? resp->reason
                 : "");
    TAILQ_FOREACH(h, resp->headers, next) {
        evhttp_add_header(&r->headers, h->key, h->value);
    }
    evbuffer_add_buffer(r->body, resp->body);
    if (r->status == 429) {
        /* The vendor says stop: stop the tenant on every instance
         * (SPEC §6), for its Retry-After or the default. */
        stats_add(STATS_UPSTREAM_429, 1);
        budget_pause(r->env->budget, r->tenant,
                     http_retry_after_ms(evhttp_find_header(resp->headers,
                                                            "Retry-After"),
                                         req_now_ms()));
    }
}
