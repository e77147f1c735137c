/*
 * store_notify.h - what the subscriber side of a store (store_sub.h)
 * hands to the store's users, through store_subscribe and store_track of
 * store.h: the messages published on a channel, and the invalidations of
 * the keys a near cache read; and what store_eval hands back, the reply
 * of a call. Callback types only.
 */
#ifndef HSP_STORE_NOTIFY_H
#define HSP_STORE_NOTIFY_H

#include <stddef.h>

struct redisReply;

/*
 * Runs exactly once per call that was not cancelled, on the loop, never
 * inside store_eval. REPLY is NULL when Redis failed, timed out or the
 * script raised an error; it is freed after the callback returns.
 */
typedef void (*store_cb)(struct redisReply *reply, void *arg);

/*
 * Runs for each message published on a subscribed channel, on the loop:
 * PAYLOAD (LEN bytes, borrowed for the call). PAYLOAD NULL says messages
 * may have been or will be missed: the channel was (re)subscribed after a
 * connection, its connection was lost, or a call missed its deadline.
 */
typedef void (*store_msg_cb)(const char *payload, size_t len, void *arg);

/*
 * Runs for each key whose value may have changed since this store's call
 * connection read it (KEY, LEN bytes), and with KEY NULL when anything
 * may have: tracking restarted, a link went down, calls stopped answering.
 */
typedef void (*store_inval_cb)(const char *key, size_t len, void *arg);

#endif /* HSP_STORE_NOTIFY_H */
