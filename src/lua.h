/*
 * lua.h - the Redis-side scripts of the cache and of Idempotency-Key
 * records (SPEC §3, §4, §5). Each runs
 * atomically in Redis, touching only keys of one tenant (one hash tag).
 */
#ifndef HSP_LUA_H
#define HSP_LUA_H

#include "store.h"

/*
 * LOOKUP  KEYS: hash, epoch, bgen, lock
 *         ARGV: field, is_blocks, now_ms, max_age_s (-1: none), owner
 *               ("" for no lock), lease_ms, take a handed answer (0/1)
 *   -> { entry or nil, epoch or "", blocks generation or "", verdict }
 *      verdict "hit" (the entry will do), "none" (no lock asked), or the
 *      LOCK verdicts below ("lead", "wait" + pttl, "answer" + entry)
 * LOCK    KEYS: lock, epoch, bgen   ARGV: owner, lease_ms, is_blocks,
 *                                         take a handed answer (0/1)
 *   -> { "lead", epoch, bgen } | { "wait", pttl } | { "answer", entry }
 * FILL    KEYS: hash, epoch, bgen, lock
 *         ARGV: field, value, expire_ms, epoch seen, is_blocks, bgen seen,
 *               store (0/1), owner or "", answer_ms, wake channel
 *   -> 1 stored, 0 not (not asked, or a PATCH came in between). With an
 *      owner still holding the lock, the value is handed to the waiters
 *      (or the lock dropped after a PATCH) and the channel told.
 * UNLOCK  KEYS: lock   ARGV: owner, wake channel   -> 1 dropped, 0 not ours
 * WRITE   KEYS: lead hash, epoch, blocks hash, bgen
 *         ARGV: value or "", expire_ms, drop tenant blocks (0/1),
 *               epoch_expire_ms
 *   -> the new epoch
 *
 * The Idempotency-Key record (SPEC §5), a hash: fp (the fingerprint),
 * owner (the claim's random id, while in flight), resp (the stored answer,
 * once completed). Its TTL is the lease while in flight, then
 * idempotency_ttl.
 * IDEM_CLAIM    KEYS: record   ARGV: fingerprint, owner, lease_ms
 *   -> { "claimed" } | { "done", answer } | { "busy" } | { "mismatch" }
 * IDEM_COMPLETE KEYS: record   ARGV: owner, fingerprint, answer, ttl_ms
 *   -> 1 stored, 0 the claim was lost (expired and claimed again)
 * IDEM_RELEASE  KEYS: record   ARGV: owner
 *   -> 1 released, 0 not ours any more
 */
extern struct store_script lua_lookup;
extern struct store_script lua_fill;
extern struct store_script lua_lock;
extern struct store_script lua_ping;     /* the near cache's heartbeat */
extern struct store_script lua_unlock;
extern struct store_script lua_write;
extern struct store_script lua_idem_claim;
extern struct store_script lua_idem_complete;
extern struct store_script lua_idem_release;

/* Computes the scripts' SHAs. Call once at start-up. */
void lua_init(void);

#endif /* HSP_LUA_H */
