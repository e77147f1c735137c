/*
 * req/claim.c - Idempotency-Key records in Redis (req/claim.h).
 */
#include "config.h"

#include "req/claim.h"

#include <event2/buffer.h>

#include "cache.h"
#include "conf.h"
#include "req/req.h"
#include "script.h"
#include "stats.h"
#include "store.h"

struct store_op *
claim_take(struct req *r, const struct claim *c)
{
    struct script_idem_claim_args a = {
        .record = c->record, .fingerprint = c->fp, .owner = c->owner,
        .lease_ms = req_lease_ms(r->env->cf) };

    return script_idem_claim(r->env->store, &a, req_on_store_reply, r);
}

enum claim_verdict
claim_verdict(const struct redisReply *reply, struct cache_entry *e)
{
    static const enum claim_verdict verdicts[] = {
        [SCRIPT_CLAIM_FAILED] = CLAIM_FAILED,
        [SCRIPT_CLAIM_MALFORMED] = CLAIM_UNREADABLE,
        [SCRIPT_CLAIM_CLAIMED] = CLAIM_CLAIMED,
        [SCRIPT_CLAIM_DONE] = CLAIM_DONE,
        [SCRIPT_CLAIM_BUSY] = CLAIM_BUSY,
        [SCRIPT_CLAIM_MISMATCH] = CLAIM_MISMATCH,
    };
    struct script_claim_result v;

    (void)script_idem_claim_reply(reply, &v);
    if (v.verdict == SCRIPT_CLAIM_DONE &&
        cache_entry_decode(v.answer, v.answer_len, e) != 0) {
        return CLAIM_UNREADABLE;
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
    return script_idem_complete(r->env->store, &done, req_on_store_reply, r);
}

bool
claim_lost(const struct redisReply *reply)
{
    return script_idem_complete_reply(reply) == SCRIPT_COMPLETE_LOST;
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
