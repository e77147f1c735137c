/*
 * hspx.c - a proxy on a Sentinel topology (hspx.h).
 */
#include "config.h"

#include "hspx.h"

#include <stdio.h>
#include <string.h>

#include <criterion/criterion.h>
#include <hiredis/hiredis.h>
#include <json-c/json.h>

#include "hfixture.h"
#include "hproc.h"
#include "hredis.h"
#include "hreq.h"
#include "hsentinel.h"

#define HSPX_POLL_MS 20
#define HSPX_EXTRA   4

bool
hspx_on_master(const char *base, int port)
{
    struct json_object *o = hreq_readyz(base);
    char                want[32];
    bool                ok;

    snprintf(want, sizeof(want), "127.0.0.1:%d", port);
    ok = strcmp(hreq_jstr(o, "redis.status"), "up") == 0 &&
         strcmp(hreq_jstr(o, "redis.sentinel.master"), want) == 0 &&
         strcmp(hreq_jstr(o, "redis.sentinel.confirmed"),
                hreq_jstr(o, "redis.workers")) == 0;
    json_object_put(o);
    return ok;
}

void
hspx_wait_on_master(const char *base, int port, long ms)
{
    long end = hfixture_now_ms() + hfixture_slow_ms(ms);

    while (!hspx_on_master(base, port)) {
        if (hfixture_now_ms() >= end) {
            struct json_object *o = hreq_readyz(base);

            cr_assert_fail("%s is not up on the master :%d: %s", base, port,
                           json_object_to_json_string(o));
        }
        hfixture_pause_ms(HSPX_POLL_MS);
    }
}

void
hspx_start(const char *name, const struct hsentinel *t,
           const char *const *extra, struct hproc *p)
{
    char        url[300], redis[320], ca[600];
    const char *opts[4 + HSPX_EXTRA] = { redis, "workers=2" };
    size_t      i, n = 2;

    hsentinel_url(t, url, sizeof(url));
    snprintf(redis, sizeof(redis), "redis=%s", url);
    if (t->ca[0] != '\0') {
        snprintf(ca, sizeof(ca), "redis_ca_file=%s", t->ca);
        opts[n++] = ca;
    }
    for (i = 0; extra != NULL && extra[i] != NULL; i++) {
        cr_assert_lt(i, HSPX_EXTRA, "more than %d options", HSPX_EXTRA);
        opts[n++] = extra[i];
    }
    hfixture_proxy(name, opts, p);
}

int
hspx_lookup(const char *base, char *xc, char *name, size_t cap)
{
    struct json_object *root, *v;
    struct hresp        r;
    const char         *h;
    int                 status;

    xc[0] = name[0] = '\0';
    if (hreq_try("GET", base, HSPX_LOOKUP, NULL, HREQ(.token = HSPX_TOKEN),
                 &r) != 0) {
        hresp_free(&r);
        return 0;
    }
    h = hresp_header(&r, "X-Cache");
    snprintf(xc, cap, "%s", h != NULL ? h : "");
    root = hresp_json(&r);
    if (root != NULL && json_object_object_get_ex(root, "name", &v)) {
        snprintf(name, cap, "%s", json_object_get_string(v));
    }
    json_object_put(root);
    status = r.status;
    hresp_free(&r);
    return status;
}

/* PATCHes key I of PS through BASE, noting whether it was forwarded; its
 * body names FIRST (NULL: as the first time). */
void
hspx_patch_key(struct hspx_patches *ps, int i, const char *base, const char *first)
{
    char         body[160];
    struct hresp r;

    if (first != NULL) {
        snprintf(ps->first[i], sizeof(ps->first[i]), "%s", first);
    }
    snprintf(body, sizeof(body),
             "{\"phone\":\"+18015551234\",\"firstName\":\"%s\","
             "\"lastName\":\"K%d\"}", ps->first[i], i);
    hreq_patch(base, body, HREQ(.token = HSPX_TOKEN, .key = ps->keys[i]), &r);
    if (r.status == 503) {
        ps->refused[i]++;
    } else if (r.status == 200 &&
               hresp_header(&r, "Idempotent-Replayed") == NULL) {
        ps->ran[i]++;
    } else {
        cr_expect(r.status == 200 || r.status == 409,
                  "PATCH %s: %d %s", ps->keys[i], r.status, r.body);
    }
    hresp_free(&r);
}

/*
 * PATCHes key I of PS through BASE until it is forwarded or replayed
 * (bounded): after a failover the new master may have no replica yet
 * (Sentinel attaches the old master some seconds later), and a claim no
 * replica took is refused (503). Returns how long that took, in ms.
 */
long
hspx_patch_until_taken(struct hspx_patches *ps, int i, const char *base,
                  const char *first)
{
    long start = hfixture_now_ms();
    int  refused = ps->refused[i];

    hspx_patch_key(ps, i, base, first);
    while (ps->refused[i] > refused) {
        cr_assert_lt(hfixture_now_ms() - start, hfixture_slow_ms(30000),
                     "PATCH %s refused for 30 s", ps->keys[i]);
        refused = ps->refused[i];
        hfixture_pause_ms(100);
        hspx_patch_key(ps, i, base, NULL);
    }
    return hfixture_now_ms() - start;
}

/* Runs "FMT" on node R of the topology; asserts it is not an error. */
void
hspx_node_do(const struct hredis *r, const char *fmt, int port)
{
    redisContext *c = hredis_connect(r, NULL);

    hredis_ok(c, fmt, port);
    redisFree(c);
}
