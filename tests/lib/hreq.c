/*
 * hreq.c - the integration suites' calls to a proxy (see hreq.h).
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "hreq.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <json-c/json.h>

#include "hfixture.h"

#define HREQ_FIXED      6           /* type, token, key, id, extra, NULL */
#define HREQ_HELD_MS    10000       /* hreq_held_wait's bound */
#define HREQ_HELD_POLL  5

/* "NAME: VALUE" in a new string (the caller frees it), or NULL. */
static char *
line(const char *name, const char *value)
{
    char *s;

    return asprintf(&s, "%s: %s", name, value) == -1 ? NULL : s;
}

int
hreq_try(const char *method, const char *base, const char *path,
         const char *body, const struct hreq *opt, struct hresp *out)
{
    static const struct hreq none;
    const char **headers;
    char        *type = NULL, *tok = NULL, *key = NULL, *id = NULL;
    size_t       n = 0, more = 0;
    int          rc = -1;

    if (opt == NULL) {
        opt = &none;
    }
    while (opt->headers != NULL && opt->headers[more] != NULL) {
        more++;
    }
    headers = calloc(HREQ_FIXED + more, sizeof(*headers));
    if (headers == NULL) {
        goto oom;
    }
    if (opt->type != NULL) {
        if ((type = line("Content-Type", opt->type)) == NULL) {
            goto oom;
        }
        headers[n++] = type;
    }
    if (opt->token != NULL) {
        if ((tok = line("x-hs-token", opt->token)) == NULL) {
            goto oom;
        }
        headers[n++] = tok;
    }
    if (opt->key != NULL) {
        if ((key = line("Idempotency-Key", opt->key)) == NULL) {
            goto oom;
        }
        headers[n++] = key;
    }
    if (opt->id != NULL) {
        if ((id = line("X-Request-Id", opt->id)) == NULL) {
            goto oom;
        }
        headers[n++] = id;
    }
    if (opt->extra != NULL) {
        headers[n++] = opt->extra;
    }
    if (more > 0) {                 /* opt->headers may be NULL */
        memcpy(headers + n, opt->headers, more * sizeof(*headers));
    }
    rc = hclient_request(base, method, path, headers, body,
                         body != NULL ? strlen(body) : 0, out);
    goto done;

oom:
    memset(out, 0, sizeof(*out));
    snprintf(out->error, sizeof(out->error), "out of memory");
done:
    free(type);
    free(tok);
    free(key);
    free(id);
    free(headers);
    return rc;
}

void
hreq_send(const char *method, const char *base, const char *path,
          const char *body, const struct hreq *opt, struct hresp *out)
{
    cr_assert_eq(hreq_try(method, base, path, body, opt, out), 0,
                 "%s %s%s: %s", method, base, path, out->error);
}

void
hreq_get(const char *base, const char *path, const struct hreq *opt,
         struct hresp *out)
{
    hreq_send("GET", base, path, NULL, opt, out);
}

void
hreq_patch(const char *base, const char *body, const struct hreq *opt,
           struct hresp *out)
{
    struct hreq o = { 0 };

    if (opt != NULL) {
        o = *opt;
    }
    if (o.type == NULL) {
        o.type = "application/json";
    }
    hreq_send("PATCH", base, HREQ_UPDATE, body, &o, out);
}

const char *
hreq_hdr(const struct hresp *r, const char *name)
{
    const char *v = hresp_header(r, name);

    return v != NULL ? v : "(none)";
}

double
hreq_metric(const char *base, const char *series, bool *found)
{
    struct hresp r;
    const char  *p;
    size_t       n = strlen(series);
    double       v = 0;

    hreq_get(base, "/metrics", NULL, &r);
    cr_assert_eq(r.status, 200, "GET /metrics: %d", r.status);
    if (found != NULL) {
        *found = false;
    }
    for (p = r.body; p != NULL && *p != '\0';) {
        if (strncmp(p, series, n) == 0 && p[n] == ' ') {
            v = strtod(p + n + 1, NULL);
            if (found != NULL) {
                *found = true;
            }
            break;
        }
        p = strchr(p, '\n');
        p = p != NULL ? p + 1 : NULL;
    }
    hresp_free(&r);
    return v;
}

static void *
held_run(void *arg)
{
    struct hheld *h = arg;

    if (h->go != NULL) {
        pthread_barrier_wait(h->go);
    }
    h->rc = hreq_try(h->method, h->base, h->path, h->body, &h->opt,
                     &h->resp);
    return NULL;
}

void
hreq_held_start(struct hheld *h)
{
    cr_assert_eq(pthread_create(&h->thread, NULL, held_run, h), 0,
                 "cannot start a thread for %s %s", h->method, h->path);
}

void
hreq_held_wait(long n)
{
    long deadline = hfixture_now_ms() + HREQ_HELD_MS;

    while (hfixture_count("held") < n) {
        cr_assert_lt(hfixture_now_ms(), deadline,
                     "the sandbox holds %ld requests after %d ms, want %ld",
                     hfixture_count("held"), HREQ_HELD_MS, n);
        hfixture_pause_ms(HREQ_HELD_POLL);
    }
}

void
hreq_held_join(struct hheld *h)
{
    pthread_join(h->thread, NULL);
}

void
hreq_burst(struct hheld *h, size_t n)
{
    pthread_barrier_t go;
    size_t            i;

    cr_assert_eq(pthread_barrier_init(&go, NULL, (unsigned)n), 0);
    for (i = 0; i < n; i++) {
        h[i].go = &go;
        cr_assert_eq(pthread_create(&h[i].thread, NULL, held_run, &h[i]), 0);
    }
    for (i = 0; i < n; i++) {
        pthread_join(h[i].thread, NULL);
        h[i].go = NULL;
    }
    pthread_barrier_destroy(&go);
}

void
hreq_burst_free(struct hheld *h, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        hresp_free(&h[i].resp);
    }
}

/* ---- /readyz ------------------------------------------------------------ */

#define HREQ_POLL_MS 20

struct json_object *
hreq_readyz(const char *base)
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
hreq_jstr(struct json_object *o, const char *path)
{
    char        name[64];
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
hreq_jint(struct json_object *o, const char *path)
{
    const char *v = hreq_jstr(o, path);

    return *v != '\0' ? strtol(v, NULL, 10) : -1;
}

struct json_object *
hreq_wait_readyz(const char *base, const char *path, const char *want,
                 long ms)
{
    long                end = hfixture_now_ms() + hfixture_slow_ms(ms);
    struct json_object *o;

    for (;;) {
        o = hreq_readyz(base);
        if (strstr(hreq_jstr(o, path), want) != NULL) {
            return o;
        }
        cr_assert_lt(hfixture_now_ms(), end, "%s never had '%s' in %s: %s",
                     base, want, path, json_object_to_json_string(o));
        json_object_put(o);
        hfixture_pause_ms(HREQ_POLL_MS);
    }
}
