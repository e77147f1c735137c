/*
 * req/purge.h - the erasure path: PURGE on a cacheable route (SPEC §13),
 * as the handlers the machine calls:
 *
 *   RECV -> PURGE (one script, or a SCAN step after another) ->
 *   [PURGE: the near cache's barrier] -> DONE
 *
 * The tenant's own token authorises it, as it names everything the
 * tenant's cache holds: a PURGE reaches no other tenant's entries, and
 * a token nobody uses purges an empty cache. With a phone it drops every
 * entry of that phone (lead, variants, not-found, blocks); on
 * /phone/query without a phone, the tenant's whole cache; on
 * /phone/query/dispositions, the tenant's dispositions. It answers
 * {"purged":N}, N the entries dropped; it never asks the upstream, so it
 * spends no budget. Like a PATCH, it is answered only once every
 * instance's near cache heard of it (tracking.h). Redis unavailable or
 * failing is a 503: nothing erased is claimed.
 *
 * Its state, struct purge_state, lives in the request (req/req.h); only
 * this path's file reaches it.
 */
#ifndef HSP_REQ_PURGE_H
#define HSP_REQ_PURGE_H

#include <assert.h>
#include <stdbool.h>
#include <stdint.h>

#include "key.h"
#include "phone.h"
#include "req/req.h"

#define PURGE_CURSOR_MAX 24         /* a SCAN cursor: a 64-bit integer */

struct purge_state {
    enum key_purge_scope scope;
    struct key_purge     keys;
    char                 cursor[PURGE_CURSOR_MAX]; /* TENANT: the scan's */
    int64_t              purged;    /* entries dropped so far */
    unsigned             steps;     /* scripts run */
    bool                 barrier;   /* the call out is the barrier */
    char                 masked[PHONE_MASK_MAX]; /* the phone, for logs */
};

static_assert(sizeof(struct purge_state) <= REQ_PATH_STATE_MAX,
              "the purge state fits a request's path-state storage");

/* RECV, once the token is known: checks the phone, then runs the first
 * script. */
enum req_state purge_recv(struct req *r);

/* PURGE: a script's reply, or the barrier's. */
enum req_state purge_on_reply(struct req *r, const void *data);

#endif /* HSP_REQ_PURGE_H */
