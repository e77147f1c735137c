/*
 * store.h - the shared Redis, for one worker's event loop: one hiredis
 * async connection that reconnects by itself with backoff, Lua scripts
 * run by SHA (EVAL again after NOSCRIPT), and a deadline on every call,
 * since hiredis 0.14 has none (PITFALLS §4.3).
 *
 * The store never fails a request (SPEC §8): while Redis is away calls
 * are refused at once, and a slow Redis costs at most redis_timeout.
 */
#ifndef HSP_STORE_H
#define HSP_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store_notify.h"
#include "store_script.h"

struct event_base;
struct evdns_base;
struct redisReply;
struct store;
struct store_op;

/* struct store_script and store_script_init: store_script.h. */

/* store_cb, the callback of a call: store_notify.h. */

/* What a store needs beside its URL (NULL or "": none); copied. */
struct store_opts {
    const char *ca_file;            /* rediss://: extra CA, beside the
                                     * system store */
    const char *cert_file;          /* client certificate */
    const char *key_file;           /* its key */
    const char *sentinel_user;      /* redis-sentinel://: the sentinels'
                                     * ACL user */
    const char *sentinel_password;  /* and password (not the master's) */
};

/*
 * Creates a store for the Redis at URL (redis://, rediss://, unix://, or
 * redis-sentinel://, whose master it asks of the sentinels and follows
 * across failovers; already validated) and starts connecting. BASE is
 * borrowed; so is DNS, the worker's resolver, which must outlive the
 * store (NULL: the store makes one of its own for a TCP URL). TLS (may
 * be NULL) names the rediss:// files and the sentinels' credentials. Returns NULL after logging why (a CA, certificate or
 * key OpenSSL refuses).
 */
struct store *store_new(struct event_base *base, struct evdns_base *dns,
                        const char *url, const struct store_opts *tls,
                        int64_t timeout_ms);

/* Frees ST; calls still pending get their callback with NULL first. */
void store_free(struct store *st);

/* Sets the deadline of calls made from now on (a reload); calls pending
 * keep theirs. Only on ST's loop. */
void store_set_timeout(struct store *st, int64_t timeout_ms);

/* Whether the connection is up and the last call did not fail. */
bool store_available(const struct store *st);

/*
 * Runs SCRIPT with the NKEYS keys and then the other arguments of ARGV
 * (ARGC in all, binary-safe with LENS). Returns the call handle, valid
 * until CB runs or store_cancel, or NULL when Redis is unavailable now
 * (CB will not run: the caller goes on without the cache).
 */
struct store_op *store_eval(struct store *st, struct store_script *script,
                            int nkeys, int argc, const char *const *argv,
                            const size_t *lens, store_cb cb, void *arg);

/* A callback for calls whose answer nobody waits for (fire and forget:
 * their deadline and failures still count for the store's health). */
void store_ignore(struct redisReply *reply, void *arg);

/* Abandons OP: its callback will not run. */
void store_cancel(struct store_op *op);

/*
 * Subscribes ST to CHANNEL (copied) on a connection of its own, kept up
 * and resubscribed like the first. CB (store_notify.h says when it runs)
 * and ARG must outlive ST. At most 4 channels. Returns 0, or -1 when out
 * of room or memory.
 */
int store_subscribe(struct store *st, const char *channel, store_msg_cb cb,
                    void *arg);

/*
 * Turns on Redis's tracking of the keys the call connection reads (CLIENT
 * TRACKING with REDIRECT to the subscriber connection), for a near cache.
 * CB (store_notify.h says when it runs) and ARG must outlive ST. Once per
 * store. Returns 0 or -1.
 */
int store_track(struct store *st, store_inval_cb cb, void *arg);

/* Whether invalidations flow now: entries read now will be invalidated. */
bool store_tracking(const struct store *st);

/*
 * Whether messages on the subscribed channels can arrive now: the
 * subscriber link is up. (Until a channel's subscription is confirmed its
 * callback has not had its NULL payload, which says "look again".)
 */
bool store_listening(const struct store *st);

/*
 * How far the clock of ST's Redis is ahead of our wall clock
 * (gettimeofday), in ms, into *OFFSET_MS: learned with TIME at each
 * connect and every 10 s from a reply that came back within 50 ms.
 * False (nothing written) until then.
 */
bool store_clock_offset(const struct store *st, int64_t *offset_ms);

/* The most shards a store may have (store_shards). */
#define STORE_SHARDS_MAX 80

/*
 * The shards of ST, for what must be kept on each Redis of a Cluster (the
 * marker that tells data lost, req/lost.h): 1 outside a Cluster; in one,
 * its nodes, whose indexes stay the same for ST's life.
 */
int store_shards(const struct store *st);

/*
 * A hash tag (without braces) whose slot shard I serves now, into TAG of
 * CAP bytes, so that a key "...{TAG}..." lands on that shard: "" outside
 * a Cluster (any key lands on its one Redis). False when shard I serves
 * no slot now.
 */
bool store_shard_tag(const struct store *st, int i, char *tag, size_t cap);

/*
 * Handles the invalidations already received and not yet read, now, so
 * that an answer from a near cache never lags one that has arrived.
 */
void store_poll(struct store *st);

#endif /* HSP_STORE_H */
