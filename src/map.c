/*
 * map.c - separate chaining with a power-of-two bucket array that doubles
 * past a load factor of 1, and FNV-1a over a random 64-bit seed.
 */
#include "config.h"

#include "map.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#define MAP_BUCKETS_MIN 16

struct map_node {
    struct map_node *next;
    uint64_t         hash;
    void            *value;
    size_t           len;
    unsigned char    key[];         /* LEN bytes */
};

struct map {
    struct map_node **buckets;
    size_t            nbuckets;     /* a power of two */
    size_t            count;
    uint64_t          seed;
};

static uint64_t
map_hash(const struct map *m, const void *key, size_t len)
{
    const unsigned char *p = key;
    uint64_t             h = 0xcbf29ce484222325ULL ^ m->seed;
    size_t               i;

    for (i = 0; i < len; i++) {
        h ^= p[i];
        h *= 0x100000001b3ULL;
    }
    /* FNV's low bits mix poorly; fold the high half in before masking. */
    return h ^ (h >> 32);
}

struct map *
map_new(void)
{
    struct map *m = calloc(1, sizeof(*m));

    if (m == NULL) {
        return NULL;
    }
    m->buckets = calloc(MAP_BUCKETS_MIN, sizeof(*m->buckets));
    if (m->buckets == NULL) {
        free(m);
        return NULL;
    }
    m->nbuckets = MAP_BUCKETS_MIN;
    if (RAND_bytes((unsigned char *)&m->seed, sizeof(m->seed)) != 1) {
        m->seed = (uint64_t)(uintptr_t)m;   /* still varies per run */
    }
    return m;
}

void
map_free(struct map *m)
{
    if (m == NULL) {
        return;
    }
    map_clear(m, NULL, NULL);
    free(m->buckets);
    free(m);
}

static struct map_node **
map_slot(const struct map *m, uint64_t h, const void *key, size_t len)
{
    struct map_node **pp = &m->buckets[h & (m->nbuckets - 1)];

    while (*pp != NULL) {
        if ((*pp)->hash == h && (*pp)->len == len &&
            memcmp((*pp)->key, key, len) == 0) {
            break;
        }
        pp = &(*pp)->next;
    }
    return pp;
}

void *
map_get(const struct map *m, const void *key, size_t len)
{
    struct map_node *n = *map_slot(m, map_hash(m, key, len), key, len);

    return n != NULL ? n->value : NULL;
}

/* Doubles the bucket array; on failure the map keeps working, slower. */
static void
map_grow(struct map *m)
{
    size_t            n = m->nbuckets * 2, i;
    struct map_node **b = calloc(n, sizeof(*b));

    if (b == NULL) {
        return;
    }
    for (i = 0; i < m->nbuckets; i++) {
        struct map_node *node = m->buckets[i], *next;

        for (; node != NULL; node = next) {
            next = node->next;
            node->next = b[node->hash & (n - 1)];
            b[node->hash & (n - 1)] = node;
        }
    }
    free(m->buckets);
    m->buckets = b;
    m->nbuckets = n;
}

int
map_put(struct map *m, const void *key, size_t len, void *value)
{
    uint64_t          h = map_hash(m, key, len);
    struct map_node **pp = map_slot(m, h, key, len);
    struct map_node  *n;

    if (*pp != NULL) {
        (*pp)->value = value;
        return 0;
    }
    n = malloc(sizeof(*n) + len);
    if (n == NULL) {
        return -1;
    }
    n->next = NULL;
    n->hash = h;
    n->value = value;
    n->len = len;
    memcpy(n->key, key, len);
    *pp = n;
    m->count++;
    if (m->count > m->nbuckets) {
        map_grow(m);
    }
    return 0;
}

void *
map_del(struct map *m, const void *key, size_t len)
{
    struct map_node **pp = map_slot(m, map_hash(m, key, len), key, len);
    struct map_node  *n = *pp;
    void             *value;

    if (n == NULL) {
        return NULL;
    }
    *pp = n->next;
    value = n->value;
    free(n);
    m->count--;
    return value;
}

size_t
map_count(const struct map *m)
{
    return m->count;
}

void
map_clear(struct map *m, void (*fn)(void *value, void *arg), void *arg)
{
    size_t i;

    for (i = 0; i < m->nbuckets; i++) {
        struct map_node *n = m->buckets[i], *next;

        m->buckets[i] = NULL;
        for (; n != NULL; n = next) {
            next = n->next;
            if (fn != NULL) {
                fn(n->value, arg);
            }
            free(n);
        }
    }
    m->count = 0;
}
