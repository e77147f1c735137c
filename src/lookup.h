/*
 * lookup.h - the read path of a request (SPEC §2-§4, §6-§8): the phone
 * and the key, request directives, coalescing of identical reads, the
 * lookup, HIT, STALE or forward, and the conditional fill. The handlers
 * of the states LOOKUP, LOCK, WAIT, FETCH (reads) and STORE; each returns
 * the next state (req.h).
 */
#ifndef HSP_LOOKUP_H
#define HSP_LOOKUP_H

#include <stdbool.h>
#include <stdint.h>

#include "req.h"

struct event_base;

/*
 * The read path's tables of one worker: reads in flight by key, and
 * those waiting for another instance's fetch, woken through a channel ST
 * subscribes to. BASE and ST are borrowed and outlive it; CF is read
 * only here (prefix, near cache size). NULL when out of memory.
 */
struct lookup_ctx *lookup_ctx_new(struct event_base *base,
                                  const struct conf *cf, struct store *st);

/* Frees CTX; its requests must be gone (req_abort_all). NULL-safe. */
void lookup_ctx_free(struct lookup_ctx *ctx);

/* RECV for the GET routes: phone, key, directives; lookup or forward. */
enum req_state lookup_recv(struct req *r);

/* LOOKUP done: REPLY is the lookup script's, or NULL (Redis failed). */
enum req_state lookup_on_reply(struct req *r, const struct redisReply *reply);

/* LOCK done: REPLY is the lock script's, or NULL. */
enum req_state lookup_on_lock(struct req *r, const struct redisReply *reply);

/* WAIT done: ANSWER is the leader's answer, or NULL (look again). */
enum req_state lookup_on_wake(struct req *r,
                              const struct lookup_answer *answer);

/* FETCH done for a read: store the answer, or deliver it. */
enum req_state lookup_on_fetch(struct req *r,
                               const struct req_upstream_result *res);

/* STORE done: REPLY is the fill script's, or NULL. */
enum req_state lookup_on_stored(struct req *r, const struct redisReply *reply);

/* R was just sent upstream: a revalidating read gives its stale entry. */
void lookup_on_sent(struct req *r);

/*
 * No budget for R: answers R (and its waiters) with its expired entry, if
 * it kept one, and returns true; a refresh with no client just stops.
 */
bool lookup_on_denied_stale(struct req *r);

/* No budget for R, nothing stale: 429 with Retry-After for WAIT_MS. */
enum req_state lookup_on_denied(struct req *r, int64_t wait_ms);

/*
 * Shutdown: takes R out of its flight. A leader answers its waiters (and
 * itself) 503 first.
 */
void lookup_abort(struct req *r);

#endif /* HSP_LOOKUP_H */
