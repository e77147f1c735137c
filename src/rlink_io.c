/*
 * rlink_io.c - the connection half of rlink (rlink_int.h): opening the
 * bufferevent for TCP (names through evdns), a unix socket or TLS, the
 * HELLO/SELECT handshake (AUTH/PING for a Redis without HELLO) with
 * every reply checked and HELLO's description of the server kept,
 * reading RESP with a redisReader and handing replies out in order, and
 * putting the bufferevent's failures into words.
 */
#include "config.h"

#include "rlink_int.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <event2/buffer.h>
#include <event2/bufferevent_ssl.h>
#include <event2/dns.h>
#include <event2/util.h>
#include <openssl/err.h>

#include "rlink_tls.h"

static void on_bev_read(struct bufferevent *bev, void *arg);
static void on_bev_event(struct bufferevent *bev, short what, void *arg);
static void on_output(struct evbuffer *buf,
                      const struct evbuffer_cb_info *info, void *arg);

/* ---- connecting and the handshake ---------------------------------------- */

/* A bufferevent for LINK's transport, not yet connecting. */
static struct bufferevent *
open_bev(struct rlink *link)
{
    SSL *ssl;

    if (link->conf.transport != RLINK_TLS) {
        return bufferevent_socket_new(link->base, -1, BEV_OPT_CLOSE_ON_FREE);
    }
    ssl = rlink_tls_ssl_new(link->ssl_ctx, link->conf.tls_name);
    if (ssl == NULL) {
        return NULL;
    }
    /* On failure this frees SSL itself (PITFALLS §4.2.3). */
    return bufferevent_openssl_socket_new(link->base, -1, ssl,
                                          BUFFEREVENT_SSL_CONNECTING,
                                          BEV_OPT_CLOSE_ON_FREE);
}

/* Starts a connection; a failure, even a synchronous one, goes down. */
void
rlink_int_open(struct rlink *link)
{
    struct sockaddr_un sun;
    unsigned           gen;
    int                rc;

    link->reader = redisReaderCreate();
    link->bev = link->reader != NULL ? open_bev(link) : NULL;
    if (link->bev == NULL) {
        rlink_int_down(link, RLINK_REASON_CONNECT, RERR_OTHER, "out of memory");
        return;
    }
    if (link->conf.transport == RLINK_TLS) {
        bufferevent_openssl_set_allow_dirty_shutdown(link->bev, 1);
    }
    bufferevent_setcb(link->bev, on_bev_read, NULL, on_bev_event, link);
    evbuffer_add_cb(bufferevent_get_output(link->bev), on_output, link);
    bufferevent_enable(link->bev, EV_READ | EV_WRITE);
    link->state = ST_CONNECTING;
    rlink_int_add_ms(link->tick, link->conf.connect_timeout_ms);
    gen = link->gen;
    if (link->conf.transport == RLINK_UNIX) {
        memset(&sun, 0, sizeof(sun));
        sun.sun_family = AF_UNIX;
        if (strlen(link->conf.path) >= sizeof(sun.sun_path)) {
            rlink_int_down(link, RLINK_REASON_CONNECT, RERR_OTHER,
                      "socket path too long");
            return;
        }
        strcpy(sun.sun_path, link->conf.path);
        rc = bufferevent_socket_connect(link->bev, (struct sockaddr *)&sun,
                                        (int)sizeof(sun));
    } else {
        /* Names go through evdns: never a blocking getaddrinfo. */
        rc = bufferevent_socket_connect_hostname(link->bev, link->dns,
                                                 AF_UNSPEC, link->conf.host,
                                                 link->conf.port);
    }
    /* libevent may have reported the failure through on_bev_event. */
    if (rc != 0 && link->gen == gen) {
        snprintf(link->detail, sizeof(link->detail), "connect: %s",
                 evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
        rlink_int_down(link, RLINK_REASON_CONNECT, RERR_OTHER, link->detail);
    }
}

/*
 * The handshake's steps. A reply's step and round ride in its callback's
 * argument: a HELLO that Redis does not know (older than 6, or renamed
 * away) starts round 2, the old way (AUTH, SELECT, or PING), and the
 * replies still due to round 1 (its SELECT) are let pass unheeded.
 */
enum hs_step { HS_HELLO, HS_AUTH, HS_SELECT, HS_PING };

#define HS_ARG(round, step) ((void *)(uintptr_t)(((round) << 4) | (step)))
#define HS_CLIENT_NAME      "heavyset-proxy"

static const char *const hs_names[] = {
    [HS_HELLO] = "HELLO", [HS_AUTH] = "AUTH", [HS_SELECT] = "SELECT",
    [HS_PING] = "PING",
};

static const struct {
    const char     *name;
    enum rlink_mode mode;
} hs_modes[] = {
    { "standalone", RLINK_MODE_STANDALONE },
    { "sentinel", RLINK_MODE_SENTINEL },
    { "cluster", RLINK_MODE_CLUSTER },
};

static const struct {
    const char     *name;
    enum rlink_role role;
} hs_roles[] = {
    { "master", RLINK_ROLE_MASTER },
    { "replica", RLINK_ROLE_REPLICA },
    { "slave", RLINK_ROLE_REPLICA },
};

static void on_handshake_reply(struct rlink *link, struct redisReply *reply,
                               void *arg);

/* Whether the string reply V is NAME. */
static bool
hs_is(const redisReply *v, const char *name)
{
    return v->type == REDIS_REPLY_STRING && v->len == strlen(name) &&
           memcmp(v->str, name, v->len) == 0;
}

/* Reads HELLO's RESP2 reply, a flat array of names and values (server,
 * version, proto, id, mode, role, modules), into LINK->server. */
static void
hs_hello_read(struct rlink *link, const redisReply *reply)
{
    struct rlink_server *sv = &link->server;
    const redisReply    *k, *v;
    size_t               i, j;

    sv->hello = true;
    for (i = 0; i + 1 < reply->elements; i += 2) {
        k = reply->element[i];
        v = reply->element[i + 1];
        if (hs_is(k, "version") && v->type == REDIS_REPLY_STRING) {
            snprintf(sv->version, sizeof(sv->version), "%.*s", (int)v->len,
                     v->str);
        } else if (hs_is(k, "id") && v->type == REDIS_REPLY_INTEGER) {
            sv->id = v->integer;
        } else if (hs_is(k, "mode")) {
            for (j = 0; j < sizeof(hs_modes) / sizeof(hs_modes[0]); j++) {
                if (hs_is(v, hs_modes[j].name)) {
                    sv->mode = hs_modes[j].mode;
                }
            }
        } else if (hs_is(k, "role")) {
            for (j = 0; j < sizeof(hs_roles) / sizeof(hs_roles[0]); j++) {
                if (hs_is(v, hs_roles[j].name)) {
                    sv->role = hs_roles[j].role;
                }
            }
        }
    }
}

/* Whether the error REPLY to HELLO says Redis does not know it:
 * "ERR unknown command 'HELLO'..." (Redis 7 renamed), "... `HELLO`..."
 * (Redis 5). */
static bool
hs_hello_unknown(const redisReply *reply)
{
    static const char unknown[] = "ERR unknown command";

    return reply->len >= sizeof(unknown) - 1 &&
           strncasecmp(reply->str, unknown, sizeof(unknown) - 1) == 0;
}

/* Queues one handshake command of STEP in the current round. */
static int
hs_send(struct rlink *link, enum hs_step step, int argc, const char **argv)
{
    int rc;

    rc = rlink_int_push(link, on_handshake_reply, HS_ARG(link->round, step),
                        link->conf.connect_timeout_ms, 0);
    rc |= rlink_int_send(link, argc, argv, NULL);
    link->handshake++;
    return rc;
}

/* SELECT, when a database other than 0 is asked for. */
static int
hs_select(struct rlink *link)
{
    const char *argv[2] = { "SELECT", NULL };
    char        db[16];

    if (link->conf.db == 0) {
        return 0;
    }
    snprintf(db, sizeof(db), "%d", link->conf.db);
    argv[1] = db;
    return hs_send(link, HS_SELECT, 2, argv);
}

/* Round 1: HELLO 2 [AUTH user password] SETNAME heavyset-proxy, SELECT.
 * RESP2 still: the reader and the subscriber's pushes stay as they are. */
static int
hs_hello(struct rlink *link)
{
    const struct rlink_conf *c = &link->conf;
    const char              *argv[7];
    int                      argc = 0;

    argv[argc++] = "HELLO";
    argv[argc++] = "2";
    if (c->password != NULL) {
        argv[argc++] = "AUTH";
        /* A password alone is the default user's (requirepass). */
        argv[argc++] = c->user != NULL ? c->user : "default";
        argv[argc++] = c->password;
    }
    argv[argc++] = "SETNAME";
    argv[argc++] = HS_CLIENT_NAME;
    return hs_send(link, HS_HELLO, argc, argv) | hs_select(link);
}

/* Round 2, for a Redis without HELLO: AUTH, SELECT, or else PING. */
static int
hs_legacy(struct rlink *link)
{
    const struct rlink_conf *c = &link->conf;
    const char              *argv[3];
    int                      argc = 0;
    int                      rc = 0;

    if (c->password != NULL) {
        argv[argc++] = "AUTH";
        if (c->user != NULL) {
            argv[argc++] = c->user;
        }
        argv[argc++] = c->password;
        rc |= hs_send(link, HS_AUTH, argc, argv);
    }
    rc |= hs_select(link);
    if (link->handshake == 0) {
        /* Nothing to say: a PING shows that Redis answers, and a NOAUTH
         * that it wants a password we do not have. */
        argv[0] = "PING";
        rc |= hs_send(link, HS_PING, 1, argv);
    }
    return rc;
}

/* A handshake reply: an error keeps the link down; the last OK brings
 * it up. */
static void
on_handshake_reply(struct rlink *link, struct redisReply *reply, void *arg)
{
    unsigned     round = (unsigned)((uintptr_t)arg >> 4);
    enum hs_step step = (enum hs_step)((uintptr_t)arg & 0xf);

    if (reply == NULL || round != link->round) {
        return;                     /* going down, or round 1 replaced */
    }
    if (reply->type == REDIS_REPLY_ERROR && step == HS_HELLO &&
        hs_hello_unknown(reply)) {
        link->round++;
        link->handshake = 0;
        if (hs_legacy(link) != 0) {
            rlink_int_down(link, RLINK_REASON_CONNECT, RERR_OTHER,
                           "out of memory");
        }
        return;
    }
    if (reply->type == REDIS_REPLY_ERROR) {
        snprintf(link->detail, sizeof(link->detail), "%s: %.*s",
                 hs_names[step], (int)reply->len, reply->str);
        rlink_int_down(link, step == HS_SELECT ? RLINK_REASON_SELECT
                                               : RLINK_REASON_AUTH,
                       rerr_classify(reply->str, reply->len), link->detail);
        return;
    }
    if (reply->type != (step == HS_HELLO ? REDIS_REPLY_ARRAY
                                         : REDIS_REPLY_STATUS)) {
        rlink_int_down(link, RLINK_REASON_PROTOCOL, RERR_OTHER,
                       "handshake: a reply of the wrong type");
        return;
    }
    if (step == HS_HELLO) {
        hs_hello_read(link, reply);
    }
    if (--link->handshake == 0) {
        rlink_int_up(link);
    }
}

/* The connection is open (TLS verified): HELLO and SELECT, in one write. */
static void
link_handshake(struct rlink *link)
{
    event_del(link->tick);
    link->state = ST_HANDSHAKE;
    link->round = 1;
    link->handshake = 0;
    memset(&link->server, 0, sizeof(link->server));
    if (hs_hello(link) != 0) {
        rlink_int_down(link, RLINK_REASON_CONNECT, RERR_OTHER, "out of memory");
    }
}

/* ---- replies ------------------------------------------------------------- */

/* A subscriber's push replies: messages first, then the confirmations
 * of (un)subscribing. */
static const char *const push_kinds[] = {
    "message", "pmessage", "subscribe", "unsubscribe", "psubscribe",
    "punsubscribe",
};
#define PUSH_MESSAGES 2             /* push_kinds[0..1] are messages */

/* Which of push_kinds REPLY is, or -1 when it is no push reply. */
static int
push_kind(const redisReply *reply)
{
    const redisReply *k;
    size_t            i;

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 1) {
        return -1;
    }
    k = reply->element[0];
    if (k->type != REDIS_REPLY_STRING) {
        return -1;
    }
    for (i = 0; i < sizeof(push_kinds) / sizeof(push_kinds[0]); i++) {
        if (k->len == strlen(push_kinds[i]) &&
            memcmp(k->str, push_kinds[i], k->len) == 0) {
            return (int)i;
        }
    }
    return -1;
}

/* Takes P, the head, off LINK's pending list. */
static void
pop_head(struct rlink *link, struct pending *p)
{
    link->head = p->next;
    if (link->head == NULL) {
        link->tail = &link->head;
    }
    link->n.replies++;
}

/*
 * A subscriber's push reply KIND: to the message callback; a
 * confirmation also answers the (UN)SUBSCRIBE at the head, whose
 * callback gets the last one, after the message callback.
 */
static void
deliver_push(struct rlink *link, redisReply *reply, int kind)
{
    struct pending *p = link->head;

    if (kind < PUSH_MESSAGES || p == NULL || p->confirms == 0 ||
        --p->confirms > 0) {
        p = NULL;
    } else {
        pop_head(link, p);
    }
    link->n.messages++;
    link->msg_cb(link, reply, link->arg);
    if (p != NULL) {
        if (p->cb != NULL) {
            p->cb(link, reply, p->arg);
        }
        free(p);
    }
}

/* Hands REPLY to its owner and frees it. */
static void
deliver(struct rlink *link, redisReply *reply)
{
    struct pending *p = link->head;
    int             kind;

    /* Redis answered: a server that accepts but never answers is not
     * retried at the minimum delay. */
    link->backoff_ms = link->conf.backoff_min_ms;
    if (link->conf.subscriber && (kind = push_kind(reply)) >= 0) {
        deliver_push(link, reply, kind);
    } else if (p == NULL) {
        rlink_int_down(link, RLINK_REASON_PROTOCOL, RERR_OTHER,
                  "a reply no command asked for");
    } else {
        /* An error reply in place of a confirmation lands here too. */
        pop_head(link, p);
        if (p->cb != NULL) {
            p->cb(link, reply, p->arg);
        }
        free(p);
    }
    freeReplyObject(reply);
}

static void
on_bev_read(struct bufferevent *bev, void *arg)
{
    struct rlink        *link = arg;
    struct evbuffer     *in = bufferevent_get_input(bev);
    struct evbuffer_iovec v[8];
    unsigned             gen = link->gen;
    void                *reply;
    size_t               fed;
    int                  i;
    int                  n;

    while (evbuffer_get_length(in) > 0) {
        n = evbuffer_peek(in, -1, NULL, v, 8);
        fed = 0;
        for (i = 0; i < n && i < 8; i++) {
            redisReaderFeed(link->reader, v[i].iov_base, v[i].iov_len);
            fed += v[i].iov_len;
        }
        evbuffer_drain(in, fed);
    }
    rlink_int_enter(link);
    while (!link->freeing && link->gen == gen) {
        if (redisReaderGetReply(link->reader, &reply) != REDIS_OK) {
            snprintf(link->detail, sizeof(link->detail), "RESP: %s",
                     link->reader->errstr);
            rlink_int_down(link, RLINK_REASON_PROTOCOL, RERR_OTHER,
                           link->detail);
            break;
        }
        if (reply == NULL) {
            break;
        }
        deliver(link, reply);
    }
    rlink_int_leave(link);
}

void
rlink_int_poll(struct rlink *link)
{
    struct evbuffer *in;
    char             buf[4096];
    SSL             *ssl;
    int              n;

    if (link->state != ST_UP || link->freeing || link->bev == NULL) {
        return;
    }
    in = bufferevent_get_input(link->bev);
    if (link->conf.transport == RLINK_TLS) {
        /* The socket holds ciphertext: what SSL_read decrypts here the
         * bufferevent would have read next; it finds nothing and waits. */
        ssl = bufferevent_openssl_get_ssl(link->bev);
        for (;;) {
            n = SSL_read(ssl, buf, (int)sizeof(buf));
            if (n <= 0) {
                if (SSL_get_error(ssl, n) == SSL_ERROR_WANT_READ) {
                    ERR_clear_error();
                }
                break;
            }
            if (evbuffer_add(in, buf, (size_t)n) != 0) {
                break;
            }
        }
    } else {
        while (evbuffer_read(in, bufferevent_getfd(link->bev), -1) > 0) {
            continue;
        }
    }
    if (evbuffer_get_length(in) > 0) {
        on_bev_read(link->bev, link);
    }
}

/* Whether LINK's socket ever reached its peer (the TCP connect done). */
static bool
tcp_connected(const struct rlink *link)
{
    struct sockaddr_storage peer;
    socklen_t               len = sizeof(peer);

    return getpeername(bufferevent_getfd(link->bev),
                       (struct sockaddr *)&peer, &len) == 0 ||
           errno != ENOTCONN;
}

/* What went wrong on BEV, in words, for the event's detail. */
static enum rlink_reason
bev_failure(struct rlink *link, short what)
{
    unsigned long ssl_err = 0;
    int           dns_err = bufferevent_socket_get_dns_error(link->bev);
    int           sock_err = EVUTIL_SOCKET_ERROR();

    if (link->conf.transport == RLINK_TLS) {
        ssl_err = bufferevent_get_openssl_error(link->bev);
        while (bufferevent_get_openssl_error(link->bev) != 0) {
            continue;
        }
    }
    if (dns_err != 0) {
        snprintf(link->detail, sizeof(link->detail), "resolve %s: %s",
                 link->conf.host, evutil_gai_strerror(dns_err));
        return RLINK_REASON_CONNECT;
    }
    /* bufferevent_openssl reports a refused TCP connect as the
     * handshake's EOF (dirty shutdowns are allowed): no TLS was spoken,
     * so it is a connect failure, as over plain TCP, not a TLS one. */
    if (link->conf.transport == RLINK_TLS && link->state == ST_CONNECTING &&
        !tcp_connected(link)) {
        snprintf(link->detail, sizeof(link->detail), "%s",
                 sock_err != 0 ? evutil_socket_error_to_string(sock_err)
                               : "no TCP connection");
        return RLINK_REASON_CONNECT;
    }
    /* TLS 1.3 ends our handshake before Redis checks our certificate:
     * one it wants and lacks gets an alert and a close at our first
     * command, read in either order. Both are a TLS refusal. */
    if (link->conf.transport == RLINK_TLS && link->state == ST_HANDSHAKE &&
        ssl_err == 0) {
        snprintf(link->detail, sizeof(link->detail), "closed before the "
                 "first reply (no client certificate it takes? see "
                 "redis_cert_file)");
        return RLINK_REASON_TLS;
    }
    if (link->conf.transport == RLINK_TLS &&
        (ssl_err != 0 || link->state == ST_CONNECTING) &&
        ((what & BEV_EVENT_EOF) == 0 || link->state == ST_HANDSHAKE) &&
        sock_err != ECONNREFUSED) {
        rlink_tls_error(bufferevent_openssl_get_ssl(link->bev), ssl_err,
                        link->detail, sizeof(link->detail));
        return RLINK_REASON_TLS;
    }
    if (what & BEV_EVENT_EOF) {
        snprintf(link->detail, sizeof(link->detail), "%s",
                 link->state == ST_CONNECTING
                     ? "connection closed during the TLS handshake"
                     : "connection closed by the server");
        return link->state == ST_CONNECTING ? RLINK_REASON_TLS
                                            : RLINK_REASON_CLOSED;
    }
    snprintf(link->detail, sizeof(link->detail), "%s",
             evutil_socket_error_to_string(sock_err));
    return link->state == ST_CONNECTING ? RLINK_REASON_CONNECT
                                        : RLINK_REASON_CLOSED;
}

static void
on_bev_event(struct bufferevent *bev, short what, void *arg)
{
    struct rlink *link = arg;

    rlink_int_enter(link);
    if (what & BEV_EVENT_CONNECTED) {
        link_handshake(link);
    } else if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
        rlink_int_down(link, bev_failure(link, what), RERR_OTHER, link->detail);
    }
    rlink_int_leave(link);
}

/* Counts the writes that sent bytes: what one turn queued leaves in one. */
static void
on_output(struct evbuffer *buf, const struct evbuffer_cb_info *info,
          void *arg)
{
    struct rlink *link = arg;

    if (info->n_deleted > 0) {
        link->n.writes++;
    }
}
