/*
 * store_link.c - one Redis connection of the store on an rlink (rlink.h):
 * the store's URL and TLS files turned into an rlink_conf, and the
 * link's events logged, counted and told to /readyz the store's way
 * before its owner hears them. A handshake Redis refuses (HELLO's AUTH,
 * AUTH, SELECT, or a NOAUTH to HELLO or PING) is noted by kind (store_err.h) and counted in
 * ready.h until a handshake succeeds: a wrong password never looks
 * connected. The connection itself, the handshake, the deadlines, the
 * backoff (reset whenever Redis answers, so a Redis that accepts but
 * never answers is tried less and less often) are rlink's.
 *
 * Owns its rlink; store_link_stop releases it. Calls nothing of the
 * store: events go up through the owner's callback.
 */
#include "config.h"

#include "store_link.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "log.h"
#include "ready.h"
#include "rlink.h"
#include "stats.h"
#include "store_err.h"
#include "url.h"

static void on_link_event(struct rlink *rl, enum rlink_event ev,
                          enum rlink_reason reason, enum rerr_kind kind,
                          const char *detail, void *arg);
static void on_link_message(struct rlink *rl, struct redisReply *msg,
                            void *arg);

int
store_link_init(struct store_link *link, struct event_base *base,
                struct evdns_base *dns, const struct store_link_conf *conf,
                const char *name, store_link_cb cb, store_link_msg_cb msg_cb,
                void *arg)
{
    const struct url_redis *url = conf->url;
    struct rlink_conf       rc;
    char                    err[256];

    memset(link, 0, sizeof(*link));
    link->name = name;
    link->cb = cb;
    link->msg_cb = msg_cb;
    link->arg = arg;
    link->auth = url->password[0] != '\0';
    link->path = url->unix_socket ? url->path : NULL;
    memset(&rc, 0, sizeof(rc));
    if (url->unix_socket) {
        rc.transport = RLINK_UNIX;
        rc.path = url->path;
    } else if (url->sentinel) {
        /* The master is not known yet: a held link never connects, and
         * store_link_retarget names the master. The first seed is only
         * a placeholder an rlink needs. */
        rc.transport = url->tls ? RLINK_TLS : RLINK_TCP;
        rc.host = url->seeds[0].host;
        rc.port = url->seeds[0].port;
        link->held = true;
    } else {
        rc.transport = url->tls ? RLINK_TLS : RLINK_TCP;
        rc.host = url->host;
        rc.port = url->port;
    }
    rc.user = url->user;
    rc.password = url->password;
    rc.db = url->db;
    if (url->tls) {
        rc.ca_file = conf->ca_file;
        rc.cert_file = conf->cert_file;
        rc.key_file = conf->key_file;
    }
    rc.timeout_ms = conf->timeout_ms;
    rc.subscriber = conf->subscriber;
    link->rl = rlink_new(base, dns, &rc, on_link_event,
                         conf->subscriber ? on_link_message : NULL, link,
                         err, sizeof(err));
    if (link->rl == NULL) {
        log_err("store: %s: %s", name, err);
        return -1;
    }
    return 0;
}

void
store_link_connect(struct store_link *link)
{
    struct stat sb;

    if (link->rl != NULL && !link->held && !rlink_up(link->rl)) {
        /* A socket path with no socket fails at once, as a connect() to
         * it would: nothing to wait for. */
        link->connecting = link->path == NULL ||
                           (stat(link->path, &sb) == 0 && S_ISSOCK(sb.st_mode));
        rlink_start(link->rl);
    }
}

bool
store_link_up(const struct store_link *link)
{
    return link->rl != NULL && rlink_up(link->rl);
}

void
store_link_server(const struct store_link *link, struct rlink_server *out)
{
    if (link->rl != NULL) {
        rlink_server(link->rl, out);
    } else {
        memset(out, 0, sizeof(*out));
    }
}

int
store_link_command(struct store_link *link, int argc, const char **argv,
                   const size_t *lens, rlink_reply_cb cb, void *arg)
{
    if (link->rl == NULL) {
        return -1;
    }
    return rlink_command(link->rl, argc, argv, lens, cb, arg);
}

void
store_link_poll(struct store_link *link)
{
    if (link->rl != NULL) {
        rlink_poll(link->rl);
    }
}

void
store_link_hold(struct store_link *link)
{
    link->held = true;
    link->connecting = false;
    if (link->rl != NULL) {
        rlink_drop(link->rl);       /* STORE_LINK_LOST, if it was up */
        if (link->rl != NULL) {
            rlink_hold(link->rl);
        }
    }
}

int
store_link_retarget(struct store_link *link, const char *host,
                    uint16_t port)
{
    if (link->rl == NULL) {
        return -1;
    }
    link->held = false;
    link->connecting = true;        /* calls wait for it, as at start */
    if (rlink_retarget(link->rl, host, port) != 0) {
        link->connecting = false;
        return -1;
    }
    /* A drop inside told the owner, which cleared connecting. */
    link->connecting = link->rl != NULL;
    return 0;
}

void
store_link_drop(struct store_link *link)
{
    if (link->rl != NULL) {
        rlink_drop(link->rl);
    }
}

/* Notes whether LINK's last handshake was refused, for /readyz. */
static void
link_set_refused(struct store_link *link, bool refused)
{
    if (link->refused != refused) {
        link->refused = refused;
        ready_redis_refused(refused ? 1 : -1);
    }
}

void
store_link_stop(struct store_link *link)
{
    struct rlink *rl = link->rl;

    link->rl = NULL;
    link->connecting = false;
    rlink_free(rl);                 /* pending callbacks get NULL */
    link_set_refused(link, false);
}

/* ---- callbacks ----------------------------------------------------------- */

static void
on_link_event(struct rlink *rl, enum rlink_event ev, enum rlink_reason reason,
              enum rerr_kind kind, const char *detail, void *arg)
{
    struct store_link     *link = arg;
    enum store_link_event  sev;

    (void)rl;
    link->connecting = false;
    switch (ev) {
    case RLINK_UP:
        link_set_refused(link, false);
        log_info("store: connected to %s", link->name);
        sev = STORE_LINK_UP;
        break;
    case RLINK_FAILED:
        stats_add(STATS_REDIS_CONNECT_FAILED, 1);
        if (reason == RLINK_REASON_AUTH || reason == RLINK_REASON_SELECT) {
            /* Redis refused the handshake: a refused AUTH is auth
             * whatever it says; a PING's refusal (NOAUTH) by its kind. */
            store_err_note(reason == RLINK_REASON_AUTH && link->auth
                               ? RERR_AUTH
                               : kind,
                           reason == RLINK_REASON_SELECT ? "SELECT"
                           : link->auth                  ? "AUTH"
                                                         : "PING",
                           detail);
            link_set_refused(link, true);
        } else {
            log_warn("store: cannot connect to %s (%s): %s", link->name,
                     rlink_reason_name(reason), detail);
        }
        sev = STORE_LINK_FAILED;
        break;
    case RLINK_LOST:
    default:
        stats_add(STATS_REDIS_CONN_LOST, 1);
        log_warn("store: %s connection lost (%s): %s", link->name,
                 rlink_reason_name(reason), detail);
        sev = STORE_LINK_LOST;
        break;
    }
    link->cb(link, sev, link->arg);
}

static void
on_link_message(struct rlink *rl, struct redisReply *msg, void *arg)
{
    struct store_link *link = arg;

    (void)rl;
    if (link->msg_cb != NULL) {
        link->msg_cb(link, msg, link->arg);
    }
}
