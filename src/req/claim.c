/*
 * req/claim.c - Idempotency-Key records in Redis (req/claim.h).
 */
#include "config.h"

#include "req/claim.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <event2/buffer.h>
#include <hiredis/hiredis.h>

#include "cache.h"
#include "conf.h"
#include "lua.h"
#include "req/req.h"
#include "stats.h"
#include "store.h"

struct store_op *
claim_take(struct req *r, const struct claim *c)
{
    const char *argv[4];
    size_t      lens[4];
    char        lease[24];
    int         i;

    snprintf(lease, sizeof(lease), "%" PRId64, req_lease_ms(r->env->cf));
    argv[0] = c->record;
    argv[1] = c->fp;
    argv[2] = c->owner;
    argv[3] = lease;
    for (i = 0; i < 4; i++) {
        lens[i] = strlen(argv[i]);
    }
    return store_eval(r->env->store, &lua_idem_claim, 1, 4, argv, lens,
                      req_on_store_reply, r);
}

/* Whether E is the status-string reply S. */
static bool
claim_reply_is(const redisReply *e, const char *s)
{
    return e->type == REDIS_REPLY_STRING && e->len == strlen(s) &&
           memcmp(e->str, s, e->len) == 0;
}

enum claim_verdict
claim_verdict(const redisReply *reply, struct cache_entry *e)
{
    static const struct {
        const char        *word;
        enum claim_verdict verdict;
    } words[] = {
        { "claimed", CLAIM_CLAIMED },
        { "busy", CLAIM_BUSY },
        { "mismatch", CLAIM_MISMATCH },
    };
    const redisReply *what;
    size_t            i;

    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY ||
        reply->elements < 1) {
        return CLAIM_FAILED;
    }
    what = reply->element[0];
    for (i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
        if (claim_reply_is(what, words[i].word)) {
            return words[i].verdict;
        }
    }
    if (claim_reply_is(what, "done") && reply->elements == 2 &&
        reply->element[1]->type == REDIS_REPLY_STRING &&
        cache_entry_decode(reply->element[1]->str, reply->element[1]->len,
                           e) == 0) {
        return CLAIM_DONE;
    }
    return CLAIM_UNREADABLE;
}

struct store_op *
claim_settle(struct req *r, const struct claim *c,
             struct evbuffer *value)
{
    const struct conf *cf = r->env->cf;
    const char        *argv[5];
    size_t             lens[5];
    char               ttl[24];
    int                i, argc;

    argv[0] = c->record;
    argv[1] = c->owner;
    if (value != NULL) {
        snprintf(ttl, sizeof(ttl), "%" PRId64, cf->idempotency_ttl_ms);
        argv[2] = c->fp;
        argv[3] = (const char *)evbuffer_pullup(value, -1);
        argv[4] = ttl;
        argc = 5;
    } else {
        stats_add(STATS_IDEM_RELEASED, 1);
        argc = 2;
    }
    for (i = 0; i < argc; i++) {
        lens[i] = i == 3 ? evbuffer_get_length(value) : strlen(argv[i]);
    }
    return store_eval(r->env->store,
                      value != NULL ? &lua_idem_complete : &lua_idem_release,
                      1, argc, argv, lens, req_on_store_reply, r);
}

bool
claim_lost(const redisReply *reply)
{
    return reply != NULL && reply->type == REDIS_REPLY_INTEGER &&
           reply->integer == 0;
}

void
claim_release(struct req *r, struct claim *c)
{
    const char *argv[2] = { c->record, c->owner };
    size_t      lens[2] = { strlen(argv[0]), strlen(argv[1]) };

    c->claimed = false;
    stats_add(STATS_IDEM_RELEASED, 1);
    (void)store_eval(r->env->store, &lua_idem_release, 1, 2, argv, lens,
                     store_ignore, NULL);
}
