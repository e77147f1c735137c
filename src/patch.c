/*
 * patch.c - the write path: PATCH /phone/update (SPEC §4, §5).
 *
 * With an Idempotency-Key (SPEC §5) the request first CLAIMs its record
 * in Redis (lua.c: one script, so two instances cannot both claim), then
 * is forwarded with its key. After the upstream answers, the cached lead
 * is written through or dropped (WRITE, once, on the real answer: a
 * replay never writes), and the record SETTLEs: the answer stored for
 * idempotency_ttl, or the claim released so that a retry is forwarded.
 * A proxy that dies in between leaves a claim that expires with its
 * lease.
 */
#include "config.h"

#include "patch.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <hiredis/hiredis.h>
#include <json-c/json.h>

#include "cache.h"
#include "conf.h"
#include "json.h"
#include "log.h"
#include "lua.h"
#include "respond.h"
#include "stats.h"
#include "store.h"
#include "update.h"

#define PATCH_EPOCH_TTL_MS   ((int64_t)24 * 3600 * 1000)

static enum req_state patch_barrier(struct req *r);

/* ---- RECV and CLAIM ----------------------------------------------------- */

/*
 * Checks the Idempotency-Key of a PATCH (SPEC §5) and, when the proxy
 * guards it, fills R's record key. Answers R and returns false when the
 * header is missing but required, malformed, or given twice. With
 * idempotency_ttl 0 the proxy keeps no records and the header goes
 * upstream like any other, unjudged.
 */
static bool
patch_idem_check(struct req *r)
{
    static const char     bad[] = "Idempotency-Key must be 1 to 255 visible "
                                  "ASCII characters";
    const struct conf    *cf = r->env->cf;
    struct evkeyvalq     *in = evhttp_request_get_input_headers(r->client);
    const struct evkeyval *h;
    const char           *value = NULL;
    char                  key[IDEM_KEY_MAX + 1];
    unsigned              n = 0;

    if (cf->idempotency_ttl_ms == 0) {
        return true;
    }
    TAILQ_FOREACH(h, in, next) {
        if (strcasecmp(h->key, "Idempotency-Key") == 0) {
            value = h->value;
            n++;
        }
    }
    if (n == 0) {
        if (cf->idempotency_required) {
            req_error(r, 400, "Idempotency-Key header is required");
            return false;
        }
        return true;
    }
    if (n > 1 || idem_key_parse(value, key, sizeof(key)) != 0) {
        req_error(r, 400, bad);
        return false;
    }
    key_idem(cf->redis_prefix, r->tenant, key, r->idem_record);
    r->idem = true;
    return true;
}

/* Computes R's fingerprint from its raw body. Answers R on failure. */
static bool
patch_idem_fingerprint(struct req *r)
{
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(r->client);
    struct evbuffer         *in = evhttp_request_get_input_buffer(r->client);
    size_t                   len = evbuffer_get_length(in), clen;
    char                    *canon, err[160];

    if (idem_canonical((const char *)evbuffer_pullup(in, -1), len, &canon,
                       &clen, err, sizeof(err)) != 0) {
        req_error(r, 400, err);
        return false;
    }
    idem_fingerprint(r->method_name, evhttp_uri_get_path(uri), canon, clen,
                     r->idem_fp);
    free(canon);
    if (http_request_id_new(r->idem_owner, sizeof(r->idem_owner)) != 0) {
        req_error(r, 500, "cannot make a random claim id");
        return false;
    }
    return true;
}

/*
 * Redis is away (or its record unreadable, WHY says): forward R without
 * the guard of its key, which still goes upstream (SPEC §5, §8).
 */
static enum req_state
patch_unguarded(struct req *r, const char *why)
{
    stats_add(STATS_IDEM_UNPROTECTED, 1);
    log_warn("proxy: request %s: %s; the Idempotency-Key is forwarded "
             "without a claim", r->request_id, why);
    r->idem = false;
    return req_spend(r);
}

/* Claims R's record, with a lease that outlives every wait of R. */
static enum req_state
patch_claim(struct req *r)
{
    const struct conf *cf = r->env->cf;
    const char        *argv[4];
    size_t             lens[4];
    char               lease[24];
    int                i;

    snprintf(lease, sizeof(lease), "%" PRId64, req_lease_ms(cf));
    argv[0] = r->idem_record;
    argv[1] = r->idem_fp;
    argv[2] = r->idem_owner;
    argv[3] = lease;
    for (i = 0; i < 4; i++) {
        lens[i] = strlen(argv[i]);
    }
    r->op = store_eval(r->env->store, &lua_idem_claim, 1, 4, argv, lens,
                       req_on_store_reply, r);
    if (r->op == NULL) {
        return patch_unguarded(r, "redis unavailable");
    }
    return REQ_CLAIM;
}

/* RECV for PATCH /phone/update: local checks first (SPEC §4, §5). */
enum req_state
patch_recv(struct req *r, const struct json_object *body,
                const char *parse_err)
{
    struct update_check chk;

    if (body == NULL) {
        req_error(r, 400, parse_err);
        return REQ_DONE;
    }
    if (!patch_idem_check(r)) {
        return REQ_DONE;
    }
    if (update_check(body, &chk) != 0) {
        req_error_n(r, 400, chk.msgs, chk.nmsgs);
        return REQ_DONE;
    }
    memcpy(r->phone, chk.phone, sizeof(r->phone));
    r->books = chk.books;
    r->is_update = true;
    if (r->idem) {
        return patch_idem_fingerprint(r) ? patch_claim(r) : REQ_DONE;
    }
    return req_spend(r);
}

/* Whether E is the status-string reply S. */
static bool
patch_reply_is(const redisReply *e, const char *s)
{
    return e->type == REDIS_REPLY_STRING && e->len == strlen(s) &&
           memcmp(e->str, s, e->len) == 0;
}

enum req_state
patch_on_claim(struct req *r, const redisReply *reply)
{
    const redisReply *what;
    struct cache_entry e;

    r->op = NULL;
    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY ||
        reply->elements < 1) {
        return patch_unguarded(r, "redis failed the claim");
    }
    what = reply->element[0];
    if (patch_reply_is(what, "claimed")) {
        stats_add(STATS_IDEM_CLAIMED, 1);
        r->idem_claimed = true;
        return req_spend(r);
    }
    if (patch_reply_is(what, "busy")) {
        stats_add(STATS_IDEM_IN_FLIGHT, 1);
        req_error_with(r, 409, "a request with this Idempotency-Key is in "
                       "flight", "Retry-After", "1");
        return REQ_DONE;
    }
    if (patch_reply_is(what, "mismatch")) {
        stats_add(STATS_IDEM_MISMATCH, 1);
        req_error(r, 422, "Idempotency-Key was used with a different request");
        return REQ_DONE;
    }
    if (patch_reply_is(what, "done") && reply->elements == 2 &&
        reply->element[1]->type == REDIS_REPLY_STRING &&
        cache_entry_decode(reply->element[1]->str, reply->element[1]->len,
                           &e) == 0) {
        struct respond_cache c = {
            .x_cache = "REPLAY", .status = "hit; detail=idempotent-replay",
            .age_s = -1, .replayed = true };

        /* No write-through: that happened once, on the real answer. */
        stats_add(STATS_IDEM_REPLAYED, 1);
        req_answered(r, e.status, "REPLAY");
        respond_entry(r->client, r->request_id, &e, &c);
        r->client = NULL;
        return REQ_DONE;
    }
    return patch_unguarded(r, "unreadable idempotency record");
}

/* ---- FETCH, WRITE and SETTLE ------------------------------------------- */

/*
 * Settles a PATCH's Idempotency-Key record (SPEC §5), then answers. A
 * final answer is stored for idempotency_ttl; a 5xx, a timeout or a lost
 * connection releases the claim so that a retry is forwarded again. So do
 * 408 and 429: both say the request was not acted on, and replaying them
 * for a day would turn a passing refusal into a permanent one.
 */
static enum req_state
patch_settle(struct req *r)
{
    const struct conf *cf = r->env->cf;
    struct evbuffer   *v = NULL;
    const char        *argv[5];
    size_t             lens[5];
    char               ttl[24];
    bool               keep;
    int                i, argc;

    if (!r->idem_claimed) {
        return patch_barrier(r);
    }
    keep = r->uerr == UPSTREAM_OK && r->status < 500 && r->status != 408 &&
           r->status != 429;
    argv[0] = r->idem_record;
    argv[1] = r->idem_owner;
    if (keep) {
        v = req_entry_value(r, r->status, cf->idempotency_ttl_ms);
        keep = v != NULL;
    }
    if (keep) {
        snprintf(ttl, sizeof(ttl), "%" PRId64, cf->idempotency_ttl_ms);
        argv[2] = r->idem_fp;
        argv[3] = (const char *)evbuffer_pullup(v, -1);
        argv[4] = ttl;
        argc = 5;
    } else {
        stats_add(STATS_IDEM_RELEASED, 1);
        argc = 2;
    }
    for (i = 0; i < argc; i++) {
        lens[i] = i == 3 ? evbuffer_get_length(v) : strlen(argv[i]);
    }
    r->op = store_eval(r->env->store,
                       keep ? &lua_idem_complete : &lua_idem_release, 1, argc,
                       argv, lens, req_on_store_reply, r);
    if (v != NULL) {
        evbuffer_free(v);
    }
    if (r->op == NULL) {
        log_warn("proxy: request %s: redis unavailable; the idempotency "
                 "claim expires with its lease", r->request_id);
        req_answer_held(r);
        return REQ_DONE;
    }
    return REQ_SETTLE;
}

/*
 * Starts the write-through (2xx: the returned lead becomes the entry) or
 * the invalidation (5xx, timeout, lost connection: the upstream state is
 * unknown) of a PATCH (SPEC §4). Returns the next state.
 */
static enum req_state
patch_write(struct req *r, bool through)
{
    const struct conf *cf = r->env->cf;
    struct key_entry   lead;
    struct evbuffer   *v = NULL;
    const char        *argv[8];
    size_t             lens[8];
    char               blocks[KEY_MAX], expire[24], epoch_expire[24];
    int64_t            expire_ms;
    int                i;

    key_update(cf->redis_prefix, r->tenant, r->phone, &lead, blocks,
               sizeof(blocks));
    if (through && cf->ttl_lead_ms > 0) {
        /* Served later as a /phone/query answer, hence 200. */
        v = req_entry_value(r, 200, cf->ttl_lead_ms);
    }
    expire_ms = cache_expire_ms(cf, cf->ttl_lead_ms);
    snprintf(expire, sizeof(expire), "%" PRId64, expire_ms);
    snprintf(epoch_expire, sizeof(epoch_expire), "%" PRId64,
             expire_ms * 2 > PATCH_EPOCH_TTL_MS ? expire_ms * 2
                                                : PATCH_EPOCH_TTL_MS);
    argv[0] = lead.hash;
    argv[1] = lead.epoch;
    argv[2] = blocks;
    argv[3] = lead.bgen;
    argv[4] = v != NULL ? (const char *)evbuffer_pullup(v, -1) : "";
    argv[5] = expire;
    argv[6] = r->books ? "1" : "0";
    argv[7] = epoch_expire;
    for (i = 0; i < 8; i++) {
        lens[i] = i == 4 && v != NULL ? evbuffer_get_length(v)
                                      : strlen(argv[i]);
    }
    r->op = store_eval(r->env->store, &lua_write, 4, 8, argv, lens,
                       req_on_store_reply, r);
    r->wrote = r->op != NULL;
    if (v != NULL) {
        evbuffer_free(v);
    }
    if (r->op == NULL) {
        log_warn("proxy: request %s: redis unavailable; the cached lead "
                 "could not be %s", r->request_id,
                 through ? "written through" : "dropped");
        return patch_settle(r);
    }
    return REQ_WRITE;
}

/* Whether BODY, a 200's, is a lead: a JSON object (SPEC §11). */
static bool
patch_is_lead(struct evbuffer *body)
{
    size_t              len = evbuffer_get_length(body);
    struct json_object *o;
    char                err[64];
    bool                lead;

    if (len == 0) {
        return false;
    }
    o = json_parse_strict((const char *)evbuffer_pullup(body, -1), len, err,
                          sizeof(err));
    lead = o != NULL && json_object_is_type(o, json_type_object);
    json_object_put(o);
    return lead;
}

enum req_state
patch_on_fetch(struct req *r, const struct req_upstream_result *res)
{
    r->call = NULL;                 /* freed by upstream after this */
    r->uerr = res->err;
    if (res->err != UPSTREAM_OK) {
        /* The PATCH may have reached the upstream: forget the lead,
         * then say what happened. */
        return patch_write(r, false);
    }
    req_keep(r, res->resp);
    if (r->status == 200 && patch_is_lead(r->body)) {
        return patch_write(r, true);
    }
    if (r->status >= 500 || (r->status >= 200 && r->status < 300)) {
        /* Another 2xx (204, 202 queued, a 200 that is no lead): the
         * update happened, or will, but what the lead is now is not in
         * the answer. Forget it rather than cache that answer. */
        return patch_write(r, false);
    }
    return patch_settle(r);
}

/* After WRITE: settle the record, then answer the PATCH or its error. */
enum req_state
patch_on_written(struct req *r, const redisReply *reply)
{
    r->op = NULL;
    if (reply == NULL) {
        log_warn("proxy: request %s: the cached lead could not be updated",
                 r->request_id);
    }
    return patch_settle(r);
}

enum req_state
patch_on_denied(struct req *r, int64_t wait_ms)
{
    char after[24];

    snprintf(after, sizeof(after), "%" PRId64,
             wait_ms > 0 ? (wait_ms + 999) / 1000 : 1);
    stats_add(STATS_LOCAL_429, 1);
    req_error_with(r, 429, "rate limit exceeded", "Retry-After", after);
    if (r->idem_claimed) {
        const char *argv[2] = { r->idem_record, r->idem_owner };
        size_t      lens[2] = { strlen(argv[0]), strlen(argv[1]) };

        /* Nothing was sent: the key is free for the retry. Fire and
         * forget; a claim that stays expires with its lease. */
        r->idem_claimed = false;
        stats_add(STATS_IDEM_RELEASED, 1);
        (void)store_eval(r->env->store, &lua_idem_release, 1, 2, argv, lens,
                         store_ignore, NULL);
    }
    return REQ_DONE;
}

/*
 * Answers a PATCH that wrote through only once Redis has sent the
 * write's invalidations. Redis queues them in the same turn of its loop
 * as the write's reply but may write them to the other instances' sockets
 * just after it (it can be descheduled in between); a second call on the
 * same connection is read in a later turn, so its reply proves they went
 * out. Without it, a read through another instance right after the PATCH
 * could still be answered from that instance's near cache (SPEC §4).
 * Settling a claimed Idempotency-Key record is such a call already.
 */
static enum req_state
patch_barrier(struct req *r)
{
    if (r->wrote && r->env->cf->near_cache > 0) {
        r->op = store_eval(r->env->store, &lua_ping, 0, 0, NULL, NULL,
                           req_on_store_reply, r);
        if (r->op != NULL) {
            return REQ_SETTLE;
        }
    }
    req_answer_held(r);
    return REQ_DONE;
}

enum req_state
patch_on_settled(struct req *r, const redisReply *reply)
{
    r->op = NULL;
    /* Without a claim this was the barrier: a failed one only loses its
     * guarantee, with Redis failing anyway. */
    if (r->idem_claimed && reply == NULL) {
        log_warn("proxy: request %s: the idempotency record could not be "
                 "settled; the claim expires with its lease", r->request_id);
    } else if (r->idem_claimed && reply->type == REDIS_REPLY_INTEGER &&
               reply->integer == 0) {
        log_warn("proxy: request %s: the idempotency claim had expired and "
                 "was taken again; the answer was not stored", r->request_id);
    }
    req_answer_held(r);
    return REQ_DONE;
}
