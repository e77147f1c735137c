/*
 * lookup.c - the read path (SPEC §2-§4, §6, §7, §8).
 *
 * No stale writes: a lookup reads the entry and the phone's write epoch
 * together; the fill of a miss lands only if that epoch is unchanged, so
 * an answer fetched before a PATCH never overwrites the PATCH's lead.
 *
 * One fetch per key (SPEC §6). Identical reads in one worker form a
 * flight: the first leads it, the others wait in memory and get the
 * leader's answer, whatever it is (a hit, a fetched answer, an error).
 * Across workers and instances the leader takes a lock in Redis before it
 * fetches; a leader that finds the lock taken waits for a message on the
 * wake channel naming it (sent when the fetcher's answer is in Redis), or
 * for the lock's lease to run out, and then looks again. So waiters are
 * woken, never poll, and a fetcher that died costs them one lease.
 *
 * The near cache: a worker keeps hot entries in memory, and Redis tells it
 * (CLIENT TRACKING) of every change to a key it read. An entry goes in
 * only if it was read while tracking was on and no invalidation at all
 * arrived between sending the read and its reply (a change made just
 * after the read could otherwise be reported before the reply and then be
 * missed); anything that may lose an invalidation (a link down, a frozen
 * Redis caught by the heartbeat) empties it. Before answering from it,
 * the worker reads the invalidations already waiting in its socket: a
 * PATCH answered through another instance has had its invalidation sent
 * before that instance got its reply, so a read that follows the PATCH
 * finds it (SPEC §4 across instances).
 *
 * Stale entries (SPEC §6): Redis keeps an entry for its TTL plus the
 * longest stale window. Just expired (stale_while_revalidate), it is
 * served at once while the request goes on, without its client, to
 * refresh it, if it wins the lock. Expired longer (stale_if_error), it is
 * kept aside and served if the fetch fails.
 */
#include "config.h"

#include "lookup.h"

#include <assert.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <hiredis/hiredis.h>

#include "cache.h"
#include "conf.h"
#include "log.h"
#include "lua.h"
#include "map.h"
#include "near.h"
#include "phone.h"
#include "respond.h"
#include "stats.h"
#include "store.h"

#define LOOKUP_FKEY_MAX     (2 * KEY_MAX + KEY_FIELD_MAX + 32)
#define LOOKUP_ANSWER_MS    1000    /* how long a handed answer waits */
#define LOOKUP_WAKE_SLACK_MS 20     /* past a lease, before looking again */
#define LOOKUP_WOKEN_MAX    4096    /* wakes kept for verdicts in flight */
#define LOOKUP_STATUS_MAX   128
#define LOOKUP_PING_MS      200     /* heartbeat, while a near cache is on */

/* Identical reads of one worker: the leader and its waiters. */
struct lookup_flight {
    TAILQ_ENTRY(lookup_flight) next;    /* in ctx->remote while waiting */
    struct lookup_ctx  *ctx;            /* borrowed */
    struct req         *leader;         /* borrowed; NULL once answered */
    struct req_list     waiters;        /* borrowed: in WAIT, by wnext */
    char                fkey[LOOKUP_FKEY_MAX];  /* in ctx->flights */
    size_t              fkey_len;
    char                lock[REQ_LOCK_MAX]; /* the entry's Redis lock */
    bool                remote;         /* leader waits for another */
    struct event       *timer;          /* owned: the lease, while remote */
};

TAILQ_HEAD(lookup_flight_list, lookup_flight);

struct lookup_ctx {
    struct event_base        *base;     /* borrowed */
    struct map               *flights;  /* fkey -> flight */
    struct map               *waits;    /* lock key -> remote flight */
    struct lookup_flight_list remote;   /* the same flights, in order */
    char                      channel[KEY_MAX];   /* wake channel */
    struct store             *store;    /* borrowed */
    struct near              *near;     /* owned; NULL when off */
    uint64_t                  inval_seq;    /* invalidations seen */
    uint64_t                  wake_seq;     /* wake messages seen */
    struct map               *woken;    /* lock key -> wake_seq when a wake
                                         * came with nobody waiting */
    struct event             *ping;     /* owned: the heartbeat */
};

/* What a leader gives its waiters: a stored entry, or an error. */
struct lookup_answer {
    const struct cache_entry   *e;      /* NULL for an error */
    const struct respond_cache *cache;  /* with E */
    bool                        forwarded;  /* E came from a fetch */
    int                         status; /* error: its status, message */
    const char                 *msg;
    const char                 *hname;  /* error: one header, or NULL */
    const char                 *hvalue;
    int                         stale;  /* E is stale: its counter, or -1 */
};

static void on_wake_message(const char *payload, size_t len, void *arg);
static void on_invalidation(const char *key, size_t len, void *arg);
static void on_ping_timer(evutil_socket_t fd, short what, void *arg);
static void on_lease_timer(evutil_socket_t fd, short what, void *arg);
static enum req_state lookup_start(struct req *r);
static enum req_state lookup_lock(struct req *r);
static enum req_state lookup_verdict(struct req *r, const char *what,
                                     const redisReply *extra);
static enum req_state lookup_wait_remote(struct req *r, int64_t pttl);
static void           lookup_unlock(struct req *r);
static bool           lookup_near(struct req *r);
static void           lookup_near_put(struct req *r, const char *v,
                                      size_t len);
static enum req_state lookup_hit(struct req *r, const struct cache_entry *e,
                                 int64_t now);

/* ---- the per-worker tables ---------------------------------------------- */

struct lookup_ctx *
lookup_ctx_new(struct event_base *base, const struct conf *cf,
               struct store *store)
{
    struct lookup_ctx *ctx = calloc(1, sizeof(*ctx));

    if (ctx == NULL) {
        return NULL;
    }
    ctx->base = base;
    ctx->store = store;
    TAILQ_INIT(&ctx->remote);
    ctx->flights = map_new();
    ctx->waits = map_new();
    ctx->woken = map_new();
    snprintf(ctx->channel, sizeof(ctx->channel), "%s:" KEY_SCHEMA ":wake",
             cf->redis_prefix);
    if (ctx->flights == NULL || ctx->waits == NULL || ctx->woken == NULL ||
        store_subscribe(store, ctx->channel, on_wake_message, ctx) != 0) {
        lookup_ctx_free(ctx);
        return NULL;
    }
    if (cf->near_cache > 0) {
        struct timeval tv = { 0, LOOKUP_PING_MS * 1000 };

        ctx->near = near_new((size_t)cf->near_cache);
        ctx->ping = event_new(base, -1, EV_PERSIST, on_ping_timer, ctx);
        if (ctx->near == NULL || ctx->ping == NULL ||
            store_track(store, on_invalidation, ctx) != 0) {
            lookup_ctx_free(ctx);
            return NULL;
        }
        evtimer_add(ctx->ping, &tv);
    }
    return ctx;
}

void
lookup_ctx_free(struct lookup_ctx *ctx)
{
    if (ctx == NULL) {
        return;
    }
    /* Requests are gone by now (req_abort_all): so are their flights. */
    assert(ctx->flights == NULL || map_count(ctx->flights) == 0);
    map_free(ctx->flights);
    map_free(ctx->waits);
    map_free(ctx->woken);
    if (ctx->ping != NULL) {
        event_free(ctx->ping);
    }
    near_free(ctx->near);
    free(ctx);
}

/* Leaves the remote wait of F, if it was in one. */
static void
flight_unwait(struct lookup_flight *f)
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

/* Frees F once it has neither leader nor waiters. */
static void
flight_free(struct lookup_flight *f)
{
    assert(f->leader == NULL && TAILQ_EMPTY(&f->waiters));
    flight_unwait(f);
    map_del(f->ctx->flights, f->fkey, f->fkey_len);
    free(f);
}

/*
 * The key of R's flight: what must be equal for two reads to take one
 * answer. Directives that change what may be served are part of it, so a
 * no-cache read never gets a max-age read's hit and the other way round.
 */
static size_t
flight_key(const struct req *r, char *out, size_t cap)
{
    int n;

    n = snprintf(out, cap, "%c%" PRId64 "%c%s%c%s",
                 r->dir.no_cache || r->dir.no_store ? 'r' : 'n',
                 r->dir.max_age_s, '\0', r->key.hash, '\0', r->key.field);
    assert(n > 0 && (size_t)n < cap);
    return (size_t)n;
}

/*
 * Joins R to the flight of its key, as waiter when there is one, else as
 * the leader of a new one. Returns true when R is a waiter now.
 */
static bool
flight_join(struct req *r)
{
    struct lookup_ctx    *ctx = r->env->lookup;
    struct lookup_flight *f;
    char                  fkey[LOOKUP_FKEY_MAX];
    size_t                len = flight_key(r, fkey, sizeof(fkey));

    f = map_get(ctx->flights, fkey, len);
    if (f != NULL) {
        TAILQ_INSERT_TAIL(&f->waiters, r, wnext);
        r->flight = f;
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
    memcpy(f->lock, r->lock_key, sizeof(f->lock));
    if (map_put(ctx->flights, f->fkey, len, f) != 0) {
        free(f);
        return false;
    }
    f->leader = r;
    r->flight = f;
    return false;
}

/* ---- answering ---------------------------------------------------------- */

/* Answers the client of R (if it still has one) with A. */
static void
lookup_answer_one(struct req *r, const struct lookup_answer *a,
                  bool collapsed)
{
    struct respond_cache c;
    char                 status[LOOKUP_STATUS_MAX];

    if (r->client == NULL) {
        return;
    }
    if (a->e == NULL) {
        if (a->hname != NULL) {
            req_error_with(r, a->status, a->msg, a->hname, a->hvalue);
        } else {
            req_error(r, a->status, a->msg);
        }
        return;
    }
    c = *a->cache;
    c.validate = true;
    c.gzip = r->env->cf->gzip;
    if (collapsed && c.status != NULL) {
        snprintf(status, sizeof(status), "%s; collapsed", c.status);
        c.status = status;
    }
    req_answered(r, a->e->status, c.x_cache);
    if (a->stale >= 0) {
        stats_add((enum stats_counter)a->stale, 1);  /* each stale answer */
    }
    respond_entry(r->client, r->request_id, a->e, &c);
    r->client = NULL;
}

/*
 * Answers the waiters of R's flight with A, and ends the flight. R itself
 * is answered by the caller (a leader relays its upstream answer whole).
 */
static void
lookup_release(struct req *r, const struct lookup_answer *a)
{
    struct lookup_flight *f = r->flight;
    struct req           *w;

    if (f == NULL || f->leader != r) {
        return;
    }
    f->leader = NULL;
    r->flight = NULL;
    while ((w = TAILQ_FIRST(&f->waiters)) != NULL) {
        TAILQ_REMOVE(&f->waiters, w, wnext);
        w->flight = NULL;
        req_wake(w, a);
    }
    flight_free(f);
}

/* Answers R and its waiters with A. */
static void
lookup_answer(struct req *r, const struct lookup_answer *a)
{
    if (r->waited && r->client != NULL) {
        stats_add(STATS_COALESCED, 1);  /* woken by another's fetch */
    }
    lookup_release(r, a);
    lookup_answer_one(r, a, r->waited && a->forwarded);
}

/* Answers R and its waiters with an error of the proxy's own. */
static enum req_state
lookup_error(struct req *r, int status, const char *msg)
{
    struct lookup_answer a = { NULL, NULL, false, status, msg, NULL, NULL,
                               -1 };

    lookup_answer(r, &a);
    return REQ_DONE;
}

/* Answers R and its waiters with the upstream error R holds. */
static enum req_state
lookup_upstream_error(struct req *r)
{
    struct lookup_answer a = { NULL, NULL, true, 502, NULL, NULL, NULL, -1 };

    req_upstream_error_status(r->uerr, &a.status, &a.msg);
    lookup_answer(r, &a);
    return REQ_DONE;
}

/*
 * Answers R (relaying its upstream answer whole) and its waiters (its
 * status, content type and body), STORED saying whether it is cached now.
 */
static enum req_state
lookup_deliver(struct req *r, bool stored)
{
    struct lookup_flight *f = r->flight;
    struct cache_entry    e;
    struct respond_cache c = { .x_cache = r->x_cache, .age_s = -1 };
    struct lookup_answer  a = { &e, &c, true, 0, NULL, NULL, NULL, -1 };
    const char           *ctype = evhttp_find_header(&r->headers,
                                                     "Content-Type");
    char                  status[LOOKUP_STATUS_MAX];

    if (f != NULL && f->leader == r && !TAILQ_EMPTY(&f->waiters)) {
        memset(&e, 0, sizeof(e));
        e.status = r->status;
        e.ctype = ctype != NULL ? ctype : "";
        e.ctype_len = strlen(e.ctype);
        e.body = (const char *)evbuffer_pullup(r->body, -1);
        e.body_len = evbuffer_get_length(r->body);
        req_cache_status(r, stored, status, sizeof(status));
        c.status = r->x_cache != NULL ? status : NULL;
        lookup_release(r, &a);
    } else {
        lookup_release(r, &a);      /* no waiters: just ends the flight */
    }
    if (r->client != NULL) {
        req_deliver(r, stored);
    }
    return REQ_DONE;
}

/* Answers R and its waiters with the cached entry E (a hit). */
static enum req_state
lookup_hit(struct req *r, const struct cache_entry *e, int64_t now)
{
    struct respond_cache c = { .x_cache = "HIT",
                               .age_s = cache_entry_age_s(e, now),
                               .validate = true };
    struct lookup_answer a = { e, &c, false, 0, NULL, NULL, NULL, -1 };
    char                 status[LOOKUP_STATUS_MAX];

    snprintf(status, sizeof(status), "hit; ttl=%" PRId64 "%s",
             (cache_entry_fresh_ms(e, now) + 999) / 1000,
             r->waited ? "; collapsed" : "");
    c.status = status;
    lookup_answer(r, &a);
    return REQ_DONE;
}

/*
 * Answers R and its waiters with the expired entry R kept, DETAIL saying
 * why (stale-while-revalidate, stale-if-error), FWD_STATUS the upstream's
 * status when it answered. Returns false when R kept none.
 */
static bool
lookup_stale(struct req *r, const char *detail, int fwd_status)
{
    struct cache_entry   e;
    int64_t              now = req_now_ms();
    struct respond_cache c = { .age_s = -1 };
    struct lookup_answer a = { &e, &c, false, 0, NULL, NULL, NULL, -1 };
    char                 status[LOOKUP_STATUS_MAX], fs[32] = "";

    if (r->stale == NULL ||
        cache_entry_decode(r->stale, r->stale_len, &e) != 0) {
        return false;
    }
    if (r->client == NULL && r->flight == NULL) {
        return true;                /* a refresh: nobody to answer */
    }
    if (fwd_status > 0) {
        snprintf(fs, sizeof(fs), "; fwd-status=%d", fwd_status);
    }
    snprintf(status, sizeof(status), "fwd=stale%s; ttl=%" PRId64
             "; detail=%s", fs, cache_entry_fresh_ms(&e, now) / 1000, detail);
    c.x_cache = "STALE";
    c.status = status;
    a.stale = strcmp(detail, "stale-while-revalidate") == 0 ? STATS_STALE_SWR
              : strcmp(detail, "rate-limited") == 0       ? STATS_STALE_RATE
                                                          : STATS_STALE_ERROR;
    c.age_s = cache_entry_age_s(&e, now);
    c.replayed = false;
    lookup_answer(r, &a);
    return true;
}

/* ---- RECV --------------------------------------------------------------- */

/* Checks the phone of a GET route; answers R and returns false if bad. */
static bool
lookup_check_phone(struct req *r)
{
    static const char *const empty[] = { "phone should not be empty",
                                         "phone must be a valid phone number" };
    static const char *const invalid[] = {
        "phone must be a valid phone number" };
    static const char *const repeated[] = {
        "phone must be a string", "phone must be a valid phone number" };

    if (!r->q.has_phone || r->q.phone_raw[0] == '\0') {
        req_error_n(r, 400, empty, 2);
        return false;
    }
    if (r->q.phone_repeated) {
        req_error_n(r, 400, repeated, 2);
        return false;
    }
    if (r->q.phone_too_long ||
        phone_normalize(r->q.phone_raw, r->phone, sizeof(r->phone)) != 0) {
        req_error_n(r, 400, invalid, 1);
        return false;
    }
    return true;
}

/*
 * Redis is away or failed: go on without the cache (SPEC §8), as a miss
 * whose answer is not stored, since no epoch was read.
 */
static enum req_state
lookup_without_cache(struct req *r)
{
    if (r->dir.only_if_cached) {
        return lookup_error(r, 504, "no cached response");
    }
    r->may_store = false;
    if (r->owner[0] != '\0') {
        /* A call that asked for the lock and got no answer (a deadline,
         * a lost link) may still run and take it, for nobody: readers of
         * the key would wait out its lease. An UNLOCK sent after it, on
         * the same link, runs after it and drops it if so. */
        r->locked = true;
        lookup_unlock(r);
    }
    r->locked = false;
    r->detail = "store-unavailable";
    return req_spend(r);
}

/* RECV for the GET routes: phone, key, directives; lookup or forward. */
enum req_state
lookup_recv(struct req *r)
{
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(r->client);
    struct evkeyvalq        *in = evhttp_request_get_input_headers(r->client);
    const struct conf       *cf = r->env->cf;
    bool                     enabled;

    key_parse_query(uri != NULL ? evhttp_uri_get_query(uri) : NULL, &r->q);
    if (r->route.id != ROUTE_DISPOSITIONS && !lookup_check_phone(r)) {
        return REQ_DONE;
    }
    cache_parse_directives(evhttp_find_header(in, "Cache-Control"),
                           evhttp_find_header(in, "Pragma"), &r->dir);
    enabled = cache_route_enabled(cf, r->route.id);
    r->cacheable = !r->q.limit_days_bad && !r->q.simple_block_id_bad &&
                   key_entry(cf->redis_prefix, r->tenant, r->route.id,
                             r->phone, r->route.crm, &r->q, &r->key) == 0;
    if (!r->cacheable || (!enabled && r->dir.only_if_cached)) {
        /* Parameters we cannot key on: straight through, and the
         * upstream judges them. */
        if (r->dir.only_if_cached) {
            req_error(r, 504, "no cached response");
            return REQ_DONE;
        }
        r->x_cache = "BYPASS";
        r->fwd = "bypass";
        return req_spend(r);
    }
    r->may_store = enabled && !r->dir.no_store;
    if (!enabled) {
        r->x_cache = "BYPASS";      /* a disabled TTL: never stored */
        r->fwd = "bypass";
    } else if (r->dir.no_cache || r->dir.no_store) {
        r->x_cache = "BYPASS";
        r->fwd = "request";
    } else {
        r->x_cache = "MISS";
        r->fwd = "miss";
    }
    if (enabled && lookup_near(r)) {
        return REQ_DONE;
    }
    snprintf(r->lock_key, sizeof(r->lock_key), "%s:lock:%s", r->key.hash,
             r->key.field);
    /* only-if-cached reads never fetch, so they never wait for one. */
    if (!r->dir.only_if_cached && flight_join(r)) {
        return REQ_WAIT;
    }
    if (!enabled || r->dir.no_cache || r->dir.no_store) {
        return lookup_lock(r);      /* nothing cached to look at */
    }
    return lookup_start(r);
}

/* ---- LOOKUP ------------------------------------------------------------- */

/*
 * Starts the lookup of R's entry (and epoch); when the entry will not do,
 * the same script takes the fetch lock (lua.c). Returns the next state.
 */
static enum req_state
lookup_start(struct req *r)
{
    const char *argv[11];
    size_t      lens[11];
    char        now[24], max_age[24], lease[24];
    bool        blocks = r->route.id == ROUTE_BLOCKS;
    bool        lock = !r->dir.only_if_cached && r->flight != NULL;
    int         i;

    if (lock && r->owner[0] == '\0' &&
        http_request_id_new(r->owner, sizeof(r->owner)) != 0) {
        lock = false;
    }
    snprintf(now, sizeof(now), "%" PRId64, req_now_ms());
    snprintf(max_age, sizeof(max_age), "%" PRId64, r->dir.max_age_s);
    snprintf(lease, sizeof(lease), "%" PRId64,
             req_lease_ms(r->env->cf));
    argv[0] = r->key.hash;
    argv[1] = r->key.epoch;
    argv[2] = blocks ? r->key.bgen : r->key.epoch;
    argv[3] = r->lock_key;
    argv[4] = r->key.field;
    argv[5] = blocks ? "1" : "0";
    argv[6] = now;
    argv[7] = max_age;
    argv[8] = lock ? r->owner : "";
    argv[9] = lease;
    argv[10] = r->waited ? "1" : "0";
    for (i = 0; i < 11; i++) {
        lens[i] = strlen(argv[i]);
    }
    /* The read is tracked if tracking is on when it is sent. */
    r->near_ok = store_tracking(r->env->store);
    r->near_seq = r->env->lookup->inval_seq;
    r->wake_seq = r->env->lookup->wake_seq;
    r->op = store_eval(r->env->store, &lua_lookup, 4, 11, argv, lens,
                       req_on_store_reply, r);
    if (r->op != NULL) {
        return REQ_LOOKUP;
    }
    return lookup_without_cache(r);
}

static bool
lookup_copy_epoch(const redisReply *e, char *out, size_t cap)
{
    if (e->type != REDIS_REPLY_STRING || e->len >= cap) {
        return false;
    }
    memcpy(out, e->str, e->len);
    out[e->len] = '\0';
    return true;
}

/* Keeps the expired entry E (LEN bytes at V) aside for stale serving. */
static void
lookup_keep_stale(struct req *r, const char *v, size_t len)
{
    free(r->stale);
    r->stale = malloc(len);
    r->stale_len = r->stale != NULL ? len : 0;
    if (r->stale != NULL) {
        memcpy(r->stale, v, len);
    }
}

enum req_state
lookup_on_reply(struct req *r, const redisReply *reply)
{
    const struct conf *cf = r->env->cf;
    const redisReply  *what;
    struct cache_entry e;
    int64_t            now = req_now_ms();
    bool               swr = false, have;

    r->op = NULL;
    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY ||
        reply->elements < 4 ||
        !lookup_copy_epoch(reply->element[1], r->epoch, sizeof(r->epoch)) ||
        !lookup_copy_epoch(reply->element[2], r->bgen, sizeof(r->bgen)) ||
        reply->element[3]->type != REDIS_REPLY_STRING) {
        return lookup_without_cache(r);  /* Redis failed or was slow */
    }
    what = reply->element[3];
    have = reply->element[0]->type == REDIS_REPLY_STRING &&
           cache_entry_decode(reply->element[0]->str,
                              reply->element[0]->len, &e) == 0;
    if (have && strcmp(what->str, "hit") == 0) {
        lookup_near_put(r, reply->element[0]->str, reply->element[0]->len);
        return lookup_hit(r, &e, now);
    }
    if (have) {
        int64_t fresh = cache_entry_fresh_ms(&e, now);

        if (fresh > 0) {            /* fresh, but older than max-age */
            lookup_near_put(r, reply->element[0]->str,
                            reply->element[0]->len);
        }
        r->fwd = "stale";
        /* An entry that just expired is served now, unless the client
         * bounds the age it takes; one past that waits for an error. */
        swr = r->dir.max_age_s < 0 && -fresh < cf->stale_while_revalidate_ms;
        if (swr || -fresh < cf->stale_if_error_ms) {
            lookup_keep_stale(r, reply->element[0]->str,
                              reply->element[0]->len);
        }
    }
    if (r->dir.only_if_cached) {
        return lookup_error(r, 504, "no cached response");
    }
    r->revalidate = swr && r->stale != NULL;
    if (strcmp(what->str, "none") == 0) {
        return req_spend(r);        /* no flight, no lock: fetch alone */
    }
    return lookup_verdict(r, what->str,
                          reply->elements > 4 ? reply->element[4] : NULL);
}

/* ---- LOCK and WAIT ------------------------------------------------------ */

/* Takes the fetch lock of R's entry, or learns who has it. */
static enum req_state
lookup_lock(struct req *r)
{
    const struct conf *cf = r->env->cf;
    const char        *argv[7];
    size_t             lens[7];
    char               lease[24];
    bool               blocks = r->route.id == ROUTE_BLOCKS;
    int                i;

    if (r->owner[0] == '\0' &&
        http_request_id_new(r->owner, sizeof(r->owner)) != 0) {
        return req_spend(r);      /* no lock: fetch alone */
    }
    snprintf(lease, sizeof(lease), "%" PRId64, req_lease_ms(cf));
    argv[0] = r->lock_key;
    argv[1] = r->key.epoch;
    argv[2] = blocks ? r->key.bgen : r->key.epoch;
    argv[3] = r->owner;
    argv[4] = lease;
    argv[5] = blocks ? "1" : "0";
    argv[6] = r->waited ? "1" : "0";
    for (i = 0; i < 7; i++) {
        lens[i] = strlen(argv[i]);
    }
    r->wake_seq = r->env->lookup->wake_seq;
    r->op = store_eval(r->env->store, &lua_lock, 3, 7, argv, lens,
                       req_on_store_reply, r);
    if (r->op == NULL) {
        return lookup_without_cache(r);
    }
    return REQ_LOCK;
}

/* R's lock is taken elsewhere: wait for its message, or its lease. */
static enum req_state
lookup_wait_remote(struct req *r, int64_t pttl)
{
    struct lookup_flight *f = r->flight;
    struct lookup_ctx    *ctx = r->env->lookup;
    struct timeval        tv;
    int64_t               ms;
    void                 *w;

    if (f == NULL || f->leader != r) {
        return req_spend(r);      /* no flight to wait in: fetch alone */
    }
    if (!store_listening(ctx->store)) {
        /* The links reconnect each on its own backoff: with calls back
         * and the subscriber not yet, no message could wake R, which
         * would wait out the lease (SPEC §8). */
        return req_spend(r);
    }
    ms = req_lease_ms(r->env->cf);
    if (pttl > 0 && pttl < ms) {
        ms = pttl;
    }
    w = map_get(ctx->woken, r->lock_key, strlen(r->lock_key));
    if (w != NULL && (uint64_t)(uintptr_t)w > r->wake_seq) {
        /* Its wake came (on the other link) before the verdict that
         * says to wait for it: look again now, not after the lease. */
        ms = 0;
    }
    ms += LOOKUP_WAKE_SLACK_MS;
    f->timer = evtimer_new(ctx->base, on_lease_timer, f);
    if (f->timer == NULL ||
        map_put(ctx->waits, f->lock, strlen(f->lock), f) != 0) {
        if (f->timer != NULL) {
            event_free(f->timer);
            f->timer = NULL;
        }
        return req_spend(r);      /* cannot wait: fetch alone */
    }
    f->remote = true;
    TAILQ_INSERT_TAIL(&ctx->remote, f, next);
    tv.tv_sec = (time_t)(ms / 1000);
    tv.tv_usec = (suseconds_t)(ms % 1000) * 1000;
    evtimer_add(f->timer, &tv);
    return REQ_WAIT;
}

/*
 * Acts on the fetch lock's verdict WHAT (with EXTRA, its second value):
 * fetch, wait for the holder, or take the answer it handed over. R's
 * epoch and blocks generation are those read with the verdict.
 */
static enum req_state
lookup_verdict(struct req *r, const char *what, const redisReply *extra)
{
    struct cache_entry e;

    if (strcmp(what, "lead") == 0) {
        r->locked = true;
        if (r->waited && lookup_stale(r, "stale-if-error", 0)) {
            /* The fetch R waited for left the entry expired: it failed
             * just now. Trying again would most likely cost another
             * upstream_timeout on top of the wait (SPEC §8). */
            lookup_unlock(r);
            return REQ_DONE;
        }
        return req_spend(r);
    }
    if (strcmp(what, "wait") == 0) {
        if (r->revalidate && lookup_stale(r, "stale-while-revalidate", 0)) {
            return REQ_DONE;        /* another refreshes it */
        }
        if (r->waited && lookup_stale(r, "stale-if-error", 0)) {
            return REQ_DONE;        /* the fetch R waited for failed, and
                                     * another has begun: no second wait */
        }
        return lookup_wait_remote(r, extra != NULL &&
                                             extra->type == REDIS_REPLY_INTEGER
                                         ? extra->integer
                                         : -1);
    }
    if (strcmp(what, "answer") == 0 && extra != NULL &&
        extra->type == REDIS_REPLY_STRING &&
        cache_entry_decode(extra->str, extra->len, &e) == 0) {
        struct respond_cache c = { .x_cache = r->x_cache, .age_s = -1 };
        struct lookup_answer a = { &e, &c, true, 0, NULL, NULL, NULL, -1 };
        char                 status[LOOKUP_STATUS_MAX];

        snprintf(status, sizeof(status), "fwd=%s", r->fwd);
        c.status = r->x_cache != NULL ? status : NULL;
        lookup_answer(r, &a);
        return REQ_DONE;
    }
    return lookup_without_cache(r);
}

enum req_state
lookup_on_lock(struct req *r, const redisReply *reply)
{
    const redisReply *what;

    r->op = NULL;
    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY ||
        reply->elements < 2 || reply->element[0]->type != REDIS_REPLY_STRING) {
        return lookup_without_cache(r);
    }
    what = reply->element[0];
    if (strcmp(what->str, "lead") == 0 &&
        (reply->elements != 3 ||
         !lookup_copy_epoch(reply->element[1], r->epoch, sizeof(r->epoch)) ||
         !lookup_copy_epoch(reply->element[2], r->bgen, sizeof(r->bgen)))) {
        return lookup_without_cache(r);
    }
    return lookup_verdict(r, what->str, reply->element[1]);
}

/*
 * WAIT done. A waiter of this worker gets its leader's answer (ANSWER);
 * a leader that waited for another instance looks again (ANSWER NULL).
 */
enum req_state
lookup_on_wake(struct req *r, const struct lookup_answer *answer)
{
    if (answer != NULL) {
        stats_add(STATS_COALESCED, 1);
        lookup_answer_one(r, answer, answer->forwarded);
        return REQ_DONE;
    }
    assert(r->flight != NULL && r->flight->leader == r);
    flight_unwait(r->flight);
    r->waited = true;
    if (r->dir.no_cache || r->dir.no_store || !r->may_store) {
        return lookup_lock(r);
    }
    return lookup_start(r);
}

/* The wake channel: PAYLOAD names a lock whose holder is done. */
static void
on_wake_message(const char *payload, size_t len, void *arg)
{
    struct lookup_ctx    *ctx = arg;
    struct lookup_flight *f;

    if (payload == NULL) {
        /* A message may have been missed ((re)subscribed), or will be
         * (link lost, Redis frozen): look again, which fails open when
         * Redis is away, rather than wait out the lease (SPEC §8). */
        while ((f = TAILQ_FIRST(&ctx->remote)) != NULL) {
            flight_unwait(f);
            req_wake(f->leader, NULL);
        }
        return;
    }
    ctx->wake_seq++;
    f = map_get(ctx->waits, payload, len);
    if (f != NULL) {
        req_wake(f->leader, NULL);
        return;
    }
    /* Nobody waits for it yet; a verdict "wait" sent before this message
     * may still be on its way on the call link. Bounded: old entries
     * only matter to calls in flight. */
    if (map_count(ctx->woken) >= LOOKUP_WOKEN_MAX) {
        map_clear(ctx->woken, NULL, NULL);
    }
    (void)map_put(ctx->woken, payload, len, (void *)(uintptr_t)ctx->wake_seq);
}

/* Redis's tracking: KEY changed (or, KEY NULL, anything may have). */
static void
on_invalidation(const char *key, size_t len, void *arg)
{
    struct lookup_ctx *ctx = arg;

    ctx->inval_seq++;
    if (ctx->near == NULL) {
        return;
    }
    if (key == NULL) {
        near_clear(ctx->near);
    } else {
        near_invalidate(ctx->near, key, len);
    }
}

/*
 * The heartbeat: a worker answering from its near cache may not call
 * Redis for a long while, and a Redis that stopped answering sends no
 * invalidations. A missed deadline here empties the near cache (store.c
 * reports tracking lost) until Redis answers again.
 */
static void
on_ping_timer(evutil_socket_t fd, short what, void *arg)
{
    struct lookup_ctx *ctx = arg;

    (void)store_eval(ctx->store, &lua_ping, 0, 0, NULL, NULL, store_ignore,
                     NULL);
}

/* The near cache's key of R's entry. */
static size_t
near_key(const struct req *r, char *out, size_t cap)
{
    int n = snprintf(out, cap, "%s%c%s", r->key.hash, '\0', r->key.field);

    assert(n > 0 && (size_t)n < cap);
    return (size_t)n;
}

/* Answers R from the near cache if it may. Returns true when it did. */
static bool
lookup_near(struct req *r)
{
    struct lookup_ctx *ctx = r->env->lookup;
    struct cache_entry e;
    const char        *v;
    char               key[LOOKUP_FKEY_MAX];
    size_t             klen, vlen;
    int64_t            now;

    if (ctx->near == NULL || r->dir.no_cache || r->dir.no_store ||
        !store_tracking(ctx->store)) {
        return false;
    }
    klen = near_key(r, key, sizeof(key));
    if (near_get(ctx->near, key, klen, &vlen) == NULL) {
        return false;               /* a miss costs no read of the socket */
    }
    /* Invalidations already in the socket first: one may be this entry's
     * (a PATCH answered through another instance, SPEC §4). */
    store_poll(ctx->store);
    if (!store_tracking(ctx->store)) {
        return false;
    }
    v = near_get(ctx->near, key, klen, &vlen);
    if (v == NULL || cache_entry_decode(v, vlen, &e) != 0) {
        return false;
    }
    now = req_now_ms();
    if (cache_entry_fresh_ms(&e, now) <= 0 ||
        (r->dir.max_age_s >= 0 &&
         cache_entry_age_s(&e, now) > r->dir.max_age_s)) {
        return false;
    }
    stats_add(STATS_NEAR_HITS, 1);
    lookup_hit(r, &e, now);
    return true;
}

/* Keeps the fresh entry V (LEN bytes) that R's lookup read, if it may. */
static void
lookup_near_put(struct req *r, const char *v, size_t len)
{
    struct lookup_ctx *ctx = r->env->lookup;
    char               key[LOOKUP_FKEY_MAX];
    size_t             klen;

    if (ctx->near == NULL || !r->near_ok || ctx->inval_seq != r->near_seq ||
        !store_tracking(ctx->store)) {
        return;
    }
    klen = near_key(r, key, sizeof(key));
    near_put(ctx->near, key, klen, v, len, r->key.hash,
             r->route.id == ROUTE_BLOCKS ? r->key.bgen : NULL);
}

static void
on_lease_timer(evutil_socket_t fd, short what, void *arg)
{
    struct lookup_flight *f = arg;

    req_wake(f->leader, NULL);
}

/* ---- FETCH and STORE ---------------------------------------------------- */

/*
 * Fills the cache with R's answer (when it may be stored) and hands it to
 * the requests waiting for R's lock. Returns the next state.
 */
static enum req_state
lookup_fill(struct req *r, int64_t ttl_ms)
{
    const struct conf *cf = r->env->cf;
    struct evbuffer   *v = req_entry_value(r, r->status, ttl_ms);
    const char        *argv[14];
    size_t             lens[14];
    char               expire[24], answer_ms[24];
    bool               blocks = r->route.id == ROUTE_BLOCKS;
    int                i;

    if (v == NULL) {
        return lookup_deliver(r, false);
    }
    snprintf(expire, sizeof(expire), "%" PRId64,
             cache_expire_ms(cf, ttl_ms));
    snprintf(answer_ms, sizeof(answer_ms), "%d", LOOKUP_ANSWER_MS);
    argv[0] = r->key.hash;
    argv[1] = r->key.epoch;
    argv[2] = blocks ? r->key.bgen : r->key.epoch;
    argv[3] = r->lock_key;
    argv[4] = r->key.field;
    argv[5] = (const char *)evbuffer_pullup(v, -1);
    argv[6] = expire;
    argv[7] = r->epoch;
    argv[8] = blocks ? "1" : "0";
    argv[9] = r->bgen;
    argv[10] = ttl_ms > 0 ? "1" : "0";
    argv[11] = r->locked ? r->owner : "";
    argv[12] = answer_ms;
    argv[13] = r->env->lookup->channel;
    for (i = 0; i < 14; i++) {
        lens[i] = i == 5 ? evbuffer_get_length(v) : strlen(argv[i]);
    }
    r->op = store_eval(r->env->store, &lua_fill, 4, 14, argv, lens,
                       req_on_store_reply, r);
    evbuffer_free(v);               /* store_eval copied it */
    if (r->op == NULL) {
        r->detail = "store-unavailable";
        return lookup_deliver(r, false);
    }
    return REQ_STORE;
}

/* Gives R's lock back without an answer, so that waiters look again. */
static void
lookup_unlock(struct req *r)
{
    const char *argv[3];
    size_t      lens[3];
    int         i;

    if (!r->locked) {
        return;
    }
    r->locked = false;
    argv[0] = r->lock_key;
    argv[1] = r->owner;
    argv[2] = r->env->lookup->channel;
    for (i = 0; i < 3; i++) {
        lens[i] = strlen(argv[i]);
    }
    /* Fire and forget: a lock that stays expires with its lease. */
    (void)store_eval(r->env->store, &lua_unlock, 1, 3, argv, lens,
                     store_ignore, NULL);
}

/*
 * The upstream's Cache-Control: no-store or private keeps its answer out
 * of the cache (SPEC §11), unless upstream_cache_control = ignore. If the
 * real API marks every answer so, the cache stays empty: said once per
 * route, naming the key, so that nobody has to guess why all is MISS.
 */
static void
lookup_obey_upstream(struct req *r)
{
    static atomic_bool said[ROUTE_COUNT];
    const struct conf *cf = r->env->cf;

    if (!r->may_store ||
        cf->upstream_cache_control == CONF_CACHE_CONTROL_IGNORE ||
        !cache_upstream_forbids(
            evhttp_find_header(&r->headers, "Cache-Control"))) {
        return;
    }
    r->may_store = false;
    r->detail = "no-store";
    if (!atomic_exchange(&said[r->route.id], true)) {
        log_warn("proxy: the upstream marks %s answers Cache-Control: "
                 "no-store or private, so they are not cached; "
                 "upstream_cache_control = ignore caches them",
                 route_name(r->route.id));
    }
}

enum req_state
lookup_on_fetch(struct req *r, const struct req_upstream_result *res)
{
    int64_t ttl;

    r->call = NULL;                 /* freed by upstream after this */
    r->uerr = res->err;
    if (res->err != UPSTREAM_OK) {
        lookup_unlock(r);
        if (lookup_stale(r, "stale-if-error", 0)) {
            return REQ_DONE;
        }
        return lookup_upstream_error(r);
    }
    req_keep(r, res->resp);
    lookup_obey_upstream(r);
    if ((r->status >= 500 || r->status == 429) &&
        lookup_stale(r, "stale-if-error", r->status)) {
        lookup_unlock(r);
        return REQ_DONE;
    }
    ttl = r->may_store ? cache_ttl_ms(r->env->cf, r->route.id, r->status) : 0;
    if (ttl > 0 || r->locked) {
        return lookup_fill(r, ttl);
    }
    return lookup_deliver(r, false);
}

enum req_state
lookup_on_stored(struct req *r, const redisReply *reply)
{
    r->op = NULL;
    if (r->client == NULL && r->flight == NULL) {
        return REQ_DONE;            /* a refresh: answered already */
    }
    return lookup_deliver(r, reply != NULL &&
                                 reply->type == REDIS_REPLY_INTEGER &&
                                 reply->integer == 1);
}

/* ---- the budget ---------------------------------------------------------- */

void
lookup_on_sent(struct req *r)
{
    if (r->revalidate && r->client != NULL) {
        /* Serve what just expired; the fetch goes on for the cache. */
        lookup_stale(r, "stale-while-revalidate", 0);
    }
}

bool
lookup_on_denied_stale(struct req *r)
{
    if (r->client == NULL && r->flight == NULL) {
        lookup_unlock(r);           /* a refresh: try another time */
        return true;
    }
    if (lookup_stale(r, "rate-limited", 0)) {
        lookup_unlock(r);
        return true;
    }
    return false;
}

enum req_state
lookup_on_denied(struct req *r, int64_t wait_ms)
{
    struct lookup_answer a = { NULL, NULL, false, 429, "rate limit exceeded",
                               "Retry-After", NULL, -1 };
    char                 after[24];

    lookup_unlock(r);
    snprintf(after, sizeof(after), "%" PRId64,
             wait_ms > 0 ? (wait_ms + 999) / 1000 : 1);
    a.hvalue = after;
    stats_add(STATS_LOCAL_429, 1);
    lookup_answer(r, &a);
    return REQ_DONE;
}

/* ---- shutdown ----------------------------------------------------------- */

void
lookup_abort(struct req *r)
{
    struct lookup_flight *f = r->flight;

    if (f == NULL) {
        return;
    }
    if (f->leader == r) {
        lookup_error(r, 503, "shutting down");
        return;
    }
    TAILQ_REMOVE(&f->waiters, r, wnext);
    r->flight = NULL;
}
