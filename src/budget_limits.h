/*
 * budget_limits.h - the classes of the upstream budget and how many
 * grants each may hold in one window (SPEC §6, §8): rate_limit split by
 * rate_reserve_writes for the shared budget (budget.h), rate_limit_fallback
 * split the same way for the local one (budget_local.h). Both build on it;
 * it calls neither.
 *
 * BUDGET_READ may use rate_limit minus rate_reserve_writes, BUDGET_WRITE
 * (PATCH) all of rate_limit, so reads can never starve writes.
 */
#ifndef HSP_BUDGET_LIMITS_H
#define HSP_BUDGET_LIMITS_H

#include <stdbool.h>
#include <stdint.h>

struct conf;

/* Added to the period: our clock and the vendor's see one request up to a
 * network delay apart, so a grant stays in our window 1 s longer than in
 * the vendor's, and we never think a slot free before the vendor does. */
#define BUDGET_MARGIN_MS        1000

enum budget_class {
    BUDGET_READ,                    /* GET: rate_limit - rate_reserve_writes */
    BUDGET_WRITE                    /* PATCH: all of rate_limit */
};

/* The grants each class may hold in one window. */
struct budget_limits {
    int64_t read_max;               /* grants in a window for reads */
    int64_t write_max;              /* and for writes (>= read_max) */
    int64_t window_ms;              /* period + BUDGET_MARGIN_MS */
};

/*
 * The limits of the shared budget (LOCAL false: rate_limit split by
 * rate_reserve_writes) or of the local one (LOCAL true: rate_limit_fallback,
 * its reserve the same share of it, rounded up). The reserve is converted
 * to rate_limit's period, rounded up. write_max 0 means no limit.
 */
void budget_limits_of(const struct conf *cf, bool local,
                      struct budget_limits *out);

#endif /* HSP_BUDGET_LIMITS_H */
