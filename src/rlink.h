/*
 * rlink.h - one Redis connection of the proxy's own, on a libevent
 * bufferevent (TCP, unix socket or TLS), with hiredis used only as the
 * RESP codec (redisFormatCommandArgv out, redisReader in). It resolves
 * host names with the worker's evdns_base, never blocking; it sends
 * `HELLO 2 [AUTH user password] SETNAME heavyset-proxy` and SELECT after
 * connecting, in one write, and checks their replies (a refused AUTH, or
 * NOAUTH, is a failure, never "up"); a Redis older than 6, which knows
 * no HELLO, gets AUTH and SELECT (PING when neither is due) instead, on
 * the same connection;
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
 * The store's links (store_link.c) are rlinks: the call link with no
 * deadline of rlink's own (the store times its calls, and drops the link
 * after STORE_TIMEOUTS_TO_DROP misses in a row), the subscriber link in
 * subscriber mode.
 */
#ifndef HSP_RLINK_H
#define HSP_RLINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rlink_types.h"

struct event_base;
struct evdns_base;

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

/* Whether LINK is up: connected, HELLO (or AUTH) and SELECT answered OK. */
bool rlink_up(const struct rlink *link);

/*
 * What LINK's server said of itself in its HELLO reply on the current
 * connection, into OUT (zeroed, OUT->hello false, while LINK is not up
 * or the server knows no HELLO).
 */
void rlink_server(const struct rlink *link, struct rlink_server *out);

/*
 * Sends the command of ARGC arguments (ARGV[i], LENS[i] bytes each;
 * LENS NULL: strlen) on LINK; the arguments are copied. CB (with ARG;
 * NULL: the reply is discarded) gets the reply, in the order the
 * commands were sent. In subscriber mode, (P)SUBSCRIBE and
 * (P)UNSUBSCRIBE must name their channels: each channel's confirmation
 * goes to the message callback, and CB gets the last one after it, or
 * the error reply Redis sent instead (NOPERM for a channel an ACL user
 * may not use: the link stays up), or NULL. Returns 0, or -1 when LINK
 * is not up or memory ran out: then CB is never called.
 */
int rlink_command(struct rlink *link, int argc, const char **argv,
                  const size_t *lens, rlink_reply_cb cb, void *arg);

/*
 * Reads what LINK's socket holds already, now, without waiting for the
 * loop to poll it, and hands the replies and push replies it completes
 * to their callbacks, inside this call. For an owner that must not act
 * on news older than what has arrived (a near cache and its
 * invalidations). Nothing happens unless LINK is up; an end of file or
 * an error is left for the loop to report.
 */
void rlink_poll(struct rlink *link);

/*
 * Drops LINK's connection now (a Redis that stopped answering, or one
 * the owner no longer trusts): pending callbacks get NULL and then
 * RLINK_LOST (RLINK_FAILED while it was connecting) with
 * RLINK_REASON_DROPPED, inside this call; a reconnect is scheduled with
 * backoff. Nothing happens if LINK is idle (a retry is set already).
 */
void rlink_drop(struct rlink *link);

/*
 * Points LINK at HOST:PORT (TCP or TLS links; HOST copied, and the name
 * TLS verifies and sends as SNI from now on) and connects there on the
 * loop's next turn, without backoff: a master that moved (Sentinel). A
 * connection up or under way is dropped first, as rlink_drop, with its
 * events inside this call. Returns 0, or -1 for a unix link or when out
 * of memory (LINK is then unchanged).
 */
int rlink_retarget(struct rlink *link, const char *host, uint16_t port);

/*
 * Cancels the reconnect LINK has scheduled, if it is idle: it stays down
 * until rlink_start or rlink_retarget (an owner that first asks where to
 * connect). Nothing happens while it is connecting or up.
 */
void rlink_hold(struct rlink *link);

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
