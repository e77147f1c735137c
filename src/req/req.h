/*
 * req/req.h - the request object: what every request carries whatever
 * its path, its allocation from a worker's spares, its access-log line,
 * and the one door by which the layers below hand it events.
 *
 * The request wing runs one way, top to bottom (doc/architecture.md):
 *
 *   machine.c           the state machine: one state x event switch
 *   read.c write.c purge.c   the three paths' handlers
 *   answer.c            a read's answers, to it and to its waiters
 *   flight.c tracking.c claim.c    coalescing, the near cache's
 *                       coherence, Idempotency-Key records
 *   forward.c reply.c   the upstream call; the only writer to clients
 *   req.c               this object and its door
 *
 * Nothing below the machine calls it by name: a Redis reply, an upstream
 * answer, a budget grant or a wake-up enters through req_event(), which
 * calls the function the machine set once with req_door_set() (as
 * hiredis's adapters are set once per loop).
 *
 * Each path keeps its own state in PS, the path-state storage: struct
 * read_state (read.h), struct write_state (write.h) or struct
 * purge_state (purge.h), reached only
 * through that path's accessor, so that one path's code cannot name the
 * other's fields.
 *
 * Ownership: req_new takes a request from its set's spares (or the heap)
 * and links it into the set; req_free unlinks it, counts and logs it, and
 * keeps it as a spare or frees it. The machine calls req_free exactly once,
 * on DONE, after the path released its state and the client was answered
 * (evhttp then owns and frees the evhttp_request). A request owns its
 * pending upstream call, budget operation or Redis operation (at most one
 * at a time), its rate-wait timer, and the copy of the upstream's answer
 * (headers, body).
 */
#ifndef HSP_REQ_REQ_H
#define HSP_REQ_REQ_H

#include <stdalign.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

#include <event2/keyvalq_struct.h>

#include "http.h"
#include "key.h"
#include "phone.h"
#include "route.h"
#include "stats.h"
#include "upstream.h"

#define REQ_EPOCH_MAX      24       /* an epoch or generation, as text */
#define REQ_PATH_STATE_MAX 4096     /* bytes of a path's own state */
#define REQ_AAD_MAX        (KEY_MAX + KEY_FIELD_MAX + 8) /* key, NUL, field */

struct budget;
struct cache_entry;
struct budget_op;
struct conf;
struct evbuffer;
struct event;
struct event_base;
struct evhttp_request;
struct flight_ctx;
struct redisReply;
struct store;
struct store_op;
struct tkey;
struct tkeys;
struct tracking;

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
    REQ_PURGE,          /* PURGE: dropping entries, then the barrier */
    REQ_DONE,           /* answered; the request is freed */
    REQ_STATE_COUNT
};

enum req_event {
    REQ_EV_START,       /* evhttp handed us the request */
    REQ_EV_STORE,       /* a Redis call completed (data: the reply) */
    REQ_EV_UPSTREAM,    /* the upstream call completed
                           (data: req_upstream_result) */
    REQ_EV_WAKE,        /* a read we waited for answered (data: its
                           flight_answer), or may have (data: NULL) */
    REQ_EV_BUDGET,      /* the budget answered (data: req_budget_result),
                           or the wait for it ended (data: NULL) */
    REQ_EV_ABORT        /* shutdown: answer now */
};

/* Which path RECV chose. */
enum req_kind {
    REQ_KIND_LOCAL,          /* answered by the proxy itself, at RECV */
    REQ_KIND_READ,           /* a GET route (read.c) */
    REQ_KIND_WRITE,     /* PATCH /phone/update (write.c) */
    REQ_KIND_PURGE      /* PURGE of a cacheable route (purge.c) */
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
    struct flight_ctx *flights;     /* coalescing: flights, wake channel */
    struct tracking   *tracking;    /* the near cache, or NULL when off */
    struct tkeys      *keys;        /* tenants' derived keys (tkeys.h) */
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

struct req {
    TAILQ_ENTRY(req)        next;   /* in its worker's req_set */
    struct req_set         *set;    /* borrowed */
    const struct req_env   *env;    /* borrowed */
    struct evhttp_request  *client; /* evhttp's; NULL once answered (only
                                       reply.c sets it so) */
    enum req_state          state;  /* only the machine changes it */
    enum req_kind           kind;
    struct route_match      route;
    enum route_method       method;
    const char             *method_name;    /* static */
    const char             *reject; /* static: why its raw header is
                                       refused (client.c), or NULL */
    char request_id[HTTP_REQUEST_ID_MAX + 1];
    char tenant[KEY_TENANT_HEX + 1];
    struct tkey            *keys;   /* a reference on the tenant's keys
                                       (tkeys.h), once the token is known;
                                       released by req_free */
    char phone[PHONE_E164_MAX];     /* normalised; "" if none */

    /* what it waits for: at most one of the three; the machine clears
     * the one an event reports before the handler runs */
    struct upstream_call   *call;   /* FETCH */
    struct budget_op       *bop;    /* BUDGET, asking Redis */
    struct store_op        *op;     /* CLAIM, LOOKUP, LOCK, STORE, WRITE,
                                       SETTLE, PURGE */

    /* the upstream call (forward.c) */
    struct event           *rate_timer; /* owned: a wait for the budget */
    int64_t                 spend_ms;   /* when it first asked, or 0 */
    bool                    rate_waited;    /* counted as a budget wait */
    int64_t                 up_start_us;    /* current upstream call sent */
    int64_t                 up_us;      /* time in upstream calls */
    bool                    up_called;  /* an upstream call completed */

    /* the upstream's answer, kept while Redis calls run (forward.c) */
    enum upstream_error     uerr;
    int                     status;
    char                    reason[HTTP_REASON_MAX]; /* the upstream's
                                       phrase of an unregistered status */
    struct evkeyvalq        headers;
    struct evbuffer        *body;       /* owned */

    /* what the client got (reply.c) */
    int                     ans_status; /* 0 before */
    enum stats_cache        ans_cache;
    int64_t                 start_ms;   /* arrival, wall clock (the log) */
    int64_t                 start_us;   /* arrival, monotonic */
    int64_t                 answer_us;  /* answered, monotonic; 0 before */

    /* the path's own state: read.h, write.h */
    union {
        max_align_t   align;
        unsigned char bytes[REQ_PATH_STATE_MAX];
    } ps;
};

/* Initialises SET, empty. */
void req_set_init(struct req_set *set);

/* Frees the spare requests of SET (at the worker's end). */
void req_set_clear(struct req_set *set);

/*
 * A new request of CLIENT in SET, started now under ENV (both outlive
 * it), in state RECV with zeroed path state; NULL when out of memory.
 */
struct req *req_new(const struct req_env *env, struct req_set *set,
                    struct evhttp_request *client);

/*
 * Ends R: counts it and writes its access-log line if it was answered,
 * and unlinks it. Its client was answered, it waits for nothing, and its
 * path released its state.
 */
void req_free(struct req *r);

/* The machine's entry for events; set once, before any request starts. */
typedef void (*req_door_fn)(struct req *r, enum req_event ev,
                            const void *data);
void req_door_set(req_door_fn door);

/* Hands R the event EV (with DATA) through the door. */
void req_event(struct req *r, enum req_event ev, const void *data);

/* store_eval's callback for a request's own Redis call: ARG is the
 * request, which gets REQ_EV_STORE. */
void req_on_store_reply(struct redisReply *reply, void *arg);

/* Wall clock, in milliseconds. */
int64_t req_now_ms(void);

/* A monotonic clock in microseconds, for durations. */
int64_t req_mono_us(void);

/*
 * The lease of a fetch lock or an Idempotency-Key claim: longer than any
 * wait of the request holding it (the upstream, then its Redis calls), so
 * only a holder that died loses it.
 */
int64_t req_lease_ms(const struct conf *cf);

/*
 * The deadline, in Redis's clock, of a call sent at SENT_MS (our clock)
 * that must not act once its request has given up on it (an
 * Idempotency-Key claim, a fetch lock: SPEC §12), with OFFSET_MS how far
 * Redis's clock is ahead of ours. It falls before the request gives up
 * (redis_timeout after SENT_MS), not after: by the offset's error (half
 * the slowest round trip it is learned from, REQ_CLOCK_ERROR_MS), at most
 * half of redis_timeout. A call that runs just in time may so be refused
 * (it then fails open), never one that runs when nobody waits for it.
 */
#define REQ_CLOCK_ERROR_MS 25
int64_t req_redis_deadline_at(const struct conf *cf, int64_t sent_ms,
                              int64_t offset_ms);

/* req_redis_deadline_at for a call R sends now, with the store's clock
 * offset; 0 (none) while the store does not know Redis's clock yet. */
int64_t req_redis_deadline_ms(const struct req *r);

/*
 * Writes <ph>, the name of R's normalised phone under its tenant's names
 * key (key_phone), into OUT (KEY_NAME_HEX + 1 bytes). Returns false when
 * OpenSSL failed.
 */
bool req_phone_name(const struct req *r, char *out);

/* The same for <ik>, the name of the Idempotency-Key IDEM. */
bool req_idem_name(const struct req *r, const char *idem, char *out);

/*
 * key_entry for R's route, tenant, phone (named with req_phone_name) and
 * crmSettingsId, with the parsed query Q. Returns 0, or -1 when R's
 * answer is not cached: key_entry refused, or OpenSSL could not make the
 * name (the request then goes through uncached, never fails).
 */
int req_key_entry(const struct req *r, const struct key_query *q,
                  struct key_entry *out);

/*
 * The stored form (cache_entry) of R's held answer with STATUS and
 * TTL_MS, to be stored under the Redis key HASH and field FIELD, in a
 * new buffer the caller frees; NULL when out of memory or sealing failed.
 * The header ("hsp1 <status> <stored_ms> <ttl_ms> <ctype>\n") stays plain;
 * the body is sealed (seal.h) under R's tenant's keys with HASH, a NUL
 * and FIELD as associated data, so a value moved under another key name
 * or field, or read with another tenant's keys, does not open (SPEC §13).
 * FIELD never holds the blocks generation ("g<gen>:"): what must stay
 * bound is which answer this is (tenant, phone and route in the key name,
 * the variant or blocks query in the field), so that no answer is served
 * as another's. A generation only dates one answer, and binding it would
 * not stop a reader who can write Redis from putting an older value of
 * the same field back anyway (as for a lead, whose epoch is not in its
 * field either); the fill's guards, not the seal, keep answers current.
 * Keeping it out lets the fill hand the one sealed value both to its
 * field and, in the fetch lock, to its waiters, who open it with the
 * entry's key and field.
 */
struct evbuffer *req_entry_value(const struct req *r, const char *hash,
                                 const char *field, int status,
                                 int64_t ttl_ms);

/*
 * Opens the stored value V (LEN bytes) read from HASH, FIELD, as
 * req_entry_value sealed it: returns a new NUL-terminated buffer (the
 * caller frees it) holding the plain header and body, its length in
 * *OUT_LEN; NULL when V is NULL, out of memory, or V does not open
 * (tampered, moved, another tenant's, never sealed): then it is counted
 * (heavyset_store_unseal_failures_total) and logged, rate limited,
 * without the value. A NULL is a miss for the caller.
 */
char *req_entry_open(const struct req *r, const char *hash,
                     const char *field, const char *v, size_t len,
                     size_t *out_len);

/*
 * req_entry_open of V (LEN bytes) read from K's hash and field, then
 * decoded into E (borrowing from the result): the new buffer, which the
 * caller frees, or NULL when there is no value or it does not open or
 * decode (a miss).
 */
char *req_entry_read(const struct req *r, const struct key_entry *k,
                     const char *v, size_t len, struct cache_entry *e,
                     size_t *plain_len);

#endif /* HSP_REQ_REQ_H */
