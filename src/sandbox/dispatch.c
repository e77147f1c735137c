/*
 * dispatch.c - the front door: names, decodes and routes every request
 * to admin.c or api.c. Owns only its small routing record; the request
 * is evhttp's, and the handler it goes to answers it.
 */
#include "config.h"

#include "sandbox/dispatch.h"

#include <stdlib.h>
#include <string.h>

#include <event2/http.h>

#include "sandbox/api.h"
#include "sandbox/faults.h"
#include "sandbox/wire.h"

struct dispatch {
    struct api       *api;          /* borrowed */
    struct admin_ctx  admin;        /* copied; its pointers borrowed */
    struct wire      *wire;         /* borrowed */
};

static void on_http_request(struct evhttp_request *req, void *arg);

static const struct {
    enum evhttp_cmd_type cmd;
    const char          *name;
} dispatch_methods[] = {
    { EVHTTP_REQ_GET, "GET" },         { EVHTTP_REQ_POST, "POST" },
    { EVHTTP_REQ_HEAD, "HEAD" },       { EVHTTP_REQ_PUT, "PUT" },
    { EVHTTP_REQ_DELETE, "DELETE" },   { EVHTTP_REQ_OPTIONS, "OPTIONS" },
    { EVHTTP_REQ_TRACE, "TRACE" },     { EVHTTP_REQ_CONNECT, "CONNECT" },
    { EVHTTP_REQ_PATCH, "PATCH" },
};

static const char *
dispatch_method_name(enum evhttp_cmd_type cmd)
{
    size_t i;

    for (i = 0; i < sizeof(dispatch_methods) / sizeof(dispatch_methods[0]);
         i++) {
        if (dispatch_methods[i].cmd == cmd) {
            return dispatch_methods[i].name;
        }
    }
    return "UNKNOWN";
}

struct dispatch *
dispatch_new(struct evhttp *http, struct api *api,
             const struct admin_ctx *admin, struct wire *wire)
{
    struct dispatch *d = calloc(1, sizeof(*d));

    if (d == NULL) {
        return NULL;
    }
    d->api = api;
    d->admin = *admin;
    d->wire = wire;
    evhttp_set_gencb(http, on_http_request, d);
    return d;
}

void
dispatch_free(struct dispatch *d)
{
    free(d);
}

static void
on_http_request(struct evhttp_request *req, void *arg)
{
    struct dispatch     *d = arg;
    enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
    const char          *method, *raw;
    char                *path = NULL;
    size_t               plen;

    if (cmd == EVHTTP_REQ_PUT) {
        cmd = EVHTTP_REQ_GET;       /* read with its body: main.c says why */
    }
    method = dispatch_method_name(cmd);
    raw = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
    if (raw == NULL || raw[0] == '\0') {
        raw = "/";
    }
    path = evhttp_uridecode(raw, 0, &plen);
    if (path == NULL || strlen(path) != plen) {
        wire_message(d->wire, req, 400, "invalid path",
                     FAULTS_MISBEHAVE_NONE);
    } else if (strncmp(path, ADMIN_PREFIX, strlen(ADMIN_PREFIX)) == 0) {
        admin_handle(&d->admin, req, method, path);
    } else {
        api_handle(d->api, req, cmd, method, path, raw);
    }
    free(path);
}
