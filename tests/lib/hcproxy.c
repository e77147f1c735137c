/*
 * hcproxy.c - proxies on a test Redis Cluster, and what the cluster
 * suites ask of them (hcproxy.h).
 */
#include "config.h"

#include "hcproxy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <json-c/json.h>

#include "hclient.h"
#include "hcluster.h"
#include "hfixture.h"
#include "hproc.h"

#define HCP_EXTRA_MAX 8
#define HCP_UP_MS     10000
#define HCP_POLL_MS   50

void
hcp_proxy(const char *name, const struct hcluster *c, unsigned seeds,
          const char *const *extra, struct hproc *p)
{
    char        url[400], redis[420], ca[600];
    const char *opts[HCP_EXTRA_MAX + 4] = { redis, "workers=2" };
    size_t      n = 2, i;

    hcluster_url(c, seeds, url, sizeof(url));
    snprintf(redis, sizeof(redis), "redis=%s", url);
    if (c->ca[0] != '\0') {
        snprintf(ca, sizeof(ca), "redis_ca_file=%s", c->ca);
        opts[n++] = ca;
    }
    for (i = 0; extra != NULL && extra[i] != NULL; i++) {
        cr_assert_lt(i, HCP_EXTRA_MAX, "too many options");
        opts[n++] = extra[i];
    }
    opts[n] = NULL;
    hfixture_proxy(name, opts, p);
    json_object_put(hcp_wait_readyz(p->url, "redis.status", "up",
                                    HCP_UP_MS));
}

int
hcp_get(const char *base, const char *token, const char *phone,
        char xc[32], char name[128])
{
    struct json_object *root, *v;
    struct hresp        r;
    const char         *h;
    char                path[128];
    int                 status;

    xc[0] = name[0] = '\0';
    snprintf(path, sizeof(path), HCP_QUERY "%s", phone);
    if (hreq_try("GET", base, path, NULL, HREQ(.token = token), &r) != 0) {
        hresp_free(&r);
        return 0;
    }
    h = hresp_header(&r, "X-Cache");
    snprintf(xc, 32, "%s", h != NULL ? h : "");
    root = hresp_json(&r);
    if (root != NULL && json_object_object_get_ex(root, "name", &v)) {
        snprintf(name, 128, "%s", json_object_get_string(v));
    }
    json_object_put(root);
    status = r.status;
    hresp_free(&r);
    return status;
}

int
hcp_patch(const char *base, const char *token, const char *key,
          const char *first, bool *replayed)
{
    struct hresp r;
    char         body[160];
    int          status;

    snprintf(body, sizeof(body),
             "{\"phone\":\"+18015551234\",\"firstName\":\"%s\"}", first);
    if (hreq_try("PATCH", base, HREQ_UPDATE, body,
                 HREQ(.type = "application/json", .token = token,
                      .key = key), &r) != 0) {
        hresp_free(&r);
        return 0;
    }
    status = r.status;
    if (replayed != NULL) {
        *replayed = hresp_header(&r, "Idempotent-Replayed") != NULL;
    }
    hresp_free(&r);
    return status;
}

struct json_object *
hcp_readyz(const char *base)
{
    struct json_object *o;
    struct hresp        r;

    hreq_get(base, "/readyz", NULL, &r);
    cr_assert_eq(r.status, 200, "/readyz %d: %s", r.status, r.body);
    o = hresp_json(&r);
    cr_assert_not_null(o, "/readyz is not JSON: %s", r.body);
    hresp_free(&r);
    return o;
}

const char *
hcp_jget(struct json_object *o, const char *path)
{
    char  name[64];
    const char *p = path;

    while (*p != '\0') {
        size_t n = strcspn(p, ".");

        snprintf(name, sizeof(name), "%.*s", (int)n, p);
        if (!json_object_object_get_ex(o, name, &o)) {
            return "";
        }
        p += n + (p[n] == '.');
    }
    return json_object_get_string(o);
}

long
hcp_jint(struct json_object *o, const char *path)
{
    const char *v = hcp_jget(o, path);

    return *v != '\0' ? strtol(v, NULL, 10) : -1;
}

struct json_object *
hcp_wait_readyz(const char *base, const char *path, const char *want,
                long ms)
{
    long                end = hfixture_now_ms() + hfixture_slow_ms(ms);
    struct json_object *o;

    for (;;) {
        o = hcp_readyz(base);
        if (strstr(hcp_jget(o, path), want) != NULL) {
            return o;
        }
        cr_assert_lt(hfixture_now_ms(), end, "%s never had '%s' in %s: %s",
                     base, want, path, json_object_to_json_string(o));
        json_object_put(o);
        hfixture_pause_ms(HCP_POLL_MS);
    }
}
