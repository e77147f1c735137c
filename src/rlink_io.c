/*
 * rlink_io.c - the connection half of rlink (rlink_int.h): opening the
 * bufferevent for TCP (names through evdns), a unix socket or TLS, the
 * AUTH/SELECT handshake with every reply checked, reading RESP with a
 * redisReader and handing replies out in order, and putting the
 * bufferevent's failures into words.
 */
#include "config.h"

#include "rlink_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

/* AUTH's, SELECT's or PING's replies: an error keeps the link down. */
static void
on_handshake_reply(struct rlink *link, struct redisReply *reply, void *arg)
{
    enum rlink_reason reason = (enum rlink_reason)(intptr_t)arg;

    if (reply == NULL) {
        return;                     /* going down already */
    }
    if (reply->type == REDIS_REPLY_ERROR) {
        snprintf(link->detail, sizeof(link->detail), "%s: %.*s",
                 reason == RLINK_REASON_SELECT ? "SELECT" : "AUTH",
                 (int)reply->len, reply->str);
        rlink_int_down(link, reason, rerr_classify(reply->str, reply->len),
                  link->detail);
        return;
    }
    if (reply->type != REDIS_REPLY_STATUS) {
        rlink_int_down(link, RLINK_REASON_PROTOCOL, RERR_OTHER,
                  "handshake: a reply that is not a status");
        return;
    }
    if (--link->handshake == 0) {
        rlink_int_up(link);
    }
}

/* The connection is open (TLS verified): AUTH, SELECT, or else PING. */
static void
link_handshake(struct rlink *link)
{
    const struct rlink_conf *c = &link->conf;
    const char              *argv[3];
    char                     db[16];
    int                      argc = 0;
    int                      rc = 0;

    event_del(link->tick);
    link->state = ST_HANDSHAKE;
    if (c->password != NULL) {
        argv[argc++] = "AUTH";
        if (c->user != NULL) {
            argv[argc++] = c->user;
        }
        argv[argc++] = c->password;
        rc |= rlink_int_push(link, on_handshake_reply,
                           (void *)(intptr_t)RLINK_REASON_AUTH,
                           c->connect_timeout_ms);
        rc |= rlink_int_send(link, argc, argv, NULL);
        link->handshake++;
    }
    if (c->db != 0) {
        snprintf(db, sizeof(db), "%d", c->db);
        argv[0] = "SELECT";
        argv[1] = db;
        rc |= rlink_int_push(link, on_handshake_reply,
                           (void *)(intptr_t)RLINK_REASON_SELECT,
                           c->connect_timeout_ms);
        rc |= rlink_int_send(link, 2, argv, NULL);
        link->handshake++;
    }
    if (link->handshake == 0) {
        /* Nothing to say: a PING shows that Redis answers, and a NOAUTH
         * that it wants a password we do not have. */
        argv[0] = "PING";
        rc |= rlink_int_push(link, on_handshake_reply,
                             (void *)(intptr_t)RLINK_REASON_AUTH,
                             c->connect_timeout_ms);
        rc |= rlink_int_send(link, 1, argv, NULL);
        link->handshake++;
    }
    if (rc != 0) {
        rlink_int_down(link, RLINK_REASON_CONNECT, RERR_OTHER, "out of memory");
    }
}

/* ---- replies ------------------------------------------------------------- */

/* Whether REPLY is a subscriber's push reply. */
static bool
is_push(const redisReply *reply)
{
    static const char *const kinds[] = {
        "message", "pmessage", "subscribe", "unsubscribe", "psubscribe",
        "punsubscribe",
    };
    const redisReply *k;
    size_t            i;

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 1) {
        return false;
    }
    k = reply->element[0];
    if (k->type != REDIS_REPLY_STRING) {
        return false;
    }
    for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        if (k->len == strlen(kinds[i]) &&
            memcmp(k->str, kinds[i], k->len) == 0) {
            return true;
        }
    }
    return false;
}

/* Hands REPLY to its owner and frees it. */
static void
deliver(struct rlink *link, redisReply *reply)
{
    struct pending *p = link->head;

    /* Redis answered: a server that accepts but never answers is not
     * retried at the minimum delay. */
    link->backoff_ms = link->conf.backoff_min_ms;
    if (link->conf.subscriber && is_push(reply)) {
        link->n.messages++;
        link->msg_cb(link, reply, link->arg);
    } else if (p == NULL) {
        rlink_int_down(link, RLINK_REASON_PROTOCOL, RERR_OTHER,
                  "a reply no command asked for");
    } else {
        link->head = p->next;
        if (link->head == NULL) {
            link->tail = &link->head;
        }
        link->n.replies++;
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
    if (link->conf.transport == RLINK_TLS &&
        (ssl_err != 0 || link->state == ST_CONNECTING) &&
        (what & BEV_EVENT_EOF) == 0 && sock_err != ECONNREFUSED) {
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
