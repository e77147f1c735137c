/*
 * tally.h - what the sandbox has seen, for /__sandbox/stats and
 * /__sandbox/last: requests per S2S endpoint, rate-limited and faulted
 * ones, the ones held by a delay right now, and the last API request.
 * api.c counts into it, admin.c reads and resets it; it sits below both,
 * so neither has to reach into the other.
 */
#ifndef HSP_TALLY_H
#define HSP_TALLY_H

#include "sandbox/endpoint.h"

struct json_object;
struct tally;                       /* opaque */

/* A new, zeroed tally, freed with tally_free(). NULL when out of memory. */
struct tally *tally_new(void);

/* Frees T and the last request it holds. NULL-safe. */
void tally_free(struct tally *t);

/* One more request that reached endpoint E (whatever follows). */
void tally_request(struct tally *t, enum endpoint e);

/* One more request answered 429 by the rate limit. */
void tally_throttled(struct tally *t);

/* One more request given a forced or drawn fault. */
void tally_faulted(struct tally *t);

/* A request starts waiting on a delay, or stops waiting. */
void tally_hold(struct tally *t);
void tally_release(struct tally *t);

/*
 * Remembers LAST, a capture_request() description of the last request
 * seen on a non-admin path; takes ownership of the reference and puts
 * the one it replaces.
 */
void tally_set_last(struct tally *t, struct json_object *last);

/*
 * The last request as a new reference the caller puts, or NULL when there
 * was none since the start or the last reset.
 */
struct json_object *tally_last(const struct tally *t);

/*
 * A new {"requests":{"query":N,"query_crm":N,"blocks":N,
 * "dispositions":N,"update":N},"total":N,"rate_limited":N,"faults":N,
 * "held":N} reference the caller puts, or NULL when out of memory.
 */
struct json_object *tally_stats(const struct tally *t);

/*
 * Zeroes the counters and forgets the last request (POST
 * /__sandbox/reset). "held" stays: those requests are still waiting.
 */
void tally_reset(struct tally *t);

#endif /* HSP_TALLY_H */
