/*
 * faults.h - what the sandbox does to a request besides answering it:
 * the per-token rate limit (HeavySet's 60 requests/min) and injected
 * latency, 5xx answers and dropped connections. Pure: the clock is a
 * parameter and the random numbers come from a seeded generator, so
 * tests replay any sequence. No libevent.
 *
 * Rate limit: a sliding 60-second window per token. A request is
 * admitted when fewer than RATE_LIMIT requests were admitted in the 60 s
 * before it; refused requests are not counted, so a client that keeps
 * retrying gets through as soon as the oldest admitted request ages out,
 * which is what Retry-After says (whole seconds, rounded up, >= 1).
 *
 * Per request, in this order: the X-Sandbox-* headers are parsed
 * (faults_parse), the rate limit is taken (faults_rate_take), then the
 * random draws fill in what the headers did not force (faults_draw): the
 * delay is latency + uniform(0..jitter) + X-Sandbox-Delay-Ms, and the
 * connection is dropped with probability drop_rate, else answered 500
 * with probability fail_rate (two independent draws). The delay always
 * comes first: a dropped or failed request still waits for it.
 */
#ifndef HSP_FAULTS_H
#define HSP_FAULTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FAULTS_DELAY_MAX_MS   60000     /* latency, jitter, header delay */
#define FAULTS_RATE_LIMIT_MAX 100000    /* requests per window */
#define FAULTS_WINDOW_MS      60000

struct faults;                      /* opaque */

/*
 * Transport misbehaviours, each a real bug of Node applications or load
 * balancers, put on the wire on request (X-Sandbox-Misbehave, or
 * --misbehave for every API answer). What each writes: api.h.
 */
enum faults_misbehave {
    FAULTS_MISBEHAVE_NONE,
    FAULTS_MISBEHAVE_LONG_BODY,         /* body past its Content-Length */
    FAULTS_MISBEHAVE_TWO_LENGTHS,       /* two different Content-Lengths */
    FAULTS_MISBEHAVE_BODY_ON_204,       /* 204, then body bytes */
    FAULTS_MISBEHAVE_BAD_HEADER_BYTE,   /* 0x01 in a header value */
    FAULTS_MISBEHAVE_BAD_HEADER_NAME,   /* a space in a header name */
    FAULTS_MISBEHAVE_UNASKED_CODING,    /* a coding the client did not ask */
    FAULTS_MISBEHAVE_AFTER_LAST_CHUNK,  /* bytes after the 0-chunk */
    FAULTS_MISBEHAVE_HTTP10_CLOSE,      /* HTTP/1.0, no length, close */
    FAULTS_MISBEHAVE_COUNT
};

/* The runtime-adjustable knobs (CLI flags and POST /__sandbox/config). */
struct faults_config {
    int64_t latency_ms;             /* fixed added latency, 0..60000 */
    int64_t jitter_ms;              /* plus uniform 0..jitter_ms */
    double  fail_rate;              /* share answered 500, 0..1 */
    double  drop_rate;              /* share dropped unanswered, 0..1 */
    int64_t rate_limit;             /* per token per 60 s; 0 turns it off */
    enum faults_misbehave misbehave; /* of every API answer the headers
                                      * leave alone; NONE: off */
};

enum faults_action {
    FAULTS_NONE,                    /* answer normally */
    FAULTS_FAIL,                    /* answer STATUS with the error payload
                                     * instead of handling the request */
    FAULTS_DROP,                    /* close the connection, no answer,
                                     * nothing handled */
    FAULTS_DROP_AFTER               /* handle the request (a PATCH is
                                     * applied), then close unanswered */
};

/* What to do with one request. */
struct faults_plan {
    enum faults_action action;
    int                status;      /* FAULTS_FAIL: 400..599 */
    int64_t            delay_ms;    /* wait this long before acting */
    bool               forced;      /* ACTION came from X-Sandbox-Fail */
    enum faults_misbehave misbehave; /* how the answer goes on the wire */
    bool               misbehave_forced; /* MISBEHAVE came from the header */
};

/*
 * Checks CF against the ranges above. Returns 0, or -1 with a message
 * naming the key (e.g. "fail_rate must be between 0 and 1") in ERR.
 */
int faults_config_check(const struct faults_config *cf, char *err,
                        size_t errlen);

/*
 * Creates the fault state with a copy of CF (which must pass
 * faults_config_check) and a random generator seeded with SEED. Returns
 * NULL when out of memory. Free with faults_free().
 */
struct faults *faults_new(const struct faults_config *cf, uint64_t seed);

/* Frees F and its windows. NULL-safe. */
void faults_free(struct faults *f);

/* Copies the current knobs into OUT. */
void faults_get_config(const struct faults *f, struct faults_config *out);

/*
 * Replaces the knobs with CF after faults_config_check (returns -1 with
 * ERR and changes nothing on failure). A new rate_limit empties every
 * window: the new limit starts fresh.
 */
int faults_set_config(struct faults *f, const struct faults_config *cf,
                      char *err, size_t errlen);

/* Forgets every rate-limit window (POST /__sandbox/reset). */
void faults_reset(struct faults *f);

/*
 * Parses the X-Sandbox-Delay-Ms (DELAY: an integer 0..60000) and
 * X-Sandbox-Fail (FAIL: a status 400..599, "drop" or "drop-after", any
 * case) header values, NULL when absent, into a fresh OUT. Returns 0, or
 * -1 with the reason in ERR (the request is then a 400).
 */
int faults_parse(const char *delay, const char *fail, struct faults_plan *out,
                 char *err, size_t errlen);

/*
 * Parses the X-Sandbox-Misbehave value S (a kind name of
 * faults_misbehave_name, or "none", any case) into PLAN (from
 * faults_parse), where it wins over the --misbehave knob. NULL (absent)
 * leaves PLAN alone. Returns 0, or -1 with the reason, listing the kinds,
 * in ERR (the request is then a 400).
 */
int faults_parse_misbehave(const char *s, struct faults_plan *plan, char *err,
                           size_t errlen);

/*
 * The name of KIND: "none", "long-body", "two-lengths", "body-on-204",
 * "bad-header-byte", "bad-header-name", "unasked-coding",
 * "after-last-chunk", "http10-close".
 */
const char *faults_misbehave_name(enum faults_misbehave kind);

/*
 * The kind named S (any case; "none" included) into *OUT. Returns 0, or -1
 * when S names no kind.
 */
int faults_misbehave_find(const char *s, enum faults_misbehave *out);

/*
 * Takes one request from the window of KEY (the token) at NOW_MS.
 * Returns true when admitted; false when over the limit, with the
 * seconds until a slot frees in *RETRY_AFTER. Always true when the limit
 * is off, and when memory for a new window runs out (fail open).
 */
bool faults_rate_take(struct faults *f, const char *key, int64_t now_ms,
                      int64_t *retry_after);

/*
 * Completes PLAN (from faults_parse) with the configured latency and
 * jitter, the configured misbehaviour unless the header chose one, and,
 * unless the header forced an action, the random drop and fail draws.
 */
void faults_draw(struct faults *f, struct faults_plan *plan);

#endif /* HSP_FAULTS_H */
