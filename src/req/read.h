/*
 * req/read.h - the read path: the GET routes (SPEC §2-§4, §6-§8), as the
 * handlers the machine calls, one per state it waits in.
 *
 * No stale writes: a lookup reads the entry and the phone's write epoch
 * together; the fill of a miss lands only if that epoch is unchanged, so
 * an answer fetched before a PATCH never overwrites the PATCH's lead.
 *
 * The read mode is decided once, at RECV: whether the route is cached,
 * whether the key can be built, what the client's Cache-Control allows;
 * it is kept as what the answer will say (x_cache, fwd) and whether the
 * answer may be stored, and the handlers read those.
 *
 * Stale entries (SPEC §6): Redis keeps an entry for its TTL plus the
 * longest stale window. Just expired (stale_while_revalidate), it is
 * served at once while the request goes on, without its client, to
 * refresh it, if it wins the lock. Expired longer (stale_if_error), it is
 * kept aside and served if the fetch fails.
 *
 * Its state (req/read_state.h) lives in the request; read_finish releases
 * it.
 */
#ifndef HSP_REQ_READ_H
#define HSP_REQ_READ_H

#include "req/req.h"

/* RECV, once the token is known: phone, key, directives; then the near
 * cache, a flight, the lookup, or the upstream. */
enum req_state read_recv(struct req *r);

/* The handlers: DATA is the event's payload (req/req.h). */
enum req_state read_on_lookup(struct req *r, const void *data);
enum req_state read_on_lock(struct req *r, const void *data);
enum req_state read_on_wake(struct req *r, const void *data);
enum req_state read_on_budget(struct req *r, const void *data);
enum req_state read_on_fetch(struct req *r, const void *data);
enum req_state read_on_stored(struct req *r, const void *data);

/* Shutdown: R leaves its flight, or answers its waiters 503. */
void read_abort(struct req *r);

/* Releases R's read state, as it ends. */
void read_finish(struct req *r);

#endif /* HSP_REQ_READ_H */
