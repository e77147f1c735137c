/*
 * budget_local.h - the local upstream budget of one process (SPEC §8):
 * one struct budget_local per process, shared by its worker threads
 * (locked), that the shared budget (budget.h) answers from while Redis is
 * away and that records every pause. Main creates it before the workers'
 * budgets and frees it after them.
 *
 * Tenants are the 32-hex ids of key_tenant(); a token never reaches this
 * module.
 */
#ifndef HSP_BUDGET_LOCAL_H
#define HSP_BUDGET_LOCAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "budget_limits.h"

struct conf;
struct budget_local;

#define BUDGET_LOCAL_TENANTS_MAX 65536      /* local table bound */

/*
 * The local budget of the process. Copies what it needs from CF. Returns
 * NULL when out of memory (logged). Thread-safe; free it after every
 * struct budget using it.
 */
struct budget_local *budget_local_new(const struct conf *cf);

/*
 * Takes the fallback limits of CF (a reload); takes from then on use
 * them, and the grants already counted stay counted. Thread-safe.
 */
void budget_local_set_limits(struct budget_local *bl, const struct conf *cf);

/* Frees BL. NULL-safe. */
void budget_local_free(struct budget_local *bl);

/*
 * Takes one grant of class CLS for TENANT at NOW_MS (a monotonic clock in
 * ms, never going back). Returns true when granted; otherwise sets *WAIT_MS
 * (> 0) to when a take could be granted. While TENANT is paused the wait
 * is what is left of the pause. With rate_limit_fallback 0 only pauses deny.
 * Idle tenants are reclaimed about once a window; past
 * BUDGET_LOCAL_TENANTS_MAX busy tenants a new one is granted untracked.
 */
bool budget_local_take(struct budget_local *bl, const char *tenant,
                       enum budget_class cls, int64_t now_ms,
                       int64_t *wait_ms);

/* Denies every take of TENANT for MS from NOW_MS (same clock); never
 * shortens a longer pause. */
void budget_local_pause(struct budget_local *bl, const char *tenant,
                        int64_t now_ms, int64_t ms);

/* The tenants BL tracks now (for tests and bounds checks). */
size_t budget_local_tenants(struct budget_local *bl);

#endif /* HSP_BUDGET_LOCAL_H */
