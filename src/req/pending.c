/*
 * req/pending.c - leads whose invalidation Redis has not applied yet
 * (req/pending.h).
 */
#include "config.h"

#include "req/pending.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include <event2/event.h>

#include "key.h"
#include "log.h"
#include "map.h"
#include "script.h"
#include "stats.h"
#include "store.h"

#define PENDING_MAX      65536      /* leads the table holds */
#define PENDING_TICK_MS  250        /* how often a worker retries */
#define PENDING_BATCH    32         /* invalidations a tick sends */

/* One lead to drop, and the keys its write script takes. */
struct pending_lead {
    TAILQ_ENTRY(pending_lead) next;
    bool    sending;                /* a worker's retry is in flight */
    bool    books;
    int64_t guard_ms;
    char    hash[KEY_MAX];
    char    epoch[KEY_MAX];
    char    blocks[KEY_MAX];
    char    bgen[KEY_MAX];
};

TAILQ_HEAD(pending_list, pending_lead);

static pthread_mutex_t     pending_lock = PTHREAD_MUTEX_INITIALIZER;
static struct pending_list pending_leads =
    TAILQ_HEAD_INITIALIZER(pending_leads);
static struct map         *pending_by_hash;     /* hash -> lead */
/* Read without the lock, so that reads take it only while something is
 * pending; relaxed, since a read racing a PATCH of the same lead is a
 * race the guards (script.c) settle, not this count. */
static atomic_uint_fast64_t pending_n;

/* A retry in flight: a copy of what it sends, freed by its callback. */
struct pending_send {
    char hash[KEY_MAX];
};

struct pending_retry {
    struct store *store;            /* borrowed */
    struct event *tick;             /* owned */
};

bool
pending_add(const struct key_entry *lead, const char *blocks_hash,
            bool books, int64_t guard_ms)
{
    struct pending_lead *p;
    size_t               len = strlen(lead->hash);
    bool                 ok = true;

    pthread_mutex_lock(&pending_lock);
    if (pending_by_hash == NULL) {
        pending_by_hash = map_new();
    }
    p = pending_by_hash != NULL ? map_get(pending_by_hash, lead->hash, len)
                                : NULL;
    if (p != NULL) {
        p->books = p->books || books;   /* one drop covers both PATCHes */
    } else if (pending_by_hash == NULL ||
               atomic_load_explicit(&pending_n, memory_order_relaxed) >=
                   PENDING_MAX ||
               (p = calloc(1, sizeof(*p))) == NULL) {
        ok = false;
    } else {
        p->books = books;
        p->guard_ms = guard_ms;
        memcpy(p->hash, lead->hash, len + 1);
        memcpy(p->epoch, lead->epoch, sizeof(p->epoch));
        memcpy(p->bgen, lead->bgen, sizeof(p->bgen));
        strncpy(p->blocks, blocks_hash, sizeof(p->blocks) - 1);
        if (map_put(pending_by_hash, p->hash, len, p) != 0) {
            free(p);
            ok = false;
        } else {
            TAILQ_INSERT_TAIL(&pending_leads, p, next);
            atomic_fetch_add_explicit(&pending_n, 1, memory_order_relaxed);
            stats_add(STATS_REDIS_PENDING, 1);
        }
    }
    pthread_mutex_unlock(&pending_lock);
    return ok;
}

bool
pending_has(const char *hash)
{
    bool has;

    if (atomic_load_explicit(&pending_n, memory_order_relaxed) == 0) {
        return false;
    }
    pthread_mutex_lock(&pending_lock);
    has = pending_by_hash != NULL &&
          map_get(pending_by_hash, hash, strlen(hash)) != NULL;
    pthread_mutex_unlock(&pending_lock);
    return has;
}

/* The write script's reply for the lead a retry named: done drops it. */
static void
pending_on_reply(struct redisReply *reply, void *arg)
{
    struct pending_send *s = arg;
    struct pending_lead *p;
    int64_t              ignored;
    bool                 done = script_write_reply(reply, &ignored) ==
                                SCRIPT_WRITE_DONE;

    pthread_mutex_lock(&pending_lock);
    p = pending_by_hash != NULL
            ? map_get(pending_by_hash, s->hash, strlen(s->hash))
            : NULL;
    if (p != NULL && done) {
        map_del(pending_by_hash, p->hash, strlen(p->hash));
        TAILQ_REMOVE(&pending_leads, p, next);
        atomic_fetch_sub_explicit(&pending_n, 1, memory_order_relaxed);
        free(p);
    } else if (p != NULL) {
        p->sending = false;         /* the next tick tries again */
    }
    pthread_mutex_unlock(&pending_lock);
    if (done) {
        log_info("proxy: a PATCH's delayed invalidation was applied");
    }
    free(s);
}

/* Sends the invalidation of P (the lock held). */
static void
pending_send(struct pending_retry *pr, struct pending_lead *p)
{
    struct pending_send     *s = malloc(sizeof(*s));
    struct script_write_args a = {
        .hash = p->hash, .epoch_key = p->epoch, .blocks_hash = p->blocks,
        .bgen_key = p->bgen, .value = NULL, .expire_ms = 0,
        .drop_blocks = p->books, .epoch_expire_ms = p->guard_ms };

    if (s == NULL) {
        return;
    }
    memcpy(s->hash, p->hash, sizeof(s->hash));
    /* The store calls back on the loop, never from inside: the lock
     * held here is not taken again before this returns. */
    if (script_write(pr->store, &a, pending_on_reply, s) == NULL) {
        free(s);
        return;
    }
    p->sending = true;
}

static void
pending_on_tick(evutil_socket_t fd, short what, void *arg)
{
    struct pending_retry *pr = arg;
    struct pending_lead  *p;
    int                   n = 0;

    if (atomic_load_explicit(&pending_n, memory_order_relaxed) == 0 ||
        !store_available(pr->store)) {
        return;
    }
    pthread_mutex_lock(&pending_lock);
    TAILQ_FOREACH(p, &pending_leads, next) {
        if (n >= PENDING_BATCH) {
            break;
        }
        if (!p->sending) {
            pending_send(pr, p);
            n++;
        }
    }
    pthread_mutex_unlock(&pending_lock);
}

struct pending_retry *
pending_retry_new(struct event_base *base, struct store *st)
{
    struct pending_retry *pr = calloc(1, sizeof(*pr));
    struct timeval        tv = { 0, PENDING_TICK_MS * 1000 };

    if (pr == NULL) {
        return NULL;
    }
    pr->store = st;
    pr->tick = event_new(base, -1, EV_PERSIST, pending_on_tick, pr);
    if (pr->tick == NULL) {
        free(pr);
        return NULL;
    }
    evtimer_add(pr->tick, &tv);
    return pr;
}

void
pending_retry_free(struct pending_retry *pr)
{
    if (pr == NULL) {
        return;
    }
    event_free(pr->tick);
    free(pr);
}
