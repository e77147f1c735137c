/*
 * hreq.h - the integration suites' calls to a proxy (or the sandbox):
 * one GET, one PATCH, one reader of a response header and of a /metrics
 * sample, and one runner for a request held in a thread while the test
 * goes on. Built on hclient.h; test-only. Calls that take no struct hheld
 * assert with criterion (a call that got no complete response ends the
 * test); the held runner's thread does not, its result is checked after
 * the join.
 *
 * The headers of a call are a struct hreq, most simply written with
 * HREQ and designated initialisers:
 *
 *     hreq_get(base, QUERY SHARED, HREQ(.token = ALPHA), &r);
 *     hreq_patch(base, body, HREQ(.token = ALPHA, .key = "k-1"), &r);
 *     hreq_get(base, "/metrics", NULL, &r);
 */
#ifndef HSP_HREQ_H
#define HSP_HREQ_H

#include <pthread.h>
#include <stdbool.h>

#include "hclient.h"

/* The API's routes, for paths built at compile time. */
#define HREQ_API    "/api/v1/appointment/s2s"
#define HREQ_UPDATE HREQ_API "/phone/update"

/*
 * The header lines a call sends besides Host (and Content-Length with a
 * body), in this order; each is left out when NULL. Values are sent as
 * given (no quoting or encoding), so a malformed one can be tested.
 */
struct hreq {
    const char        *type;        /* "Content-Type: TYPE" */
    const char        *token;       /* "x-hs-token: TOKEN" */
    const char        *key;         /* "Idempotency-Key: KEY" */
    const char        *id;          /* "X-Request-Id: ID" */
    const char        *extra;       /* one more whole line, "Name: value" */
    const char *const *headers;     /* more lines, NULL-terminated */
};

/* A pointer to a struct hreq made of designated initialisers (see top). */
#define HREQ(...) (&(const struct hreq){ __VA_ARGS__ })

/*
 * Sends METHOD BASE PATH with the headers OPT asks for (NULL: none but
 * Host) and BODY (a string, or NULL for none) into OUT, and asserts that
 * a complete response came back (any status). OUT is the caller's to
 * hresp_free.
 */
void hreq_send(const char *method, const char *base, const char *path,
               const char *body, const struct hreq *opt, struct hresp *out);

/* GET BASE PATH: hreq_send without a body. */
void hreq_get(const char *base, const char *path, const struct hreq *opt,
              struct hresp *out);

/*
 * PATCH BASE HREQ_UPDATE with BODY: hreq_send, with OPT's type
 * "application/json" unless it sets another.
 */
void hreq_patch(const char *base, const char *body, const struct hreq *opt,
                struct hresp *out);

/*
 * hreq_send without the assertion: returns hclient_request's result (0,
 * or -1 with the reason in OUT->error). Safe in any thread.
 */
int hreq_try(const char *method, const char *base, const char *path,
             const char *body, const struct hreq *opt, struct hresp *out);

/*
 * The value of the first header NAME (case-insensitive) of R, or
 * "(none)" when absent: for string compares and messages. Borrowed from
 * R.
 */
const char *hreq_hdr(const struct hresp *r, const char *name);

/*
 * The value of the Prometheus sample SERIES (name and labels, as written)
 * in GET /metrics of the proxy at BASE, 0 when absent (a counter may
 * appear only once it moves); *FOUND (when not NULL) says whether it was
 * there. Asserts /metrics answered 200.
 */
double hreq_metric(const char *base, const char *series, bool *found);

/*
 * A request sent from a thread of its own while the test goes on (one
 * the sandbox holds with X-Sandbox-Delay-Ms, one in flight across a
 * signal...), or one of a burst sent at once (hreq_burst). The caller
 * fills the first five fields; the rest are the runner's.
 */
struct hheld {
    const char        *method;      /* "GET", "PATCH"... */
    const char        *base;        /* the proxy's URL */
    const char        *path;        /* sent as is */
    const char        *body;        /* a string, or NULL for none */
    struct hreq        opt;         /* its headers, as for hreq_send */
    struct hresp       resp;        /* the response, once joined */
    int                rc;          /* hreq_try's result, once joined */
    pthread_t          thread;      /* the thread that sends it */
    pthread_barrier_t *go;          /* hreq_burst's: all leave together */
};

/* Starts H's thread, which sends H with hreq_try (asserts it started). */
void hreq_held_start(struct hheld *h);

/*
 * Waits (bounded, 10 s) until the sandbox holds at least N requests
 * (its "held" counter): a request started with hreq_held_start and a
 * delay has reached it.
 */
void hreq_held_wait(long n);

/* Waits for H's thread to end; H->rc and H->resp are then set. */
void hreq_held_join(struct hheld *h);

/*
 * Sends the N requests of H at once, each from a thread of its own, all
 * released together, and waits for them all (asserts only that the
 * threads ran). Each H[i].rc and H[i].resp are then set; hreq_burst_free
 * releases the responses.
 */
void hreq_burst(struct hheld *h, size_t n);
void hreq_burst_free(struct hheld *h, size_t n);

/* ---- /readyz ------------------------------------------------------------ */

struct json_object;

/* GET /readyz of BASE, asserted 200 and JSON; the caller puts it. */
struct json_object *hreq_readyz(const char *base);

/*
 * The member at PATH of O, names separated by dots ("redis.status",
 * "redis.sentinel.master"), as a string (a number or an object as its
 * JSON text); "" when absent. Borrowed from O.
 */
const char *hreq_jstr(struct json_object *o, const char *path);

/* hreq_jstr as a whole number; -1 when absent. */
long hreq_jint(struct json_object *o, const char *path);

/*
 * Waits (MS, stretched for slow builds: hfixture_slow_ms) until PATH of
 * /readyz of BASE holds WANT, polling; asserts it does in time. Returns
 * that /readyz (the caller puts it).
 */
struct json_object *hreq_wait_readyz(const char *base, const char *path,
                                     const char *want, long ms);

#endif /* HSP_HREQ_H */
