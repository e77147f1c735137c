/*
 * req/write.h - the write path: PATCH /phone/update (SPEC §4, §5), as
 * the handlers the machine calls, one per state it waits in:
 *
 *   RECV -> [CLAIM] -> BUDGET -> FETCH -> WRITE -> [SETTLE] -> DONE
 *
 * With an Idempotency-Key (SPEC §5) the request first CLAIMs its record
 * (claim.c), then is forwarded with its key. After the upstream answers,
 * the cached lead is written through or dropped (WRITE, once, on the
 * real answer: a replay never writes), and the record SETTLEs: the answer
 * stored for idempotency_ttl, or the claim released so that a retry is
 * forwarded. Without a record to settle, SETTLE is the near cache's
 * barrier (tracking.h), so the PATCH is answered only once every
 * instance's near cache heard of the write.
 *
 * Its state, struct write_state, lives in the request (req/req.h); only
 * this path's file reaches it.
 */
#ifndef HSP_REQ_WRITE_H
#define HSP_REQ_WRITE_H

#include <assert.h>
#include <stdbool.h>

#include "key.h"
#include "req/claim.h"
#include "req/req.h"

struct json_object;

struct write_state {
    bool             books;         /* blockId or cancelAppt */
    bool             wrote;         /* the lead was written or dropped */
    struct claim     claim;         /* its Idempotency-Key record */
    struct key_entry lead;          /* the lead's keys, made in RECV */
    char             blocks[KEY_MAX];   /* the tenant's blocks hash */
};

static_assert(sizeof(struct write_state) <= REQ_PATH_STATE_MAX,
              "the write state fits a request's path-state storage");

/*
 * RECV, once the token is known: BODY is the parsed JSON body, or NULL
 * with PARSE_ERR saying why; local checks first, then a claim or the
 * upstream.
 */
enum req_state write_recv(struct req *r, const struct json_object *body,
                          const char *parse_err);

/* The handlers: DATA is the event's payload (req/req.h). */
enum req_state write_on_claim(struct req *r, const void *data);
enum req_state write_on_budget(struct req *r, const void *data);
enum req_state write_on_fetch(struct req *r, const void *data);
enum req_state write_on_written(struct req *r, const void *data);
enum req_state write_on_settled(struct req *r, const void *data);

#endif /* HSP_REQ_WRITE_H */
