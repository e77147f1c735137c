/*
 * req/claim.h - a PATCH's Idempotency-Key record in Redis (SPEC §5): the
 * claim before forwarding, then the answer stored for idempotency_ttl or
 * the claim released. One script each (lua.c), so two instances cannot
 * both claim; a proxy that dies in between leaves a claim that expires
 * with its lease. idem.c keeps the pure parts (key, fingerprint).
 *
 * Replies reach the request through its door (REQ_EV_STORE); the verdict
 * functions read them.
 */
#ifndef HSP_REQ_CLAIM_H
#define HSP_REQ_CLAIM_H

#include <stdbool.h>
#include <stdint.h>

#include "http.h"
#include "idem.h"
#include "key.h"

struct cache_entry;
struct evbuffer;
struct redisReply;
struct req;
struct store_op;

struct claim {
    bool    guarded;                /* it has a key the proxy guards */
    bool    claimed;                /* it owns the record's claim */
    int64_t sent_ms;                /* when the claim was sent (our clock) */
    char record[KEY_MAX];           /* the record's Redis key */
    char owner[HTTP_REQUEST_ID_MAX + 1];    /* the claim's random id */
    char fp[IDEM_FP_HEX + 1];       /* the request's fingerprint: the
                                       name (seal_name, domain FP) of its
                                       idem_fingerprint */
};

enum claim_verdict {
    CLAIM_CLAIMED,                  /* ours: forward */
    CLAIM_DONE,                     /* completed: replay its answer */
    CLAIM_BUSY,                     /* another holds it: 409 */
    CLAIM_MISMATCH,                 /* used for another request: 422 */
    CLAIM_FAILED,                   /* Redis failed or was slow */
    CLAIM_LATE,                     /* it reached Redis past its deadline */
    CLAIM_UNREADABLE                /* a reply we cannot read */
};

/*
 * Claims C's record for R, with a lease that outlives every wait of R
 * and, once Redis's clock is known, a deadline of redis_timeout from now
 * in it; NULL when Redis is away.
 */
struct store_op *claim_take(struct req *r, struct claim *c);

/*
 * What the claim's REPLY to C, R's, says; for CLAIM_DONE, the stored
 * answer opened (req_entry_open) into a new buffer in *PLAIN, which the
 * caller frees, decoded into E (pointing into it). A stored answer that
 * does not open is CLAIM_UNREADABLE. Learns Redis's clock from it.
 */
enum claim_verdict claim_verdict(const struct req *r,
                                 const struct redisReply *reply,
                                 const struct claim *c,
                                 struct cache_entry *e, char **plain);

/* The field of a record that holds its stored answer, sealed with the
 * record's key name and this field as associated data. */
#define CLAIM_ANSWER_FIELD "resp"


/*
 * Settles C's record for R: stores VALUE (the answer's stored form) for
 * idempotency_ttl, or, VALUE NULL, releases the claim so that a retry is
 * forwarded. NULL when Redis is away (the claim expires with its lease).
 */
struct store_op *claim_settle(struct req *r, const struct claim *c,
                              struct evbuffer *value);

/* Whether a settle's REPLY says the claim had been lost (expired and
 * taken again), so that the answer was not stored. */
bool claim_lost(const struct redisReply *reply);

/* Releases C's claim without waiting (nothing was sent); fire and
 * forget: a claim that stays expires with its lease. */
void claim_release(struct req *r, struct claim *c);

/*
 * Gives C's claim back after Redis failed it: it may have been taken
 * all the same (a reply lost, or no replica took it in time, SPEC §12),
 * and would answer a retry 409 for a whole lease. Owner-checked, so a
 * claim never taken costs nothing; fire and forget, not counted.
 */
void claim_give_back(struct req *r, struct claim *c);

#endif /* HSP_REQ_CLAIM_H */
