/*
 * near.c - entries in a map by key and in one LRU list; each entry also
 * hangs, through a link per dependency, in the list of every Redis key it
 * depends on, kept in a second map, so that an invalidation finds exactly
 * the entries to drop.
 */
#include "config.h"

#include "near.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include "map.h"

#define NEAR_DEPS 2

struct near_entry;

/* The entries depending on one Redis key. */
struct near_dep {
    LIST_HEAD(, near_link) entries;
    size_t                 len;
    char                   key[];   /* LEN bytes and a NUL */
};

/* One dependency of one entry. */
struct near_link {
    LIST_ENTRY(near_link) next;     /* in dep->entries */
    struct near_dep      *dep;      /* borrowed */
    struct near_entry    *entry;    /* the owner */
};

struct near_entry {
    TAILQ_ENTRY(near_entry) lru;    /* most recently used first */
    struct near_link        links[NEAR_DEPS];
    int                     nlinks;
    size_t                  size;   /* what it counts against the bound */
    size_t                  klen;
    size_t                  vlen;
    char                   *value;  /* points into data, after the key */
    char                    data[]; /* key, then value */
};

struct near {
    struct map                   *entries;  /* key -> near_entry */
    struct map                   *deps;     /* Redis key -> near_dep */
    TAILQ_HEAD(near_lru, near_entry) lru;
    size_t                        bytes;
    size_t                        max_bytes;
    size_t                        count;
};

struct near *
near_new(size_t max_bytes)
{
    struct near *n = calloc(1, sizeof(*n));

    if (n == NULL) {
        return NULL;
    }
    n->entries = map_new();
    n->deps = map_new();
    if (n->entries == NULL || n->deps == NULL) {
        near_free(n);
        return NULL;
    }
    TAILQ_INIT(&n->lru);
    n->max_bytes = max_bytes;
    return n;
}

/* Unhangs and frees E; frees dependency lists it leaves empty. */
static void
near_drop(struct near *n, struct near_entry *e)
{
    int i;

    for (i = 0; i < e->nlinks; i++) {
        struct near_dep *d = e->links[i].dep;

        LIST_REMOVE(&e->links[i], next);
        if (LIST_EMPTY(&d->entries)) {
            map_del(n->deps, d->key, d->len);
            free(d);
        }
    }
    TAILQ_REMOVE(&n->lru, e, lru);
    map_del(n->entries, e->data, e->klen);
    n->bytes -= e->size;
    n->count--;
    free(e);
}

void
near_clear(struct near *n)
{
    struct near_entry *e;

    while ((e = TAILQ_FIRST(&n->lru)) != NULL) {
        near_drop(n, e);
    }
}

void
near_free(struct near *n)
{
    if (n == NULL) {
        return;
    }
    if (n->entries != NULL && n->deps != NULL) {
        near_clear(n);
    }
    map_free(n->entries);
    map_free(n->deps);
    free(n);
}

const char *
near_get(struct near *n, const void *key, size_t klen, size_t *vlen)
{
    struct near_entry *e = map_get(n->entries, key, klen);

    if (e == NULL) {
        return NULL;
    }
    if (TAILQ_FIRST(&n->lru) != e) {
        TAILQ_REMOVE(&n->lru, e, lru);
        TAILQ_INSERT_HEAD(&n->lru, e, lru);
    }
    *vlen = e->vlen;
    return e->value;
}

/* Hangs E in the list of Redis key DEP. Returns 0 or -1. */
static int
near_link(struct near *n, struct near_entry *e, const char *dep)
{
    size_t           len = strlen(dep);
    struct near_dep *d = map_get(n->deps, dep, len);
    struct near_link *l;

    if (d == NULL) {
        d = malloc(sizeof(*d) + len + 1);
        if (d == NULL) {
            return -1;
        }
        LIST_INIT(&d->entries);
        d->len = len;
        memcpy(d->key, dep, len + 1);
        if (map_put(n->deps, d->key, len, d) != 0) {
            free(d);
            return -1;
        }
    }
    l = &e->links[e->nlinks++];
    l->dep = d;
    l->entry = e;
    LIST_INSERT_HEAD(&d->entries, l, next);
    return 0;
}

int
near_put(struct near *n, const void *key, size_t klen, const void *value,
         size_t vlen, const char *dep1, const char *dep2)
{
    struct near_entry *e, *old;
    size_t             size = sizeof(*e) + klen + vlen + 2 * 64;

    old = map_get(n->entries, key, klen);
    if (old != NULL) {
        near_drop(n, old);
    }
    if (size > n->max_bytes / 4) {
        return -1;
    }
    while (n->bytes + size > n->max_bytes && !TAILQ_EMPTY(&n->lru)) {
        near_drop(n, TAILQ_LAST(&n->lru, near_lru));
    }
    e = malloc(sizeof(*e) + klen + vlen);
    if (e == NULL) {
        return -1;
    }
    memset(e, 0, sizeof(*e));
    memcpy(e->data, key, klen);
    memcpy(e->data + klen, value, vlen);
    e->klen = klen;
    e->vlen = vlen;
    e->value = e->data + klen;
    e->size = size;
    if (map_put(n->entries, e->data, klen, e) != 0) {
        free(e);
        return -1;
    }
    TAILQ_INSERT_HEAD(&n->lru, e, lru);
    n->bytes += size;
    n->count++;
    if (near_link(n, e, dep1) != 0 ||
        (dep2 != NULL && near_link(n, e, dep2) != 0)) {
        near_drop(n, e);
        return -1;
    }
    return 0;
}

void
near_invalidate(struct near *n, const void *dep, size_t len)
{
    struct near_dep *d = map_get(n->deps, dep, len);

    /* Dropping the last entry frees D, so test emptiness before. */
    while (d != NULL) {
        struct near_link *l = LIST_FIRST(&d->entries);
        bool              last = LIST_NEXT(l, next) == NULL;

        near_drop(n, l->entry);
        if (last) {
            break;
        }
    }
}

size_t
near_count(const struct near *n)
{
    return n->count;
}

size_t
near_bytes(const struct near *n)
{
    return n->bytes;
}
