/*
 * api.h - the sandbox's HTTP face: routes the S2S API under
 * /api/v1/appointment/s2s, authenticates tokens, applies the rate limit
 * and the injected faults and delays, answers with data.c's results, and
 * hands /__sandbox/... to admin.c.
 *
 * The request pipeline, in order (each step may answer and stop):
 *   1. route: unknown path 404, wrong method 405 (Allow set); both in the
 *      upstream's error format, "Cannot <METHOD> <path>";
 *   2. count: the route's counter in /__sandbox/stats goes up, so stats
 *      count every request that reached a route, whatever follows;
 *   3. body (PATCH only): a Content-Type other than JSON 400, invalid
 *      JSON 400; an empty body is {};
 *   4. token: x-hs-token, else ?token=, else the body's "token"; none or
 *      unknown 401;
 *   5. X-Sandbox-Delay-Ms / X-Sandbox-Fail / X-Sandbox-Misbehave parsed;
 *      invalid 400;
 *   6. rate limit of the token: 429 with Retry-After;
 *   7. faults: latency, jitter and the header delay are one timer on the
 *      loop; then a forced or drawn 5xx, a dropped connection, or the
 *      real answer: a held read answers with the data as it was on
 *      arrival, a held PATCH applies when the timer fires.
 *
 * Every answer goes on the wire through reply.h, which also says what
 * the misbehaviours of step 5 on (GET and PATCH; HEAD answers normally)
 * write.
 */
#ifndef HSP_API_H
#define HSP_API_H

#include <stdbool.h>
#include <stddef.h>

#define API_BODY_LIMIT (100 * 1024)  /* larger bodies: 413, as NestJS */

struct data;
struct event_base;
struct evhttp;
struct evhttp_request;
struct faults;
struct json_object;
struct reply;
struct api;                         /* opaque */

/*
 * Creates the API on HTTP (sets its generic callback) over DATA, FAULTS
 * and REPLY (every answer goes out through it), which stay owned by the
 * caller and must outlive the API. ACCESS_LOG writes one info line per
 * API request. Returns NULL when out of memory.
 */
struct api *api_new(struct event_base *base, struct evhttp *http,
                    struct data *data, struct faults *faults,
                    struct reply *reply, bool access_log);

/*
 * Answers every request still held by a delay now: 503, or a dropped
 * connection when that was its fate (a held drop-after PATCH is then not
 * applied). For a graceful stop, while the loop still runs to flush the
 * answers.
 */
void api_drain(struct api *api);

/*
 * Frees API after api_drain(), so evhttp_free(), which must come after,
 * frees the connections of the answered requests. NULL-safe.
 */
void api_free(struct api *api);

/* Accessors for admin.c: borrowed pointers, valid as long as API. */
struct data   *api_data(struct api *api);
struct faults *api_faults(struct api *api);
struct reply  *api_reply(struct api *api);

/*
 * A new {"requests":{"query":N,"query_crm":N,"blocks":N,
 * "dispositions":N,"update":N},"total":N,"rate_limited":N,"faults":N,
 * "held":N} reference; "held" is the number of requests waiting on a
 * delay right now.
 */
struct json_object *api_stats(struct api *api);

/*
 * The last request seen on a non-admin path, as a new reference to its
 * capture_request() description, or NULL when there was none since the
 * start or the last reset. Bodies over API_BODY_LIMIT show as null.
 */
struct json_object *api_last(struct api *api);

/*
 * POST /__sandbox/reset: zeroes the counters, forgets the last request
 * and the rate-limit windows, and restores the seed at NOW. Requests held
 * by a delay are not touched. Returns 0, or -1 (out of memory) with ERR.
 */
int api_reset(struct api *api, char *err, size_t errlen);

#endif /* HSP_API_H */
