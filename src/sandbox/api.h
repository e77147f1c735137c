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
 * How every answer (admin ones included) goes on the wire: the habits of
 * a Node/Express application behind a load balancer, each switchable
 * (struct api_habits): a "103 Early Hints" with a Link header written
 * before the final answer; "Keep-Alive: timeout=N" (with "Connection:
 * keep-alive" unless the request asked to close); gzip or deflate as
 * compression() does it (coding.h: "Vary: Accept-Encoding" on every
 * answer, a coding only for bodies of CODING_MIN_SIZE bytes or more and
 * never for HEAD); "Transfer-Encoding: chunked" in chunks of at most
 * API_CHUNK_SIZE bytes instead of Content-Length.
 *
 * Misbehaviours (steps 5 on, GET and PATCH; HEAD answers normally) are
 * written raw, every byte built here: the answer's real status and JSON
 * body B of n bytes, Content-Type, Date, the keep-alive headers above,
 * after a 103 when early hints are on:
 *   long-body         Content-Length n-3, then all of B: the last 3
 *                     bytes stay on the kept-alive connection
 *   two-lengths       Content-Length n, then Content-Length n+10, B
 *   body-on-204       "204 No Content", no length, then B anyway
 *   bad-header-byte   "X-Sandbox-Note: bad\x01byte", Content-Length n, B
 *   bad-header-name   "X-Sandbox Note: bad name", Content-Length n, B
 *   unasked-coding    B in the first of br, deflate, gzip that the
 *                     request's Accept-Encoding does not accept (br when it
 *                     accepts all), with Content-Encoding, Vary and the
 *                     encoded length
 *   after-last-chunk  B as one chunk, the 0-chunk, then a whole second
 *                     answer nobody asked for (API_SURPLUS)
 *   http10-close      "HTTP/1.0", "Connection: close", no length, B, and
 *                     the connection closed
 * The connection stays open after all but the last, as a kept-alive one
 * does: a client that reuses it reads the surplus as its next answer.
 */
#ifndef HSP_API_H
#define HSP_API_H

#include <stdbool.h>
#include <stddef.h>

#define API_BODY_LIMIT (100 * 1024)  /* larger bodies: 413, as NestJS */
#define API_CHUNK_SIZE 16384        /* bytes per chunk: a zlib stream's */
#define API_SURPLUS_BODY "{\"sandbox\":\"surplus after the last chunk\"}"

/* The transport habits of every answer (see above). */
struct api_habits {
    bool gzip;                      /* compress when the client accepts */
    int  gzip_min;                  /* ... bodies of at least this many
                                     * bytes (compression()'s threshold,
                                     * CODING_MIN_SIZE, by default) */
    bool chunked;                   /* Transfer-Encoding: chunked */
    bool early_hints;               /* a 103 before each final answer */
    int  keepalive_s;               /* advertised Keep-Alive timeout; 0:
                                     * no Keep-Alive header */
};

struct data;
struct event_base;
struct evhttp;
struct evhttp_request;
struct faults;
struct json_object;
struct api;                         /* opaque */

/*
 * Creates the API on HTTP (sets its generic callback) over DATA and
 * FAULTS, which stay owned by the caller and must outlive the API.
 * HABITS (copied) shape every answer; the caller sets HTTP's idle
 * timeout to match habits->keepalive_s. ACCESS_LOG writes one info line
 * per API request. Returns NULL when out of memory.
 */
struct api *api_new(struct event_base *base, struct evhttp *http,
                    struct data *data, struct faults *faults,
                    const struct api_habits *habits, bool access_log);

/* The habits now, and new ones (POST /__sandbox/config). */
void api_get_habits(const struct api *api, struct api_habits *out);
void api_set_habits(struct api *api, const struct api_habits *habits);

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

/*
 * Answers REQ with STATUS and OBJ serialised compactly (borrowed; the
 * caller still puts it), Content-Type application/json, with API's
 * habits.
 */
void api_send_json(struct api *api, struct evhttp_request *req, int status,
                   struct json_object *obj);

/* Answers REQ with STATUS and the upstream's error payload of MSGS. */
void api_send_error(struct api *api, struct evhttp_request *req, int status,
                    const char *const *msgs, size_t n);

/*
 * Answers REQ with STATUS (404, 405) and "Cannot METHOD PATH" as NestJS
 * does. Bytes of PATH outside printable ASCII are %-escaped and a long
 * PATH is cut, so the payload stays valid JSON whatever was requested.
 */
void api_send_no_route(struct api *api, struct evhttp_request *req,
                       int status, const char *method, const char *path);

/* Accessors for admin.c: borrowed pointers, valid as long as API. */
struct data   *api_data(struct api *api);
struct faults *api_faults(struct api *api);

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
