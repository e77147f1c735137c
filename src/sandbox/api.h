/*
 * api.h - the S2S API of the sandbox: every request outside /__sandbox/
 * (dispatch.c hands them over) is routed to an endpoint, authenticated,
 * rate-limited, faulted or delayed as asked, and answered with data.c's
 * results. What it sees is counted in tally.h.
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
 * Every answer goes on the wire through wire.h, which also says what
 * the misbehaviours of step 5 on (GET and PATCH; HEAD answers normally)
 * write.
 */
#ifndef HSP_API_H
#define HSP_API_H

#include <stdbool.h>

#include <event2/http.h>            /* enum evhttp_cmd_type */

#define API_BODY_LIMIT (100 * 1024)  /* larger bodies: 413, as NestJS */

struct data;
struct event_base;
struct evhttp_request;
struct faults;
struct wire;
struct tally;
struct api;                         /* opaque */

/*
 * Creates the API over DATA, FAULTS, REPLY (every answer goes out
 * through it) and TALLY (what it sees is counted there), which stay
 * owned by the caller and must outlive the API. ACCESS_LOG writes one
 * info line per API request. Returns NULL when out of memory.
 */
struct api *api_new(struct event_base *base, struct data *data,
                    struct faults *faults, struct wire *wire,
                    struct tally *tally, bool access_log);

/*
 * Runs the pipeline above for REQ, whose method is CMD (a PUT already
 * taken for the GET it was) named METHOD (static: calls keep it), whose
 * decoded path is PATH and raw path RAW (both borrowed for this call).
 * REQ is answered now, or later from the loop when held by a delay.
 */
void api_handle(struct api *api, struct evhttp_request *req,
                enum evhttp_cmd_type cmd, const char *method,
                const char *path, const char *raw);

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

#endif /* HSP_API_H */
