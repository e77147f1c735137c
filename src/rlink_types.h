/*
 * rlink_types.h - what a Redis link (rlink.h) and its owner exchange:
 * what to connect to, the events and their reasons, the callbacks, the
 * counters. Types only, so that the link's own files (rlink_int.h) need
 * not include the public calls above them.
 */
#ifndef HSP_RLINK_TYPES_H
#define HSP_RLINK_TYPES_H

#include <stdbool.h>
#include <stdint.h>

#include "rerr.h"

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

/* What HELLO said the server is (SPEC §12: a redis:// store wants a
 * standalone master). */
enum rlink_mode {
    RLINK_MODE_UNKNOWN,             /* no HELLO (Redis < 6), or not said */
    RLINK_MODE_STANDALONE,
    RLINK_MODE_SENTINEL,
    RLINK_MODE_CLUSTER
};

enum rlink_role {
    RLINK_ROLE_UNKNOWN,
    RLINK_ROLE_MASTER,
    RLINK_ROLE_REPLICA
};

/* Plain value: the server as its last HELLO described it. */
struct rlink_server {
    bool            hello;          /* HELLO answered on this connection;
                                     * false: Redis < 6, AUTH/PING used */
    char            version[32];    /* "7.0.15", or "" */
    enum rlink_mode mode;
    enum rlink_role role;
    long long       id;             /* the connection's CLIENT ID, or 0 */
};

/* What a link tells its owner, on the loop. */
enum rlink_event {
    RLINK_UP,                       /* connected, HELLO (or AUTH/PING) and
                                     * SELECT answered OK: commands flow */
    RLINK_FAILED,                   /* a connect attempt failed; retry set */
    RLINK_LOST                      /* it was up and went down (or was
                                     * dropped); retry set */
};

/* Why a link failed or was lost. */
enum rlink_reason {
    RLINK_REASON_NONE,              /* RLINK_UP */
    RLINK_REASON_CONNECT,           /* refused, unreachable, DNS failure */
    RLINK_REASON_TLS,               /* handshake or verification failed */
    RLINK_REASON_AUTH,              /* HELLO's AUTH or AUTH refused, or
                                     * NOAUTH to HELLO or PING
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

#endif /* HSP_RLINK_TYPES_H */
