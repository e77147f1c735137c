/*
 * rlink.h - one Redis connection of the proxy's own, on a libevent
 * bufferevent (TCP, unix socket or TLS), with hiredis used only as the
 * RESP codec (redisFormatCommandArgv out, redisReader in). It resolves
 * host names with the worker's evdns_base, never blocking; it sends AUTH
 * and SELECT after connecting (PING when neither is due) and checks
 * their replies (a refused AUTH, or NOAUTH, is a failure, never "up");
 * every command has a deadline, and a command past it gets NULL and
 * drops the link; it reconnects by itself with exponential backoff and
 * jitter. Commands queued in one loop turn leave
 * in one write: they are appended to the bufferevent's output, which
 * libevent writes when the loop next polls the socket.
 *
 * A link in subscriber mode delivers SUBSCRIBE confirmations and
 * `message`/`pmessage` arrays (pub/sub, and CLIENT TRACKING's REDIRECT
 * invalidations on `__redis__:invalidate`) to its message callback.
 * Those have no deadline: to notice a subscriber's frozen Redis, send it
 * a PING with a callback now and then (its ["pong", ""] is a reply).
 *
 * It logs and counts nothing itself: what happens goes to its owner
 * through the event callback, with a reason the owner can log and count.
 *
 * Ownership: the owner creates a link with rlink_new and releases it
 * with rlink_free, the one release path (safe from inside any callback
 * of the link). BASE and DNS are borrowed and must outlive the link; the
 * strings of the rlink_conf are copied.
 *
 * How store_link.c maps onto it (the next step, behind store_link.h):
 *   store_link_init        -> rlink_new(base, dns, conf from url_redis
 *                             and the redis_* keys, on_link_event, link)
 *                             with rlink_conf.autostart = false
 *   store_link_connect     -> rlink_start
 *   store_link_up          -> rlink_up
 *   store_link_reset_backoff -> nothing: rlink resets its backoff
 *                             whenever Redis answers (any reply)
 *   store_link_drop        -> rlink_drop
 *   store_link_stop        -> rlink_free
 *   STORE_LINK_CONNECTING  -> gone: commands are refused (-1) until UP,
 *                             and store.c fails them open at once
 *   STORE_LINK_UP/FAILED/LOST -> RLINK_UP/RLINK_FAILED/RLINK_LOST, with
 *                             enum rlink_reason and rerr_kind to log and
 *                             count (RLINK_REASON_AUTH: /readyz degraded)
 *   redisAsyncCommand(link->ac, cb, arg, fmt, ...) in store.c
 *                          -> rlink_command(link, argc, argv, lens, cb,
 *                             arg); store.c's per-call deadline timers
 *                             go, rlink_conf.timeout_ms = redis_timeout
 *   store_sub.c's own link -> rlink_conf.subscriber = true; CLIENT ID
 *                             with a callback, then SUBSCRIBE with
 *                             CB == NULL; messages and invalidations
 *                             arrive at the message callback
 */
#ifndef HSP_RLINK_H
#define HSP_RLINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rerr.h"

struct event_base;
struct evdns_base;
struct redisReply;
struct rlink;                       /* opaque */

enum rlink_transport {
    RLINK_TCP,                      /* host:port, names through evdns */
    RLINK_UNIX,                     /* a unix socket path */
    RLINK_TLS                       /* TCP + TLS: chain, host name, SNI */
};

/* Plain value: what to connect to. rlink_new copies the strings. */
struct rlink_conf {
    enum rlink_transport transport;
    const char *host;               /* TCP/TLS: name or address */
    uint16_t    port;               /* TCP/TLS */
    const char *path;               /* UNIX: socket path */
    const char *user;               /* NULL or "": AUTH password alone */
    const char *password;           /* NULL or "": no AUTH */
    int         db;                 /* SELECT db when not 0 */
    const char *ca_file;            /* TLS: extra CA (NULL: system only) */
    const char *cert_file;          /* TLS: client certificate, or NULL */
    const char *key_file;           /* TLS: its key (with cert_file) */
    const char *tls_name;           /* TLS: name verified and sent as SNI;
                                     * NULL: host */
    unsigned    timeout_ms;         /* each command's deadline; 0: none */
    unsigned    connect_timeout_ms; /* connect + TLS; 0: 1000 */
    unsigned    backoff_min_ms;     /* first retry delay; 0: 100 */
    unsigned    backoff_max_ms;     /* longest retry delay; 0: 5000 */
    bool        subscriber;         /* push replies go to the message cb */
    bool        autostart;          /* rlink_new starts it (rlink_start) */
};

/* What a link tells its owner, on the loop. */
enum rlink_event {
    RLINK_UP,                       /* connected, AUTH and SELECT (or PING)
                                     * answered OK: commands flow */
    RLINK_FAILED,                   /* a connect attempt failed; retry set */
    RLINK_LOST                      /* it was up and went down (or was
                                     * dropped); retry set */
};

/* Why a link failed or was lost. */
enum rlink_reason {
    RLINK_REASON_NONE,              /* RLINK_UP */
    RLINK_REASON_CONNECT,           /* refused, unreachable, DNS failure */
    RLINK_REASON_TLS,               /* handshake or verification failed */
    RLINK_REASON_AUTH,              /* AUTH refused, or NOAUTH to PING
                                     * (kind: RERR_AUTH, ...) */
    RLINK_REASON_SELECT,            /* SELECT refused */
    RLINK_REASON_TIMEOUT,           /* connect or a command past deadline */
    RLINK_REASON_CLOSED,            /* the server closed the connection */
    RLINK_REASON_PROTOCOL,          /* a reply RESP could not parse */
    RLINK_REASON_DROPPED            /* the owner called rlink_drop */
};

/*
 * An event for the owner. KIND is meaningful for RLINK_REASON_AUTH and
 * RLINK_REASON_SELECT (the error reply's kind), else RERR_OTHER. DETAIL
 * is a static or link-owned text for logs (the error reply, the OpenSSL
 * or socket error), valid during the call only; never NULL.
 */
typedef void (*rlink_event_cb)(struct rlink *link, enum rlink_event ev,
                               enum rlink_reason reason, enum rerr_kind kind,
                               const char *detail, void *arg);

/*
 * A command's reply, exactly once: REPLY, or NULL when the command
 * passed its deadline, the link went down, or rlink_free ran. REPLY is
 * freed after the call: copy what you keep. An error reply is
 * REDIS_REPLY_ERROR; rerr_classify(reply->str, reply->len) names it.
 */
typedef void (*rlink_reply_cb)(struct rlink *link, struct redisReply *reply,
                               void *arg);

/*
 * A push reply in subscriber mode (an array: "subscribe", "message",
 * "pmessage", ...). Freed after the call.
 */
typedef void (*rlink_message_cb)(struct rlink *link, struct redisReply *msg,
                                 void *arg);

/* What the link counted, for tests and metrics. */
struct rlink_counters {
    uint64_t commands;              /* rlink_command calls accepted */
    uint64_t writes;                /* socket (or SSL) writes that sent
                                     * bytes: commands of one turn, one */
    uint64_t replies;               /* replies delivered to callbacks */
    uint64_t messages;              /* push replies delivered */
    uint64_t timeouts;              /* commands past their deadline */
    uint64_t connects;              /* times the link came up */
    uint64_t failures;              /* RLINK_FAILED + RLINK_LOST events */
};

/*
 * Creates a link to the Redis CONF names, on BASE, resolving names with
 * DNS (needed for TCP/TLS; NULL for UNIX). CB (may be NULL) gets its
 * events and MSG_CB (needed in subscriber mode, else ignored) its push
 * replies, both with ARG. When CONF->autostart it starts connecting on
 * the loop's next turn (as rlink_start).
 * Returns NULL and writes a reason into ERR (ERRLEN bytes) when CONF is
 * unusable (a missing field, a CA, certificate or key file OpenSSL
 * refuses) or memory runs out. The caller owns the link: rlink_free.
 */
struct rlink *rlink_new(struct event_base *base, struct evdns_base *dns,
                        const struct rlink_conf *conf, rlink_event_cb cb,
                        rlink_message_cb msg_cb, void *arg, char *err,
                        size_t errlen);

/*
 * Starts connecting LINK on the loop's next turn (at once if a retry was
 * waiting), if it is neither connecting nor up. Its events never run
 * inside this call.
 */
void rlink_start(struct rlink *link);

/* Whether LINK is up: connected, AUTH and SELECT answered OK. */
bool rlink_up(const struct rlink *link);

/*
 * Sends the command of ARGC arguments (ARGV[i], LENS[i] bytes each;
 * LENS NULL: strlen) on LINK; the arguments are copied. CB (with ARG)
 * gets the reply, in the order the commands were sent. In subscriber
 * mode, send SUBSCRIBE and UNSUBSCRIBE with CB NULL: their
 * confirmations go to the message callback; any other command needs a
 * CB there. Returns 0, or -1 when LINK is not up or memory ran out: then
 * CB is never called.
 */
int rlink_command(struct rlink *link, int argc, const char **argv,
                  const size_t *lens, rlink_reply_cb cb, void *arg);

/*
 * Drops LINK's connection now (a Redis that stopped answering, or one
 * the owner no longer trusts): pending callbacks get NULL and then
 * RLINK_LOST (RLINK_FAILED while it was connecting) with
 * RLINK_REASON_DROPPED, inside this call; a reconnect is scheduled with
 * backoff. Nothing happens if LINK is idle (a retry is set already).
 */
void rlink_drop(struct rlink *link);

/* Copies LINK's counters into OUT. */
void rlink_counters(const struct rlink *link, struct rlink_counters *out);

/* A static name of REASON for logs and metrics ("auth"). */
const char *rlink_reason_name(enum rlink_reason reason);

/*
 * Releases LINK (NULL is fine): the connection closes, pending callbacks
 * get NULL (they must not use LINK after that but may call rlink_free
 * again, a no-op), no event follows and no retry. Safe from inside any
 * callback of LINK; the memory goes when that callback returns.
 */
void rlink_free(struct rlink *link);

#endif /* HSP_RLINK_H */
