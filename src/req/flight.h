/*
 * req/flight.h - one fetch per key (SPEC §6): identical reads of one
 * worker form a flight, whose first read leads it and whose others wait
 * in memory for its answer; across workers and instances the leader
 * takes the entry's fetch lock in Redis before it fetches, and a leader
 * that finds the lock taken waits for a message on the wake channel
 * naming it (sent once the fetcher's answer is in Redis), or for the
 * lock's lease to run out, and then looks again. So waiters are woken,
 * never poll, and a fetcher that died costs them one lease.
 *
 * Events reach requests through their door (req/req.h): a waiter gets
 * REQ_EV_WAKE with its leader's flight_answer; a leader that waited for
 * another instance gets REQ_EV_WAKE with NULL, and looks again.
 *
 * Ownership: a worker's flight_ctx is made and freed by its proxy; it
 * owns its flights, and each flight its lease timer. A flight ends when
 * its leader releases it, after which it owns a copy of the answer until
 * the last waiter took it. A flight_member lives in a read's state and is
 * borrowed by the flight it joined.
 */
#ifndef HSP_REQ_FLIGHT_H
#define HSP_REQ_FLIGHT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

#include "http.h"
#include "key.h"
#include "stats.h"

/* "<hash>:lock:<field>" never truncates: two entries share no lock. */
#define FLIGHT_LOCK_MAX (KEY_MAX + sizeof(":lock:") + KEY_FIELD_MAX)
#define FLIGHT_KEY_MAX  (2 * KEY_MAX + KEY_FIELD_MAX + 32)

struct cache_entry;
struct conf;
struct event_base;
struct flight;
struct flight_ctx;
struct redisReply;
struct req;
struct store;
struct store_op;

/* A read's part in coalescing: which flight, and the fetch lock. */
struct flight_member {
    struct req           *req;      /* the read it belongs to */
    struct flight        *flight;   /* the flight it leads or waits in */
    TAILQ_ENTRY(flight_member) next;    /* among the flight's waiters */
    char                  lock[FLIGHT_LOCK_MAX];  /* the fetch lock */
    char                  owner[HTTP_REQUEST_ID_MAX + 1]; /* its lock id */
    bool                  locked;   /* holds the fetch lock */
    uint64_t              wake_seq; /* wake messages seen when it asked */
};

/* What a leader gives its waiters: a stored entry, or an error. */
struct flight_answer {
    const struct cache_entry *e;    /* NULL for an error */
    enum stats_cache  x_cache;      /* with E */
    const char       *status;       /* with E: Cache-Status, or NULL */
    int64_t           age_s;        /* with E: Age, or -1 */
    bool              forwarded;    /* E came from a fetch: a waiter's
                                       Cache-Status says "collapsed" */
    int               stale;        /* E is stale: its counter, or -1 */
    int               err_status;   /* error: its status, message */
    const char       *msg;
    const char       *hname;        /* error: one header, or NULL */
    const char       *hvalue;
};

struct flight_ctx *flight_ctx_new(struct event_base *base,
                                  const struct conf *cf, struct store *st);
void               flight_ctx_free(struct flight_ctx *ctx);

/* The wake channel the fill and unlock scripts tell. */
const char *flight_channel(const struct flight_ctx *ctx);

/*
 * Joins M (of request R, its lock named) to the flight of FKEY (LEN
 * bytes): as waiter when there is one, else as the leader of a new one
 * (or of none, out of memory). Returns true when M waits now (WAIT).
 */
bool flight_join(struct flight_ctx *ctx, struct flight_member *m,
                 struct req *r, const char *fkey, size_t len);

/* Whether M leads a flight; whether it leads one that others wait in. */
bool flight_leads(const struct flight_member *m);
bool flight_has_waiters(const struct flight_member *m);

/*
 * Ends M's flight, when M leads one: its waiters get A. M itself is
 * answered by its own path.
 */
void flight_release(struct flight_member *m, const struct flight_answer *a);

/* Shutdown: M leaves the flight it waits in (not one it leads). */
void flight_leave(struct flight_member *m);

/* Gives M a lock id if it has none. Returns false if none can be made. */
bool flight_owner(struct flight_member *m);

/* Notes the wake messages seen, as a lock's verdict is asked for. */
void flight_mark(const struct flight_ctx *ctx, struct flight_member *m);

/*
 * M's lock is taken elsewhere for PTTL ms (-1: unknown): waits for its
 * wake message or its lease. Returns true when M waits (WAIT).
 */
bool flight_wait_remote(struct flight_ctx *ctx, struct flight_member *m,
                        const struct conf *cf, int64_t pttl);

/* The wake M waited for came: M leaves the remote wait. */
void flight_unwait(struct flight_member *m);

/*
 * Asks for M's fetch lock (M has an owner id) for request R, whose reply
 * comes as REQ_EV_STORE: lead, wait, or an answer handed over, which it
 * takes when TAKE_ANSWER. BLOCKS: the entry is of the blocks route. NULL
 * when Redis is away.
 */
struct store_op *flight_lock(struct flight_ctx *ctx, struct flight_member *m,
                             const struct key_entry *key, bool blocks,
                             bool take_answer, const struct conf *cf,
                             struct req *r);

/* Gives M's lock back without an answer, so that waiters look again;
 * fire and forget. */
void flight_unlock(struct flight_ctx *ctx, struct flight_member *m);

#endif /* HSP_REQ_FLIGHT_H */
