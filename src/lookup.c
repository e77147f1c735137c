/*
 * lookup.c - the read path (SPEC §2-§4, §7, §8).
 *
 * A lookup reads the entry and the phone's write epoch together; the
 * fill of a miss lands only if that epoch is unchanged, so an answer
 * fetched before a PATCH can never overwrite the PATCH's lead (lua.c).
 */
#include "config.h"

#include "lookup.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <hiredis/hiredis.h>

#include "cache.h"
#include "conf.h"
#include "lua.h"
#include "phone.h"
#include "respond.h"
#include "store.h"

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
 * Redis is away or failed the lookup: go on without the cache (SPEC §8),
 * as a miss whose answer is not stored, since no epoch was read.
 */
static enum req_state
lookup_without_cache(struct req *r)
{
    if (r->dir.only_if_cached) {
        req_error(r, 504, "no cached response");
        return REQ_DONE;
    }
    r->may_store = false;
    r->detail = "store-unavailable";
    return req_forward(r);
}

/* Starts the lookup of R's entry (and epoch). Returns the next state. */
static enum req_state
lookup_start(struct req *r)
{
    const char *argv[5];
    size_t      lens[5];
    bool        blocks = r->route.id == ROUTE_BLOCKS;
    int         i;

    argv[0] = r->key.hash;
    argv[1] = r->key.epoch;
    argv[2] = blocks ? r->key.bgen : r->key.epoch;
    argv[3] = r->key.field;
    argv[4] = blocks ? "1" : "0";
    for (i = 0; i < 5; i++) {
        lens[i] = strlen(argv[i]);
    }
    r->op = store_eval(r->env->store, &lua_lookup, 3, 5, argv, lens,
                       req_on_store_reply, r);
    if (r->op != NULL) {
        return REQ_LOOKUP;
    }
    return lookup_without_cache(r);
}

/* RECV for the GET routes: phone, key, directives; lookup or forward. */
enum req_state
lookup_recv(struct req *r)
{
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(r->client);
    struct evkeyvalq        *in = evhttp_request_get_input_headers(r->client);
    const struct conf       *cf = r->env->cf;

    key_parse_query(uri != NULL ? evhttp_uri_get_query(uri) : NULL, &r->q);
    if (r->route.id != ROUTE_DISPOSITIONS && !lookup_check_phone(r)) {
        return REQ_DONE;
    }
    cache_parse_directives(evhttp_find_header(in, "Cache-Control"),
                           evhttp_find_header(in, "Pragma"), &r->dir);
    r->cacheable = cache_route_enabled(cf, r->route.id) &&
                   !r->q.limit_days_bad && !r->q.simple_block_id_bad &&
                   key_entry(cf->redis_prefix, r->tenant, r->route.id,
                             r->phone, r->route.crm, &r->q, &r->key) == 0;
    if (!r->cacheable) {
        /* A disabled TTL or parameters we cannot key on: straight
         * through, and the upstream judges the parameters. */
        if (r->dir.only_if_cached) {
            req_error(r, 504, "no cached response");
            return REQ_DONE;
        }
        r->x_cache = "BYPASS";
        r->fwd = "bypass";
        return req_forward(r);
    }
    if (r->dir.no_store) {
        if (r->dir.only_if_cached) {
            req_error(r, 504, "no cached response");
            return REQ_DONE;
        }
        r->x_cache = "BYPASS";
        r->fwd = "request";
        return req_forward(r);
    }
    /* Even no-cache looks up: the fill needs the epoch it read. */
    r->may_store = true;
    r->x_cache = r->dir.no_cache ? "BYPASS" : "MISS";
    r->fwd = r->dir.no_cache ? "request" : "miss";
    return lookup_start(r);
}

/* ---- LOOKUP ------------------------------------------------------------- */

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

enum req_state
lookup_on_reply(struct req *r, const redisReply *reply)
{
    struct cache_entry e;
    int64_t            now = req_now_ms();

    r->op = NULL;
    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY ||
        reply->elements != 3 ||
        !lookup_copy_epoch(reply->element[1], r->epoch, sizeof(r->epoch)) ||
        !lookup_copy_epoch(reply->element[2], r->bgen, sizeof(r->bgen))) {
        return lookup_without_cache(r);  /* Redis failed or was slow */
    }
    if (reply->element[0]->type == REDIS_REPLY_STRING &&
        cache_entry_decode(reply->element[0]->str, reply->element[0]->len,
                           &e) == 0) {
        int64_t fresh = cache_entry_fresh_ms(&e, now);
        int64_t age = cache_entry_age_s(&e, now);

        if (!r->dir.no_cache && fresh > 0 &&
            (r->dir.max_age_s < 0 || age <= r->dir.max_age_s)) {
            struct respond_cache c = { "HIT", NULL, age, false };
            char                 status[64];

            snprintf(status, sizeof(status), "hit; ttl=%" PRId64,
                     (fresh + 999) / 1000);
            c.status = status;
            respond_entry(r->client, r->request_id, &e, &c);
            r->client = NULL;
            return REQ_DONE;
        }
        if (!r->dir.no_cache) {
            r->fwd = "stale";
        }
    }
    if (r->dir.only_if_cached) {
        req_error(r, 504, "no cached response");
        return REQ_DONE;
    }
    return req_forward(r);
}

/* ---- FETCH and STORE ---------------------------------------------------- */

/* Starts the conditional fill of R's answer. Returns the next state. */
static enum req_state
lookup_fill(struct req *r, int64_t ttl_ms)
{
    const struct conf *cf = r->env->cf;
    struct evbuffer   *v = req_entry_value(r, r->status, ttl_ms);
    const char        *argv[9];
    size_t             lens[9];
    char               expire[24];
    bool               blocks = r->route.id == ROUTE_BLOCKS;
    int                i;

    if (v == NULL) {
        req_deliver(r, false);
        return REQ_DONE;
    }
    snprintf(expire, sizeof(expire), "%" PRId64,
             cache_expire_ms(cf, ttl_ms));
    argv[0] = r->key.hash;
    argv[1] = r->key.epoch;
    argv[2] = blocks ? r->key.bgen : r->key.epoch;
    argv[3] = r->key.field;
    argv[4] = (const char *)evbuffer_pullup(v, -1);
    argv[5] = expire;
    argv[6] = r->epoch;
    argv[7] = blocks ? "1" : "0";
    argv[8] = r->bgen;
    for (i = 0; i < 9; i++) {
        lens[i] = i == 4 ? evbuffer_get_length(v) : strlen(argv[i]);
    }
    r->op = store_eval(r->env->store, &lua_fill, 3, 9, argv, lens,
                       req_on_store_reply, r);
    evbuffer_free(v);               /* store_eval copied it */
    if (r->op == NULL) {
        r->detail = "store-unavailable";
        req_deliver(r, false);
        return REQ_DONE;
    }
    return REQ_STORE;
}

enum req_state
lookup_on_fetch(struct req *r, const struct req_upstream_result *res)
{
    int64_t ttl;

    r->call = NULL;                 /* freed by upstream after this */
    r->uerr = res->err;
    if (res->err != UPSTREAM_OK) {
        req_answer_held(r);
        return REQ_DONE;
    }
    req_keep(r, res->resp);
    ttl = r->may_store ? cache_ttl_ms(r->env->cf, r->route.id, r->status) : 0;
    if (ttl > 0) {
        return lookup_fill(r, ttl);
    }
    req_deliver(r, false);
    return REQ_DONE;
}

enum req_state
lookup_on_stored(struct req *r, const redisReply *reply)
{
    r->op = NULL;
    req_deliver(r, reply != NULL && reply->type == REDIS_REPLY_INTEGER &&
                       reply->integer == 1);
    return REQ_DONE;
}
