/*
 * req/read.c - the read path's handlers (req/read.h).
 */
#include "config.h"

#include "req/read.h"

#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/http.h>

#include "cache.h"
#include "conf.h"
#include "log.h"
#include "phone.h"
#include "req/answer.h"
#include "req/forward.h"
#include "req/pending.h"
#include "req/read_state.h"
#include "script.h"
#include "store.h"

#define READ_ANSWER_MS 1000         /* how long a handed answer waits */

static enum req_state read_lookup(struct req *r);
static enum req_state read_lock(struct req *r);

/* Checks the phone of a GET route; answers R and returns false if bad. */
static bool
read_check_phone(struct req *r)
{
    const char *const *msgs;
    size_t             n = key_query_phone(&read_state(r)->q, r->phone,
                                           sizeof(r->phone), &msgs);

    if (n > 0) {
        reply_error_n(r, 400, msgs, n);
        return false;
    }
    return true;
}

/*
 * What a forward's OUTCOME means for a read: FETCH, with a stale entry
 * served meanwhile if it may; BUDGET; for a denial, a stale entry, a rate
 * wait or a 429 (to it and its waiters); an unsent call is a failed one.
 */
static enum req_state
read_forwarded(struct req *r, enum forward_outcome outcome, int64_t wait_ms)
{
    struct read_state         *rs = read_state(r);
    struct req_upstream_result res = { UPSTREAM_EUNREACHABLE, NULL };

    switch (outcome) {
    case FORWARD_SENT:
        if (rs->revalidate && r->client != NULL) {
            /* Serve what just expired; the fetch goes on for the cache. */
            answer_stale(r, REPLY_DETAIL_SWR, 0);
        }
        return REQ_FETCH;
    case FORWARD_PENDING:
        return REQ_BUDGET;
    case FORWARD_DENIED:
        if (r->client == NULL && rs->fl.flight == NULL) {
            /* A refresh, its client served already: another time. */
            flight_unlock(r->env->flights, &rs->fl);
            return REQ_DONE;
        }
        if (answer_stale(r, REPLY_DETAIL_RATE_LIMITED, 0)) {
            flight_unlock(r->env->flights, &rs->fl);
            return REQ_DONE;
        }
        if (forward_wait(r, wait_ms)) {
            return REQ_BUDGET;
        }
        flight_unlock(r->env->flights, &rs->fl);
        return answer_denied(r, wait_ms);
    case FORWARD_UNSENT:
        break;
    }
    /* As if it had been sent and failed: one way of handling an upstream
     * failure (stale, waiters, the lock). */
    return read_on_fetch(r, &res);
}

/* Goes upstream for R. */
static enum req_state
read_spend(struct req *r)
{
    int64_t              wait_ms;
    enum forward_outcome o = forward_spend(r, &wait_ms);

    return read_forwarded(r, o, wait_ms);
}

enum req_state
read_on_budget(struct req *r, const void *data)
{
    int64_t              wait_ms = 0;
    enum forward_outcome o = forward_on_budget(r, data, &wait_ms);

    return read_forwarded(r, o, wait_ms);
}

/*
 * Redis is away or failed: go on without the cache (SPEC §8), as a miss
 * whose answer is not stored, since no epoch was read.
 */
static enum req_state
read_without_cache(struct req *r)
{
    struct read_state *rs = read_state(r);

    if (rs->dir.only_if_cached) {
        return answer_error(r, 504, "no cached response");
    }
    rs->may_store = false;
    if (rs->fl.owner[0] != '\0') {
        /* A call that asked for the lock and got no answer (a deadline,
         * a lost link) may still run and take it, for nobody: readers of
         * the key would wait out its lease. An UNLOCK sent after it, on
         * the same link, runs after it and drops it if so. */
        rs->fl.locked = true;
        flight_unlock(r->env->flights, &rs->fl);
    }
    rs->fl.locked = false;
    rs->detail = REPLY_DETAIL_STORE_UNAVAILABLE;
    return read_spend(r);
}

/*
 * The key of R's flight: what must be equal for two reads to take one
 * answer. Directives that change what may be served are part of it, so a
 * no-cache read never gets a max-age read's hit and the other way round.
 */
static size_t
read_flight_key(const struct read_state *rs, char *out, size_t cap)
{
    int n;

    n = snprintf(out, cap, "%c%" PRId64 "%c%s%c%s",
                 rs->dir.no_cache || rs->dir.no_store ? 'r' : 'n',
                 rs->dir.max_age_s, '\0', rs->key.hash, '\0', rs->key.field);
    assert(n > 0 && (size_t)n < cap);
    return (size_t)n;
}

enum req_state
read_recv(struct req *r)
{
    struct read_state       *rs = read_state(r);
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(r->client);
    struct evkeyvalq        *in = evhttp_request_get_input_headers(r->client);
    const struct conf       *cf = r->env->cf;
    char                     fkey[FLIGHT_KEY_MAX];
    bool                     enabled, keyed, pending = false;

    key_parse_query(uri != NULL ? evhttp_uri_get_query(uri) : NULL, &rs->q);
    if (r->route.id != ROUTE_DISPOSITIONS && !read_check_phone(r)) {
        return REQ_DONE;
    }
    cache_parse_directives(evhttp_find_header(in, "Cache-Control"),
                           evhttp_find_header(in, "Pragma"), &rs->dir);
    enabled = cache_route_enabled(cf, r->route.id);
    keyed = !rs->q.limit_days_bad && !rs->q.simple_block_id_bad &&
            req_key_entry(r, &rs->q, &rs->key) == 0;
    if (!keyed) {
        rs->mode = READ_BYPASS;
    } else if (!enabled || rs->dir.no_cache || rs->dir.no_store) {
        rs->mode = READ_REFRESH;
    } else if ((pending = pending_has(rs->key.hash))) {
        /* A PATCH of this instance could not drop the stored lead:
         * refresh it (SPEC §12). */
        rs->mode = READ_REFRESH;
    } else {
        rs->mode = READ_LOOKUP;
    }
    rs->x_cache = STATS_CACHE_BYPASS;
    if (rs->mode == READ_BYPASS || (!enabled && rs->dir.only_if_cached)) {
        /* Parameters we cannot key on: straight through, and the
         * upstream judges them. */
        if (rs->dir.only_if_cached) {
            reply_error(r, 504, "no cached response");
            return REQ_DONE;
        }
        rs->fwd = REPLY_FWD_BYPASS;
        return read_spend(r);
    }
    if (pending && rs->dir.only_if_cached) {
        reply_error(r, 504, "no cached response");  /* none that is true */
        return REQ_DONE;
    }
    rs->may_store = enabled && !rs->dir.no_store;
    if (!enabled) {
        rs->fwd = REPLY_FWD_BYPASS; /* a disabled TTL: never stored */
    } else if (rs->dir.no_cache || rs->dir.no_store) {
        rs->fwd = REPLY_FWD_REQUEST;
    } else {
        rs->x_cache = STATS_CACHE_MISS;
        rs->fwd = pending ? REPLY_FWD_STALE : REPLY_FWD_MISS;
    }
    if (rs->mode == READ_LOOKUP && answer_near(r)) {
        return REQ_DONE;
    }
    snprintf(rs->fl.lock, sizeof(rs->fl.lock), "%s:lock:%s", rs->key.hash,
             rs->key.field);
    /* only-if-cached reads never fetch, so they never wait for one. */
    if (!rs->dir.only_if_cached &&
        flight_join(r->env->flights, &rs->fl, r, fkey,
                    read_flight_key(rs, fkey, sizeof(fkey)))) {
        return REQ_WAIT;
    }
    if (rs->mode == READ_REFRESH) {
        return read_lock(r);        /* nothing cached to look at */
    }
    return read_lookup(r);
}

/* ---- LOOKUP and LOCK ---------------------------------------------------- */

/*
 * Starts the lookup of R's entry (and epoch); when the entry will not do,
 * the same script takes the fetch lock (lua.c). Returns the next state.
 */
static enum req_state
read_lookup(struct req *r)
{
    struct read_state        *rs = read_state(r);
    bool                      lock = !rs->dir.only_if_cached &&
                                     rs->fl.flight != NULL;
    struct script_lookup_args a = {
        .hash = rs->key.hash, .epoch_key = rs->key.epoch,
        .bgen_key = rs->key.bgen, .lock_key = rs->fl.lock,
        .field = rs->key.field, .is_blocks = r->route.id == ROUTE_BLOCKS,
        .now_ms = req_now_ms(), .max_age_s = rs->dir.max_age_s,
        .lease_ms = req_lease_ms(r->env->cf), .take_answer = rs->waited,
        .guard_ms = cache_guard_ms(r->env->cf),
        .deadline_ms = req_redis_deadline_ms(r) };

    a.owner = lock && flight_owner(&rs->fl) ? rs->fl.owner : "";
    tracking_begin(r->env->tracking, r->env->store, &rs->seen);
    flight_mark(r->env->flights, &rs->fl);
    r->op = script_lookup(r->env->store, &a, req_on_store_reply, r);
    if (r->op != NULL) {
        return REQ_LOOKUP;
    }
    return read_without_cache(r);
}

/* Takes the fetch lock of R's entry, or learns who has it. */
static enum req_state
read_lock(struct req *r)
{
    struct read_state *rs = read_state(r);

    if (!flight_owner(&rs->fl)) {
        return read_spend(r);       /* no lock: fetch alone */
    }
    r->op = flight_lock(r->env->flights, &rs->fl, &rs->key,
                        r->route.id == ROUTE_BLOCKS, rs->waited, r->env->cf,
                        r);
    if (r->op == NULL) {
        return read_without_cache(r);
    }
    return REQ_LOCK;
}

/* Keeps the epoch and blocks generation a verdict was read with. */
static bool
read_copy_epochs(struct read_state *rs, const struct script_lookup_result *v)
{
    if (v->epoch_len >= sizeof(rs->epoch) || v->bgen_len >= sizeof(rs->bgen)) {
        return false;
    }
    memcpy(rs->epoch, v->epoch, v->epoch_len);
    rs->epoch[v->epoch_len] = '\0';
    memcpy(rs->bgen, v->bgen, v->bgen_len);
    rs->bgen[v->bgen_len] = '\0';
    return true;
}

/* Keeps the fresh entry V (LEN bytes) R's lookup read, if it may. */
static void
read_near_put(struct req *r, const char *v, size_t len)
{
    struct read_state *rs = read_state(r);

    tracking_put(r->env->tracking, &rs->seen, rs->key.hash, rs->key.field,
                 r->route.id == ROUTE_BLOCKS ? rs->key.bgen : NULL, v, len);
}

/*
 * Acts on the fetch lock's verdict V: fetch, wait for the holder, or take
 * the answer it handed over. R's epoch and blocks generation are those
 * read with the verdict.
 */
static enum req_state
read_verdict(struct req *r, const struct script_lookup_result *v)
{
    struct read_state *rs = read_state(r);
    struct cache_entry e;
    char              *plain;
    size_t             len;
    enum req_state     next;

    switch (v->verdict) {
    case SCRIPT_LOOKUP_LEAD:
        rs->fl.locked = true;
        if (rs->waited && answer_stale(r, REPLY_DETAIL_SIE, 0)) {
            /* The fetch R waited for left the entry expired: it failed
             * just now. Trying again would most likely cost another
             * upstream_timeout on top of the wait (SPEC §8). */
            flight_unlock(r->env->flights, &rs->fl);
            return REQ_DONE;
        }
        return read_spend(r);
    case SCRIPT_LOOKUP_WAIT:
        if (rs->revalidate && answer_stale(r, REPLY_DETAIL_SWR, 0)) {
            return REQ_DONE;        /* another refreshes it */
        }
        if (rs->waited && answer_stale(r, REPLY_DETAIL_SIE, 0)) {
            return REQ_DONE;        /* the fetch R waited for failed, and
                                     * another has begun: no second wait */
        }
        if (flight_wait_remote(r->env->flights, &rs->fl, r->env->cf,
                               v->pttl)) {
            return REQ_WAIT;
        }
        return read_spend(r);       /* cannot wait: fetch alone */
    case SCRIPT_LOOKUP_ANSWER:
        plain = req_entry_read(r, &rs->key, v->answer, v->answer_len, &e,
                               &len);
        if (plain != NULL) {
            next = answer_handed(r, &e);
            free(plain);
            return next;
        }
        break;
    case SCRIPT_LOOKUP_NONE:
        return read_spend(r);       /* no flight, no lock: fetch alone */
    case SCRIPT_LOOKUP_HIT:
    case SCRIPT_LOOKUP_LATE:        /* R gave up on it already */
    case SCRIPT_LOOKUP_FAILED:
    case SCRIPT_LOOKUP_MALFORMED:
        break;
    }
    return read_without_cache(r);
}

enum req_state
read_on_lookup(struct req *r, const void *data)
{
    struct read_state          *rs = read_state(r);
    const struct conf          *cf = r->env->cf;
    struct script_lookup_result v;
    struct cache_entry          e;
    int64_t                     now = req_now_ms();
    bool                        swr = false, have;
    char                       *plain;
    size_t                      len = 0;
    enum req_state              next;

    if (script_lookup_reply(data, &v) != 0 || !read_copy_epochs(rs, &v)) {
        return read_without_cache(r);   /* Redis failed or was slow */
    }
    plain = req_entry_read(r, &rs->key, v.entry, v.entry_len, &e, &len);
    have = plain != NULL;
    if (have && v.verdict == SCRIPT_LOOKUP_HIT) {
        read_near_put(r, plain, len);
        next = answer_hit(r, &e, now);
        free(plain);
        return next;
    }
    if (have) {
        int64_t fresh = cache_entry_fresh_ms(&e, now);

        if (fresh > 0) {            /* fresh, but older than max-age */
            read_near_put(r, plain, len);
        }
        rs->fwd = REPLY_FWD_STALE;
        /* An entry that just expired is served now, unless the client
         * bounds the age it takes; one past that waits for an error. */
        swr = rs->dir.max_age_s < 0 &&
              -fresh < cf->stale_while_revalidate_ms;
        if (swr || -fresh < cf->stale_if_error_ms) {
            free(rs->stale);        /* kept for stale serving */
            rs->stale = plain;
            rs->stale_len = len;
            plain = NULL;
        }
        free(plain);
    }
    if (rs->dir.only_if_cached) {
        return answer_error(r, 504, "no cached response");
    }
    rs->revalidate = swr && rs->stale != NULL;
    if (!have && v.verdict == SCRIPT_LOOKUP_HIT) {
        return read_lock(r);        /* did not open: a miss, filled anew */
    }
    return read_verdict(r, &v);
}

enum req_state
read_on_lock(struct req *r, const void *data)
{
    struct script_lookup_result v;

    if (script_lock_reply(data, &v) != 0 ||
        (v.verdict == SCRIPT_LOOKUP_LEAD &&
         !read_copy_epochs(read_state(r), &v))) {
        return read_without_cache(r);
    }
    return read_verdict(r, &v);
}

/*
 * WAIT done. A waiter of this worker gets its leader's answer (DATA);
 * a leader that waited for another instance looks again (DATA NULL).
 */
enum req_state
read_on_wake(struct req *r, const void *data)
{
    struct read_state *rs = read_state(r);

    if (data != NULL) {
        return answer_waiter(r, data);
    }
    flight_unwait(&rs->fl);
    rs->waited = true;
    if (rs->mode == READ_LOOKUP && rs->may_store) {
        return read_lookup(r);
    }
    return read_lock(r);
}

/* ---- FETCH and STORE ---------------------------------------------------- */

/*
 * Fills the cache with R's answer (when it may be stored) and hands it to
 * the requests waiting for R's lock. Returns the next state.
 */
static enum req_state
read_fill(struct req *r, int64_t ttl_ms)
{
    struct read_state      *rs = read_state(r);
    struct evbuffer        *v = req_entry_value(r, rs->key.hash,
                                                rs->key.field, r->status,
                                                ttl_ms);
    struct script_fill_args a = {
        .hash = rs->key.hash, .epoch_key = rs->key.epoch,
        .bgen_key = rs->key.bgen, .lock_key = rs->fl.lock,
        .field = rs->key.field,
        .expire_ms = cache_expire_ms(r->env->cf, ttl_ms),
        .epoch = rs->epoch, .is_blocks = r->route.id == ROUTE_BLOCKS,
        .bgen = rs->bgen, .store = ttl_ms > 0,
        .owner = rs->fl.locked ? rs->fl.owner : "",
        .answer_ms = READ_ANSWER_MS,
        .channel = flight_channel(r->env->flights) };

    if (v == NULL) {
        return answer_forwarded(r, false);
    }
    a.value = (const char *)evbuffer_pullup(v, -1);
    a.value_len = evbuffer_get_length(v);
    r->op = script_fill(r->env->store, &a, req_on_store_reply, r);
    evbuffer_free(v);               /* store_eval copied it */
    if (r->op == NULL) {
        rs->detail = REPLY_DETAIL_STORE_UNAVAILABLE;
        return answer_forwarded(r, false);
    }
    return REQ_STORE;
}

/*
 * The upstream's Cache-Control: no-store or private keeps its answer out
 * of the cache (SPEC §11), unless upstream_cache_control = ignore. If the
 * real API marks every answer so, the cache stays empty: said once per
 * route, naming the key, so that nobody has to guess why all is MISS.
 */
static void
read_obey_upstream(struct req *r)
{
    static atomic_bool said[ROUTE_COUNT];
    struct read_state *rs = read_state(r);
    const struct conf *cf = r->env->cf;

    if (!rs->may_store ||
        cf->upstream_cache_control == CONF_CACHE_CONTROL_IGNORE ||
        !cache_upstream_forbids(
            evhttp_find_header(&r->headers, "Cache-Control"))) {
        return;
    }
    rs->may_store = false;
    rs->detail = REPLY_DETAIL_NO_STORE;
    if (!atomic_exchange_explicit(&said[r->route.id], true,
                                  memory_order_relaxed)) {
        log_warn("proxy: the upstream marks %s answers Cache-Control: "
                 "no-store or private, so they are not cached; "
                 "upstream_cache_control = ignore caches them",
                 route_name(r->route.id));
    }
}

enum req_state
read_on_fetch(struct req *r, const void *data)
{
    const struct req_upstream_result *res = data;
    struct read_state                *rs = read_state(r);
    int64_t                           ttl;

    r->uerr = res->err;
    if (res->err != UPSTREAM_OK) {
        flight_unlock(r->env->flights, &rs->fl);
        if (answer_stale(r, REPLY_DETAIL_SIE, 0)) {
            return REQ_DONE;
        }
        return answer_upstream_error(r);
    }
    forward_keep(r, res->resp);
    read_obey_upstream(r);
    if ((r->status >= 500 || r->status == 429) &&
        answer_stale(r, REPLY_DETAIL_SIE, r->status)) {
        flight_unlock(r->env->flights, &rs->fl);
        return REQ_DONE;
    }
    ttl = rs->may_store ? cache_ttl_ms(r->env->cf, r->route.id, r->status)
                        : 0;
    if (ttl > 0 || rs->fl.locked) {
        return read_fill(r, ttl);
    }
    return answer_forwarded(r, false);
}

enum req_state
read_on_stored(struct req *r, const void *data)
{
    struct read_state *rs = read_state(r);

    if (r->client == NULL && rs->fl.flight == NULL) {
        return REQ_DONE;            /* a refresh: answered already */
    }
    return answer_forwarded(r, script_fill_reply(data) ==
                                   SCRIPT_FILL_STORED);
}

/* ---- the end ------------------------------------------------------------ */

void
read_abort(struct req *r)
{
    struct read_state *rs = read_state(r);

    if (flight_leads(&rs->fl)) {
        answer_error(r, 503, "shutting down");
        return;
    }
    flight_leave(&rs->fl);
}

void
read_finish(struct req *r)
{
    struct read_state *rs = read_state(r);

    assert(rs->fl.flight == NULL);
    free(rs->stale);
    rs->stale = NULL;
}
