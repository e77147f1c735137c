/*
 * store_link.h - private to the store (store*.c): one hiredis async
 * connection to Redis that reconnects by itself, with backoff and
 * jitter, and tells its owner what happened through one callback.
 *
 * It knows nothing of scripts, deadlines or subscriptions: those are the
 * store's (store.c) and the subscriber's (store_sub.c), which queue their
 * commands on link->ac themselves. Issue 13 replaces what is behind this
 * header with a link of our own on bufferevents.
 */
#ifndef HSP_STORE_LINK_H
#define HSP_STORE_LINK_H

#include <stdbool.h>

struct event;
struct event_base;
struct redisAsyncContext;
struct url_redis;
struct store_link;

/* What a link tells its owner, on the loop. */
enum store_link_event {
    STORE_LINK_CONNECTING,          /* a new connection: ac may queue now */
    STORE_LINK_UP,                  /* it connected and AUTH, SELECT and
                                     * PING were answered: commands flow */
    STORE_LINK_FAILED,              /* it could not connect, or Redis
                                     * refused its handshake; retry is set */
    STORE_LINK_LOST                 /* it went down by itself; retry is set */
};

typedef void (*store_link_cb)(struct store_link *link,
                              enum store_link_event ev, void *arg);

/* Embedded by its owner; the fields are read-only outside store_link.c. */
struct store_link {
    struct event_base        *base; /* borrowed */
    const struct url_redis   *url;  /* borrowed: the owner's, validated */
    const char               *name; /* static: for logs */
    struct redisAsyncContext *ac;   /* NULL while disconnected */
    bool                      connected; /* AUTH, SELECT, PING answered */
    unsigned                  handshake; /* of those, replies to come */
    bool                      refused;   /* the last handshake was
                                          * refused: counted in ready.h */
    bool                      stopped;   /* store_link_stop ran */
    struct event             *retry;     /* owned: reconnect timer */
    unsigned                  backoff_ms;
    store_link_cb             cb;
    void                     *arg;
};

/*
 * Prepares LINK (not connected yet) for the Redis at URL on BASE; both
 * are borrowed and must outlive it. CB and ARG get its events. Returns 0,
 * or -1 out of memory; store_link_stop releases LINK either way.
 */
int store_link_init(struct store_link *link, struct event_base *base,
                    const struct url_redis *url, const char *name,
                    store_link_cb cb, void *arg);

/* Connects LINK now; a failure schedules a retry. */
void store_link_connect(struct store_link *link);

/* Whether LINK is connected and Redis accepted its handshake. */
bool store_link_up(const struct store_link *link);

/* Resets LINK's backoff: Redis answered on it. */
void store_link_reset_backoff(struct store_link *link);

/*
 * Drops LINK's connection now (a Redis that stopped answering) and
 * reconnects later with backoff. Pending callbacks get NULL; no event.
 */
void store_link_drop(struct store_link *link);

/*
 * Closes LINK for good: pending callbacks get NULL, no retry follows, no
 * event is sent, and the timer is freed. For the owner's free.
 */
void store_link_stop(struct store_link *link);

#endif /* HSP_STORE_LINK_H */
