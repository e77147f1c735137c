/*
 * tkeys.h - a worker's cache of tenants' derived keys (SPEC §13, issue
 * 15): tenant id -> struct seal_keys, derived from the token on a miss
 * (HKDF, ~7 µs) and reused by every later request of that tenant (a map
 * lookup). Pure: OpenSSL through seal.h, no libevent, no hiredis; one per
 * worker loop (proxy.c), not thread-safe, so no locks.
 *
 * Why per worker: a worker already owns one struct seal_ctx (mutable, one
 * per thread, seal.h), and a miss costs one derivation per worker, which
 * is nothing next to the upstream call that the tenant's first request
 * makes anyway. A shared cache would need a lock on every request.
 *
 * Bounded: at most MAX tenants; a miss beyond that evicts the least
 * recently used. An evicted tenant is derived again when it comes back.
 *
 * Lifetimes: a request keeps its tenant's keys across loop turns (it may
 * be parked waiting for Redis or the upstream), so tkeys_get hands out a
 * counted reference, released by tkey_release. Eviction only unlinks an
 * entry that requests still hold; the last release frees it. So an entry
 * never goes away under a request, and the cache holds MAX tenants plus
 * at most one per request in flight. (Copying the keys into each request
 * would need seal.h to expose its struct, and costs a copy per request;
 * a count costs an increment.)
 *
 * Keys are wiped when freed (seal_keys_free). The token is never kept.
 */
#ifndef HSP_TKEYS_H
#define HSP_TKEYS_H

#include <stddef.h>

#include "seal.h"

#define TKEYS_MAX 4096                  /* tenants a worker keeps */

struct tkeys;                           /* opaque, one per worker */
struct tkey;                            /* opaque: one tenant's keys */

/*
 * A cache of at most MAX (> 0) tenants, with its own struct seal_ctx.
 * Returns NULL when out of memory or when OpenSSL lacks an algorithm.
 * The caller owns it and frees it with tkeys_free.
 */
struct tkeys *tkeys_new(size_t max);

/*
 * Frees T (NULL-safe). Entries still held by requests are not freed
 * here: their last tkey_release frees them.
 */
void tkeys_free(struct tkeys *t);

/* T's context, for seal.h calls with the keys of T's entries; borrowed. */
struct seal_ctx *tkeys_ctx(struct tkeys *t);

/*
 * The keys of the tenant whose id is TENANT (NUL-terminated, as
 * key_tenant() makes it) and whose token is TOKEN (LEN > 0 bytes, used
 * only on a miss, never kept). Returns a reference the caller releases
 * with tkey_release, or NULL when out of memory or OpenSSL failed.
 */
struct tkey *tkeys_get(struct tkeys *t, const char *tenant,
                       const void *token, size_t len);

/* The keys of K, valid until K is released. */
const struct seal_keys *tkey_keys(const struct tkey *k);

/* Releases a reference from tkeys_get (K may be NULL). */
void tkey_release(struct tkey *k);

/* Tenants cached now (held-only evicted entries not counted). */
size_t tkeys_count(const struct tkeys *t);

#endif /* HSP_TKEYS_H */
