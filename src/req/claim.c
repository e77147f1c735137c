/*
 * req/claim.c - Idempotency-Key records in Redis (req/claim.h).
 */
#include "config.h"

#include "req/claim.h"

#include <stdatomic.h>
#include <stdlib.h>

#include <event2/buffer.h>

#include "cache.h"
#include "conf.h"
#include "req/req.h"
#include "req/unsettled.h"
#include "script.h"
#include "stats.h"
#include "store.h"

/*
 * Redis's clock against ours, process-wide: learned from every claim
 * whose reply came back quickly, as the middle of its round trip. A
 * claim's deadline is in Redis's clock, so hosts whose clocks differ
 * still agree on it. Until the first claim answered, the store's own
 * (its TIME at connect, store_clock_offset) gives the first claims of a
 * fresh process theirs.
 */
#define CLAIM_RTT_MAX_MS (2 * REQ_CLOCK_ERROR_MS) /* a slower reply
                                                  * teaches nothing */

static atomic_int_fast64_t claim_offset_ms;
static atomic_bool         claim_offset_known;

/* How far Redis's clock is ahead of ours, as last learned (ms), and
 * whether it was learned yet. */
static bool
claim_clock_offset(int64_t *offset_ms)
{
    *offset_ms = atomic_load_explicit(&claim_offset_ms, memory_order_relaxed);
    return atomic_load_explicit(&claim_offset_known, memory_order_relaxed);
}

struct store_op *
claim_take(struct req *r, struct claim *c)
{
    struct script_idem_claim_args a = {
        .record = c->record, .fingerprint = c->fp, .owner = c->owner,
        .lease_ms = req_lease_ms(r->env->cf), .deadline_ms = 0 };
    int64_t                       offset;

    c->sent_ms = req_now_ms();
    if (claim_clock_offset(&offset) ||
        store_clock_offset(r->env->store, &offset)) {
        a.deadline_ms = req_redis_deadline_at(r->env->cf, c->sent_ms,
                                              offset);
    }
    return script_idem_claim(r->env->store, &a, req_on_store_reply, r);
}

/* Learns Redis's clock from a claim sent at SENT_MS that ran at
 * REDIS_MS, answered now. */
static void
claim_learn_clock(int64_t sent_ms, int64_t redis_ms)
{
    int64_t now = req_now_ms();

    if (redis_ms < 0 || now - sent_ms > CLAIM_RTT_MAX_MS || now < sent_ms) {
        return;
    }
    /* Relaxed: the two are a hint, each read whole; a deadline from a
     * stale pair is at worst one claim refused late and retried. */
    atomic_store_explicit(&claim_offset_ms, redis_ms - (sent_ms + now) / 2,
                          memory_order_relaxed);
    atomic_store_explicit(&claim_offset_known, true, memory_order_relaxed);
}

enum claim_verdict
claim_verdict(const struct req *r, const struct redisReply *reply,
              const struct claim *c, struct cache_entry *e, char **plain)
{
    static const enum claim_verdict verdicts[] = {
        [SCRIPT_CLAIM_FAILED] = CLAIM_FAILED,
        [SCRIPT_CLAIM_MALFORMED] = CLAIM_UNREADABLE,
        [SCRIPT_CLAIM_CLAIMED] = CLAIM_CLAIMED,
        [SCRIPT_CLAIM_DONE] = CLAIM_DONE,
        [SCRIPT_CLAIM_BUSY] = CLAIM_BUSY,
        [SCRIPT_CLAIM_MISMATCH] = CLAIM_MISMATCH,
        [SCRIPT_CLAIM_LATE] = CLAIM_LATE,
    };
    struct script_claim_result v;

    (void)script_idem_claim_reply(reply, &v);
    claim_learn_clock(c->sent_ms, v.redis_ms);
    *plain = NULL;
    if (v.verdict == SCRIPT_CLAIM_DONE) {
        size_t len;

        *plain = req_entry_open(r, c->record, CLAIM_ANSWER_FIELD, v.answer,
                                v.answer_len, &len);
        if (*plain == NULL || cache_entry_decode(*plain, len, e) != 0) {
            free(*plain);
            *plain = NULL;
            return CLAIM_UNREADABLE;
        }
    }
    return verdicts[v.verdict];
}

struct store_op *
claim_settle(struct req *r, const struct claim *c, struct evbuffer *value)
{
    struct script_idem_complete_args done = {
        .record = c->record, .owner = c->owner, .fingerprint = c->fp,
        .ttl_ms = r->env->cf->idempotency_ttl_ms };
    struct script_idem_release_args  free_it = { .record = c->record,
                                                 .owner = c->owner };

    if (value == NULL) {
        stats_add(STATS_IDEM_RELEASED, 1);
        return script_idem_release(r->env->store, &free_it,
                                   req_on_store_reply, r);
    }
    done.answer = (const char *)evbuffer_pullup(value, -1);
    done.answer_len = evbuffer_get_length(value);
    /* Until Redis answers it: sent again if it does not (unsettled.h). */
    (void)unsettled_add(c->record, c->owner, c->fp, done.answer,
                        done.answer_len, done.ttl_ms);
    return script_idem_complete(r->env->store, &done, req_on_store_reply, r);
}

bool
claim_lost(const struct redisReply *reply)
{
    return script_idem_complete_reply(reply) == SCRIPT_COMPLETE_LOST;
}

void
claim_give_back(struct req *r, struct claim *c)
{
    struct script_idem_release_args a = { .record = c->record,
                                          .owner = c->owner };

    c->claimed = false;
    (void)script_idem_release(r->env->store, &a, store_ignore, NULL);
}

void
claim_release(struct req *r, struct claim *c)
{
    struct script_idem_release_args a = { .record = c->record,
                                          .owner = c->owner };

    c->claimed = false;
    stats_add(STATS_IDEM_RELEASED, 1);
    (void)script_idem_release(r->env->store, &a, store_ignore, NULL);
}
