/*
 * tkeys.c - a worker's cache of tenants' derived keys (tkeys.h).
 */
#include "config.h"

#include <assert.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include "map.h"
#include "tkeys.h"

#define TKEYS_TENANT_MAX 64             /* bytes of a tenant id, NUL too */

struct tkey {
    TAILQ_ENTRY(tkey) lru;              /* in tkeys.lru while linked */
    struct seal_keys *keys;             /* owned */
    unsigned          refs;             /* requests holding it */
    bool              linked;           /* in the map and the LRU list */
    char              tenant[TKEYS_TENANT_MAX];
};

TAILQ_HEAD(tkey_list, tkey);

struct tkeys {
    struct seal_ctx *ctx;               /* owned */
    struct map      *map;               /* tenant id -> struct tkey */
    struct tkey_list lru;               /* most recently used first */
    size_t           n, max;
};

struct tkeys *
tkeys_new(size_t max)
{
    struct tkeys *t = calloc(1, sizeof(*t));

    if (t == NULL) {
        return NULL;
    }
    assert(max > 0);
    t->max = max;
    TAILQ_INIT(&t->lru);
    t->ctx = seal_ctx_new();
    t->map = map_new();
    if (t->ctx == NULL || t->map == NULL) {
        tkeys_free(t);
        return NULL;
    }
    return t;
}

/* Frees K, which no map or list holds any more. */
static void
tkey_free(struct tkey *k)
{
    seal_keys_free(k->keys);            /* wipes them */
    free(k);
}

/* Takes K out of T; frees it unless a request still holds it. */
static void
tkeys_unlink(struct tkeys *t, struct tkey *k)
{
    map_del(t->map, k->tenant, strlen(k->tenant));
    TAILQ_REMOVE(&t->lru, k, lru);
    k->linked = false;
    t->n--;
    if (k->refs == 0) {
        tkey_free(k);
    }
}

void
tkeys_free(struct tkeys *t)
{
    struct tkey *k;

    if (t == NULL) {
        return;
    }
    while ((k = TAILQ_FIRST(&t->lru)) != NULL) {
        tkeys_unlink(t, k);
    }
    map_free(t->map);
    seal_ctx_free(t->ctx);
    free(t);
}

struct seal_ctx *
tkeys_ctx(struct tkeys *t)
{
    return t->ctx;
}

struct tkey *
tkeys_get(struct tkeys *t, const char *tenant, const void *token, size_t len)
{
    size_t       tlen = strlen(tenant);
    struct tkey *k = map_get(t->map, tenant, tlen);

    if (k != NULL) {
        if (k != TAILQ_FIRST(&t->lru)) {
            TAILQ_REMOVE(&t->lru, k, lru);
            TAILQ_INSERT_HEAD(&t->lru, k, lru);
        }
        k->refs++;
        return k;
    }
    if (tlen >= TKEYS_TENANT_MAX || (k = calloc(1, sizeof(*k))) == NULL) {
        return NULL;
    }
    memcpy(k->tenant, tenant, tlen + 1);
    k->keys = seal_keys_new(t->ctx, token, len);
    if (k->keys == NULL || map_put(t->map, tenant, tlen, k) != 0) {
        tkey_free(k);
        return NULL;
    }
    if (t->n == t->max) {
        tkeys_unlink(t, TAILQ_LAST(&t->lru, tkey_list));
    }
    TAILQ_INSERT_HEAD(&t->lru, k, lru);
    k->linked = true;
    k->refs = 1;
    t->n++;
    return k;
}

const struct seal_keys *
tkey_keys(const struct tkey *k)
{
    return k->keys;
}

void
tkey_release(struct tkey *k)
{
    if (k == NULL) {
        return;
    }
    assert(k->refs > 0);
    if (--k->refs == 0 && !k->linked) {
        tkey_free(k);               /* evicted while held: last one out */
    }
}

size_t
tkeys_count(const struct tkeys *t)
{
    return t->n;
}
