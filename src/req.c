/*
 * req.c - the request lifecycle (req.h): the state machine, RECV's
 * routing and token, and the helpers both paths share: forwarding,
 * relaying, and the proxy's own errors.
 */
#include "config.h"

#include "req.h"

#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <hiredis/hiredis.h>
#include <json-c/json.h>

#include "access.h"
#include "budget.h"
#include "conf.h"
#include "json.h"
#include "log.h"
#include "lookup.h"
#include "patch.h"
#include "ready.h"
#include "respond.h"
#include "stats.h"
#include "store.h"

#define REQ_SPARE_MAX 256           /* freed requests kept per worker */

static void        req_step(struct req *r, enum req_event ev,
                            const void *data);
static struct req *req_alloc(struct req_set *set);

/* libevent's command type as a route method bit, and its name. */

static const struct {
    enum evhttp_cmd_type cmd;
    enum route_method    method;
    const char          *name;
} req_methods[] = {
    { EVHTTP_REQ_GET, ROUTE_M_GET, "GET" },
    { EVHTTP_REQ_HEAD, ROUTE_M_HEAD, "HEAD" },
    { EVHTTP_REQ_POST, ROUTE_M_POST, "POST" },
    { EVHTTP_REQ_PUT, ROUTE_M_PUT, "PUT" },
    { EVHTTP_REQ_DELETE, ROUTE_M_DELETE, "DELETE" },
    { EVHTTP_REQ_OPTIONS, ROUTE_M_OPTIONS, "OPTIONS" },
    { EVHTTP_REQ_PATCH, ROUTE_M_PATCH, "PATCH" },
};

static enum route_method
req_method(enum evhttp_cmd_type cmd, const char **name)
{
    size_t i;

    for (i = 0; i < sizeof(req_methods) / sizeof(req_methods[0]); i++) {
        if (req_methods[i].cmd == cmd) {
            *name = req_methods[i].name;
            return req_methods[i].method;
        }
    }
    *name = "OTHER";
    return ROUTE_M_OTHER;
}

/* ---- helpers ------------------------------------------------------------ */

int64_t
req_now_ms(void)
{
    struct timeval tv;

    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

int64_t
req_mono_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* The answering helpers do nothing for a request answered already: a
 * refresh goes on after its client got the stale entry. */
void
req_error(struct req *r, int status, const char *msg)
{
    req_error_n(r, status, &msg, 1);
}

int64_t
req_lease_ms(const struct conf *cf)
{
    return cf->upstream_timeout_ms + 2 * cf->redis_timeout_ms + 1000;
}

void
req_answered(struct req *r, int status, const char *x_cache)
{
    static const struct {
        const char      *name;
        enum stats_cache cache;
    } kinds[] = {
        { "HIT", STATS_CACHE_HIT },       { "MISS", STATS_CACHE_MISS },
        { "STALE", STATS_CACHE_STALE },   { "BYPASS", STATS_CACHE_BYPASS },
        { "REPLAY", STATS_CACHE_REPLAY },
    };
    size_t i;

    r->ans_status = status;
    r->answer_us = req_mono_us();
    r->ans_cache = STATS_CACHE_NONE;
    for (i = 0; x_cache != NULL && i < sizeof(kinds) / sizeof(kinds[0]);
         i++) {
        if (strcmp(x_cache, kinds[i].name) == 0) {
            r->ans_cache = kinds[i].cache;
        }
    }
}

void
req_error_with(struct req *r, int status, const char *msg,
               const char *header, const char *value)
{
    struct respond_header extra = { header, value };

    if (r->client != NULL) {
        req_answered(r, status, NULL);
        respond_error(r->client, r->request_id, status, &msg, 1, &extra);
        r->client = NULL;
    }
}

void
req_error_n(struct req *r, int status, const char *const *msgs, size_t n)
{
    if (r->client != NULL) {
        req_answered(r, status, NULL);
        respond_error(r->client, r->request_id, status, msgs, n, NULL);
        r->client = NULL;
    }
}

/* What req_token found. */
enum req_token_result {
    REQ_TOKEN_OK,
    REQ_TOKEN_NONE,                 /* 401 */
    REQ_TOKEN_CONFLICT,             /* two places disagree: 400 */
    REQ_TOKEN_HOP                   /* Connection names x-hs-token: 400 */
};

/* Agrees TOKEN (LEN bytes, may be NULL) with what *OUT holds so far.
 * Returns false when both hold a token and they differ. */
static bool
req_token_agree(const char *token, size_t len, const char **out,
                size_t *out_len)
{
    if (token == NULL || len == 0) {
        return true;
    }
    if (*out == NULL) {
        *out = token;
        *out_len = len;
        return true;
    }
    return *out_len == len && memcmp(*out, token, len) == 0;
}

/*
 * Finds the token (SPEC §3): the x-hs-token header, else a `token` query
 * parameter, else a `token` string in BODY (a parsed JSON body, or NULL),
 * and hashes it into R's tenant. The upstream may read any of the three,
 * so where two of them hold a token they must be the same one, and the
 * header must not be one a hop may drop: otherwise the tenant the proxy
 * keys on could differ from the one the upstream answers for. The token
 * itself travels upstream untouched, and is wiped here.
 */
static enum req_token_result
req_token(struct req *r, const struct json_object *body)
{
    struct evkeyvalq        *in = evhttp_request_get_input_headers(r->client);
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(r->client);
    const char              *query = uri != NULL ? evhttp_uri_get_query(uri)
                                                 : NULL;
    const char              *tok = NULL, *v;
    size_t                   tlen = 0, qlen = 0, cap;
    struct evkeyval         *h;
    char                    *qbuf = NULL;
    enum req_token_result    res = REQ_TOKEN_OK;
    enum key_param           kp = KEY_PARAM_ABSENT;

    TAILQ_FOREACH(h, in, next) {
        if (strcasecmp(h->key, "Connection") == 0 &&
            http_list_has(h->value, "x-hs-token")) {
            return REQ_TOKEN_HOP;
        }
        if (strcasecmp(h->key, "x-hs-token") == 0 &&
            !req_token_agree(h->value, strlen(h->value), &tok, &tlen)) {
            return REQ_TOKEN_CONFLICT;
        }
    }
    if (query != NULL && query[0] != '\0') {
        cap = strlen(query) + 1;
        qbuf = malloc(cap);
        if (qbuf == NULL) {
            return REQ_TOKEN_NONE;
        }
        kp = key_query_value(query, "token", qbuf, cap, &qlen);
        if (kp == KEY_PARAM_CONFLICT ||
            (kp == KEY_PARAM_FOUND &&
             !req_token_agree(qbuf, qlen, &tok, &tlen))) {
            res = REQ_TOKEN_CONFLICT;
        }
    }
    v = json_get_string(body, "token");
    if (res == REQ_TOKEN_OK && v != NULL &&
        !req_token_agree(v, strlen(v), &tok, &tlen)) {
        res = REQ_TOKEN_CONFLICT;
    }
    if (res == REQ_TOKEN_OK && tok == NULL) {
        res = REQ_TOKEN_NONE;
    }
    if (res == REQ_TOKEN_OK) {
        key_tenant(tok, tlen, r->tenant);
    }
    if (qbuf != NULL) {
        memset(qbuf, 0, cap);
        free(qbuf);
    }
    return res;
}

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
} req_unforwarded[] = {
    { "Host", false },              { "Content-Length", false },
    { "Expect", false },            { "X-Request-Id", false },
    { "Accept-Encoding", false },   { "If-None-Match", true },
    { "If-Modified-Since", true },  { "If-Match", true },
    { "If-Unmodified-Since", true },{ "If-Range", true },
    { "Range", true },
};

static bool
req_forwarded(const struct req *r, const char *name)
{
    size_t i;

    for (i = 0; i < sizeof(req_unforwarded) / sizeof(req_unforwarded[0]);
         i++) {
        if (strcasecmp(name, req_unforwarded[i].name) == 0) {
            return req_unforwarded[i].reads_only && r->is_update;
        }
    }
    return true;
}

/* Builds the end-to-end request headers to pass upstream into OUT. */
static void
req_forward_headers(struct req *r, struct evkeyvalq *out)
{
    struct evkeyvalq *in = evhttp_request_get_input_headers(r->client);
    const char       *conn = evhttp_find_header(in, "Connection");
    struct evkeyval  *h;

    TAILQ_FOREACH(h, in, next) {
        if (http_is_hop_by_hop(h->key, conn) || !req_forwarded(r, h->key)) {
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
req_upstream_target(const struct req *r)
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
    if (!r->is_update && r->phone[0] != '\0') {
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

/* Sends R upstream. Returns the next state. */
enum req_state
req_forward(struct req *r)
{
    struct upstream_request rq;
    struct evkeyvalq        headers;
    struct upstream        *up;
    char                   *target;

    up = r->route.id == ROUTE_QUERY_CRM && r->env->lowlat != NULL
             ? r->env->lowlat
             : r->env->upstream;
    TAILQ_INIT(&headers);
    req_forward_headers(r, &headers);
    target = req_upstream_target(r);
    memset(&rq, 0, sizeof(rq));
    /* The upstream API has GET and PATCH routes only: a HEAD is fetched
     * as a GET (it fills the cache like one; evhttp drops the body). */
    rq.method = r->is_update ? EVHTTP_REQ_PATCH : EVHTTP_REQ_GET;
    rq.uri = target;
    rq.headers = &headers;
    rq.request_id = r->request_id;
    rq.body = evhttp_request_get_input_buffer(r->client);
    rq.idempotent = !r->is_update;
    r->call = target != NULL ? upstream_send(up, &rq, req_on_upstream_done, r)
                             : NULL;
    evhttp_clear_headers(&headers);
    free(target);
    if (r->call == NULL) {
        /* As if it had been sent and failed: each path has one way of
         * handling an upstream failure (stale, waiters, claims). */
        struct req_upstream_result res = { UPSTREAM_EUNREACHABLE, NULL };

        return r->is_update ? patch_on_fetch(r, &res)
                            : lookup_on_fetch(r, &res);
    }
    stats_upstream(r->route.id);
    r->up_start_us = req_mono_us();
    if (!r->is_update) {
        lookup_on_sent(r);
    }
    return REQ_FETCH;
}

void
req_wake(struct req *r, const struct lookup_answer *answer)
{
    req_step(r, REQ_EV_WAKE, answer);
}

/* ---- BUDGET ------------------------------------------------------------- */

static void
on_budget(bool granted, int64_t wait_ms, void *arg)
{
    struct req              *r = arg;
    struct req_budget_result res = { granted, wait_ms };

    r->bop = NULL;                  /* the budget is done with it */
    req_step(r, REQ_EV_BUDGET, &res);
}

static void
on_rate_timer(evutil_socket_t fd, short what, void *arg)
{
    req_step(arg, REQ_EV_BUDGET, NULL);
}

/*
 * No grant now, for WAIT_MS. A read that has an expired entry takes it;
 * a request with a client waits while rate_limit_wait allows; the rest is
 * the path's 429.
 */
static enum req_state
req_on_denied(struct req *r, int64_t wait_ms)
{
    int64_t        left;
    struct timeval tv;

    if (!r->is_update && lookup_on_denied_stale(r)) {
        return REQ_DONE;
    }
    left = r->env->cf->rate_limit_wait_ms - (req_now_ms() - r->spend_ms);
    if (r->client != NULL && left > 0) {
        int64_t ms = wait_ms < left ? wait_ms : left;

        if (r->rate_timer == NULL) {
            r->rate_timer = evtimer_new(r->env->base, on_rate_timer, r);
        }
        if (r->rate_timer != NULL) {
            if (!r->rate_waited) {
                r->rate_waited = true;
                stats_add(STATS_RATE_WAITS, 1);
            }
            tv.tv_sec = (time_t)(ms / 1000);
            tv.tv_usec = (suseconds_t)(ms % 1000) * 1000;
            evtimer_add(r->rate_timer, &tv);
            return REQ_BUDGET;
        }
    }
    return r->is_update ? patch_on_denied(r, wait_ms)
                        : lookup_on_denied(r, wait_ms);
}

enum req_state
req_spend(struct req *r)
{
    enum budget_answer a;
    int64_t            wait_ms = 0;

    if (r->spend_ms == 0) {
        r->spend_ms = req_now_ms();
    }
    a = budget_take(r->env->budget, r->tenant,
                    r->is_update ? BUDGET_WRITE : BUDGET_READ, on_budget, r,
                    &r->bop, &wait_ms);
    switch (a) {
    case BUDGET_GRANTED:
        return req_forward(r);
    case BUDGET_PENDING:
        return REQ_BUDGET;
    case BUDGET_DENIED:
        break;
    }
    return req_on_denied(r, wait_ms);
}

/* BUDGET done: RES is the budget's answer, or NULL (the wait ended). */
static enum req_state
req_on_budget(struct req *r, const struct req_budget_result *res)
{
    if (res == NULL) {
        return req_spend(r);
    }
    if (res->granted) {
        return req_forward(r);
    }
    return req_on_denied(r, res->wait_ms);
}

/* Answers R with the upstream answer it holds, and its cache headers. */
void
req_deliver(struct req *r, bool stored)
{
    struct respond_cache c = { .x_cache = r->x_cache, .age_s = -1 };
    char                 status[128];

    if (r->client == NULL) {
        return;
    }
    if (r->x_cache != NULL) {
        req_cache_status(r, stored, status, sizeof(status));
        c.status = status;
    }
    c.validate = !r->is_update;
    c.gzip = r->env->cf->gzip;
    req_answered(r, r->status, r->x_cache);
    respond_relay(r->client, r->request_id, r->status,
                  r->reason[0] != '\0' ? r->reason : NULL, &r->headers,
                  r->body, r->x_cache != NULL ? &c : NULL);
    r->client = NULL;
}

void
req_cache_status(const struct req *r, bool stored, char *buf, size_t cap)
{
    snprintf(buf, cap, "fwd=%s%s%s%s%s", r->fwd != NULL ? r->fwd : "miss",
             stored ? "; stored" : "", r->waited ? "; collapsed" : "",
             r->detail != NULL ? "; detail=" : "",
             r->detail != NULL ? r->detail : "");
}

/* Answers R with the local error for a failed upstream call (SPEC §7). */
static void
req_upstream_error(struct req *r, enum upstream_error err)
{
    const char *msg;
    int         status;

    req_upstream_error_status(err, &status, &msg);
    req_error(r, status, msg);
}

void
req_upstream_error_status(enum upstream_error err, int *status,
                          const char **msg)
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

/* Answers R from what FETCH left: the upstream's answer, or its error. */
void
req_answer_held(struct req *r)
{
    if (r->uerr != UPSTREAM_OK) {
        req_upstream_error(r, r->uerr);
    } else {
        req_deliver(r, false);
    }
}

/* Keeps the upstream's answer in R for delivery after a Redis call. */
void
req_keep(struct req *r, const struct upstream_response *resp)
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

/* Builds the stored form of R's answer into a new buffer, or NULL. */
struct evbuffer *
req_entry_value(struct req *r, int status, int64_t ttl_ms)
{
    struct cache_entry e;
    struct evbuffer   *v;
    const char        *ctype = evhttp_find_header(&r->headers, "Content-Type");
    char               header[CACHE_HEADER_MAX];
    int                n;

    memset(&e, 0, sizeof(e));
    e.status = status;
    e.stored_ms = req_now_ms();
    e.ttl_ms = ttl_ms;
    e.ctype = ctype != NULL ? ctype : "";
    e.ctype_len = strlen(e.ctype);
    n = cache_entry_header(&e, header, sizeof(header));
    if (n < 0) {
        return NULL;
    }
    v = evbuffer_new();
    if (v == NULL || evbuffer_add(v, header, (size_t)n) != 0 ||
        evbuffer_add(v, evbuffer_pullup(r->body, -1),
                     evbuffer_get_length(r->body)) != 0) {
        if (v != NULL) {
            evbuffer_free(v);
        }
        return NULL;
    }
    return v;
}

/* ---- RECV --------------------------------------------------------------- */

/* GET /metrics: the counters of the whole process (SPEC §10). */
static void
req_metrics(struct req *r)
{
    size_t cap = stats_render_max();
    char  *buf = malloc(cap);
    int    n = buf != NULL ? stats_render(buf, cap) : -1;

    if (n < 0) {
        req_error(r, 500, "metrics unavailable");
    } else {
        req_answered(r, 200, NULL);
        respond_text(r->client, r->request_id, 200,
                     "text/plain; version=0.0.4; charset=utf-8", buf,
                     (size_t)n);
        r->client = NULL;
    }
    free(buf);
}

/* GET /readyz: Redis and upstream state, process-wide (ready.h). */
static void
req_readyz(struct req *r)
{
    struct ready_state st;
    char               buf[READY_RENDER_MAX];
    size_t             len = 0;
    int                status;

    ready_snapshot(&st);
    status = ready_render(&st, req_now_ms(), buf, sizeof(buf), &len);
    if (status < 0) {
        req_error(r, 500, "readiness unavailable");
        return;
    }
    req_answered(r, status, NULL);
    respond_text(r->client, r->request_id, status, "application/json", buf,
                 len);
    r->client = NULL;
}

/*
 * The checks of SPEC §8 evhttp does not make (http_fields_check). Answers
 * R and returns false when one fails; a request whose framing is in doubt
 * also closes its connection, so that nothing after it on the connection
 * is read as a request.
 */
static bool
req_check_fields(struct req *r)
{
    const struct conf       *cf = r->env->cf;
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(r->client);
    const char              *query = uri != NULL ? evhttp_uri_get_query(uri)
                                                 : NULL;
    struct http_limits       lim = { (size_t)cf->max_headers,
                                     (size_t)cf->max_header_size,
                                     (size_t)cf->max_query };
    struct http_fields       f;
    struct http_verdict      v;
    struct evkeyval         *h;

    if (r->reject != NULL) {
        req_error_with(r, 400, r->reject, "Connection", "close");
        return false;
    }
    memset(&f, 0, sizeof(f));
    TAILQ_FOREACH(h, evhttp_request_get_input_headers(r->client), next) {
        http_fields_add(&f, h->key, h->value);
    }
    http_fields_check(&f, r->method == ROUTE_M_GET ||
                              r->method == ROUTE_M_POST ||
                              r->method == ROUTE_M_PUT ||
                              r->method == ROUTE_M_PATCH,
                      query != NULL ? strlen(query) : 0, &lim, &v);
    if (v.status == 0) {
        return true;
    }
    if (v.close) {
        req_error_with(r, v.status, v.msg, "Connection", "close");
    } else {
        req_error(r, v.status, v.msg);
    }
    return false;
}

static enum req_state
req_on_recv(struct req *r)
{
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(r->client);
    struct evbuffer         *in = evhttp_request_get_input_buffer(r->client);
    struct json_object      *body = NULL;
    enum route_result        rr;
    enum req_state           next;
    const char              *path;
    char                     allow[64], msg[160], perr[160];
    size_t                   blen = evbuffer_get_length(in);

    if (!req_check_fields(r)) {
        return REQ_DONE;
    }
    path = uri != NULL ? evhttp_uri_get_path(uri) : NULL;
    if (path == NULL || path[0] == '\0') {
        req_error(r, 400, "invalid request target");
        return REQ_DONE;
    }
    if (!http_path_ok(path)) {
        req_error(r, 400, "request path must not hold dot-segments or "
                          "encoded slashes");
        return REQ_DONE;
    }
    rr = route_match(path, r->method, &r->route);
    if (rr == ROUTE_NOT_FOUND) {
        /* NestJS's wording, which the upstream uses for unknown routes. */
        snprintf(msg, sizeof(msg), "Cannot %s %.128s", r->method_name, path);
        req_error(r, 404, msg);
        return REQ_DONE;
    }
    if (rr == ROUTE_BAD_METHOD) {
        route_allow_header(r->route.allowed, allow, sizeof(allow));
        req_error_with(r, 405, "method not allowed", "Allow", allow);
        return REQ_DONE;
    }
    if (r->route.id == ROUTE_HEALTHZ) {
        req_answered(r, 200, NULL);
        respond_json(r->client, r->request_id, 200, "{\"status\":\"ok\"}");
        r->client = NULL;
        return REQ_DONE;
    }
    if (r->route.id == ROUTE_METRICS) {
        req_metrics(r);
        return REQ_DONE;
    }
    if (r->route.id == ROUTE_READYZ) {
        req_readyz(r);
        return REQ_DONE;
    }
    assert(r->route.upstream_api);
    if (blen > (size_t)r->env->cf->max_body) {
        req_error(r, 413, "request body too large");
        return REQ_DONE;
    }
    if (blen > 0) {
        body = json_parse_strict((const char *)evbuffer_pullup(in, -1), blen,
                                 perr, sizeof(perr));
    } else {
        snprintf(perr, sizeof(perr), "body must be a JSON object");
    }
    switch (req_token(r, body)) {
    case REQ_TOKEN_OK:
        break;
    case REQ_TOKEN_NONE:
        json_object_put(body);
        req_error(r, 401, "token should not be empty");
        return REQ_DONE;
    case REQ_TOKEN_CONFLICT:
        json_object_put(body);
        req_error(r, 400, "token must be given once, or the same everywhere");
        return REQ_DONE;
    case REQ_TOKEN_HOP:
        json_object_put(body);
        req_error(r, 400, "x-hs-token must not be named in Connection");
        return REQ_DONE;
    }
    if (r->route.id == ROUTE_UPDATE) {
        next = patch_recv(r, body, perr);
    } else {
        next = lookup_recv(r);
    }
    json_object_put(body);
    return next;
}

/* ---- the state machine -------------------------------------------------- */

static const char *const req_state_names[] = {
    [REQ_RECV] = "recv",   [REQ_CLAIM] = "claim",   [REQ_LOOKUP] = "lookup",
    [REQ_LOCK] = "lock",   [REQ_WAIT] = "wait",     [REQ_BUDGET] = "budget",
    [REQ_FETCH] = "fetch", [REQ_STORE] = "store",   [REQ_WRITE] = "write",
    [REQ_SETTLE] = "settle", [REQ_DONE] = "done",
};

/*
 * Writes R's access-log line (access.h), once R is finished: after a
 * stale answer's refresh too, so upstream_ms is then the refresh's.
 * total_ms runs from arrival to the answer.
 */
static void
req_log(const struct req *r)
{
    static const char *const caches[STATS_CACHE_COUNT] = {
        [STATS_CACHE_NONE] = NULL,       [STATS_CACHE_HIT] = "HIT",
        [STATS_CACHE_MISS] = "MISS",     [STATS_CACHE_STALE] = "STALE",
        [STATS_CACHE_BYPASS] = "BYPASS", [STATS_CACHE_REPLAY] = "REPLAY",
    };
    struct access_entry e;

    if (!access_enabled()) {
        return;
    }
    e.time_ms = r->start_ms;
    e.request_id = r->request_id;
    e.method = r->method_name;
    e.route = route_name(r->route.id);
    e.status = r->ans_status;
    e.cache = caches[r->ans_cache];
    e.upstream_us = r->up_called ? r->up_us : -1;
    e.total_us = r->answer_us > r->start_us ? r->answer_us - r->start_us : 0;
    e.tenant = r->tenant;
    e.phone = r->phone;
    access_write(&e);
}

static void
req_free(struct req *r)
{
    const struct req_env *env = r->env;

    assert(r->client == NULL && r->call == NULL && r->op == NULL &&
           r->bop == NULL);
    assert(r->flight == NULL);
    if (r->ans_status != 0) {
        stats_request(r->route.id, r->ans_status, r->ans_cache);
        req_log(r);
    }
    TAILQ_REMOVE(&r->set->list, r, next);
    r->set->n--;
    evhttp_clear_headers(&r->headers);
    free(r->stale);
    if (r->rate_timer != NULL) {
        event_free(r->rate_timer);
    }
    if (r->set->nspare < REQ_SPARE_MAX) {
        /* Kept for the next request: a request is a few KB, and freeing
         * and allocating one per request costs the allocator a
         * consolidation each time. */
        struct req_set  *set = r->set;
        struct evbuffer *body = r->body;

        evbuffer_drain(body, evbuffer_get_length(body));
        memset(r, 0, sizeof(*r));
        r->body = body;
        TAILQ_INSERT_HEAD(&set->spare, r, next);
        set->nspare++;
    } else {
        evbuffer_free(r->body);
        free(r);
    }
    /* Last: this may free ENV, which nothing above reads any more. */
    if (env->use != NULL) {
        env->use(env, -1);
    }
}

/* A zeroed request with an empty body buffer, from SET's spares or new. */
static struct req *
req_alloc(struct req_set *set)
{
    struct req *r = TAILQ_FIRST(&set->spare);

    if (r != NULL) {
        TAILQ_REMOVE(&set->spare, r, next);
        set->nspare--;
        return r;
    }
    r = calloc(1, sizeof(*r));
    if (r != NULL) {
        r->body = evbuffer_new();
        if (r->body == NULL) {
            free(r);
            return NULL;
        }
    }
    return r;
}

void
req_set_clear(struct req_set *set)
{
    struct req *r;

    while ((r = TAILQ_FIRST(&set->spare)) != NULL) {
        TAILQ_REMOVE(&set->spare, r, next);
        evbuffer_free(r->body);
        free(r);
    }
    set->nspare = 0;
}

/* Shutdown: drop whatever R waits for and answer now. */
static enum req_state
req_abort(struct req *r)
{
    if (r->call != NULL) {
        upstream_cancel(r->call);
        r->call = NULL;
    }
    if (r->op != NULL) {
        store_cancel(r->op);
        r->op = NULL;
    }
    if (r->bop != NULL) {
        budget_cancel(r->bop);
        r->bop = NULL;
    }
    lookup_abort(r);                /* its waiters first, or out of one */
    /* A claim left behind expires with its lease, like a killed proxy's. */
    if (r->state == REQ_STORE || r->state == REQ_WRITE ||
        r->state == REQ_SETTLE) {
        req_answer_held(r);         /* the answer is here: give it */
    } else {
        req_error(r, 503, "shutting down");
    }
    return REQ_DONE;
}

static void
req_step(struct req *r, enum req_event ev, const void *data)
{
    enum req_state next = r->state;

    if (ev == REQ_EV_ABORT) {
        assert(r->state != REQ_DONE);
        next = req_abort(r);
    } else {
        switch (r->state) {
        case REQ_RECV:
            assert(ev == REQ_EV_START);
            next = req_on_recv(r);
            break;
        case REQ_CLAIM:
            assert(ev == REQ_EV_STORE);
            next = patch_on_claim(r, data);
            break;
        case REQ_LOOKUP:
            assert(ev == REQ_EV_STORE);
            next = lookup_on_reply(r, data);
            break;
        case REQ_LOCK:
            assert(ev == REQ_EV_STORE);
            next = lookup_on_lock(r, data);
            break;
        case REQ_WAIT:
            assert(ev == REQ_EV_WAKE);
            next = lookup_on_wake(r, data);
            break;
        case REQ_BUDGET:
            assert(ev == REQ_EV_BUDGET);
            next = req_on_budget(r, data);
            break;
        case REQ_FETCH:
            assert(ev == REQ_EV_UPSTREAM);
            next = r->is_update ? patch_on_fetch(r, data)
                                : lookup_on_fetch(r, data);
            break;
        case REQ_STORE:
            assert(ev == REQ_EV_STORE);
            next = lookup_on_stored(r, data);
            break;
        case REQ_WRITE:
            assert(ev == REQ_EV_STORE);
            next = patch_on_written(r, data);
            break;
        case REQ_SETTLE:
            assert(ev == REQ_EV_STORE);
            next = patch_on_settled(r, data);
            break;
        case REQ_DONE:
            assert(!"event on a finished request");
            return;
        }
    }
    log_debug("proxy: request %s: %s -> %s", r->request_id,
              req_state_names[r->state], req_state_names[next]);
    r->state = next;
    if (next == REQ_DONE) {
        assert(r->client == NULL);
        req_free(r);
    }
}

void
req_set_init(struct req_set *set)
{
    TAILQ_INIT(&set->list);
    set->n = 0;
    TAILQ_INIT(&set->spare);
    set->nspare = 0;
}

void
req_start(const struct req_env *env, struct req_set *set,
          struct evhttp_request *client, const char *reject, bool is_get)
{
    struct req *r;
    const char *id;

    r = req_alloc(set);
    if (r == NULL) {
        log_err("proxy: out of memory");
        evhttp_send_error(client, 503, "Service Unavailable");
        return;
    }
    r->start_us = req_mono_us();
    r->start_ms = req_now_ms();
    r->env = env;
    if (env->use != NULL) {
        env->use(env, +1);
    }
    r->set = set;
    r->client = client;
    r->state = REQ_RECV;
    r->reject = reject;
    TAILQ_INIT(&r->headers);
    r->method = req_method(is_get ? EVHTTP_REQ_GET
                                  : evhttp_request_get_command(client),
                           &r->method_name);
    id = evhttp_find_header(evhttp_request_get_input_headers(client),
                            "X-Request-Id");
    if (id != NULL && http_request_id_valid(id)) {
        snprintf(r->request_id, sizeof(r->request_id), "%s", id);
    } else if (http_request_id_new(r->request_id, sizeof(r->request_id)) !=
               0) {
        snprintf(r->request_id, sizeof(r->request_id), "%" PRId64,
                 req_now_ms());
    }
    TAILQ_INSERT_TAIL(&set->list, r, next);
    set->n++;
    req_step(r, REQ_EV_START, NULL);
}

void
req_abort_all(struct req_set *set)
{
    struct req *r;

    while ((r = TAILQ_FIRST(&set->list)) != NULL) {
        req_step(r, REQ_EV_ABORT, NULL);
    }
}

/* ---- callbacks ---------------------------------------------------------- */

void
req_on_upstream_done(enum upstream_error err, const struct upstream_response *resp,
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
    req_step(r, REQ_EV_UPSTREAM, &res);
}

void
req_on_store_reply(struct redisReply *reply, void *arg)
{
    struct req *r = arg;

    req_step(r, REQ_EV_STORE, reply);
}
