/*
 * store_policy.h - what a Redis's maxmemory-policy means for the proxy
 * (SPEC §12): any policy but noeviction may evict Idempotency-Key records
 * and the guards of fills, so at-most-once and no-stale-write can break.
 * Pure: the store asks Redis (CONFIG GET, or INFO memory for an ACL user
 * without CONFIG) and hands the text here.
 */
#ifndef HSP_STORE_POLICY_H
#define HSP_STORE_POLICY_H

#include <stdbool.h>
#include <stddef.h>

/* Whether the maxmemory-policy POLICY may evict the proxy's keys. */
bool store_policy_evicts(const char *policy);

/*
 * Copies the value of the "maxmemory_policy:" line of INFO (the text of
 * INFO memory, CRLF lines) into OUT of CAP bytes. Returns 0, or -1 when
 * there is no such line or its value does not fit.
 */
int store_policy_from_info(const char *info, char *out, size_t cap);

/*
 * Copies the value of INFO's FIELD line ("name:", colon included) into
 * OUT of CAP bytes, as store_policy_from_info does for the policy: 0, or
 * -1 when there is no such line or its value does not fit.
 */
int store_policy_info_field(const char *info, const char *field, char *out,
                            size_t cap);

#endif /* HSP_STORE_POLICY_H */
