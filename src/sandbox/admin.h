/*
 * admin.h - the sandbox's control routes under /__sandbox/, for tests
 * and benchmarks. JSON in and out, no token, never rate-limited, never
 * delayed or faulted:
 *
 *   GET  /__sandbox/stats    counters (see tally_stats)
 *   POST /__sandbox/reset    counters, last request, rate windows, seed
 *   GET  /__sandbox/config   {"latency_ms","jitter_ms","fail_rate",
 *                             "drop_rate","rate_limit","misbehave",
 *                             "gzip","chunked","early_hints"}
 *   POST /__sandbox/config   any subset of those keys; all are checked
 *                            before any applies; 400 on a bad value or
 *                            an unknown key; answers the new config
 *   GET  /__sandbox/last     the last API request (see tally_last); 404
 *                            when there is none
 *   GET  /__sandbox/lead?token=&phone=   a lead's hidden state (comments,
 *                            takerId, names, time zone) beside it
 */
#ifndef HSP_ADMIN_H
#define HSP_ADMIN_H

struct data;
struct evhttp_request;
struct faults;
struct wire;
struct tally;

#define ADMIN_PREFIX "/__sandbox/"

/*
 * What the control routes act on: the sandbox's parts they read and
 * change, all borrowed (main.c owns them). Narrow on purpose: admin.c
 * never sees the S2S pipeline, and api.c never sees admin.c.
 */
struct admin_ctx {
    struct data   *data;            /* leads: reset, GET lead */
    struct faults *faults;          /* knobs: config, reset */
    struct wire   *wire;            /* answers, and the habits in config */
    struct tally  *tally;           /* stats, last, reset */
};

/*
 * Answers REQ, whose decoded path PATH starts with ADMIN_PREFIX; METHOD
 * is its method's name. Unknown admin paths get 404, wrong methods 405,
 * in the error payload format.
 */
void admin_handle(const struct admin_ctx *ctx, struct evhttp_request *req,
                  const char *method, const char *path);

#endif /* HSP_ADMIN_H */
