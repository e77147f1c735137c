/*
 * req/forward.h - a request's way upstream (SPEC §3, §6, §11): a grant of
 * the tenant's shared budget, a bounded wait for one, the call itself
 * (origin-form target, end-to-end headers, the phone as the key names
 * it), and keeping the answer it brings.
 *
 * Forwarding returns an outcome and never decides for a path: what a
 * denied read does (a stale entry, a 429 to its waiters) or what an
 * unsent PATCH does (release its claim) is the path's business. The
 * events that follow (the budget's answer, the end of a rate wait, the
 * upstream's answer) reach the request through its door (req/req.h):
 * REQ_EV_BUDGET and REQ_EV_UPSTREAM.
 */
#ifndef HSP_REQ_FORWARD_H
#define HSP_REQ_FORWARD_H

#include <stdbool.h>
#include <stdint.h>

struct req;
struct req_budget_result;
struct upstream_response;

enum forward_outcome {
    FORWARD_SENT,       /* FETCH: the answer comes as REQ_EV_UPSTREAM */
    FORWARD_PENDING,    /* BUDGET: the grant comes as REQ_EV_BUDGET */
    FORWARD_DENIED,     /* no grant now; *WAIT_MS says for how long */
    FORWARD_UNSENT      /* granted, but the call could not be made: as if
                           the upstream were unreachable */
};

/* Takes a grant of R's tenant's budget and sends R upstream with it. */
enum forward_outcome forward_spend(struct req *r, int64_t *wait_ms);

/* BUDGET's event: RES is the budget's answer, or NULL when a rate wait
 * ended (then it asks again). */
enum forward_outcome forward_on_budget(struct req *r,
                                       const struct req_budget_result *res,
                                       int64_t *wait_ms);

/*
 * Denied for WAIT_MS: waits for the budget if R still has a client and
 * rate_limit_wait allows, counting the first wait. Returns true when R
 * waits (state BUDGET); false when it must be refused now.
 */
bool forward_wait(struct req *r, int64_t wait_ms);

/* Keeps the upstream's answer RESP in R (req.h), for delivery after
 * Redis calls; a 429 pauses the tenant everywhere (SPEC §6). */
void forward_keep(struct req *r, const struct upstream_response *resp);

/* Retry-After's value for a local 429 after a wait of WAIT_MS, into
 * OUT (24 bytes). */
void forward_retry_after(int64_t wait_ms, char out[24]);

#endif /* HSP_REQ_FORWARD_H */
