/*
 * budget_local.c - the local upstream budget of one process (SPEC §8),
 * shared by its worker threads: the fallback while Redis is away, and
 * the record of every pause.
 *
 * It has the shape of the shared budget (budget.c says why a sliding
 * window log), per process, with rate_limit_fallback's count and period:
 * a fleet failing open spends at most instances x fallback. It only runs
 * while Redis is away, so its lock is not on the hot path; pauses are
 * recorded in it always, so one survives Redis going away.
 *
 * Owns a hash table of tenants, each with its ring of grant times, all
 * behind one mutex; idle tenants are reclaimed by a sweep about once a
 * window, and budget_local_free releases the rest. Calls nothing of the
 * shared budget.
 */
#include "config.h"

#include "budget_local.h"

#include <assert.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "budget_limits.h"
#include "key.h"
#include "log.h"

#define BUDGET_LOCAL_BUCKETS 4096   /* chains stay short up to the bound */
#define BUDGET_RING_MIN      8      /* first allocation of a tenant's log */

/* One tenant of the local budget: its grants of the window, oldest at
 * HEAD of a ring that grows up to write_max, and its pause. */
struct budget_tenant {
    struct budget_tenant *next;     /* bucket chain */
    char                  id[KEY_TENANT_HEX + 1];
    int64_t              *stamps;   /* owned: CAP grant times, ms */
    size_t                head;     /* index of the oldest grant */
    size_t                len;      /* grants in the window */
    size_t                cap;
    int64_t               pause_until; /* ms; <= now: not paused */
};

struct budget_local {
    pthread_mutex_t       lock;     /* guards everything below */
    struct budget_limits  lim;      /* rate_limit_fallback, split */
    int64_t               last_sweep; /* ms of the last idle sweep */
    size_t                ntenants;
    bool                  full_warned; /* logged the bound this sweep */
    struct budget_tenant *buckets[BUDGET_LOCAL_BUCKETS];
};

static size_t
tenant_bucket(const char *tenant)
{
    uint32_t h = 2166136261u;       /* FNV-1a */

    for (; *tenant != '\0'; tenant++) {
        h = (h ^ (unsigned char)*tenant) * 16777619u;
    }
    return h % BUDGET_LOCAL_BUCKETS;
}

static void
tenant_free(struct budget_tenant *t)
{
    free(t->stamps);
    free(t);
}

/* Drops the grants of T that left the window at NOW. */
static void
tenant_trim(struct budget_tenant *t, int64_t now, int64_t window)
{
    while (t->len > 0 && t->stamps[t->head] <= now - window) {
        t->head = (t->head + 1) % t->cap;
        t->len--;
    }
}

/* Room for one more grant in T's ring, up to MAX. Returns 0 or -1. */
static int
tenant_reserve(struct budget_tenant *t, int64_t max)
{
    size_t   cap, i;
    int64_t *s;

    if (t->len < t->cap) {
        return 0;
    }
    cap = t->cap < BUDGET_RING_MIN ? BUDGET_RING_MIN : t->cap * 2;
    if ((int64_t)cap > max) {
        cap = (size_t)max;
    }
    assert(cap > t->len);
    s = malloc(cap * sizeof(*s));
    if (s == NULL) {
        return -1;
    }
    for (i = 0; i < t->len; i++) {
        s[i] = t->stamps[(t->head + i) % t->cap];
    }
    free(t->stamps);
    t->stamps = s;
    t->head = 0;
    t->cap = cap;
    return 0;
}

/* Frees every tenant with no grant in the window and no pause. */
static void
local_sweep(struct budget_local *bl, int64_t now)
{
    struct budget_tenant **pp, *t;
    size_t                 i;

    for (i = 0; i < BUDGET_LOCAL_BUCKETS; i++) {
        pp = &bl->buckets[i];
        while ((t = *pp) != NULL) {
            tenant_trim(t, now, bl->lim.window_ms);
            if (t->len == 0 && t->pause_until <= now) {
                *pp = t->next;
                tenant_free(t);
                bl->ntenants--;
            } else {
                pp = &t->next;
            }
        }
    }
    bl->last_sweep = now;
    bl->full_warned = false;
}

/* The entry of TENANT, created when CREATE; NULL when absent or when the
 * table is full or out of memory. */
static struct budget_tenant *
local_find(struct budget_local *bl, const char *tenant, bool create)
{
    struct budget_tenant *t;
    size_t                h = tenant_bucket(tenant);

    for (t = bl->buckets[h]; t != NULL; t = t->next) {
        if (strcmp(t->id, tenant) == 0) {
            return t;
        }
    }
    if (!create) {
        return NULL;
    }
    /* Full: no sweep here, which would cost the whole table per take;
     * the next one, at most a window away, makes room. */
    if (bl->ntenants >= BUDGET_LOCAL_TENANTS_MAX) {
        if (!bl->full_warned) {
            log_warn("budget: local budget tracks %zu tenants; new ones go "
                     "unlimited until some are idle", bl->ntenants);
            bl->full_warned = true;
        }
        return NULL;
    }
    t = calloc(1, sizeof(*t));
    if (t == NULL) {
        log_err("budget: out of memory");
        return NULL;
    }
    memcpy(t->id, tenant, strlen(tenant) + 1);
    t->next = bl->buckets[h];
    bl->buckets[h] = t;
    bl->ntenants++;
    return t;
}

struct budget_local *
budget_local_new(const struct conf *cf)
{
    struct budget_local *bl;

    bl = calloc(1, sizeof(*bl));
    if (bl == NULL) {
        log_err("budget: out of memory");
        return NULL;
    }
    if (pthread_mutex_init(&bl->lock, NULL) != 0) {
        log_err("budget: cannot create a mutex");
        free(bl);
        return NULL;
    }
    budget_limits_of(cf, true, &bl->lim);
    return bl;
}

void
budget_local_set_limits(struct budget_local *bl, const struct conf *cf)
{
    struct budget_limits lim;

    /* The rings hold grant times, not limits: under new limits they are
     * trimmed by the new window and grown up to the new maximum. */
    budget_limits_of(cf, true, &lim);
    pthread_mutex_lock(&bl->lock);
    bl->lim = lim;
    pthread_mutex_unlock(&bl->lock);
}

void
budget_local_free(struct budget_local *bl)
{
    struct budget_tenant *t, *next;
    size_t                i;

    if (bl == NULL) {
        return;
    }
    for (i = 0; i < BUDGET_LOCAL_BUCKETS; i++) {
        for (t = bl->buckets[i]; t != NULL; t = next) {
            next = t->next;
            tenant_free(t);
        }
    }
    pthread_mutex_destroy(&bl->lock);
    free(bl);
}

static void
check_tenant(const char *tenant)
{
    assert(tenant != NULL && strlen(tenant) <= KEY_TENANT_HEX);
    (void)tenant;
}

bool
budget_local_take(struct budget_local *bl, const char *tenant,
                  enum budget_class cls, int64_t now_ms, int64_t *wait_ms)
{
    const struct budget_limits *lim = &bl->lim;
    struct budget_tenant       *t;
    int64_t                     max, newest;
    bool                        granted = true;

    check_tenant(tenant);
    pthread_mutex_lock(&bl->lock);
    if (now_ms - bl->last_sweep >= lim->window_ms) {
        local_sweep(bl, now_ms);
    }
    /* Without a fallback limit only a pause can deny: look, never add. */
    t = local_find(bl, tenant, lim->write_max > 0);
    if (t == NULL) {
        goto done;
    }
    if (t->pause_until > now_ms) {
        *wait_ms = t->pause_until - now_ms;
        granted = false;
        goto done;
    }
    if (lim->write_max == 0) {
        goto done;
    }
    tenant_trim(t, now_ms, lim->window_ms);
    max = cls == BUDGET_WRITE ? lim->write_max : lim->read_max;
    if ((int64_t)t->len < max) {
        if (tenant_reserve(t, lim->write_max) != 0) {
            log_err("budget: out of memory");
            goto done;              /* granted untracked */
        }
        /* A clock that went back must not unsort the ring. */
        newest = t->len > 0 ? t->stamps[(t->head + t->len - 1) % t->cap]
                            : now_ms;
        t->stamps[(t->head + t->len) % t->cap] =
            now_ms > newest ? now_ms : newest;
        t->len++;
        goto done;
    }
    granted = false;
    if (max <= 0) {
        *wait_ms = lim->window_ms;  /* reads get nothing: try much later */
    } else {
        /* Once the oldest LEN - MAX + 1 grants leave, one more fits. */
        size_t k = t->len - (size_t)max;

        *wait_ms = t->stamps[(t->head + k) % t->cap] + lim->window_ms -
                   now_ms;
        if (*wait_ms < 1) {
            *wait_ms = 1;
        }
    }

done:
    pthread_mutex_unlock(&bl->lock);
    return granted;
}

void
budget_local_pause(struct budget_local *bl, const char *tenant,
                   int64_t now_ms, int64_t ms)
{
    struct budget_tenant *t;

    check_tenant(tenant);
    pthread_mutex_lock(&bl->lock);
    t = local_find(bl, tenant, true);
    if (t != NULL && t->pause_until < now_ms + ms) {
        t->pause_until = now_ms + ms;
    }
    pthread_mutex_unlock(&bl->lock);
}

size_t
budget_local_tenants(struct budget_local *bl)
{
    size_t n;

    pthread_mutex_lock(&bl->lock);
    n = bl->ntenants;
    pthread_mutex_unlock(&bl->lock);
    return n;
}
