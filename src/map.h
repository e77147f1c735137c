/*
 * map.h - a hash table from byte-string keys to pointers, for the
 * per-worker tables of the proxy (requests in flight, waiters). Pure: no
 * libevent, no hiredis; not thread-safe (one per worker loop).
 *
 * The map owns copies of its keys; values are borrowed: the map never
 * frees them. Keys are hashed with a per-map random seed, so a client
 * choosing keys cannot aim them at one bucket.
 */
#ifndef HSP_MAP_H
#define HSP_MAP_H

#include <stddef.h>

struct map;

/* A new empty map, or NULL when out of memory. */
struct map *map_new(void);

/* Frees M and its key copies (not the values). NULL-safe. */
void map_free(struct map *m);

/* The value of KEY (LEN bytes), or NULL. */
void *map_get(const struct map *m, const void *key, size_t len);

/*
 * Sets KEY (LEN bytes, copied) to VALUE, which must not be NULL; an old
 * value is replaced. Returns 0, or -1 when out of memory (M unchanged).
 */
int map_put(struct map *m, const void *key, size_t len, void *value);

/* Removes KEY; returns its value, or NULL when it was not there. */
void *map_del(struct map *m, const void *key, size_t len);

/* The number of keys. */
size_t map_count(const struct map *m);

/*
 * Removes every key, calling FN(value, arg) for each value first when
 * FN is not NULL (FN must not use M).
 */
void map_clear(struct map *m, void (*fn)(void *value, void *arg), void *arg);

#endif /* HSP_MAP_H */
