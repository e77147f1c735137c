/*
 * hsandbox.c - the integration tests' side of heavyset-sandbox (see
 * hsandbox.h): its admin routes and its seed file.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "hsandbox.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <json-c/json.h>

#include "hclient.h"

long
hsandbox_count(const char *name)
{
    struct hresp        r;
    struct json_object *root = NULL, *v, *reqs;
    long                n = -1;

    if (hclient_get(getenv("HSP_SANDBOX_URL"), "/__sandbox/stats", NULL,
                    &r) == -1 || r.status != 200) {
        fprintf(stderr, "hsandbox: sandbox stats: %s (status %d)\n", r.error,
                r.status);
        goto done;
    }
    root = hresp_json(&r);
    if (root == NULL) {
        fprintf(stderr, "hsandbox: sandbox stats are not JSON: %s\n", r.body);
        goto done;
    }
    if (!(json_object_object_get_ex(root, name, &v) &&
          json_object_is_type(v, json_type_int)) &&
        !(json_object_object_get_ex(root, "requests", &reqs) &&
          json_object_object_get_ex(reqs, name, &v) &&
          json_object_is_type(v, json_type_int))) {
        fprintf(stderr, "hsandbox: sandbox stats have no counter %s: %s\n",
                name, r.body);
        goto done;
    }
    n = (long)json_object_get_int64(v);

done:
    json_object_put(root);
    hresp_free(&r);
    return n;
}

static int
sandbox_post(const char *path, const char *json)
{
    static const char *const headers[] = {
        "Content-Type: application/json", NULL
    };
    struct hresp r;
    int          rc;

    rc = hclient_request(getenv("HSP_SANDBOX_URL"), "POST", path, headers,
                         json, strlen(json), &r);
    if (rc == -1 || r.status < 200 || r.status > 299) {
        fprintf(stderr, "hsandbox: POST %s: %s (status %d) %s\n", path,
                r.error, r.status, r.body);
        rc = -1;
    }
    hresp_free(&r);
    return rc;
}

int
hsandbox_reset(void)
{
    return sandbox_post("/__sandbox/reset", "{}");
}

int
hsandbox_config(const char *json)
{
    return sandbox_post("/__sandbox/config", json);
}

struct json_object *
hsandbox_last(void)
{
    struct hresp        r;
    struct json_object *root = NULL;

    if (hclient_get(getenv("HSP_SANDBOX_URL"), "/__sandbox/last", NULL,
                    &r) == 0 && r.status == 200) {
        root = hresp_json(&r);
    }
    if (root == NULL) {
        fprintf(stderr, "hsandbox: sandbox last: %s (status %d) %s\n",
                r.error, r.status, r.body);
    }
    hresp_free(&r);
    return root;
}

const char *
hsandbox_last_header(struct json_object *last, const char *name)
{
    struct json_object *headers, *v;

    if (last == NULL || !json_object_object_get_ex(last, "headers",
                                                    &headers)) {
        return NULL;
    }
    json_object_object_foreach(headers, key, val) {
        if (strcasecmp(key, name) != 0) {
            continue;
        }
        v = val;
        if (json_object_is_type(v, json_type_array)) {
            v = json_object_array_get_idx(v, 0);
        }
        return v != NULL && json_object_is_type(v, json_type_string)
                   ? json_object_get_string(v)
                   : NULL;
    }
    return NULL;
}

struct json_object *
hsandbox_seed_load(void)
{
    const char         *path = getenv("HSP_SEED_FILE");
    struct json_object *root;

    if (path == NULL) {
        fprintf(stderr, "hsandbox: HSP_SEED_FILE is not set\n");
        return NULL;
    }
    root = json_object_from_file(path);
    if (root == NULL) {
        fprintf(stderr, "hsandbox: %s: %s\n", path, json_util_get_last_err());
    }
    return root;
}

