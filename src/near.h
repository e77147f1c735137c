/*
 * near.h - a worker's in-process copy of hot cache entries (the "near
 * cache"), bounded in bytes, least recently used out first. Pure: no
 * libevent, no hiredis; one per worker loop, not thread-safe.
 *
 * Each entry depends on one or two Redis keys (the hash holding it, and
 * for blocks the tenant's blocks generation). near_invalidate drops every
 * entry depending on a key: the caller feeds it Redis's invalidation
 * messages (CLIENT TRACKING), which is what keeps the copy coherent. The
 * coherence rules themselves (when an entry may be put, when everything
 * must go) are the caller's: see req/tracking.c.
 *
 * The near cache owns copies of keys and values.
 */
#ifndef HSP_NEAR_H
#define HSP_NEAR_H

#include <stddef.h>

struct near;

/* A near cache of at most MAX_BYTES (keys, values and bookkeeping), or
 * NULL when out of memory. */
struct near *near_new(size_t max_bytes);

/* Frees N and everything in it. NULL-safe. */
void near_free(struct near *n);

/*
 * The value of KEY (KLEN bytes), borrowed until the next call that
 * changes N, with its length in *VLEN; NULL when absent. A hit makes the
 * entry the most recently used.
 */
const char *near_get(struct near *n, const void *key, size_t klen,
                     size_t *vlen);

/*
 * Puts VALUE (VLEN bytes) under KEY, replacing an older one, depending on
 * the Redis keys DEP1 and DEP2 (NUL-terminated; DEP2 may be NULL). Evicts
 * the least recently used entries to stay within the bound; an entry
 * larger than a quarter of it is not kept. Returns 0, or -1 when not
 * kept (too large, out of memory).
 */
int near_put(struct near *n, const void *key, size_t klen, const void *value,
             size_t vlen, const char *dep1, const char *dep2);

/* Drops every entry depending on the Redis key DEP (LEN bytes). */
void near_invalidate(struct near *n, const void *dep, size_t len);

/* Drops everything. */
void near_clear(struct near *n);

/* Entries and bytes held now. */
size_t near_count(const struct near *n);
size_t near_bytes(const struct near *n);

#endif /* HSP_NEAR_H */
