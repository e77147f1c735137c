/*
 * req/machine.h - the request state machine: the one place a request's
 * state changes. Each state waits for one event; the path's handler for
 * that state takes the event and returns the next state.
 *
 *   RECV ---(local answer: 4xx, healthz, metrics)-----------------> DONE
 *   RECV ---(same read in flight here)---> WAIT ---(its answer)---> DONE
 *   RECV ---> LOOKUP ---(fresh entry: HIT)------------------------> DONE
 *               |  \---(only-if-cached, nothing: 504)-------------> DONE
 *               v
 *   RECV ---> LOCK ---(another instance fetches)---> WAIT --> LOOKUP
 *               |  \---(its answer, just handed over)-------------> DONE
 *               v
 *            [BUDGET] ---(denied: stale, or 429)------------------> DONE
 *               v
 *             FETCH ---(error, or answer not to store)------------> DONE
 *               |---(answer to hand over)---> STORE --------------> DONE
 *               \---(PATCH)---> WRITE ---> [SETTLE] --------------> DONE
 *               ^
 *   RECV ---> CLAIM ---(replay 2xx-4xx, 409 in flight, 422)-------> DONE
 *
 * RECV checks what the proxy answers itself (SPEC §8 fields, routes,
 * health pages, the token, SPEC §3) and hands the request to its path:
 * read.c for the GET routes, write.c for PATCH /phone/update. The request
 * is answered exactly once (reply.c), and freed on DONE. Every wait is
 * bounded: Redis by redis_timeout, the upstream by upstream_timeout, the
 * budget by rate_limit_wait. Redis faults turn into misses and skipped
 * writes, never into a failed request.
 */
#ifndef HSP_REQ_MACHINE_H
#define HSP_REQ_MACHINE_H

#include <stdbool.h>

#include "req/req.h"

struct evhttp_request;

/*
 * Takes CLIENT, a request evhttp handed over, into SET and runs it as far
 * as it goes without waiting. ENV and SET outlive it. REJECT (a static
 * string, or NULL) says why its raw header is refused: it is answered
 * 400 with that message, and its connection closed. SENT: the method
 * CLIENT came as when evhttp read it as another (a GET read as a PUT, a
 * PURGE as a TRACE: client.h), 0 when it came as evhttp read it.
 */
void machine_start(const struct req_env *env, struct req_set *set,
                   struct evhttp_request *client, const char *reject,
                   enum route_method sent);

/* Answers (503, or the answer held) and frees every request of SET. */
void machine_abort_all(struct req_set *set);

/* Whether a request of KIND in STATE takes EV: the transitions' table,
 * for tests. */
bool machine_accepts(enum req_kind kind, enum req_state state,
                     enum req_event ev);

#endif /* HSP_REQ_MACHINE_H */
