/*
 * rlink_int.h - private to rlink.c and rlink_io.c: the link's state and
 * the steps both halves take. rlink.c holds the life cycle (create,
 * commands, deadlines, going down, retry, free); rlink_io.c the
 * connection (connect, TLS, the HELLO/SELECT handshake, reading replies).
 */
#ifndef HSP_RLINK_INT_H
#define HSP_RLINK_INT_H

#include <stdbool.h>
#include <stdint.h>

#include <event2/bufferevent.h>
#include <event2/event.h>
#include <hiredis/hiredis.h>
#include <openssl/ssl.h>

#include "rlink_types.h"

#define RLINK_CONNECT_TIMEOUT_MS 1000
#define RLINK_BACKOFF_MIN_MS     100
#define RLINK_BACKOFF_MAX_MS     5000
#define RLINK_NO_DEADLINE        UINT64_MAX

enum link_state {
    ST_IDLE,                        /* no connection; maybe a retry set */
    ST_CONNECTING,                  /* TCP (and TLS) connect under way */
    ST_HANDSHAKE,                   /* HELLO (or AUTH) and SELECT sent,
                                     * not all answered */
    ST_UP                           /* commands flow */
};

struct pending {
    struct pending *next;           /* later command, or NULL */
    rlink_reply_cb  cb;             /* NULL: reply discarded */
    unsigned        confirms;       /* a subscriber's (UN)SUBSCRIBE: the
                                     * confirmations still due; else 0 */
    void           *arg;            /* CB's */
    uint64_t        deadline_ms;    /* monotonic; RLINK_NO_DEADLINE */
};

struct rlink {
    struct event_base   *base;      /* borrowed */
    struct evdns_base   *dns;       /* borrowed; NULL for unix sockets */
    struct rlink_conf    conf;      /* strings point at the copies below */
    char                *strings[8];/* owned copies of the conf strings */
    SSL_CTX             *ssl_ctx;   /* owned; TLS only */
    struct bufferevent  *bev;       /* owned; NULL while IDLE */
    redisReader         *reader;    /* owned; NULL while IDLE */
    enum link_state      state;
    unsigned             handshake; /* handshake replies still due, of
                                     * the current round */
    unsigned             round;     /* handshake round: 1 with HELLO,
                                     * 2 after its AUTH/PING fallback */
    struct rlink_server  server;    /* what HELLO said; zero without */
    struct pending      *head;      /* oldest pending command */
    struct pending     **tail;      /* where the next one goes */
    struct event        *tick;      /* owned: connect and command deadlines */
    struct event        *retry;     /* owned: reconnect timer */
    unsigned             backoff_ms;/* base of the next retry delay */
    unsigned             busy;      /* entry points running callbacks */
    bool                 freeing;   /* rlink_free ran during busy */
    unsigned             gen;       /* bumped by every close */
    rlink_event_cb       cb;
    rlink_message_cb     msg_cb;
    void                *arg;       /* CB's and MSG_CB's */
    struct rlink_counters n;
    char                 detail[256]; /* the last failure, for the event */
};


uint64_t rlink_int_now_ms(void);
void rlink_int_add_ms(struct event *ev, uint64_t ms);
void rlink_int_enter(struct rlink *link);
void rlink_int_leave(struct rlink *link);
/* rlink_poll's work (rlink.h): reads what is already in the socket. */
void rlink_int_poll(struct rlink *link);

/* Releases LINK's connection (socket, SSL, reader): IDLE after. */
void rlink_int_close(struct rlink *link);

/* Calls every pending callback with NULL, oldest first. */
void rlink_int_fail_pending(struct rlink *link);

void rlink_int_down(struct rlink *link, enum rlink_reason reason,
                    enum rerr_kind kind, const char *detail);
void rlink_int_up(struct rlink *link);
/* Queues a pending entry for CB, due in MS (0: no deadline), that a
 * subscriber's CONFIRMS subscription confirmations answer (0: a reply). */
int rlink_int_push(struct rlink *link, rlink_reply_cb cb, void *arg,
                   unsigned ms, unsigned confirms);
int rlink_int_send(struct rlink *link, int argc, const char **argv,
                   const size_t *lens);

/* rlink_io.c: starts a connection; a failure goes down (and retries). */
void rlink_int_open(struct rlink *link);

#endif /* HSP_RLINK_INT_H */
