/*
 * req/answer.h - a read's answers (SPEC §2, §6, §7): a hit, a stale entry,
 * the upstream's answer, a handed-over answer, or an error, given to the
 * read's own client and, when it leads a flight, to the reads waiting in
 * it. Each renders its cache headers once, through reply.c, which writes
 * them.
 *
 * The functions returning enum req_state return REQ_DONE, for a handler
 * to return.
 */
#ifndef HSP_REQ_ANSWER_H
#define HSP_REQ_ANSWER_H

#include <stdbool.h>
#include <stdint.h>

#include "req/req.h"
#include "req/reply.h"

struct cache_entry;
struct flight_answer;

/* Answers R and its waiters with an error of the proxy's own. */
enum req_state answer_error(struct req *r, int status, const char *msg);

/* Answers R and its waiters with the error of R's failed upstream call. */
enum req_state answer_upstream_error(struct req *r);

/* Answers R and its waiters with a local 429, after a wait of WAIT_MS. */
enum req_state answer_denied(struct req *r, int64_t wait_ms);

/* Answers R (relaying its upstream answer whole) and its waiters (its
 * status, content type and body); STORED: it is cached now. */
enum req_state answer_forwarded(struct req *r, bool stored);

/* Answers R and its waiters with the cached entry E, fresh at NOW. */
enum req_state answer_hit(struct req *r, const struct cache_entry *e,
                          int64_t now);

/* Answers R and its waiters with E, an answer another instance fetched
 * and handed over in the fetch lock. */
enum req_state answer_handed(struct req *r, const struct cache_entry *e);

/*
 * Answers R from its worker's near cache if it holds R's entry fresh
 * enough for R (plain: a near-cache hit opens nothing, SPEC §13).
 * Returns true when it did.
 */
bool answer_near(struct req *r);

/*
 * Answers R and its waiters with the expired entry R kept, DETAIL saying
 * why, FWD_STATUS the upstream's status when it answered (else 0).
 * Returns false when R kept none. A refresh with nobody to answer
 * answers nobody, and returns true.
 */
bool answer_stale(struct req *r, enum reply_detail detail, int fwd_status);

/* Answers R, a waiter, with its leader's answer A. */
enum req_state answer_waiter(struct req *r, const struct flight_answer *a);

#endif /* HSP_REQ_ANSWER_H */
