/*
 * budget.h - the shared upstream budget (SPEC §6, §8): before any upstream
 * call the proxy takes one grant from its tenant's budget. The budget is
 * held in Redis and shared by every instance and worker; while Redis is
 * away each process answers from a budget of its own (rate_limit_fallback)
 * and goes back to the shared one by itself once Redis answers again.
 *
 * The budget is a sliding window, as the vendor counts: a take is granted
 * when fewer than the class's limit were granted in the last
 * period + BUDGET_MARGIN_MS. BUDGET_READ may use rate_limit minus
 * rate_reserve_writes, BUDGET_WRITE (PATCH) all of rate_limit, so reads
 * can never starve writes. An upstream 429 pauses the tenant (budget_pause)
 * and every take is denied until the pause ends. rate_limit = 0 turns the
 * whole budget off: every take is granted at once, with no Redis call.
 *
 * Two objects: one struct budget_local per process (budget_local.h),
 * shared by its worker threads (locked; used only while Redis is away and
 * for pauses), and one struct budget per worker, used only on that
 * worker's loop.
 *
 * Tenants are the 32-hex ids of key_tenant(); a token never reaches this
 * module, and logs show at most the first 8 hex digits of a tenant.
 */
#ifndef HSP_BUDGET_H
#define HSP_BUDGET_H

#include <stdbool.h>
#include <stdint.h>

#include "budget_limits.h"
#include "store.h"

struct conf;
struct budget;
struct budget_local;
struct budget_op;

#define BUDGET_PAUSE_DEFAULT_MS 60000       /* a 429 without Retry-After */
#define BUDGET_PAUSE_MAX_MS     3600000     /* a longer Retry-After is cut */

enum budget_answer {
    BUDGET_GRANTED,                 /* answered now: go to the upstream */
    BUDGET_DENIED,                  /* answered now: *WAIT_MS is set */
    BUDGET_PENDING                  /* Redis asked: the callback will tell */
};

/*
 * TAKE   KEYS: budget zset, pause key   ARGV: max grants, window_ms, member
 *   -> { 1, 0 } granted, { 0, wait_ms } denied (paused: the pause's PTTL)
 * PAUSE  KEYS: pause key                ARGV: pause_ms
 *   -> 1 set, 0 a longer pause was already there
 * Exported for tests.
 */
extern struct store_script budget_script_take;
extern struct store_script budget_script_pause;

/*
 * The budget of one worker, on the loop of ST. ST (may be NULL: no Redis,
 * always the local budget) and BL are borrowed and must outlive it; CF is
 * copied. Returns NULL when out of memory (logged).
 */
struct budget *budget_new(struct store *st, const struct conf *cf,
                          struct budget_local *bl);

/*
 * Takes the limits of CF (a reload): takes asked from then on use them;
 * takes already pending at Redis keep the limits they were asked with.
 * Only on B's loop.
 */
void budget_set_limits(struct budget *b, const struct conf *cf);

/*
 * Frees B. Takes still pending are answered first, from the local budget
 * as if Redis had failed, so every callback still runs exactly once.
 * NULL-safe.
 */
void budget_free(struct budget *b);

/* The answer of a pending take: GRANTED, or not and WAIT_MS (> 0). */
typedef void (*budget_cb)(bool granted, int64_t wait_ms, void *arg);

/*
 * Takes one grant of class CLS for TENANT (KEY_TENANT_HEX hex digits,
 * copied).
 *
 * Contract, for the caller's state machine:
 * - BUDGET_GRANTED / BUDGET_DENIED: answered at once, without a loop turn
 *   (budget off, or Redis away and the local budget answered); CB never
 *   runs, *OP is NULL, *WAIT_MS is set when denied.
 * - BUDGET_PENDING: the shared budget was asked. CB runs exactly once, on
 *   the loop and never inside budget_take, unless budget_cancel(*OP) runs
 *   first. *OP is valid until CB starts or budget_cancel. A Redis that
 *   fails or misses redis_timeout gets the answer of the local budget.
 */
enum budget_answer budget_take(struct budget *b, const char *tenant,
                               enum budget_class cls, budget_cb cb,
                               void *arg, struct budget_op **op,
                               int64_t *wait_ms);

/* Abandons a pending take: its callback will not run. The grant, if Redis
 * already made it, stays spent. */
void budget_cancel(struct budget_op *op);

/*
 * Pauses TENANT for MS (<= 0: BUDGET_PAUSE_DEFAULT_MS; at most
 * BUDGET_PAUSE_MAX_MS) on every instance, after an upstream 429: the pause
 * is set in Redis (never shortening a longer one) and in the local budget.
 * Fire and forget. A no-op when the budget is off.
 */
void budget_pause(struct budget *b, const char *tenant, int64_t ms);

#endif /* HSP_BUDGET_H */
