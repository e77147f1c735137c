/*
 * store_sub.h - private to the store (store*.c): the subscriber side of
 * a store. A connection of its own (a subscribed connection can run
 * nothing else) kept subscribed to the store's channels, and, for the
 * near cache, Redis's tracking of the keys the call connection reads.
 * The public face of all this is store.h (store_subscribe, store_track
 * and the rest), which store.c forwards here.
 */
#ifndef HSP_STORE_SUB_H
#define HSP_STORE_SUB_H

#include <stdbool.h>
#include <stdint.h>

#include "store_notify.h"

struct event_base;
struct evdns_base;
struct store_link;
struct store_link_conf;
struct store_sub;

/*
 * The subscriber of a store on BASE, for the Redis CONF names (its URL
 * borrowed, the rest copied), resolving names with DNS. CMD is the
 * store's call link, on which CLIENT TRACKING is turned on; BASE, DNS,
 * CONF->url and CMD are borrowed and must outlive it. It connects once a
 * channel is added. Returns NULL after logging why.
 */
struct store_sub *store_sub_new(struct event_base *base,
                                struct evdns_base *dns,
                                const struct store_link_conf *conf,
                                struct store_link *cmd);

/* Frees SUB and its connection; no callback runs. NULL-safe. */
void store_sub_free(struct store_sub *sub);

/* store_subscribe() and store_track() of store.h. */
int store_sub_add(struct store_sub *sub, const char *channel,
                  store_msg_cb cb, void *arg);
int store_sub_track(struct store_sub *sub, store_inval_cb cb, void *arg);

/* store_tracking() of store.h, but for the health of the calls, which
 * the store adds. */
bool store_sub_tracking(const struct store_sub *sub);

/* store_listening() and store_poll() of store.h. */
bool store_sub_listening(const struct store_sub *sub);
void store_sub_poll(struct store_sub *sub);

/* Sentinel: store_link_hold and store_link_retarget (store_link.h) of
 * the subscriber's link; it resubscribes once up. */
void store_sub_hold(struct store_sub *sub);
int store_sub_retarget(struct store_sub *sub, const char *host,
                       uint16_t port);

/* The call link came up: turn tracking on for it once both are ready. */
void store_sub_cmd_up(struct store_sub *sub);

/* A link went down (the call link, say): invalidations may have been
 * lost, so the tracker forgets everything and tracking is off until
 * turned on again. */
void store_sub_track_lost(struct store_sub *sub);

/*
 * Redis stopped answering calls (a missed deadline while healthy).
 * store_sub_forget: the tracker forgets everything if tracking was on
 * (it stays on). store_sub_lost: every channel's callback hears that
 * messages will be missed, so waiters look again (SPEC §8).
 */
void store_sub_forget(struct store_sub *sub);
void store_sub_lost(struct store_sub *sub);

#endif /* HSP_STORE_SUB_H */
