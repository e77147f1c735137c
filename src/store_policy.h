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
#include <stdint.h>

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

/*
 * How many replicas a durable script waits for (WAIT n), from the counts
 * INFO replication gives over one master connection. A rise counts at
 * once. A fall counts only once it has lasted STORE_REPLICAS_SETTLE_MS:
 * in a failover the replica being promoted leaves the old master first,
 * and a claim the remaining replicas alone took would be lost with them
 * when they follow the new master; that lasts until +switch-master moves
 * the proxy (a new connection, a fresh count), well under the settle
 * time, while a replica that died stays gone and stops holding claims
 * back after it.
 */
#define STORE_REPLICAS_SETTLE_MS 30000

struct store_replicas {
    int     want;                   /* what WAIT asks; -1: not known */
    int64_t lower_since_ms;         /* a lower count seen since; 0: none */
};

/* A new connection: nothing known. */
void store_replicas_reset(struct store_replicas *r);

/* INFO replication said SEEN replicas at NOW_MS; returns R->want. */
int store_replicas_seen(struct store_replicas *r, int seen, int64_t now_ms);

#endif /* HSP_STORE_POLICY_H */
