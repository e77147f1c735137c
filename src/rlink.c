/*
 * rlink.c - a Redis connection on a libevent bufferevent with hiredis as
 * the RESP codec only: a state machine IDLE -> CONNECTING -> HANDSHAKE
 * (HELLO or AUTH, SELECT, each reply checked) -> UP, and back to IDLE
 * with a retry timer on any failure.
 *
 * Commands are kept in a FIFO of pending entries; Redis answers in
 * order, so each reply pops the head (push replies of a subscriber
 * excepted, but for the last confirmation of an (UN)SUBSCRIBE). Every command has the same timeout, so the head always has
 * the earliest deadline and one timer ("tick") suffices: armed for the
 * head, checked lazily when it fires. The same timer bounds a connect.
 *
 * Re-entrancy: any callback may call rlink_command, rlink_drop or
 * rlink_free. Entry points that run callbacks hold LINK->busy; a free
 * while busy only marks the link and the memory goes when the outermost
 * entry point returns (link_leave). A drop bumps LINK->gen, which stops
 * a reply loop that was reading the old connection.
 *
 * Owns: its copies of the conf strings, its SSL_CTX, the bufferevent
 * (which owns the socket and the SSL: BEV_OPT_CLOSE_ON_FREE), the
 * redisReader, the pending entries and both timers. rlink_free releases
 * all of them; link_close releases the per-connection ones.
 */
#include "config.h"

#include "rlink.h"
#include "rlink_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/util.h>
#include <hiredis/hiredis.h>

#include "backoff.h"
#include "rlink_tls.h"

static void on_tick(evutil_socket_t fd, short what, void *arg);
static void on_retry(evutil_socket_t fd, short what, void *arg);

static const char *const reason_names[] = {
    [RLINK_REASON_NONE] = "none",
    [RLINK_REASON_CONNECT] = "connect",
    [RLINK_REASON_TLS] = "tls",
    [RLINK_REASON_AUTH] = "auth",
    [RLINK_REASON_SELECT] = "select",
    [RLINK_REASON_TIMEOUT] = "timeout",
    [RLINK_REASON_CLOSED] = "closed",
    [RLINK_REASON_PROTOCOL] = "protocol",
    [RLINK_REASON_DROPPED] = "dropped",
};

/* Copies S into LINK's strings; *OUT is NULL for NULL or "". */
static int
keep(struct rlink *link, int i, const char *s, const char **out)
{
    *out = NULL;
    if (s == NULL || s[0] == '\0') {
        return 0;
    }
    link->strings[i] = strdup(s);
    *out = link->strings[i];
    return link->strings[i] != NULL ? 0 : -1;
}

struct rlink *
rlink_new(struct event_base *base, struct evdns_base *dns,
          const struct rlink_conf *conf, rlink_event_cb cb,
          rlink_message_cb msg_cb, void *arg, char *err, size_t errlen)
{
    struct rlink      *link;
    struct rlink_conf *c;

    if (conf->transport == RLINK_UNIX ? conf->path == NULL
                                      : conf->host == NULL ||
                                            conf->port == 0 || dns == NULL) {
        snprintf(err, errlen, "%s", conf->transport == RLINK_UNIX
                                        ? "a unix link needs a path"
                                        : "a TCP link needs host, port "
                                          "and a DNS base");
        return NULL;
    }
    if (conf->subscriber && msg_cb == NULL) {
        snprintf(err, errlen, "a subscriber link needs a message callback");
        return NULL;
    }
    link = calloc(1, sizeof(*link));
    if (link == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    link->base = base;
    link->dns = dns;
    link->conf = *conf;
    link->cb = cb;
    link->msg_cb = msg_cb;
    link->arg = arg;
    link->tail = &link->head;
    link->busy = 1;                 /* a failure below frees through leave */
    c = &link->conf;
    if (c->connect_timeout_ms == 0) {
        c->connect_timeout_ms = RLINK_CONNECT_TIMEOUT_MS;
    }
    if (c->backoff_min_ms == 0) {
        c->backoff_min_ms = RLINK_BACKOFF_MIN_MS;
    }
    if (c->backoff_max_ms < c->backoff_min_ms) {
        c->backoff_max_ms = c->backoff_min_ms > RLINK_BACKOFF_MAX_MS
                                ? c->backoff_min_ms
                                : RLINK_BACKOFF_MAX_MS;
    }
    link->backoff_ms = c->backoff_min_ms;
    link->tick = evtimer_new(base, on_tick, link);
    link->retry = evtimer_new(base, on_retry, link);
    if (link->tick == NULL || link->retry == NULL ||
        keep(link, 0, conf->host, &c->host) != 0 ||
        keep(link, 1, conf->path, &c->path) != 0 ||
        keep(link, 2, conf->user, &c->user) != 0 ||
        keep(link, 3, conf->password, &c->password) != 0 ||
        keep(link, 4, conf->ca_file, &c->ca_file) != 0 ||
        keep(link, 5, conf->cert_file, &c->cert_file) != 0 ||
        keep(link, 6, conf->key_file, &c->key_file) != 0 ||
        keep(link, 7, conf->tls_name != NULL ? conf->tls_name : conf->host,
             &c->tls_name) != 0) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    if (c->transport == RLINK_TLS) {
        link->ssl_ctx = rlink_tls_ctx_new(c->ca_file, c->cert_file,
                                          c->key_file, err, errlen);
        if (link->ssl_ctx == NULL) {
            goto fail;
        }
    }
    link->busy = 0;
    if (c->autostart) {
        rlink_start(link);
    }
    return link;

fail:
    link->freeing = true;
    rlink_int_leave(link);
    return NULL;
}

void
rlink_poll(struct rlink *link)
{
    rlink_int_poll(link);
}

void
rlink_start(struct rlink *link)
{
    /* On the loop, like every retry: no event runs inside this call, nor
     * inside rlink_new, before the owner holds the link. */
    if (link->state == ST_IDLE && !link->freeing) {
        rlink_int_add_ms(link->retry, 0);
    }
}

bool
rlink_up(const struct rlink *link)
{
    return link->state == ST_UP && !link->freeing;
}

void
rlink_server(const struct rlink *link, struct rlink_server *out)
{
    if (rlink_up(link)) {
        *out = link->server;
    } else {
        memset(out, 0, sizeof(*out));
    }
}

/*
 * How many confirmations a subscriber's command ARGV gets instead of a
 * reply: one per channel of (P)(UN)SUBSCRIBE, which must name them; 0
 * for any other command.
 */
static unsigned
confirms(int argc, const char **argv, const size_t *lens)
{
    static const char *const subs[] = { "SUBSCRIBE", "PSUBSCRIBE",
                                        "UNSUBSCRIBE", "PUNSUBSCRIBE" };
    size_t                   len = lens != NULL ? lens[0] : strlen(argv[0]);
    size_t                   i;

    for (i = 0; i < sizeof(subs) / sizeof(subs[0]); i++) {
        if (len == strlen(subs[i]) && strncasecmp(argv[0], subs[i], len) == 0) {
            return argc > 1 ? (unsigned)(argc - 1) : 1;
        }
    }
    return 0;
}

int
rlink_command(struct rlink *link, int argc, const char **argv,
              const size_t *lens, rlink_reply_cb cb, void *arg)
{
    if (!rlink_up(link) || argc <= 0) {
        return -1;
    }
    if (rlink_int_push(link, cb, arg, link->conf.timeout_ms,
                       link->conf.subscriber ? confirms(argc, argv, lens)
                                             : 0) != 0) {
        return -1;
    }
    if (rlink_int_send(link, argc, argv, lens) != 0) {
        /* Out of memory with the command maybe half-written: the
         * connection is unusable. The pending entry gets NULL. */
        rlink_int_enter(link);
        rlink_int_down(link, RLINK_REASON_PROTOCOL, RERR_OTHER,
                  "cannot queue a command");
        rlink_int_leave(link);
        return 0;
    }
    link->n.commands++;
    return 0;
}

void
rlink_drop(struct rlink *link)
{
    if (link->state == ST_IDLE || link->freeing) {
        return;
    }
    rlink_int_enter(link);
    rlink_int_down(link, RLINK_REASON_DROPPED, RERR_OTHER,
                   "dropped by its owner");
    rlink_int_leave(link);
}

int
rlink_retarget(struct rlink *link, const char *host, uint16_t port)
{
    char *h, *name;

    if (link->conf.transport == RLINK_UNIX || link->freeing) {
        return -1;
    }
    h = strdup(host);
    name = strdup(host);
    if (h == NULL || name == NULL) {
        free(h);
        free(name);
        return -1;
    }
    rlink_int_enter(link);
    if (link->state != ST_IDLE) {
        rlink_int_down(link, RLINK_REASON_DROPPED, RERR_OTHER,
                       "the master moved");
    }
    /* The strings of conf are the copies in strings[]: host, tls_name. */
    free(link->strings[0]);
    free(link->strings[7]);
    link->strings[0] = h;
    link->strings[7] = name;
    link->conf.host = h;
    link->conf.tls_name = name;
    link->conf.port = port;
    link->backoff_ms = link->conf.backoff_min_ms;
    if (!link->freeing && link->state == ST_IDLE) {
        event_del(link->retry);
        rlink_int_add_ms(link->retry, 0);
    }
    rlink_int_leave(link);
    return 0;
}

void
rlink_hold(struct rlink *link)
{
    if (link->state == ST_IDLE) {
        event_del(link->retry);
    }
}

void
rlink_counters(const struct rlink *link, struct rlink_counters *out)
{
    *out = link->n;
}

const char *
rlink_reason_name(enum rlink_reason reason)
{
    return reason_names[reason];
}

void
rlink_free(struct rlink *link)
{
    if (link == NULL || link->freeing) {
        return;
    }
    rlink_int_enter(link);
    link->freeing = true;
    event_del(link->retry);
    rlink_int_close(link);
    rlink_int_fail_pending(link);
    rlink_int_leave(link);
}

/* ---- timers ------------------------------------------------------------- */

/* A connect that took too long, or the oldest command past its deadline. */
static void
on_tick(evutil_socket_t fd, short what, void *arg)
{
    struct rlink *link = arg;
    uint64_t      now = rlink_int_now_ms();

    rlink_int_enter(link);
    if (link->state == ST_CONNECTING) {
        rlink_int_down(link, RLINK_REASON_TIMEOUT, RERR_OTHER,
                  "connect timed out");
    } else if (link->head != NULL && link->head->deadline_ms <= now) {
        link->n.timeouts++;
        rlink_int_down(link, RLINK_REASON_TIMEOUT, RERR_OTHER,
                  link->state == ST_UP ? "a command passed its deadline"
                                       : "the handshake timed out");
    } else if (link->head != NULL &&
               link->head->deadline_ms != RLINK_NO_DEADLINE) {
        rlink_int_add_ms(link->tick, link->head->deadline_ms - now);
    }
    rlink_int_leave(link);
}

static void
on_retry(evutil_socket_t fd, short what, void *arg)
{
    struct rlink *link = arg;

    if (link->state != ST_IDLE || link->freeing) {
        return;
    }
    rlink_int_enter(link);
    rlink_int_open(link);
    rlink_int_leave(link);
}
