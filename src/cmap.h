/*
 * cmap.h - a Redis Cluster's slot map as Redis tells it (SPEC §12), and
 * its redirections: the parsers of a `CLUSTER SLOTS` reply and of a
 * `MOVED`/`ASK` error. Pure: they read replies hiredis has already
 * decoded, and do no I/O.
 */
#ifndef HSP_CMAP_H
#define HSP_CMAP_H

#include <stddef.h>
#include <stdint.h>

#include "slot.h"
#include "url.h"

#define CMAP_NODES_MAX 64           /* masters a map may name */

struct redisReply;

/* A master: where to connect to it. */
struct cmap_node {
    char     host[URL_HOST_MAX];    /* address or name, no brackets */
    uint16_t port;
};

/* Who serves each slot. */
struct cmap {
    int              nnodes;        /* 0..CMAP_NODES_MAX */
    struct cmap_node nodes[CMAP_NODES_MAX];
    int16_t          owner[SLOT_COUNT];  /* index into nodes; -1: none
                                          * (not covered, or a master
                                          * whose address is unknown) */
};

/*
 * Reads the reply R of `CLUSTER SLOTS` into OUT: each range's master
 * (its first address entry) serves the range. A master announced with
 * an empty address ("") is the node that was asked, ASKED_HOST; one
 * announced as "?" (address unknown) serves nothing. Masters are listed
 * once each (one host and port in several ranges is one node), in the
 * order first met; replicas are not read. Returns 0, or -1 with a short
 * reason in ERR (ERRLEN bytes, may be NULL) when R is not such a reply
 * (a range outside 0..16383 or reversed, a slot in two ranges, a port
 * outside 1..65535, a host of URL_HOST_MAX bytes or more or with a
 * space or control byte, an empty host when ASKED_HOST is NULL or "")
 * or names more than CMAP_NODES_MAX masters; OUT is then unspecified.
 */
int cmap_parse_slots(const struct redisReply *r, const char *asked_host,
                     struct cmap *out, char *err, size_t errlen);

/* What a redirection error says. */
enum cmap_redirect {
    CMAP_NOT_REDIRECT = 0,          /* some other error */
    CMAP_MOVED,                     /* the slot lives there now: follow
                                     * and refresh the map */
    CMAP_ASK                        /* only this call goes there, after
                                     * ASKING (a slot being migrated) */
};

/*
 * Reads the error reply text S (LEN bytes, without the leading '-'),
 * "MOVED <slot> <host>:<port>" or "ASK <slot> <host>:<port>" (the host
 * may be an IPv6 address, split at the last ':', or empty for the node
 * that answered: then NODE->host is ""; "?", an unknown endpoint, is
 * passed on as is). The slot must be 0..16383, the port 1..65535, with
 * nothing after it. Fills *SLOT and NODE and returns the kind, or
 * CMAP_NOT_REDIRECT (leaving them unspecified) for anything else or a
 * malformed one.
 */
enum cmap_redirect cmap_parse_redirect(const char *s, size_t len,
                                       unsigned *slot,
                                       struct cmap_node *node);

#endif /* HSP_CMAP_H */
