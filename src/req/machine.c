/*
 * req/machine.c - the request state machine (req/machine.h): RECV's
 * checks, the state x path table of handlers, start and abort.
 */
#include "config.h"

#include "req/machine.h"

#include <assert.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <json-c/json.h>

#include "budget.h"
#include "conf.h"
#include "json.h"
#include "log.h"
#include "ready.h"
#include "req/purge.h"
#include "req/read.h"
#include "req/reply.h"
#include "req/write.h"
#include "stats.h"
#include "store.h"
#include "tkeys.h"

typedef enum req_state (*machine_handler)(struct req *r, const void *data);

/*
 * Each waiting state: the one event it takes, and each path's handler of
 * it (NULL: the path never waits there). RECV and DONE are not here:
 * RECV takes only START, DONE nothing.
 */
static const struct {
    enum req_event  ev;
    machine_handler read;
    machine_handler write;
    machine_handler purge;
} machine_table[REQ_STATE_COUNT] = {
    [REQ_CLAIM]  = { REQ_EV_STORE, NULL, write_on_claim, NULL },
    [REQ_LOOKUP] = { REQ_EV_STORE, read_on_lookup, NULL, NULL },
    [REQ_LOCK]   = { REQ_EV_STORE, read_on_lock, NULL, NULL },
    [REQ_WAIT]   = { REQ_EV_WAKE, read_on_wake, NULL, NULL },
    [REQ_BUDGET] = { REQ_EV_BUDGET, read_on_budget, write_on_budget, NULL },
    [REQ_FETCH]  = { REQ_EV_UPSTREAM, read_on_fetch, write_on_fetch, NULL },
    [REQ_STORE]  = { REQ_EV_STORE, read_on_stored, NULL, NULL },
    [REQ_WRITE]  = { REQ_EV_STORE, NULL, write_on_written, NULL },
    [REQ_SETTLE] = { REQ_EV_STORE, NULL, write_on_settled, NULL },
    [REQ_PURGE]  = { REQ_EV_STORE, NULL, NULL, purge_on_reply },
};

static const char *const machine_state_names[REQ_STATE_COUNT] = {
    [REQ_RECV] = "recv",   [REQ_CLAIM] = "claim",   [REQ_LOOKUP] = "lookup",
    [REQ_LOCK] = "lock",   [REQ_WAIT] = "wait",     [REQ_BUDGET] = "budget",
    [REQ_FETCH] = "fetch", [REQ_STORE] = "store",   [REQ_WRITE] = "write",
    [REQ_SETTLE] = "settle", [REQ_PURGE] = "purge", [REQ_DONE] = "done",
};

/* The handler of STATE for KIND, or NULL. */
static machine_handler
machine_handler_of(enum req_kind kind, enum req_state state)
{
    switch (kind) {
    case REQ_KIND_READ:
        return machine_table[state].read;
    case REQ_KIND_WRITE:
        return machine_table[state].write;
    case REQ_KIND_PURGE:
        return machine_table[state].purge;
    case REQ_KIND_LOCAL:
        break;
    }
    return NULL;
}

bool
machine_accepts(enum req_kind kind, enum req_state state, enum req_event ev)
{
    if (ev == REQ_EV_ABORT) {
        return state != REQ_DONE;
    }
    if (state == REQ_RECV) {
        return ev == REQ_EV_START;
    }
    return machine_handler_of(kind, state) != NULL &&
           machine_table[state].ev == ev;
}

/* ---- RECV --------------------------------------------------------------- */

/* libevent's command type as a route method bit (route.c names it). */
static const struct {
    enum evhttp_cmd_type cmd;
    enum route_method    method;
} machine_methods[] = {
    { EVHTTP_REQ_GET, ROUTE_M_GET },         { EVHTTP_REQ_HEAD, ROUTE_M_HEAD },
    { EVHTTP_REQ_POST, ROUTE_M_POST },       { EVHTTP_REQ_PUT, ROUTE_M_PUT },
    { EVHTTP_REQ_DELETE, ROUTE_M_DELETE },
    { EVHTTP_REQ_OPTIONS, ROUTE_M_OPTIONS },
    { EVHTTP_REQ_PATCH, ROUTE_M_PATCH },
};

static enum route_method
machine_method(enum evhttp_cmd_type cmd)
{
    size_t i;

    for (i = 0; i < sizeof(machine_methods) / sizeof(machine_methods[0]);
         i++) {
        if (machine_methods[i].cmd == cmd) {
            return machine_methods[i].method;
        }
    }
    return ROUTE_M_OTHER;
}

/* What machine_token found. */
enum machine_token_result {
    MACHINE_TOKEN_OK,
    MACHINE_TOKEN_NONE,             /* 401 */
    MACHINE_TOKEN_CONFLICT,         /* two places disagree: 400 */
    MACHINE_TOKEN_HOP,              /* Connection names x-hs-token: 400 */
    MACHINE_TOKEN_KEYS              /* no keys derived (memory): 500 */
};

/* Agrees TOKEN (LEN bytes, may be NULL) with what *OUT holds so far.
 * Returns false when both hold a token and they differ. */
static bool
machine_token_agree(const char *token, size_t len, const char **out,
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
static enum machine_token_result
machine_token(struct req *r, const struct json_object *body)
{
    struct evkeyvalq        *in = evhttp_request_get_input_headers(r->client);
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(r->client);
    const char              *query = uri != NULL ? evhttp_uri_get_query(uri)
                                                 : NULL;
    const char              *tok = NULL, *v;
    size_t                   tlen = 0, qlen = 0, cap = 0;
    struct evkeyval         *h;
    char                    *qbuf = NULL;
    enum machine_token_result res = MACHINE_TOKEN_OK;
    enum key_param           kp = KEY_PARAM_ABSENT;

    TAILQ_FOREACH(h, in, next) {
        if (strcasecmp(h->key, "Connection") == 0 &&
            http_list_has(h->value, "x-hs-token")) {
            return MACHINE_TOKEN_HOP;
        }
        if (strcasecmp(h->key, "x-hs-token") == 0 &&
            !machine_token_agree(h->value, strlen(h->value), &tok, &tlen)) {
            return MACHINE_TOKEN_CONFLICT;
        }
    }
    if (query != NULL && query[0] != '\0') {
        cap = strlen(query) + 1;
        qbuf = malloc(cap);
        if (qbuf == NULL) {
            return MACHINE_TOKEN_NONE;
        }
        kp = key_query_value(query, "token", qbuf, cap, &qlen);
        if (kp == KEY_PARAM_CONFLICT ||
            (kp == KEY_PARAM_FOUND &&
             !machine_token_agree(qbuf, qlen, &tok, &tlen))) {
            res = MACHINE_TOKEN_CONFLICT;
        }
    }
    v = json_get_string(body, "token");
    if (res == MACHINE_TOKEN_OK && v != NULL &&
        !machine_token_agree(v, strlen(v), &tok, &tlen)) {
        res = MACHINE_TOKEN_CONFLICT;
    }
    if (res == MACHINE_TOKEN_OK && tok == NULL) {
        res = MACHINE_TOKEN_NONE;
    }
    if (res == MACHINE_TOKEN_OK) {
        key_tenant(tok, tlen, r->tenant);
        /* The tenant's keys, while the token is at hand: derived on the
         * worker's first request of the tenant, a lookup after (tkeys.h). */
        assert(r->keys == NULL);    /* one token per request */
        r->keys = tkeys_get(r->env->keys, r->tenant, tok, tlen);
        if (r->keys == NULL) {
            res = MACHINE_TOKEN_KEYS;
        }
    }
    if (qbuf != NULL) {
        memset(qbuf, 0, cap);
        free(qbuf);
    }
    return res;
}

/* The answers to each token result but OK. */
static const struct {
    int         status;
    const char *msg;
} machine_token_errors[] = {
    [MACHINE_TOKEN_NONE] = { 401, "token should not be empty" },
    [MACHINE_TOKEN_CONFLICT] = { 400, "token must be given once, or the "
                                      "same everywhere" },
    [MACHINE_TOKEN_HOP] = { 400, "x-hs-token must not be named in "
                                 "Connection" },
    [MACHINE_TOKEN_KEYS] = { 500, "internal server error" },
};

/* GET /metrics: the counters of the whole process (SPEC §10). */
static void
machine_metrics(struct req *r)
{
    size_t             cap = stats_render_max() + READY_METRICS_MAX;
    char              *buf = malloc(cap);
    int                n = buf != NULL ? stats_render(buf, cap) : -1, m = -1;
    struct ready_state st;

    if (n >= 0) {
        ready_snapshot(&st);
        m = ready_render_metrics(&st, buf + n, cap - (size_t)n);
        n = m < 0 ? -1 : n + m;
    }
    if (n < 0) {
        reply_error(r, 500, "metrics unavailable");
    } else {
        reply_text(r, 200, "text/plain; version=0.0.4; charset=utf-8", buf,
                   (size_t)n);
    }
    free(buf);
}

/* GET /readyz: Redis and upstream state, process-wide (ready.h). */
static void
machine_readyz(struct req *r)
{
    struct ready_state st;
    char               buf[READY_RENDER_MAX];
    size_t             len = 0;
    int                status;

    ready_snapshot(&st);
    status = ready_render(&st, req_now_ms(), buf, sizeof(buf), &len);
    if (status < 0) {
        reply_error(r, 500, "readiness unavailable");
        return;
    }
    reply_text(r, status, "application/json", buf, len);
}

/*
 * The checks of SPEC §8 evhttp does not make (http_fields_check). Answers
 * R and returns false when one fails; a request whose framing is in doubt
 * also closes its connection, so that nothing after it on the connection
 * is read as a request.
 */
static bool
machine_check_fields(struct req *r)
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
        reply_error_with(r, 400, r->reject, "Connection", "close");
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
        reply_error_with(r, v.status, v.msg, "Connection", "close");
    } else {
        reply_error(r, v.status, v.msg);
    }
    return false;
}

/* Routes R; answers what the proxy answers itself. Returns true when R
 * goes on to a path. */
static bool
machine_route(struct req *r)
{
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(r->client);
    enum route_result        rr;
    const char              *path;
    char                     allow[64], msg[160];

    path = uri != NULL ? evhttp_uri_get_path(uri) : NULL;
    if (path == NULL || path[0] == '\0') {
        reply_error(r, 400, "invalid request target");
        return false;
    }
    if (!http_path_ok(path)) {
        reply_error(r, 400, "request path must not hold dot-segments or "
                            "encoded slashes");
        return false;
    }
    rr = route_match(path, r->method, &r->route);
    if (rr == ROUTE_NOT_FOUND) {
        /* NestJS's wording, which the upstream uses for unknown routes. */
        snprintf(msg, sizeof(msg), "Cannot %s %.128s", r->method_name, path);
        reply_error(r, 404, msg);
        return false;
    }
    if (rr == ROUTE_BAD_METHOD) {
        route_allow_header(r->route.allowed, allow, sizeof(allow));
        reply_error_with(r, 405, "method not allowed", "Allow", allow);
        return false;
    }
    switch (r->route.id) {
    case ROUTE_HEALTHZ:
        reply_json(r, 200, "{\"status\":\"ok\"}");
        return false;
    case ROUTE_METRICS:
        machine_metrics(r);
        return false;
    case ROUTE_READYZ:
        machine_readyz(r);
        return false;
    default:
        break;
    }
    assert(r->route.upstream_api);
    return true;
}

static enum req_state
machine_on_recv(struct req *r)
{
    struct evbuffer          *in = evhttp_request_get_input_buffer(r->client);
    struct json_object       *body = NULL;
    enum machine_token_result tr;
    enum req_state            next;
    char                      perr[160];
    size_t                    blen = evbuffer_get_length(in);

    if (!machine_check_fields(r) || !machine_route(r)) {
        return REQ_DONE;
    }
    if (blen > (size_t)r->env->cf->max_body) {
        reply_error(r, 413, "request body too large");
        return REQ_DONE;
    }
    if (blen > 0) {
        body = json_parse_strict((const char *)evbuffer_pullup(in, -1), blen,
                                 perr, sizeof(perr));
    } else {
        snprintf(perr, sizeof(perr), "body must be a JSON object");
    }
    tr = machine_token(r, body);
    if (tr != MACHINE_TOKEN_OK) {
        json_object_put(body);
        reply_error(r, machine_token_errors[tr].status,
                    machine_token_errors[tr].msg);
        return REQ_DONE;
    }
    if (r->method == ROUTE_M_PURGE) {
        r->kind = REQ_KIND_PURGE;   /* the proxy's own: never upstream */
        next = purge_recv(r);
    } else if (r->route.id == ROUTE_UPDATE) {
        r->kind = REQ_KIND_WRITE;
        next = write_recv(r, body, perr);
    } else {
        r->kind = REQ_KIND_READ;
        next = read_recv(r);
    }
    json_object_put(body);
    return next;
}

/* ---- the machine -------------------------------------------------------- */

/* Shutdown: drop whatever R waits for and answer now. */
static enum req_state
machine_abort(struct req *r)
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
    if (r->kind == REQ_KIND_READ) {
        read_abort(r);              /* its waiters first, or out of one */
    }
    /* A claim left behind expires with its lease, like a killed proxy's. */
    if (r->state == REQ_STORE || r->state == REQ_WRITE ||
        r->state == REQ_SETTLE) {
        reply_held(r);              /* the answer is here: give it */
    } else {
        reply_error(r, 503, "shutting down");
    }
    return REQ_DONE;
}

/* The door: the one place a request's state changes. */
static void
machine_step(struct req *r, enum req_event ev, const void *data)
{
    enum req_state next = REQ_DONE;

    assert(machine_accepts(r->kind, r->state, ev));
    switch (ev) {
    case REQ_EV_ABORT:
        next = machine_abort(r);
        break;
    case REQ_EV_START:
        next = machine_on_recv(r);
        break;
    case REQ_EV_STORE:
        r->op = NULL;               /* store.c frees it after this */
        next = machine_handler_of(r->kind, r->state)(r, data);
        break;
    case REQ_EV_UPSTREAM:
        r->call = NULL;             /* upstream.c frees it after this */
        next = machine_handler_of(r->kind, r->state)(r, data);
        break;
    case REQ_EV_BUDGET:
        r->bop = NULL;              /* the budget is done with it */
        next = machine_handler_of(r->kind, r->state)(r, data);
        break;
    case REQ_EV_WAKE:
        next = machine_handler_of(r->kind, r->state)(r, data);
        break;
    }
    log_debug("proxy: request %s: %s -> %s", r->request_id,
              machine_state_names[r->state], machine_state_names[next]);
    r->state = next;
    if (next == REQ_DONE) {
        assert(r->client == NULL);
        if (r->kind == REQ_KIND_READ) {
            read_finish(r);
        }
        req_free(r);
    }
}

static pthread_once_t machine_once = PTHREAD_ONCE_INIT;

static void
machine_open_door(void)
{
    req_door_set(machine_step);
}

void
machine_start(const struct req_env *env, struct req_set *set,
              struct evhttp_request *client, const char *reject,
              enum route_method sent)
{
    struct req *r;
    const char *id;

    (void)pthread_once(&machine_once, machine_open_door);
    r = req_new(env, set, client);
    if (r == NULL) {
        log_err("proxy: out of memory");
        evhttp_send_error(client, 503, "Service Unavailable");
        return;
    }
    r->reject = reject;
    r->method = sent != 0 ? sent
                          : machine_method(evhttp_request_get_command(client));
    r->method_name = route_method_name(r->method);
    id = evhttp_find_header(evhttp_request_get_input_headers(client),
                            "X-Request-Id");
    if (id != NULL && http_request_id_valid(id)) {
        snprintf(r->request_id, sizeof(r->request_id), "%s", id);
    } else if (http_request_id_new(r->request_id, sizeof(r->request_id)) !=
               0) {
        snprintf(r->request_id, sizeof(r->request_id), "%" PRId64,
                 req_now_ms());
    }
    machine_step(r, REQ_EV_START, NULL);
}

void
machine_abort_all(struct req_set *set)
{
    struct req *r;

    while ((r = TAILQ_FIRST(&set->list)) != NULL) {
        machine_step(r, REQ_EV_ABORT, NULL);
    }
}
