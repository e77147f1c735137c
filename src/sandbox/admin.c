/*
 * admin.c - /__sandbox/ control routes: stats, reset, config, last, lead.
 * Acts only on what struct admin_ctx lends it (data, faults, the wire's
 * habits, the tally), never on the S2S pipeline, and owns nothing past
 * the request it answers.
 */
#include "config.h"

#include "sandbox/admin.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <json-c/json.h>

#include "json.h"
#include "log.h"
#include "sandbox/data.h"
#include "sandbox/faults.h"
#include "sandbox/wire.h"
#include "sandbox/tally.h"

#define ADMIN_MSG_LEN  256
#define ADMIN_MSGS_MAX 8

typedef void (*admin_handler_cb)(const struct admin_ctx *ctx,
                                 struct evhttp_request *req);

static void admin_stats(const struct admin_ctx *ctx,
                        struct evhttp_request *req);
static void admin_reset(const struct admin_ctx *ctx,
                        struct evhttp_request *req);
static void admin_config_get(const struct admin_ctx *ctx,
                             struct evhttp_request *req);
static void admin_config_set(const struct admin_ctx *ctx,
                             struct evhttp_request *req);
static void admin_last(const struct admin_ctx *ctx,
                       struct evhttp_request *req);
static void admin_lead(const struct admin_ctx *ctx,
                       struct evhttp_request *req);

static const struct admin_route {
    const char          *name;      /* after ADMIN_PREFIX */
    enum evhttp_cmd_type method;    /* GET routes also take HEAD */
    admin_handler_cb     handler;
} admin_routes[] = {
    { "stats",  EVHTTP_REQ_GET,  admin_stats },
    { "reset",  EVHTTP_REQ_POST, admin_reset },
    { "config", EVHTTP_REQ_GET,  admin_config_get },
    { "config", EVHTTP_REQ_POST, admin_config_set },
    { "last",   EVHTTP_REQ_GET,  admin_last },
    { "lead",   EVHTTP_REQ_GET,  admin_lead },
};

enum admin_type {
    ADMIN_INTEGER,
    ADMIN_NUMBER,
    ADMIN_BOOL,
    ADMIN_KIND                      /* a faults_misbehave_name() */
};

/* The config keys POST /__sandbox/config takes, and their JSON types. */
static const struct admin_key {
    const char     *name;
    enum admin_type type;
} admin_keys[] = {
    { "latency_ms", ADMIN_INTEGER }, { "jitter_ms", ADMIN_INTEGER },
    { "fail_rate", ADMIN_NUMBER },   { "drop_rate", ADMIN_NUMBER },
    { "rate_limit", ADMIN_INTEGER }, { "misbehave", ADMIN_KIND },
    { "gzip", ADMIN_BOOL },          { "chunked", ADMIN_BOOL },
    { "early_hints", ADMIN_BOOL },   { "gzip_min", ADMIN_INTEGER },
};

static const char *const admin_type_names[] = {
    "an integer", "a number", "a boolean", "a misbehave kind (or none)",
};

static void
admin_send_message(const struct admin_ctx *ctx, struct evhttp_request *req,
                   int status, const char *msg)
{
    wire_error(ctx->wire, req, status, &msg, 1, FAULTS_MISBEHAVE_NONE);
}

/* Sends OBJ (a new reference, put here) or 500 when it is NULL. */
static void
admin_send_owned(const struct admin_ctx *ctx, struct evhttp_request *req,
                 struct json_object *obj)
{
    if (obj == NULL) {
        admin_send_message(ctx, req, 500, "out of memory");
        return;
    }
    wire_json(ctx->wire, req, 200, obj, FAULTS_MISBEHAVE_NONE);
    json_object_put(obj);
}

/* A double that prints as typed ("0.2", not "0.20000000000000001"). */
static struct json_object *
admin_rate_json(double d)
{
    char buf[32];

    snprintf(buf, sizeof(buf), "%.15g", d);
    return json_object_new_double_s(d, buf);
}

static struct json_object *
admin_config_json(const struct admin_ctx *ctx)
{
    struct json_object  *res = json_object_new_object();
    struct faults_config cf;
    struct wire_habits   h;

    if (res == NULL) {
        return NULL;
    }
    faults_get_config(ctx->faults, &cf);
    wire_get_habits(ctx->wire, &h);
    json_object_object_add(res, "latency_ms",
                           json_object_new_int64(cf.latency_ms));
    json_object_object_add(res, "jitter_ms",
                           json_object_new_int64(cf.jitter_ms));
    json_object_object_add(res, "fail_rate", admin_rate_json(cf.fail_rate));
    json_object_object_add(res, "drop_rate", admin_rate_json(cf.drop_rate));
    json_object_object_add(res, "rate_limit",
                           json_object_new_int64(cf.rate_limit));
    json_object_object_add(res, "misbehave",
                           json_object_new_string(
                               faults_misbehave_name(cf.misbehave)));
    json_object_object_add(res, "gzip", json_object_new_boolean(h.gzip));
    json_object_object_add(res, "chunked",
                           json_object_new_boolean(h.chunked));
    json_object_object_add(res, "gzip_min",
                           json_object_new_int(h.gzip_min));
    json_object_object_add(res, "early_hints",
                           json_object_new_boolean(h.early_hints));
    return res;
}

static void
admin_stats(const struct admin_ctx *ctx, struct evhttp_request *req)
{
    admin_send_owned(ctx, req, tally_stats(ctx->tally));
}

static void
admin_reset(const struct admin_ctx *ctx, struct evhttp_request *req)
{
    char err[ADMIN_MSG_LEN];

    /* The seed first: when it cannot be rebuilt, nothing is reset. */
    if (data_reset(ctx->data, (int64_t)time(NULL), err, sizeof(err)) != 0) {
        admin_send_message(ctx, req, 500, err);
        return;
    }
    tally_reset(ctx->tally);
    faults_reset(ctx->faults);
    log_info("admin: reset to the seed");
    admin_send_owned(ctx, req, tally_stats(ctx->tally));
}

static void
admin_config_get(const struct admin_ctx *ctx, struct evhttp_request *req)
{
    admin_send_owned(ctx, req, admin_config_json(ctx));
}

/*
 * Reads one key of the config body into CF or H, or adds a message to
 * MSGS. Typed: json-c never coerces "5" into 5, nor 1 into true, here.
 */
static void
admin_config_key(struct json_object *v, const struct admin_key *k,
                 struct faults_config *cf, struct wire_habits *h,
                 char msgs[][ADMIN_MSG_LEN], size_t *n)
{
    enum faults_misbehave kind = FAULTS_MISBEHAVE_NONE;
    int64_t               i = 0;
    double                d = 0.0;
    bool                  b = false, ok;

    switch (k->type) {
    case ADMIN_INTEGER:
        ok = json_object_is_type(v, json_type_int);
        break;
    case ADMIN_NUMBER:
        ok = json_object_is_type(v, json_type_int) ||
             json_object_is_type(v, json_type_double);
        break;
    case ADMIN_BOOL:
        ok = json_object_is_type(v, json_type_boolean);
        break;
    case ADMIN_KIND:
    default:
        ok = json_object_is_type(v, json_type_string) &&
             faults_misbehave_find(json_object_get_string(v), &kind) == 0;
        break;
    }
    if (!ok) {
        if (*n < ADMIN_MSGS_MAX) {
            snprintf(msgs[(*n)++], ADMIN_MSG_LEN, "%s must be %s", k->name,
                     admin_type_names[k->type]);
        }
        return;
    }
    if (json_object_is_type(v, json_type_int)) {
        i = json_object_get_int64(v);
        d = (double)i;
    } else if (json_object_is_type(v, json_type_double)) {
        d = json_object_get_double(v);
    } else if (json_object_is_type(v, json_type_boolean)) {
        b = json_object_get_boolean(v);
    }
    if (strcmp(k->name, "latency_ms") == 0) {
        cf->latency_ms = i;
    } else if (strcmp(k->name, "jitter_ms") == 0) {
        cf->jitter_ms = i;
    } else if (strcmp(k->name, "fail_rate") == 0) {
        cf->fail_rate = d;
    } else if (strcmp(k->name, "drop_rate") == 0) {
        cf->drop_rate = d;
    } else if (strcmp(k->name, "rate_limit") == 0) {
        cf->rate_limit = i;
    } else if (strcmp(k->name, "misbehave") == 0) {
        cf->misbehave = kind;
    } else if (strcmp(k->name, "gzip") == 0) {
        h->gzip = b;
    } else if (strcmp(k->name, "chunked") == 0) {
        h->chunked = b;
    } else if (strcmp(k->name, "gzip_min") == 0) {
        h->gzip_min = (int)(i < 0 ? 0 : i > INT32_MAX ? INT32_MAX : i);
    } else {
        h->early_hints = b;
    }
}

static void
admin_config_set(const struct admin_ctx *ctx, struct evhttp_request *req)
{
    struct evbuffer            *in = evhttp_request_get_input_buffer(req);
    struct json_object         *body;
    struct json_object_iterator it, end;
    struct faults_config        cf;
    struct wire_habits          h;
    char                        msgs[ADMIN_MSGS_MAX][ADMIN_MSG_LEN];
    const char                 *ptrs[ADMIN_MSGS_MAX];
    size_t                      n = 0, i, len = evbuffer_get_length(in);

    if (len == 0) {
        admin_send_message(ctx, req, 400, "body must be a JSON object");
        return;
    }
    body = json_parse_strict((const char *)evbuffer_pullup(in, -1), len,
                             msgs[0], sizeof(msgs[0]));
    if (body == NULL) {
        admin_send_message(ctx, req, 400, msgs[0]);
        return;
    }
    if (!json_object_is_type(body, json_type_object)) {
        json_object_put(body);
        admin_send_message(ctx, req, 400, "body must be a JSON object");
        return;
    }
    faults_get_config(ctx->faults, &cf);
    wire_get_habits(ctx->wire, &h);
    it = json_object_iter_begin(body);
    end = json_object_iter_end(body);
    for (; !json_object_iter_equal(&it, &end); json_object_iter_next(&it)) {
        const char *name = json_object_iter_peek_name(&it);

        for (i = 0; i < sizeof(admin_keys) / sizeof(admin_keys[0]) &&
                    strcmp(admin_keys[i].name, name) != 0;
             i++) {
        }
        if (i == sizeof(admin_keys) / sizeof(admin_keys[0])) {
            if (n < ADMIN_MSGS_MAX) {
                snprintf(msgs[n++], ADMIN_MSG_LEN,
                         "property %s should not exist", name);
            }
            continue;
        }
        admin_config_key(json_object_iter_peek_value(&it), &admin_keys[i],
                         &cf, &h, msgs, &n);
    }
    json_object_put(body);
    if (n == 0 && faults_set_config(ctx->faults, &cf, msgs[0],
                                    sizeof(msgs[0])) != 0) {
        n = 1;
    }
    if (n > 0) {
        for (i = 0; i < n; i++) {
            ptrs[i] = msgs[i];
        }
        wire_error(ctx->wire, req, 400, ptrs, n, FAULTS_MISBEHAVE_NONE);
        return;
    }
    wire_set_habits(ctx->wire, &h);
    log_info("admin: config latency=%lldms jitter=%lldms fail=%g drop=%g "
             "rate_limit=%lld/min misbehave=%s gzip=%s chunked=%s "
             "early_hints=%s",
             (long long)cf.latency_ms, (long long)cf.jitter_ms, cf.fail_rate,
             cf.drop_rate, (long long)cf.rate_limit,
             faults_misbehave_name(cf.misbehave), h.gzip ? "on" : "off",
             h.chunked ? "on" : "off", h.early_hints ? "on" : "off");
    admin_send_owned(ctx, req, admin_config_json(ctx));
}

static void
admin_last(const struct admin_ctx *ctx, struct evhttp_request *req)
{
    struct json_object *last = tally_last(ctx->tally);

    if (last == NULL) {
        admin_send_message(ctx, req, 404, "no request recorded yet");
        return;
    }
    admin_send_owned(ctx, req, last);
}

static void
admin_lead(const struct admin_ctx *ctx, struct evhttp_request *req)
{
    struct evkeyvalq    params;
    struct data_tenant *t;
    struct data_errors  errs;
    struct json_object *obj;
    const char         *query, *token, *msgs[DATA_ERRORS_MAX];
    size_t              i;

    TAILQ_INIT(&params);
    query = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(req));
    if (query != NULL && evhttp_parse_query_str(query, &params) != 0) {
        admin_send_message(ctx, req, 400, "malformed query string");
        return;
    }
    token = evhttp_find_header(&params, "token");
    t = token == NULL ? NULL : data_tenant_find(ctx->data, token);
    if (t == NULL) {
        evhttp_clear_headers(&params);
        admin_send_message(ctx, req, 404, "no tenant with that token");
        return;
    }
    obj = data_inspect(t, evhttp_find_header(&params, "phone"), &errs);
    evhttp_clear_headers(&params);
    if (obj == NULL) {
        for (i = 0; i < errs.count; i++) {
            msgs[i] = errs.msg[i];
        }
        wire_error(ctx->wire, req, errs.count > 0 ? errs.status : 500,
                   msgs, errs.count, FAULTS_MISBEHAVE_NONE);
        return;
    }
    admin_send_owned(ctx, req, obj);
}

void
admin_handle(const struct admin_ctx *ctx, struct evhttp_request *req,
             const char *method, const char *path)
{
    enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
    const char          *name = path + strlen(ADMIN_PREFIX);
    bool                 known = false;
    size_t               i;

    if (cmd == EVHTTP_REQ_HEAD || cmd == EVHTTP_REQ_PUT) {
        /* evhttp sends no body for HEAD; a PUT is a GET read with its
         * body (main.c) */
        cmd = EVHTTP_REQ_GET;
    }
    for (i = 0; i < sizeof(admin_routes) / sizeof(admin_routes[0]); i++) {
        if (strcmp(admin_routes[i].name, name) != 0) {
            continue;
        }
        known = true;
        if (admin_routes[i].method == cmd) {
            admin_routes[i].handler(ctx, req);
            return;
        }
    }
    if (known) {
        evhttp_add_header(evhttp_request_get_output_headers(req), "Allow",
                          strcmp(name, "config") == 0 ? "GET, HEAD, POST"
                          : strcmp(name, "reset") == 0 ? "POST"
                                                       : "GET, HEAD");
        wire_no_route(ctx->wire, req, 405, method, path);
        return;
    }
    wire_no_route(ctx->wire, req, 404, method, path);
}
