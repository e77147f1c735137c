/*
 * api.c - the S2S pipeline of api.h: route, count, read, authenticate,
 * rate-limit, fault or hold, answer. Owns one struct api_call per routed
 * request, freed once its request is answered (inline, from its delay
 * timer, or by api_drain()); the request itself stays evhttp's.
 */
#include "config.h"

#include "sandbox/api.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <json-c/json.h>

#include "http.h"
#include "json.h"
#include "log.h"
#include "phone.h"
#include "sandbox/capture.h"
#include "sandbox/data.h"
#include "sandbox/endpoint.h"
#include "sandbox/faults.h"
#include "sandbox/params.h"
#include "sandbox/wire.h"
#include "sandbox/tally.h"

#define API_MSG_LEN      256

struct api_call {
    TAILQ_ENTRY(api_call) next;     /* in api->held while the timer runs */
    struct api            *api;     /* borrowed */
    struct evhttp_request *req;     /* owned by evhttp; answered once */
    struct event          *timer;   /* owned; NULL when run inline */
    enum endpoint          route;
    const char            *method;  /* static */
    char                  *token;   /* owned */
    char                  *crm_id;  /* owned: ENDPOINT_QUERY_CRM only */
    struct evkeyvalq       query;   /* owned: decoded parameters */
    struct json_object    *body;    /* owned: ENDPOINT_UPDATE only */
    struct faults_plan     plan;
    bool                   snapped; /* a read answered at arrival, held */
    int                    snap_status;
    struct json_object    *snap;    /* owned: the held answer, or NULL */
    struct data_errors     snap_errs; /* the held errors when SNAP is NULL */
    int                    answer;  /* X-Sandbox-Answer: a 2xx to give
                                       for a success instead of 200 */
    char                  *cache_control; /* owned: X-Sandbox-Cache-Control
                                       for a success, or NULL */
};

TAILQ_HEAD(api_calls, api_call);

struct api {
    struct event_base  *base;       /* borrowed */
    struct wire        *wire;       /* borrowed: how answers go out */
    struct data        *data;       /* borrowed */
    struct faults      *faults;     /* borrowed */
    struct tally       *tally;      /* borrowed: what stats show */
    bool                access_log;
    struct api_calls    held;       /* waiting on a delay timer */
};

static void on_call_timer(evutil_socket_t fd, short what, void *arg);

/* ---- helpers ---- */

static void
api_send_errors(struct api *api, struct evhttp_request *req,
                const struct data_errors *errs, enum faults_misbehave mis)
{
    const char *msgs[DATA_ERRORS_MAX];
    size_t      i;

    for (i = 0; i < errs->count; i++) {
        msgs[i] = errs->msg[i];
    }
    wire_error(api->wire, req, errs->status, msgs, errs->count, mis);
}

static int64_t
api_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
api_access_log(struct api *api, const char *method, const char *route,
               int status, const char *tenant, const char *phone,
               int64_t delay_ms, const char *note)
{
    char masked[PHONE_MASK_MAX];

    if (!api->access_log) {
        return;
    }
    if (phone == NULL) {
        snprintf(masked, sizeof(masked), "-");
    } else {
        phone_mask(phone, masked, sizeof(masked));
    }
    log_info("api: %s %s %d tenant=%s phone=%s delay=%lldms%s%s", method,
             route, status, tenant == NULL ? "-" : tenant, masked,
             (long long)delay_ms, note[0] != '\0' ? " " : "", note);
}

/* ---- calls ---- */

static void
api_call_free(struct api_call *call)
{
    if (call == NULL) {
        return;
    }
    if (call->timer != NULL) {
        event_free(call->timer);
    }
    evhttp_clear_headers(&call->query);
    free(call->cache_control);
    json_object_put(call->body);
    json_object_put(call->snap);
    free(call->token);
    free(call->crm_id);
    free(call);
}

/*
 * Computes the real answer of CALL into *OBJ (200) or ERRS. Returns the
 * status.
 */
static int
api_call_compute(struct api_call *call, struct json_object **obj,
                 struct data_errors *errs)
{
    struct data_tenant *t = data_tenant_find(call->api->data, call->token);

    *obj = NULL;
    if (t == NULL) {                /* tokens never vanish; be safe */
        errs->status = 401;
        errs->count = 1;
        snprintf(errs->msg[0], sizeof(errs->msg[0]), "Invalid token");
        return 401;
    }
    return endpoint_answer(call->route, t, call->crm_id, &call->query,
                           call->body, (int64_t)time(NULL), obj, errs);
}

/*
 * Answers CALL's success OBJ (STATUS 200), the way X-Sandbox-Answer and
 * X-Sandbox-Cache-Control ask: a queueing API answers 202
 * {"status":"queued"} or 204 to an update it will apply later, and a CDN
 * or framework in front may mark answers no-store or private. Both are
 * what a proxy must not take for the lead (SPEC §11).
 */
static void
api_send_success(struct api_call *call, int status, struct json_object *obj,
                 enum faults_misbehave mis)
{
    static const char queued[] = "{\"status\":\"queued\"}";

    if (call->cache_control != NULL) {
        evhttp_add_header(evhttp_request_get_output_headers(call->req),
                          "Cache-Control", call->cache_control);
    }
    if (call->answer == 0 || call->answer == 200) {
        wire_json(call->api->wire, call->req, status, obj, mis);
    } else if (call->answer == 204) {
        wire_bytes(call->api->wire, call->req, 204, "", 0, mis);
    } else {
        wire_bytes(call->api->wire, call->req, call->answer, queued,
                   sizeof(queued) - 1, mis);
    }
}

/* Carries out CALL's plan and answers (or drops) its request. */
static void
api_call_run(struct api_call *call)
{
    struct api           *api = call->api;
    struct data_tenant   *t = data_tenant_find(api->data, call->token);
    struct json_object   *obj = NULL;
    struct data_errors    errs;
    enum faults_misbehave mis = call->plan.misbehave;
    const char           *phone, *note = "";
    char                  notes[64];
    int                   status = 0;

    phone = call->route == ENDPOINT_UPDATE
                ? json_get_string(call->body, "phone")
                : params_get(&call->query, "phone");
    switch (call->plan.action) {
    case FAULTS_DROP:
        wire_drop(call->req);
        note = "fault=drop";
        break;
    case FAULTS_FAIL:
        status = call->plan.status;
        if (status == 429) {
            wire_throttled(api->wire, call->req, 60, mis);
        } else {
            wire_message(api->wire, call->req, status,
                         status == 500 ? "Internal server error"
                                       : http_reason(status), mis);
        }
        note = "fault=fail";
        break;
    case FAULTS_NONE:
    case FAULTS_DROP_AFTER:
        if (call->snapped) {
            status = call->snap_status;
            obj = call->snap;
            call->snap = NULL;
            errs = call->snap_errs;
        } else {
            status = api_call_compute(call, &obj, &errs);
        }
        if (call->plan.action == FAULTS_DROP_AFTER) {
            wire_drop(call->req);
            note = "fault=drop-after";
        } else if (obj != NULL) {
            api_send_success(call, status, obj, mis);
        } else {
            api_send_errors(api, call->req, &errs, mis);
        }
        json_object_put(obj);
        break;
    }
    call->req = NULL;
    if (mis != FAULTS_MISBEHAVE_NONE && call->plan.action != FAULTS_DROP &&
        call->plan.action != FAULTS_DROP_AFTER) {
        snprintf(notes, sizeof(notes), "%s%smisbehave=%s", note,
                 note[0] != '\0' ? " " : "", faults_misbehave_name(mis));
        note = notes;
    }
    api_access_log(api, call->method, endpoint_name(call->route), status,
                   t == NULL ? NULL : data_tenant_name(t), phone,
                   call->plan.delay_ms, note);
}

/*
 * Reads the body of REQ into CALL. Answers 400 and returns -1; when out
 * of memory (an empty message) it returns -1 without an answer.
 */
static int
api_call_body(struct api_call *call, struct evhttp_request *req,
              const char *body, size_t len)
{
    const char *ct;
    char        err[API_MSG_LEN];

    ct = evhttp_find_header(evhttp_request_get_input_headers(req),
                            "Content-Type");
    if (params_body(ct, body, len, &call->body, err, sizeof(err)) == 0) {
        return 0;
    }
    if (err[0] != '\0') {
        wire_message(call->api->wire, req, 400, err, FAULTS_MISBEHAVE_NONE);
    }
    return -1;
}

/*
 * Steps 3-7 of the pipeline in api.h for a routed request. Returns the
 * status answered here (0 when CALL was handed on), for the access log.
 */
static int
api_call_start(struct api *api, struct api_call *call,
               struct evhttp_request *req, const char *body, size_t len)
{
    struct evkeyvalq *in = evhttp_request_get_input_headers(req);
    const char       *tok, *query;
    char              err[API_MSG_LEN];
    int64_t           retry;
    struct timeval    tv;

    query = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(req));
    params_parse_query(query, &call->query);
    /* A GET's body is read too, as Express's JSON body parser reads
     * any request's: its token counts (SPEC §3). */
    if ((call->route == ENDPOINT_UPDATE || len > 0) &&
        api_call_body(call, req, body, len) != 0) {
        return 400;
    }
    tok = params_token(evhttp_find_header(in, "x-hs-token"), &call->query,
                       call->body);
    if (tok == NULL || data_tenant_find(api->data, tok) == NULL) {
        wire_message(api->wire, req, 401,
                     tok == NULL ? "token should not be empty"
                                 : "Invalid token",
                     FAULTS_MISBEHAVE_NONE);
        return 401;
    }
    call->token = strdup(tok);
    if (call->token == NULL) {
        wire_message(api->wire, req, 500, "out of memory",
                     FAULTS_MISBEHAVE_NONE);
        return 500;
    }
    if (faults_parse(evhttp_find_header(in, "X-Sandbox-Delay-Ms"),
                     evhttp_find_header(in, "X-Sandbox-Fail"), &call->plan,
                     err, sizeof(err)) != 0 ||
        faults_parse_misbehave(evhttp_find_header(in, "X-Sandbox-Misbehave"),
                               &call->plan, err, sizeof(err)) != 0) {
        wire_message(api->wire, req, 400, err, FAULTS_MISBEHAVE_NONE);
        return 400;
    }
    if (params_answer(evhttp_find_header(in, "X-Sandbox-Answer"),
                      evhttp_find_header(in, "X-Sandbox-Cache-Control"),
                      &call->answer, &call->cache_control, err,
                      sizeof(err)) != 0) {
        wire_message(api->wire, req, 400, err, FAULTS_MISBEHAVE_NONE);
        return 400;
    }
    if (!faults_rate_take(api->faults, call->token, api_now_ms(), &retry)) {
        struct faults_config cf;

        faults_get_config(api->faults, &cf);
        tally_throttled(api->tally);
        wire_throttled(api->wire, req, retry, call->plan.misbehave_forced
                                            ? call->plan.misbehave
                                            : cf.misbehave);
        return 429;
    }
    faults_draw(api->faults, &call->plan);
    if (call->plan.action != FAULTS_NONE) {
        tally_faulted(api->tally);
    }
    call->req = req;
    if (call->plan.delay_ms == 0 && (call->plan.action == FAULTS_NONE ||
                                     call->plan.action == FAULTS_FAIL)) {
        api_call_run(call);
        api_call_free(call);
        return 0;
    }
    /* A held read answers with the data as it was when it arrived, the
     * way a real API reads then takes its time to reply: a write that
     * lands meanwhile does not show in it. A held PATCH applies when its
     * timer fires. */
    if (call->route != ENDPOINT_UPDATE &&
        (call->plan.action == FAULTS_NONE ||
         call->plan.action == FAULTS_DROP_AFTER)) {
        struct json_object *live = NULL;

        call->snap_status = api_call_compute(call, &live, &call->snap_errs);
        /* data.c lends the live lead: hold a copy, not the lead itself. */
        if (live != NULL &&
            json_object_deep_copy(live, &call->snap, NULL) != 0) {
            call->snap = NULL;
            call->snap_status = 500;
            call->snap_errs.status = 500;
            call->snap_errs.count = 1;
            snprintf(call->snap_errs.msg[0], sizeof(call->snap_errs.msg[0]),
                     "out of memory");
        }
        json_object_put(live);
        call->snapped = true;
    }
    /* Delays and drops go through the loop: drops must not free the
     * connection from inside evhttp's callback. */
    call->timer = evtimer_new(api->base, on_call_timer, call);
    if (call->timer == NULL) {
        call->req = NULL;
        wire_message(api->wire, req, 500, "out of memory",
                     FAULTS_MISBEHAVE_NONE);
        return 500;
    }
    tv.tv_sec = (time_t)(call->plan.delay_ms / 1000);
    tv.tv_usec = (suseconds_t)(call->plan.delay_ms % 1000) * 1000;
    evtimer_add(call->timer, &tv);
    TAILQ_INSERT_TAIL(&api->held, call, next);
    tally_hold(api->tally);
    return 0;
}

/* ---- public ---- */

struct api *
api_new(struct event_base *base, struct data *data, struct faults *faults,
        struct wire *wire, struct tally *tally, bool access_log)
{
    struct api *api = calloc(1, sizeof(*api));

    if (api == NULL) {
        return NULL;
    }
    api->base = base;
    api->wire = wire;
    api->data = data;
    api->faults = faults;
    api->tally = tally;
    api->access_log = access_log;
    TAILQ_INIT(&api->held);
    return api;
}

void
api_drain(struct api *api)
{
    struct api_call *call;

    while ((call = TAILQ_FIRST(&api->held)) != NULL) {
        TAILQ_REMOVE(&api->held, call, next);
        tally_release(api->tally);
        if (call->plan.action != FAULTS_DROP &&
            call->plan.action != FAULTS_DROP_AFTER) {
            call->plan.action = FAULTS_FAIL;
            call->plan.status = 503;
        } else {
            call->plan.action = FAULTS_DROP;    /* nothing is applied */
        }
        api_call_run(call);
        api_call_free(call);
    }
}

void
api_free(struct api *api)
{
    if (api == NULL) {
        return;
    }
    api_drain(api);
    free(api);
}

void
api_handle(struct api *api, struct evhttp_request *req,
           enum evhttp_cmd_type cmd, const char *method, const char *path,
           const char *raw)
{
    struct evbuffer    *in = evhttp_request_get_input_buffer(req);
    const char         *crm = NULL, *allow;
    size_t              blen;
    unsigned char      *body;
    enum endpoint       route;
    struct api_call    *call;
    struct json_object *last;
    int                 status;

    blen = evbuffer_get_length(in);
    body = blen > API_BODY_LIMIT ? NULL : evbuffer_pullup(in, -1);
    last = capture_request(req, method, body, body == NULL ? 0 : blen, blen);
    if (last != NULL) {
        tally_set_last(api->tally, last);
    }
    if (body == NULL && blen > 0) {
        wire_message(api->wire, req, 413, "request entity too large",
                     FAULTS_MISBEHAVE_NONE);
        api_access_log(api, method, "-", 413, NULL, NULL, 0, "");
        return;
    }

    route = endpoint_match(path, &crm);
    if (route == ENDPOINT_NONE) {
        wire_no_route(api->wire, req, 404, method, raw);
        api_access_log(api, method, "-", 404, NULL, NULL, 0, "");
        return;
    }
    allow = route == ENDPOINT_UPDATE ? "PATCH" : "GET, HEAD";
    if ((route == ENDPOINT_UPDATE && cmd != EVHTTP_REQ_PATCH) ||
        (route != ENDPOINT_UPDATE && cmd != EVHTTP_REQ_GET &&
         cmd != EVHTTP_REQ_HEAD)) {
        evhttp_add_header(evhttp_request_get_output_headers(req), "Allow",
                          allow);
        wire_no_route(api->wire, req, 405, method, raw);
        api_access_log(api, method, endpoint_name(route), 405, NULL, NULL,
                       0, "");
        return;
    }
    tally_request(api->tally, route);

    call = calloc(1, sizeof(*call));
    if (call == NULL || (crm != NULL && (call->crm_id = strdup(crm)) == NULL)) {
        free(call);
        wire_message(api->wire, req, 500, "out of memory",
                     FAULTS_MISBEHAVE_NONE);
        return;
    }
    call->api = api;
    call->route = route;
    call->method = method;
    TAILQ_INIT(&call->query);
    status = api_call_start(api, call, req, (const char *)body, blen);
    if (status != 0) {
        api_access_log(api, method, endpoint_name(route), status, NULL,
                       NULL, 0, "");
        api_call_free(call);
    }
}

/* ---- callbacks ---- */

static void
on_call_timer(evutil_socket_t fd, short what, void *arg)
{
    struct api_call *call = arg;
    struct api      *api = call->api;

    TAILQ_REMOVE(&api->held, call, next);
    tally_release(api->tally);
    api_call_run(call);
    api_call_free(call);
}
