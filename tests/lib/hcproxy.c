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
    json_object_put(hreq_wait_readyz(p->url, "redis.status", "up",
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

