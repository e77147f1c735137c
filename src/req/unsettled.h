/*
 * req/unsettled.h - Idempotency-Key records whose completion may not
 * have reached a Redis that keeps it (SPEC §5, §12): the upstream did
 * act, so the record must end up stored, or a retry after the claim's
 * lease would run the PATCH again. With Sentinel a completion counts
 * only once a replica has it (WAIT); one the old master of a failover
 * took is lost when it is demoted, and one Redis failed (timed out,
 * link lost) may not have been applied.
 *
 * Each settle is noted before it is sent and forgotten once Redis
 * answered it; an entry still here UNSETTLED_GRACE_MS later is sent
 * again by any worker's retry, every 250 ms, until Redis (and, with
 * Sentinel, a replica) has taken it, for at most UNSETTLED_FOR_MS.
 * Sending the same completion twice stores the same record.
 *
 * Ownership: the table is the module's, process-wide, behind a mutex;
 * entries own a copy of the answer. A worker's unsettled_retry is made
 * and freed by its proxy; it owns its timer.
 */
#ifndef HSP_REQ_UNSETTLED_H
#define HSP_REQ_UNSETTLED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event_base;
struct store;
struct unsettled_retry;

/*
 * Notes the completion of RECORD by OWNER (its fingerprint FP, the
 * ANSWER of LEN bytes, kept TTL_MS), about to be sent. Returns false
 * when the table is full or memory is short (it is then only sent once).
 */
bool unsettled_add(const char *record, const char *owner, const char *fp,
                   const char *answer, size_t len, int64_t ttl_ms);

/* Redis answered the completion of RECORD by OWNER: forget it. */
void unsettled_done(const char *record, const char *owner);

/* A worker's retries, on BASE with ST. NULL when out of memory. */
struct unsettled_retry *unsettled_retry_new(struct event_base *base,
                                            struct store *st);
void                    unsettled_retry_free(struct unsettled_retry *ur);

#endif /* HSP_REQ_UNSETTLED_H */
