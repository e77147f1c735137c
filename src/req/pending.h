/*
 * req/pending.h - PATCHes whose write-through could not be applied
 * (SPEC §12): the link was down, Redis refused the write (OOM, READONLY)
 * or did not answer in time. The upstream did change the lead, so the
 * cached one is wrong, and nothing dropped it.
 *
 * Such a lead is pending, process-wide: every worker's reads of it skip
 * the near cache and the stored entry and go upstream (as a refresh,
 * whose fill puts the new lead in when Redis takes it), and each worker
 * retries the invalidation (the write script, dropping the lead and
 * raising its guards) on a timer until Redis has applied it once. So the
 * instance that made the PATCH never serves the old lead, and the rest of
 * the fleet stops serving it as soon as this instance reaches Redis again.
 *
 * Ownership: the table is the module's, process-wide, behind a mutex
 * (a count read without it keeps reads free of the lock while nothing is
 * pending). A worker's pending_retry is made and freed by its proxy; it
 * owns its timer.
 */
#ifndef HSP_REQ_PENDING_H
#define HSP_REQ_PENDING_H

#include <stdbool.h>
#include <stdint.h>

struct event_base;
struct key_entry;
struct pending_retry;
struct store;

/*
 * Notes that the lead LEAD (its hash and epoch; BLOCKS_HASH and LEAD's
 * blocks generation too when BOOKS, a booking) must still be dropped,
 * its guards then kept GUARD_MS. Returns false when the table is full or
 * memory is short (the lead is then only logged).
 */
bool pending_add(const struct key_entry *lead, const char *blocks_hash,
                 bool books, int64_t guard_ms);

/* Whether the lead stored in the hash HASH awaits its invalidation. */
bool pending_has(const char *hash);

/* A worker's retries, on BASE with ST. NULL when out of memory. */
struct pending_retry *pending_retry_new(struct event_base *base,
                                        struct store *st);
void                  pending_retry_free(struct pending_retry *pr);

#endif /* HSP_REQ_PENDING_H */
