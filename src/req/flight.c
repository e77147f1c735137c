/*
 * req/flight.c - coalescing: a worker's flights, remote waits for another
 * instance's fetch, the wake channel, the fetch lock (req/flight.h).
 */
#include "config.h"

#include "req/flight.h"

#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "cache.h"
#include "conf.h"
#include "map.h"
#include "req/req.h"
#include "script.h"
#include "store.h"

#define FLIGHT_WAKE_SLACK_MS 20     /* past a lease, before looking again */
#define FLIGHT_WOKEN_MAX     4096   /* wakes kept for verdicts in flight */

TAILQ_HEAD(flight_members, flight_member);

/* Identical reads of one worker: the leader and its waiters. */
struct flight {
    TAILQ_ENTRY(flight)   next;     /* in ctx->remote while waiting */
    struct flight_ctx    *ctx;      /* borrowed */
    struct flight_member *leader;   /* borrowed; NULL once answered */
    struct flight_members waiters;  /* borrowed: in WAIT */
    char                  fkey[FLIGHT_KEY_MAX];   /* in ctx->flights */
    size_t                fkey_len;
    char                  lock[FLIGHT_LOCK_MAX];  /* the entry's lock */
    bool                  remote;   /* leader waits for another */
    struct event         *timer;    /* owned: the lease, while remote */
    struct event         *deliver;  /* owned: the waiters' wake, once the
                                       leader released it */
    struct flight_answer  answer;   /* for the waiters; what it points to
                                       is in COPY or static */
    struct cache_entry    entry;    /* ANSWER's entry, if it has one */
    char                 *copy;     /* owned: the bytes ANSWER points to */
};

TAILQ_HEAD(flight_list, flight);

struct flight_ctx {
    struct event_base *base;        /* borrowed */
    struct store      *store;       /* borrowed */
    struct map        *flights;     /* fkey -> flight */
    struct map        *waits;       /* lock key -> remote flight */
    struct flight_list remote;      /* the same flights, in order */
    char               channel[KEY_MAX];   /* the wake channel */
    uint64_t           wake_seq;    /* wake messages seen */
    struct map        *woken;       /* lock key -> wake_seq when a wake
                                     * came with nobody waiting */
};

static void flight_on_wake_message(const char *payload, size_t len,
                                   void *arg);

struct flight_ctx *
flight_ctx_new(struct event_base *base, const struct conf *cf,
               struct store *st)
{
    struct flight_ctx *ctx = calloc(1, sizeof(*ctx));

    if (ctx == NULL) {
        return NULL;
    }
    ctx->base = base;
    ctx->store = st;
    TAILQ_INIT(&ctx->remote);
    ctx->flights = map_new();
    ctx->waits = map_new();
    ctx->woken = map_new();
    snprintf(ctx->channel, sizeof(ctx->channel), "%s:" KEY_SCHEMA ":wake",
             cf->redis_prefix);
    if (ctx->flights == NULL || ctx->waits == NULL || ctx->woken == NULL ||
        store_subscribe(st, ctx->channel, flight_on_wake_message, ctx) !=
            0) {
        flight_ctx_free(ctx);
        return NULL;
    }
    return ctx;
}

void
flight_ctx_free(struct flight_ctx *ctx)
{
    if (ctx == NULL) {
        return;
    }
    /* Requests are gone by now (req_abort_all): so are their flights. */
    assert(ctx->flights == NULL || map_count(ctx->flights) == 0);
    map_free(ctx->flights);
    map_free(ctx->waits);
    map_free(ctx->woken);
    free(ctx);
}

const char *
flight_channel(const struct flight_ctx *ctx)
{
    return ctx->channel;
}

/* Leaves the remote wait of F, if it was in one. */
static void
flight_remote_end(struct flight *f)
{
    if (!f->remote) {
        return;
    }
    f->remote = false;
    map_del(f->ctx->waits, f->lock, strlen(f->lock));
    TAILQ_REMOVE(&f->ctx->remote, f, next);
    event_free(f->timer);
    f->timer = NULL;
}

/* Takes F out of its worker's table: new reads start a flight of their
 * own. */
static void
flight_end(struct flight *f)
{
    flight_remote_end(f);
    if (f->fkey_len > 0) {
        map_del(f->ctx->flights, f->fkey, f->fkey_len);
        f->fkey_len = 0;
    }
}

/* Frees F once it has neither leader nor waiters. */
static void
flight_free(struct flight *f)
{
    assert(f->leader == NULL && TAILQ_EMPTY(&f->waiters));
    flight_end(f);
    if (f->deliver != NULL) {
        event_free(f->deliver);
    }
    free(f->copy);
    free(f);
}

bool
flight_join(struct flight_ctx *ctx, struct flight_member *m, struct req *r,
            const char *fkey, size_t len)
{
    struct flight *f;

    assert(len <= FLIGHT_KEY_MAX);
    m->req = r;
    f = map_get(ctx->flights, fkey, len);
    if (f != NULL) {
        TAILQ_INSERT_TAIL(&f->waiters, m, next);
        m->flight = f;
        return true;
    }
    f = calloc(1, sizeof(*f));
    if (f == NULL) {
        return false;               /* no coalescing, no harm */
    }
    f->ctx = ctx;
    TAILQ_INIT(&f->waiters);
    memcpy(f->fkey, fkey, len);
    f->fkey_len = len;
    memcpy(f->lock, m->lock, sizeof(f->lock));
    if (map_put(ctx->flights, f->fkey, len, f) != 0) {
        free(f);
        return false;
    }
    f->leader = m;
    m->flight = f;
    return false;
}

bool
flight_leads(const struct flight_member *m)
{
    return m->flight != NULL && m->flight->leader == m;
}

bool
flight_has_waiters(const struct flight_member *m)
{
    return flight_leads(m) && !TAILQ_EMPTY(&m->flight->waiters);
}

/* Wakes every waiter of F with A, then frees F. */
static void
flight_wake(struct flight *f, const struct flight_answer *a)
{
    struct flight_member *w;

    while ((w = TAILQ_FIRST(&f->waiters)) != NULL) {
        TAILQ_REMOVE(&f->waiters, w, next);
        w->flight = NULL;
        req_event(w->req, REQ_EV_WAKE, a);
    }
    flight_free(f);
}

static void
flight_on_deliver(evutil_socket_t fd, short what, void *arg)
{
    struct flight *f = arg;

    flight_wake(f, &f->answer);
}

/* Appends the LEN bytes at S to the copy being built at *AT. */
static const char *
flight_put(char **at, const char *s, size_t len)
{
    const char *start = *at;

    if (len > 0) {                  /* an empty body may have no bytes */
        memcpy(*at, s, len);
    }
    (*at)[len] = '\0';
    *at += len + 1;
    return start;
}

/*
 * Keeps a copy of A in F, for waiters woken after the leader's step:
 * its entry's content type and body, and the strings that are not
 * static (Cache-Status, an error's header value). Returns false when out
 * of memory.
 */
static bool
flight_keep(struct flight *f, const struct flight_answer *a)
{
    const struct cache_entry *e = a->e;
    size_t  n = (a->status != NULL ? strlen(a->status) + 1 : 0) +
                (a->hvalue != NULL ? strlen(a->hvalue) + 1 : 0) +
                (e != NULL ? e->ctype_len + e->body_len + 2 : 0);
    char   *at;

    f->copy = at = malloc(n > 0 ? n : 1);
    if (f->copy == NULL) {
        return false;
    }
    f->answer = *a;
    if (a->status != NULL) {
        f->answer.status = flight_put(&at, a->status, strlen(a->status));
    }
    if (a->hvalue != NULL) {
        f->answer.hvalue = flight_put(&at, a->hvalue, strlen(a->hvalue));
    }
    if (e != NULL) {
        f->entry = *e;
        f->entry.ctype = flight_put(&at, e->ctype, e->ctype_len);
        f->entry.body = flight_put(&at, e->body, e->body_len);
        f->answer.e = &f->entry;
    }
    return true;
}

/*
 * Why waiters are woken by an event of their own, not from here: each
 * runs its own step then, not inside the leader's (whose answer may come
 * from inside a third request's step, a denial's stale answer). The
 * flight leaves the table now, so that reads arriving meanwhile start a
 * flight of their own, as they would have after a synchronous wake. Out
 * of memory, the waiters are woken here, as a last resort.
 */
void
flight_release(struct flight_member *m, const struct flight_answer *a)
{
    struct flight *f = m->flight;

    if (!flight_leads(m)) {
        return;
    }
    f->leader = NULL;
    m->flight = NULL;
    flight_end(f);
    if (TAILQ_EMPTY(&f->waiters)) {
        flight_free(f);
        return;
    }
    f->deliver = event_new(f->ctx->base, -1, 0, flight_on_deliver, f);
    if (f->deliver == NULL || !flight_keep(f, a)) {
        flight_wake(f, a);
        return;
    }
    event_active(f->deliver, EV_TIMEOUT, 1);
}

void
flight_leave(struct flight_member *m)
{
    struct flight *f = m->flight;

    if (f == NULL) {
        return;
    }
    assert(f->leader != m);
    TAILQ_REMOVE(&f->waiters, m, next);
    m->flight = NULL;
    if (f->leader == NULL && TAILQ_EMPTY(&f->waiters)) {
        flight_free(f);             /* its wake had nobody left to wake */
    }
}

bool
flight_owner(struct flight_member *m)
{
    return m->owner[0] != '\0' ||
           http_request_id_new(m->owner, sizeof(m->owner)) == 0;
}

void
flight_mark(const struct flight_ctx *ctx, struct flight_member *m)
{
    m->wake_seq = ctx->wake_seq;
}

static void
flight_on_lease_timer(evutil_socket_t fd, short what, void *arg)
{
    struct flight *f = arg;

    req_event(f->leader->req, REQ_EV_WAKE, NULL);
}

bool
flight_wait_remote(struct flight_ctx *ctx, struct flight_member *m,
                   const struct conf *cf, int64_t pttl)
{
    struct flight *f = m->flight;
    struct timeval tv;
    int64_t        ms;
    void          *w;

    if (!flight_leads(m)) {
        return false;               /* no flight to wait in */
    }
    if (!store_listening(ctx->store)) {
        /* The links reconnect each on its own backoff: with calls back
         * and the subscriber not yet, no message could wake M, which
         * would wait out the lease (SPEC §8). */
        return false;
    }
    ms = req_lease_ms(cf);
    if (pttl > 0 && pttl < ms) {
        ms = pttl;
    }
    w = map_get(ctx->woken, m->lock, strlen(m->lock));
    if (w != NULL && (uint64_t)(uintptr_t)w > m->wake_seq) {
        /* Its wake came (on the other link) before the verdict that
         * says to wait for it: look again now, not after the lease. */
        ms = 0;
    }
    ms += FLIGHT_WAKE_SLACK_MS;
    f->timer = evtimer_new(ctx->base, flight_on_lease_timer, f);
    if (f->timer == NULL ||
        map_put(ctx->waits, f->lock, strlen(f->lock), f) != 0) {
        if (f->timer != NULL) {
            event_free(f->timer);
            f->timer = NULL;
        }
        return false;               /* cannot wait */
    }
    f->remote = true;
    TAILQ_INSERT_TAIL(&ctx->remote, f, next);
    tv.tv_sec = (time_t)(ms / 1000);
    tv.tv_usec = (suseconds_t)(ms % 1000) * 1000;
    evtimer_add(f->timer, &tv);
    return true;
}

void
flight_unwait(struct flight_member *m)
{
    assert(flight_leads(m));
    flight_remote_end(m->flight);
}

/* The wake channel: PAYLOAD names a lock whose holder is done. */
static void
flight_on_wake_message(const char *payload, size_t len, void *arg)
{
    struct flight_ctx *ctx = arg;
    struct flight     *f;

    if (payload == NULL) {
        /* A message may have been missed ((re)subscribed), or will be
         * (link lost, Redis frozen): look again, which fails open when
         * Redis is away, rather than wait out the lease (SPEC §8). */
        while ((f = TAILQ_FIRST(&ctx->remote)) != NULL) {
            flight_remote_end(f);
            req_event(f->leader->req, REQ_EV_WAKE, NULL);
        }
        return;
    }
    ctx->wake_seq++;
    f = map_get(ctx->waits, payload, len);
    if (f != NULL) {
        req_event(f->leader->req, REQ_EV_WAKE, NULL);
        return;
    }
    /* Nobody waits for it yet; a verdict "wait" sent before this message
     * may still be on its way on the call link. Bounded: old entries
     * only matter to calls in flight. */
    if (map_count(ctx->woken) >= FLIGHT_WOKEN_MAX) {
        map_clear(ctx->woken, NULL, NULL);
    }
    (void)map_put(ctx->woken, payload, len, (void *)(uintptr_t)ctx->wake_seq);
}

struct store_op *
flight_lock(struct flight_ctx *ctx, struct flight_member *m,
            const struct key_entry *key, bool blocks, bool take_answer,
            const struct conf *cf, struct req *r)
{
    struct script_lock_args a = {
        .lock_key = m->lock, .epoch_key = key->epoch, .bgen_key = key->bgen,
        .owner = m->owner, .lease_ms = req_lease_ms(cf),
        .is_blocks = blocks, .take_answer = take_answer,
        .guard_ms = cache_guard_ms(cf),
        .deadline_ms = req_redis_deadline_ms(r) };

    flight_mark(ctx, m);
    return script_lock(ctx->store, &a, req_on_store_reply, r);
}

void
flight_unlock(struct flight_ctx *ctx, struct flight_member *m)
{
    struct script_unlock_args a = { .lock_key = m->lock, .owner = m->owner,
                                    .channel = ctx->channel };

    if (!m->locked) {
        return;
    }
    m->locked = false;
    /* Fire and forget: a lock that stays expires with its lease. */
    (void)script_unlock(ctx->store, &a, store_ignore, NULL);
}
