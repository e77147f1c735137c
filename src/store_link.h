/*
 * store_link.h - private to the store (store*.c): one Redis connection
 * (an rlink, rlink.h: TCP, unix socket or TLS) that reconnects by itself
 * with backoff and jitter, and tells its owner what happened through one
 * callback, after it has logged and counted it the store's way (stats.h,
 * ready.h, store_err.h).
 *
 * It knows nothing of scripts, deadlines or subscriptions: those are the
 * store's (store.c) and the subscriber's (store_sub.c), which send their
 * commands with store_link_command.
 */
#ifndef HSP_STORE_LINK_H
#define HSP_STORE_LINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rlink_types.h"

struct event_base;
struct evdns_base;
struct url_redis;
struct store_link;

/* What a link tells its owner, on the loop. */
enum store_link_event {
    STORE_LINK_UP,                  /* it connected and Redis accepted its
                                     * handshake (HELLO or AUTH, SELECT):
                                     * commands flow */
    STORE_LINK_FAILED,              /* it could not connect, or Redis
                                     * refused its handshake; retry is set */
    STORE_LINK_LOST                 /* it was up and went down (or was
                                     * dropped); retry is set */
};

typedef void (*store_link_cb)(struct store_link *link,
                              enum store_link_event ev, void *arg);

/* A push reply of a subscriber link ("subscribe", "message"...). */
typedef void (*store_link_msg_cb)(struct store_link *link,
                                  const struct redisReply *msg, void *arg);

/* What to connect to: a plain value; store_link_init copies the strings. */
struct store_link_conf {
    const struct url_redis *url;    /* validated: redis://, rediss://,
                                     * unix:// */
    const char *ca_file;            /* rediss://: extra CA, or NULL/"" */
    const char *cert_file;          /* rediss://: client cert, or NULL/"" */
    const char *key_file;           /* its key */
    unsigned    timeout_ms;         /* each command's deadline; 0: none */
    bool        subscriber;         /* push replies go to the msg cb */
};

/* Embedded by its owner; the fields are read-only outside store_link.c. */
struct store_link {
    struct rlink     *rl;           /* owned; NULL once stopped */
    const char       *name;         /* borrowed, outlives the link: for
                                     * logs */
    const char       *path;         /* borrowed: the URL's socket path,
                                     * or NULL for TCP/TLS */
    bool              auth;         /* AUTH is sent: a refusal is auth */
    bool              refused;      /* the last handshake was refused:
                                     * counted in ready.h */
    bool              connecting;   /* store_link_connect ran, no event
                                     * came yet, and there is something
                                     * to connect to: calls may wait */
    bool              held;         /* Sentinel: no master to connect to
                                     * until store_link_retarget names
                                     * one; store_link_connect waits */
    store_link_cb     cb;
    store_link_msg_cb msg_cb;
    void             *arg;
};

/*
 * Prepares LINK (not connected yet) for the Redis CONF names on BASE,
 * resolving host names with DNS (borrowed; needed unless the URL is
 * unix://). CB gets its events and MSG_CB (subscriber links only) its
 * push replies, both with ARG. Returns 0, or -1 after logging why (a CA,
 * certificate or key OpenSSL refuses, no DNS base, out of memory);
 * store_link_stop releases LINK either way.
 */
int store_link_init(struct store_link *link, struct event_base *base,
                    struct evdns_base *dns,
                    const struct store_link_conf *conf, const char *name,
                    store_link_cb cb, store_link_msg_cb msg_cb, void *arg);

/* Starts connecting LINK on the loop's next turn, if it is not yet and
 * not held. */
void store_link_connect(struct store_link *link);

/*
 * Sentinel (a redis-sentinel:// URL, whose links start held): drops
 * LINK's connection if any (the owner hears STORE_LINK_LOST inside this
 * call) and keeps it down, no retry, until store_link_retarget.
 */
void store_link_hold(struct store_link *link);

/*
 * Points LINK at the master HOST:PORT (copied; over TLS, the name
 * verified too) and connects there at once, without backoff, dropping a
 * connection up or under way first (STORE_LINK_LOST inside this call).
 * Returns 0 or -1 (out of memory: LINK is unchanged).
 */
int store_link_retarget(struct store_link *link, const char *host,
                        uint16_t port);

/* Whether LINK is connected and Redis accepted its handshake. */
bool store_link_up(const struct store_link *link);

/* What LINK's Redis said of itself (HELLO) on the current connection;
 * zeroed while LINK is down or the Redis knows no HELLO. */
void store_link_server(const struct store_link *link,
                       struct rlink_server *out);

/*
 * Sends the command of ARGC arguments ARGV (LENS[i] bytes each; LENS
 * NULL: strlen) on LINK; the arguments are copied. CB (with ARG; may be
 * NULL but for a subscriber's SUBSCRIBE, whose confirmation goes to the
 * msg cb) gets the reply or NULL, exactly once, never inside this call.
 * Returns 0, or -1 when LINK is not up (or out of memory): then CB is
 * never called.
 */
int store_link_command(struct store_link *link, int argc, const char **argv,
                       const size_t *lens, rlink_reply_cb cb, void *arg);

/*
 * Reads what Redis already sent on LINK, now, and hands it out (replies,
 * messages), instead of waiting for the loop to poll the socket.
 */
void store_link_poll(struct store_link *link);

/*
 * Drops LINK's connection now (a Redis that stopped answering) and
 * reconnects later with backoff. Pending callbacks get NULL and then the
 * owner hears STORE_LINK_LOST, inside this call.
 */
void store_link_drop(struct store_link *link);

/*
 * Closes LINK for good: pending callbacks get NULL, no retry follows and
 * no event is sent. For the owner's free; NULL-safe on a zeroed LINK.
 */
void store_link_stop(struct store_link *link);

#endif /* HSP_STORE_LINK_H */
