/*
 * patch.h - the write path: PATCH /phone/update (SPEC §4, §5). Local
 * checks, the Idempotency-Key claim and replay, the forward, the
 * write-through (or the invalidation) of the cached lead, and settling
 * the Idempotency-Key record. The handlers of CLAIM, FETCH (PATCH), WRITE
 * and SETTLE; each returns the next state (req.h).
 */
#ifndef HSP_PATCH_H
#define HSP_PATCH_H

#include "req.h"

/* RECV for PATCH: BODY is the parsed JSON body, or NULL with PARSE_ERR
 * saying why. */
enum req_state patch_recv(struct req *r, const struct json_object *body,
                          const char *parse_err);

/* CLAIM done: REPLY is the claim script's, or NULL (Redis failed). */
enum req_state patch_on_claim(struct req *r, const struct redisReply *reply);

/* FETCH done for a PATCH: write through or drop the lead, or settle. */
enum req_state patch_on_fetch(struct req *r,
                              const struct req_upstream_result *res);

/* No budget for R's PATCH: 429 with Retry-After for WAIT_MS; a claimed
 * Idempotency-Key is released, since nothing was sent. */
enum req_state patch_on_denied(struct req *r, int64_t wait_ms);

/* WRITE done: settle the Idempotency-Key record, then answer. */
enum req_state patch_on_written(struct req *r, const struct redisReply *reply);

/* SETTLE done: answer. */
enum req_state patch_on_settled(struct req *r, const struct redisReply *reply);

#endif /* HSP_PATCH_H */
