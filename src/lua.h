/*
 * lua.h - the Redis-side scripts of the cache (SPEC §3, §4). Each runs
 * atomically in Redis, touching only keys of one tenant (one hash tag).
 */
#ifndef HSP_LUA_H
#define HSP_LUA_H

#include "store.h"

/*
 * LOOKUP  KEYS: hash, epoch, bgen   ARGV: field, is_blocks
 *   -> { entry or nil, epoch or "", blocks generation or "" }
 * FILL    KEYS: hash, epoch, bgen   ARGV: field, value, expire_ms,
 *                                         epoch seen, is_blocks, bgen seen
 *   -> 1 stored, 0 refused because a PATCH came in between
 * WRITE   KEYS: lead hash, epoch, blocks hash, bgen
 *         ARGV: value or "", expire_ms, drop tenant blocks (0/1),
 *               epoch_expire_ms
 *   -> the new epoch
 */
extern struct store_script lua_lookup;
extern struct store_script lua_fill;
extern struct store_script lua_write;

/* Computes the scripts' SHAs. Call once at start-up. */
void lua_init(void);

#endif /* HSP_LUA_H */
