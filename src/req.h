/*
 * req.h - one client request through the proxy: its state, and the state
 * machine that moves it (req.c) through the read path (lookup.c: SPEC
 * §2-§4, §7) or the write path (patch.c: SPEC §4, §5). Private to those
 * modules and proxy.c, which starts requests and owns the worker's
 * resources they borrow.
 *
 *   RECV ---(local answer: 4xx, healthz, metrics)-----------------> DONE
 *   RECV ---(same read in flight here)---> WAIT ---(its answer)---> DONE
 *   RECV ---> LOOKUP ---(fresh entry: HIT)------------------------> DONE
 *               |  \---(only-if-cached, nothing: 504)-------------> DONE
 *               v
 *   RECV ---> LOCK ---(another instance fetches)---> WAIT --> LOOKUP
 *               |  \---(its answer, just handed over)-------------> DONE
 *               v
 *             FETCH ---(error, or answer not to store)------------> DONE
 *               |---(answer to hand over)---> STORE --------------> DONE
 *               \---(PATCH)---> [WRITE] ---> [SETTLE] ------------> DONE
 *               ^
 *   RECV ---> CLAIM ---(replay 2xx-4xx, 409 in flight, 422)-------> DONE
 *
 * A read that can wait for an identical one (lookup.c) does: in this
 * worker it joins the first as a waiter; across workers and instances
 * the LOCK in Redis makes one the fetcher, and the others WAIT for its
 * wake-up message. A stale answer may be given before FETCH: the request
 * then goes on without its client, to refresh the entry.
 *
 * Only req_step() changes a request's state, and the request is answered
 * exactly once, by the handler that returns REQ_DONE. Each handler of
 * lookup.c and patch.c takes the event of one state and returns the next
 * state. Every wait is bounded: Redis by redis_timeout, the upstream by
 * upstream_timeout. Redis faults turn into misses and skipped writes,
 * never into a failed request.
 *
 * Ownership: req_start allocates a request and puts it in its worker's
 * req_set; req_step frees it on DONE, after the client was answered
 * (evhttp owns and frees the evhttp_request then). A request owns its
 * pending upstream call or Redis operation (at most one at a time) and
 * the copy of the upstream's answer (headers, body).
 */
#ifndef HSP_REQ_H
#define HSP_REQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

#include <event2/keyvalq_struct.h>

#include "cache.h"
#include "http.h"
#include "idem.h"
#include "key.h"
#include "phone.h"
#include "route.h"
#include "stats.h"
#include "upstream.h"

#define REQ_EPOCH_MAX 24            /* an epoch or generation, as text */

struct conf;
struct evbuffer;
struct evhttp_request;
struct json_object;
struct redisReply;
struct store;

enum req_state {
    REQ_RECV,           /* just arrived: route, check, decide */
    REQ_CLAIM,          /* PATCH: claiming its Idempotency-Key record */
    REQ_LOOKUP,         /* waiting for Redis: the entry and its epoch */
    REQ_LOCK,           /* read: taking the fetch lock, or a handed answer */
    REQ_WAIT,           /* read: waiting for an identical read's answer */
    REQ_BUDGET,         /* waiting for a grant of the upstream budget */
    REQ_FETCH,          /* waiting for the upstream */
    REQ_STORE,          /* filling the cache before answering */
    REQ_WRITE,          /* PATCH: writing through before answering */
    REQ_SETTLE,         /* PATCH: storing or releasing its record */
    REQ_DONE            /* answered; the request is freed */
};

enum req_event {
    REQ_EV_START,       /* evhttp handed us the request */
    REQ_EV_STORE,       /* a Redis call completed (data: the reply) */
    REQ_EV_UPSTREAM,    /* the upstream call completed */
    REQ_EV_WAKE,        /* a read we waited for answered (data: its
                           answer), or may have (data: NULL) */
    REQ_EV_BUDGET,      /* the budget answered (data: req_budget_result),
                           or the wait for it ended (data: NULL) */
    REQ_EV_ABORT        /* shutdown: answer now */
};

/* What REQ_EV_BUDGET carries. */
struct req_budget_result {
    bool    granted;
    int64_t wait_ms;                /* when denied */
};

/* What REQ_EV_UPSTREAM carries. */
struct req_upstream_result {
    enum upstream_error             err;
    const struct upstream_response *resp;   /* NULL unless err is OK */
};

struct lookup_answer;
struct lookup_ctx;
struct lookup_flight;

/*
 * What a worker lends its requests: all borrowed, all outlive them. A
 * request keeps the env it started with to its end, and so the
 * configuration: USE tells the env's owner when requests take and let go
 * of it, so that an env replaced by a reload is freed after its last
 * request (proxy.c).
 */
struct req_env {
    struct event_base *base;        /* the worker's loop */
    const struct conf *cf;          /* the configuration in force */
    void (*use)(const struct req_env *env, int delta); /* +1 when a request
                                       starts with it, -1 when it ends;
                                       NULL: not counted */
    struct store      *store;       /* the shared Redis */
    struct upstream   *upstream;    /* `upstream` */
    struct upstream   *lowlat;      /* `upstream_lowlatency`, or NULL */
    struct lookup_ctx *lookup;      /* the read path's tables */
    struct budget     *budget;      /* the shared upstream budget */
};

struct req;
TAILQ_HEAD(req_list, req);

/* The requests of one worker not yet answered. */
struct req_set {
    struct req_list list;
    size_t          n;
    struct req_list spare;          /* freed requests kept for reuse */
    size_t          nspare;
};

/* Frees the spare requests of SET (at the worker's end). */
void req_set_clear(struct req_set *set);

/* "<hash>:lock:<field>" never truncates: two entries share no lock. */
#define REQ_LOCK_MAX (KEY_MAX + sizeof(":lock:") + KEY_FIELD_MAX)

struct req {
    TAILQ_ENTRY(req)        next;   /* in its worker's req_set */
    struct req_set         *set;    /* borrowed */
    const struct req_env   *env;    /* borrowed */
    struct evhttp_request  *client; /* evhttp's; NULL once answered */
    enum req_state          state;
    struct route_match      route;
    enum route_method       method;
    const char             *method_name;    /* static */
    const char             *reject; /* static: why its raw header is
                                       refused (client.c), or NULL */
    struct upstream_call   *call;   /* while in FETCH */
    struct budget_op       *bop;    /* while in BUDGET, asking Redis */
    struct event           *rate_timer; /* owned: a wait for the budget */
    int64_t                 spend_ms;   /* when it first asked, or 0 */
    bool                    rate_waited;    /* counted as a budget wait */
    struct store_op        *op;     /* while in CLAIM, LOOKUP, STORE, WRITE,
                                       SETTLE */
    int                     ans_status; /* what the client got, 0 before */
    enum stats_cache        ans_cache;
    int64_t                 start_ms;   /* arrival, wall clock (the log) */
    int64_t                 start_us;   /* arrival, monotonic */
    int64_t                 answer_us;  /* answered, monotonic; 0 before */
    int64_t                 up_start_us;    /* current upstream call sent */
    int64_t                 up_us;      /* time in upstream calls */
    bool                    up_called;  /* an upstream call completed */
    char request_id[HTTP_REQUEST_ID_MAX + 1];
    char tenant[KEY_TENANT_HEX + 1];
    char phone[PHONE_E164_MAX];     /* normalised; "" if none */

    /* cache (lookup.c) */
    struct cache_directives dir;
    struct key_query        q;
    struct key_entry        key;
    bool                    cacheable;  /* KEY is valid for this request */
    bool                    may_store;  /* the answer may be stored */
    char                    epoch[REQ_EPOCH_MAX];   /* seen by the lookup */
    char                    bgen[REQ_EPOCH_MAX];
    const char             *x_cache;    /* what the answer will say */
    const char             *fwd;        /* Cache-Status fwd= reason */
    const char             *detail;     /* Cache-Status detail=, or NULL */
    struct lookup_flight   *flight;     /* the read it leads or waits for */
    TAILQ_ENTRY(req)        wnext;      /* among the flight's waiters */
    bool                    locked;     /* holds the fetch lock */
    bool                    near_ok;    /* its lookup was tracked */
    uint64_t                near_seq;   /* invalidations seen at lookup */
    uint64_t                wake_seq;   /* wake messages seen at LOCK */
    bool                    revalidate; /* serve STALE, refresh behind */
    char                    lock_key[REQ_LOCK_MAX]; /* the fetch lock */
    bool                    waited;     /* was woken by another's fetch */
    char                    owner[HTTP_REQUEST_ID_MAX + 1]; /* lock id */
    char                   *stale;      /* owned: an expired entry that
                                           may still be served, or NULL */
    size_t                  stale_len;

    /* PATCH (patch.c) */
    bool                    is_update;
    bool                    books;      /* blockId or cancelAppt */
    bool                    wrote;      /* the lead was written or dropped */
    bool                    idem;       /* has an Idempotency-Key we guard */
    bool                    idem_claimed;   /* we own its record's claim */
    char                    idem_record[KEY_MAX];   /* its Redis key */
    char                    idem_owner[HTTP_REQUEST_ID_MAX + 1]; /* random */
    char                    idem_fp[IDEM_FP_HEX + 1];

    /* the upstream's answer, kept while STORE, WRITE or SETTLE runs */
    enum upstream_error     uerr;
    int                     status;
    char                    reason[HTTP_REASON_MAX]; /* the upstream's
                                       phrase of an unregistered status */
    struct evkeyvalq        headers;
    struct evbuffer        *body;       /* owned */
};

/* ---- req.c: the lifecycle ------------------------------------------------ */

/* Initialises SET, empty. */
void req_set_init(struct req_set *set);

/*
 * Takes CLIENT, a request evhttp handed over, into SET and runs it as far
 * as it goes without waiting. ENV and SET outlive it. REJECT (a static
 * string, or NULL) says why its raw header is refused: it is answered
 * 400 with that message, and its connection closed. IS_GET: CLIENT came
 * as a GET, though evhttp read it as a PUT (client.h).
 */
void req_start(const struct req_env *env, struct req_set *set,
               struct evhttp_request *client, const char *reject,
               bool is_get);

/* Answers (503, or the answer held) and frees every request of SET. */
void req_abort_all(struct req_set *set);

/* The callbacks of upstream_send and store_eval; ARG is the request. */
void req_on_upstream_done(enum upstream_error err,
                          const struct upstream_response *resp,
                          const char *why, void *arg);
void req_on_store_reply(struct redisReply *reply, void *arg);

/* ---- req.c: helpers of both paths --------------------------------------- */

int64_t req_now_ms(void);

/* A monotonic clock in microseconds, for durations. */
int64_t req_mono_us(void);

/*
 * The lease of a fetch lock or an Idempotency-Key claim: longer than any
 * wait of the request holding it (the upstream, then its Redis calls), so
 * only a holder that died loses it.
 */
int64_t req_lease_ms(const struct conf *cf);

/* Notes what R's client was answered, for the request counters. */
void req_answered(struct req *r, int status, const char *x_cache);

/* Answer R with an error the proxy made (SPEC §7): one message, N
 * messages, or one message and one extra header. */
void req_error(struct req *r, int status, const char *msg);
void req_error_n(struct req *r, int status, const char *const *msgs,
                 size_t n);
void req_error_with(struct req *r, int status, const char *msg,
                    const char *header, const char *value);

/*
 * Takes a grant of the tenant's upstream budget (SPEC §6) for R, then
 * sends R upstream. Without a grant, a read may be answered stale, any
 * request may wait up to rate_limit_wait, and then gets 429 with
 * Retry-After (lookup_on_denied, patch_on_denied). Returns the next state.
 */
enum req_state req_spend(struct req *r);

/*
 * Sends R upstream. Returns FETCH, or when it cannot be sent, what the
 * path's FETCH handler returns for an unreachable upstream.
 */
enum req_state req_forward(struct req *r);

/* Wakes R, waiting in WAIT, with ANSWER (may be NULL): see lookup.h. */
void req_wake(struct req *r, const struct lookup_answer *answer);

/* The proxy's answer (status, message) for the upstream failure ERR. */
void req_upstream_error_status(enum upstream_error err, int *status,
                               const char **msg);

/* Writes R's Cache-Status parameters for a forwarded answer into BUF. */
void req_cache_status(const struct req *r, bool stored, char *buf,
                      size_t cap);

/* Answers R with the upstream answer it holds, and its cache headers;
 * STORED says the answer is now in the cache. */
void req_deliver(struct req *r, bool stored);

/* Answers R from what FETCH left: the upstream's answer, or its error. */
void req_answer_held(struct req *r);

/* Keeps the upstream's answer RESP in R for delivery after Redis calls. */
void req_keep(struct req *r, const struct upstream_response *resp);

/*
 * The stored form (cache_entry) of R's held answer with STATUS and
 * TTL_MS, in a new buffer the caller frees; NULL when out of memory.
 */
struct evbuffer *req_entry_value(struct req *r, int status, int64_t ttl_ms);

#endif /* HSP_REQ_H */
