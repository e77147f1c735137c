/*
 * lookup.h - the read path of a request (SPEC §2-§4, §7, §8): the phone
 * and the key, request directives, the lookup, HIT or forward, and the
 * conditional fill. The handlers of the states LOOKUP, FETCH (reads) and
 * STORE; each returns the next state (req.h).
 */
#ifndef HSP_LOOKUP_H
#define HSP_LOOKUP_H

#include "req.h"

/* RECV for the GET routes: phone, key, directives; lookup or forward. */
enum req_state lookup_recv(struct req *r);

/* LOOKUP done: REPLY is the lookup script's, or NULL (Redis failed). */
enum req_state lookup_on_reply(struct req *r, const struct redisReply *reply);

/* FETCH done for a read: store the answer, or deliver it. */
enum req_state lookup_on_fetch(struct req *r,
                               const struct req_upstream_result *res);

/* STORE done: REPLY is the fill script's, or NULL. */
enum req_state lookup_on_stored(struct req *r, const struct redisReply *reply);

#endif /* HSP_LOOKUP_H */
