/*
 * req/write.c - the write path's handlers (req/write.h).
 */
#include "config.h"

#include "req/write.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <json-c/json.h>

#include "cache.h"
#include "conf.h"
#include "json.h"
#include "log.h"
#include "lograte.h"
#include "req/forward.h"
#include "req/pending.h"
#include "req/reply.h"
#include "req/tracking.h"
#include "req/unsettled.h"
#include "script.h"
#include "seal.h"
#include "stats.h"
#include "store.h"
#include "tkeys.h"
#include "update.h"

/* R's write state. */
static struct write_state *
write_state(struct req *r)
{
    return (struct write_state *)(void *)r->ps.bytes;
}

static enum req_state write_settle(struct req *r);

/* ---- RECV and CLAIM ----------------------------------------------------- */

/*
 * Checks the Idempotency-Key of a PATCH (SPEC §5) and, when the proxy
 * guards it, fills R's record key. Answers R and returns false when the
 * header is missing but required, malformed, or given twice. With
 * idempotency_ttl 0 the proxy keeps no records and the header goes
 * upstream like any other, unjudged.
 */
static bool
write_idem_check(struct req *r)
{
    static const char      bad[] = "Idempotency-Key must be 1 to 255 "
                                   "visible ASCII characters";
    const struct conf     *cf = r->env->cf;
    struct claim          *c = &write_state(r)->claim;
    struct evkeyvalq      *in = evhttp_request_get_input_headers(r->client);
    const struct evkeyval *h;
    const char            *value = NULL;
    char                   key[IDEM_KEY_MAX + 1], ik[KEY_NAME_HEX + 1];
    unsigned               n = 0;

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
            reply_error(r, 400, "Idempotency-Key header is required");
            return false;
        }
        return true;
    }
    if (n > 1 || idem_key_parse(value, key, sizeof(key)) != 0) {
        reply_error(r, 400, bad);
        return false;
    }
    if (!req_idem_name(r, key, ik)) {
        reply_error(r, 500, "internal server error");
        return false;
    }
    key_idem(cf->redis_prefix, r->tenant, ik, c->record);
    c->guarded = true;
    return true;
}

/* Computes R's fingerprint from its raw body. Answers R on failure. */
static bool
write_idem_fingerprint(struct req *r)
{
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(r->client);
    struct evbuffer         *in = evhttp_request_get_input_buffer(r->client);
    struct claim            *c = &write_state(r)->claim;
    size_t                   len = evbuffer_get_length(in), clen;
    char                    *canon, err[160], sha[IDEM_FP_HEX + 1];

    if (idem_canonical((const char *)evbuffer_pullup(in, -1), len, &canon,
                       &clen, err, sizeof(err)) != 0) {
        reply_error(r, 400, err);
        return false;
    }
    idem_fingerprint(r->method_name, evhttp_uri_get_path(uri), canon, clen,
                     sha);
    free(canon);
    /* Stored in the record, so keyed (SPEC §13): a plain SHA-256 of a
     * body that is mostly a phone number and a few known fields could be
     * tested against guesses without the token. */
    if (seal_name(tkeys_ctx(r->env->keys), tkey_keys(r->keys),
                  SEAL_DOMAIN_FP, sha, strlen(sha), c->fp) != SEAL_OK) {
        reply_error(r, 500, "cannot make the request's fingerprint");
        return false;
    }
    if (http_request_id_new(c->owner, sizeof(c->owner)) != 0) {
        reply_error(r, 500, "cannot make a random claim id");
        return false;
    }
    return true;
}

/*
 * What a forward's OUTCOME means for a PATCH: FETCH; BUDGET; for a
 * denial, a rate wait or a 429 (its claim released: nothing was sent);
 * an unsent call is a failed one.
 */
static enum req_state
write_forwarded(struct req *r, enum forward_outcome outcome, int64_t wait_ms)
{
    struct write_state        *ws = write_state(r);
    struct req_upstream_result res = { UPSTREAM_EUNREACHABLE, NULL };
    char                       after[24];

    switch (outcome) {
    case FORWARD_SENT:
        return REQ_FETCH;
    case FORWARD_PENDING:
        return REQ_BUDGET;
    case FORWARD_DENIED:
        if (forward_wait(r, wait_ms)) {
            return REQ_BUDGET;
        }
        forward_retry_after(wait_ms, after);
        stats_add(STATS_LOCAL_429, 1);
        reply_error_with(r, 429, "rate limit exceeded", "Retry-After",
                         after);
        if (ws->claim.claimed) {
            /* Nothing was sent: the key is free for the retry. */
            claim_release(r, &ws->claim);
        }
        return REQ_DONE;
    case FORWARD_UNSENT:
        break;
    }
    /* As if it had been sent and failed: forget the lead, settle. */
    return write_on_fetch(r, &res);
}

/* Goes upstream for R. */
static enum req_state
write_spend(struct req *r)
{
    int64_t              wait_ms;
    enum forward_outcome o = forward_spend(r, &wait_ms);

    return write_forwarded(r, o, wait_ms);
}

enum req_state
write_on_budget(struct req *r, const void *data)
{
    int64_t              wait_ms = 0;
    enum forward_outcome o = forward_on_budget(r, data, &wait_ms);

    return write_forwarded(r, o, wait_ms);
}

/*
 * The claim of R's guarded Idempotency-Key cannot be made: Redis is away,
 * the call failed or timed out, or its record is unreadable (WHY says).
 * At-most-once cannot be promised without Redis, so by default R gets 503
 * with Retry-After: 1 and nothing goes upstream; with
 * idempotency_on_store_error = forward it goes without the guard (SPEC
 * §5, §8). One log line per 10 s for each, with the count held back.
 */
static enum req_state
write_unguarded(struct req *r, const char *why)
{
    static struct lograte refused_log, forwarded_log;
    bool                  refuse = r->env->cf->idempotency_on_store_error ==
                                   CONF_IDEM_REFUSE;

    if (refuse) {
        stats_add(STATS_IDEM_REFUSED, 1);
        log_rated(&refused_log, LOG_WARN,
                  "proxy: request %s: %s; a PATCH with an Idempotency-Key "
                  "is refused with 503 (idempotency_on_store_error = "
                  "refuse)", r->request_id, why);
        reply_error_with(r, 503, "the Idempotency-Key cannot be guarded "
                         "now; retry", "Retry-After", "1");
        return REQ_DONE;
    }
    stats_add(STATS_IDEM_UNPROTECTED, 1);
    log_rated(&forwarded_log, LOG_WARN,
              "proxy: request %s: %s; the Idempotency-Key is forwarded "
              "without a claim", r->request_id, why);
    write_state(r)->claim.guarded = false;
    return write_spend(r);
}

enum req_state
write_recv(struct req *r, const struct json_object *body,
           const char *parse_err)
{
    struct write_state *ws = write_state(r);
    struct update_check chk;
    char                ph[KEY_NAME_HEX + 1];

    if (body == NULL) {
        reply_error(r, 400, parse_err);
        return REQ_DONE;
    }
    if (!write_idem_check(r)) {
        return REQ_DONE;
    }
    if (update_check(body, &chk) != 0) {
        reply_error_n(r, 400, chk.msgs, chk.nmsgs);
        return REQ_DONE;
    }
    memcpy(r->phone, chk.phone, sizeof(r->phone));
    /* The keys it touches, before the upstream is asked: a PATCH whose
     * entries could not be named could not drop them. */
    if (!req_phone_name(r, ph)) {
        reply_error(r, 500, "internal server error");
        return REQ_DONE;
    }
    key_update(r->env->cf->redis_prefix, r->tenant, ph, &ws->lead, ws->blocks,
               sizeof(ws->blocks));
    ws->books = chk.books;
    if (!ws->claim.guarded) {
        return write_spend(r);
    }
    if (!write_idem_fingerprint(r)) {
        return REQ_DONE;
    }
    r->op = claim_take(r, &ws->claim);
    if (r->op == NULL) {
        return write_unguarded(r, "redis unavailable");
    }
    return REQ_CLAIM;
}

enum req_state
write_on_claim(struct req *r, const void *data)
{
    struct write_state *ws = write_state(r);
    struct cache_entry  e;
    char               *plain = NULL;

    switch (claim_verdict(r, data, &ws->claim, &e, &plain)) {
    case CLAIM_CLAIMED:
        stats_add(STATS_IDEM_CLAIMED, 1);
        ws->claim.claimed = true;
        return write_spend(r);
    case CLAIM_BUSY:
        stats_add(STATS_IDEM_IN_FLIGHT, 1);
        reply_error_with(r, 409, "a request with this Idempotency-Key is "
                         "in flight", "Retry-After", "1");
        return REQ_DONE;
    case CLAIM_MISMATCH:
        stats_add(STATS_IDEM_MISMATCH, 1);
        reply_error(r, 422,
                    "Idempotency-Key was used with a different request");
        return REQ_DONE;
    case CLAIM_DONE:
        /* No write-through: that happened once, on the real answer. */
        stats_add(STATS_IDEM_REPLAYED, 1);
        reply_entry(r, &e, STATS_CACHE_REPLAY,
                    "hit; detail=idempotent-replay", -1, true);
        free(plain);
        return REQ_DONE;
    case CLAIM_FAILED:
        claim_give_back(r, &ws->claim);
        return write_unguarded(r, "redis failed the claim");
    case CLAIM_LATE:
        return write_unguarded(r, "redis ran the claim past its deadline");
    case CLAIM_UNREADABLE:
        break;
    }
    return write_unguarded(r, "unreadable idempotency record");
}

/* ---- FETCH, WRITE and SETTLE ------------------------------------------- */

/*
 * R's write-through or invalidation did not reach Redis: the lead stays
 * pending (pending.h) until a retry drops it, and until then no read of
 * this instance serves it (SPEC §12).
 */
static void
write_pending(struct req *r)
{
    struct write_state *ws = write_state(r);

    if (!pending_add(&ws->lead, ws->blocks, ws->books,
                     cache_guard_ms(r->env->cf))) {
        log_warn("proxy: request %s: too many leads await their "
                 "invalidation; this one may be served stale until its "
                 "entry expires", r->request_id);
    }
}

/*
 * Starts the write-through (2xx: the returned lead becomes the entry) or
 * the invalidation (5xx, timeout, lost connection: the upstream state is
 * unknown) of a PATCH (SPEC §4). Returns the next state.
 */
static enum req_state
write_lead(struct req *r, bool through)
{
    struct write_state      *ws = write_state(r);
    const struct conf       *cf = r->env->cf;
    struct evbuffer         *v = NULL;
    struct script_write_args a = {
        .blocks_hash = ws->blocks,
        .expire_ms = cache_expire_ms(cf, cf->ttl_lead_ms),
        .drop_blocks = ws->books, .epoch_expire_ms = cache_guard_ms(cf) };

    if (through && cf->ttl_lead_ms > 0) {
        /* Served later as a /phone/query answer, hence 200. */
        v = req_entry_value(r, ws->lead.hash, ws->lead.field, 200,
                            cf->ttl_lead_ms);
    }
    a.hash = ws->lead.hash;
    a.epoch_key = ws->lead.epoch;
    a.bgen_key = ws->lead.bgen;
    if (v != NULL) {
        a.value = (const char *)evbuffer_pullup(v, -1);
        a.value_len = evbuffer_get_length(v);
    }
    r->op = script_write(r->env->store, &a, req_on_store_reply, r);
    ws->wrote = r->op != NULL;
    if (v != NULL) {
        evbuffer_free(v);
    }
    if (r->op == NULL) {
        log_warn("proxy: request %s: redis unavailable; the cached lead "
                 "could not be %s", r->request_id,
                 through ? "written through" : "dropped");
        write_pending(r);
        return write_settle(r);
    }
    return REQ_WRITE;
}

/* Whether BODY, a 200's, is a lead: a JSON object (SPEC §11). */
static bool
write_is_lead(struct evbuffer *body)
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
write_on_fetch(struct req *r, const void *data)
{
    const struct req_upstream_result *res = data;

    r->uerr = res->err;
    if (res->err != UPSTREAM_OK) {
        /* The PATCH may have reached the upstream: forget the lead,
         * then say what happened. */
        return write_lead(r, false);
    }
    forward_keep(r, res->resp);
    if (r->status == 200 && write_is_lead(r->body)) {
        return write_lead(r, true);
    }
    if (r->status >= 500 || (r->status >= 200 && r->status < 300)) {
        /* Another 2xx (204, 202 queued, a 200 that is no lead): the
         * update happened, or will, but what the lead is now is not in
         * the answer. Forget it rather than cache that answer. */
        return write_lead(r, false);
    }
    return write_settle(r);
}

/* After WRITE: settle the record, then answer the PATCH or its error. */
enum req_state
write_on_written(struct req *r, const void *data)
{
    int64_t ignored;

    if (script_write_reply(data, &ignored) != SCRIPT_WRITE_DONE) {
        log_warn("proxy: request %s: the cached lead could not be updated",
                 r->request_id);
        write_pending(r);
    }
    return write_settle(r);
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
write_barrier(struct req *r)
{
    if (write_state(r)->wrote) {
        r->op = tracking_barrier(r->env->tracking, r->env->store,
                                 write_state(r)->lead.hash,
                                 req_on_store_reply, r);
        if (r->op != NULL) {
            return REQ_SETTLE;
        }
    }
    reply_held(r);
    return REQ_DONE;
}

/*
 * Settles a PATCH's Idempotency-Key record (SPEC §5), then answers. A
 * final answer is stored for idempotency_ttl; a 5xx, a timeout or a lost
 * connection releases the claim so that a retry is forwarded again. So do
 * 408 and 429: both say the request was not acted on, and replaying them
 * for a day would turn a passing refusal into a permanent one.
 */
static enum req_state
write_settle(struct req *r)
{
    struct write_state *ws = write_state(r);
    struct evbuffer    *v = NULL;
    bool                keep;

    if (!ws->claim.claimed) {
        return write_barrier(r);
    }
    keep = r->uerr == UPSTREAM_OK && r->status < 500 && r->status != 408 &&
           r->status != 429;
    if (keep) {
        v = req_entry_value(r, ws->claim.record, CLAIM_ANSWER_FIELD,
                            r->status, r->env->cf->idempotency_ttl_ms);
    }
    r->op = claim_settle(r, &ws->claim, v);
    if (v != NULL) {
        evbuffer_free(v);
    }
    if (r->op == NULL) {
        log_warn("proxy: request %s: redis unavailable; the idempotency "
                 "record is sent again until Redis takes it", r->request_id);
        reply_held(r);
        return REQ_DONE;
    }
    return REQ_SETTLE;
}

enum req_state
write_on_settled(struct req *r, const void *data)
{
    const struct redisReply *reply = data;
    bool                     claimed = write_state(r)->claim.claimed;

    /* Without a claim this was the barrier: a failed one only loses its
     * guarantee, with Redis failing anyway. */
    if (claimed && reply != NULL) {
        unsettled_done(write_state(r)->claim.record,
                       write_state(r)->claim.owner);
    }
    if (claimed && reply == NULL) {
        log_warn("proxy: request %s: the idempotency record could not be "
                 "settled (Redis failed, or no replica took it); it is sent "
                 "again until Redis takes it", r->request_id);
    } else if (claimed && claim_lost(reply)) {
        log_warn("proxy: request %s: the idempotency claim had expired and "
                 "was taken again; the answer was not stored", r->request_id);
    }
    reply_held(r);
    return REQ_DONE;
}
