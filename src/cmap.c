/* cmap.c - the parsers of a `CLUSTER SLOTS` reply and of MOVED/ASK
 * errors. */
#include "config.h"

#include "cmap.h"

#include <hiredis/hiredis.h>

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#define CMAP_PORT_MAX 65535
#define CMAP_UNKNOWN  "?"           /* Redis 7: cluster-preferred-endpoint-
                                     * type unknown-endpoint */

static int cmap_fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Writes the reason into ERR (which may be NULL) and returns -1. */
static int
cmap_fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (err != NULL && errlen > 0) {
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/*
 * Whether the LEN bytes at S may be a host to connect to: shorter than
 * URL_HOST_MAX, and no NUL, space, control byte or DEL (nothing a log
 * line or a C string would mangle). The shape of the name or address
 * itself is for getaddrinfo() to judge.
 */
static bool
cmap_host_ok(const char *s, size_t len)
{
    size_t i;

    if (len >= URL_HOST_MAX) {
        return false;
    }
    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];

        if (c <= ' ' || c == 0x7f) {
            return false;
        }
    }
    return true;
}

/*
 * Reads a master's address entry E, [host, port, id, (Redis 7:)
 * metadata...], into HOST and *PORT; an empty host is ASKED. Sets
 * *UNKNOWN for "?". Only host and port are read: the rest is not ours.
 */
static int
cmap_read_node(const redisReply *e, const char *asked, char *host,
               uint16_t *port, bool *unknown, char *err, size_t errlen)
{
    const redisReply *h, *p;
    const char       *s;
    size_t            len;

    if (e->type != REDIS_REPLY_ARRAY || e->elements < 2) {
        return cmap_fail(err, errlen, "a master is not [host, port, ...]");
    }
    h = e->element[0];
    p = e->element[1];
    if (h->type != REDIS_REPLY_STRING) {
        return cmap_fail(err, errlen, "a master's host is not a string");
    }
    if (p->type != REDIS_REPLY_INTEGER) {
        return cmap_fail(err, errlen, "a master's port is not an integer");
    }
    s = h->str;
    len = (size_t)h->len;
    *unknown = len == 1 && s[0] == CMAP_UNKNOWN[0];
    if (*unknown) {
        return 0;                   /* its port does not matter */
    }
    if (len == 0) {
        s = asked;
        len = strlen(asked);
        if (len == 0) {
            return cmap_fail(err, errlen, "a master has an empty host and "
                             "no node was named as asked");
        }
    }
    if (!cmap_host_ok(s, len)) {
        return cmap_fail(err, errlen, "a master's host is longer than %d "
                         "bytes or holds a space or control byte",
                         URL_HOST_MAX - 1);
    }
    if (p->integer < 1 || p->integer > CMAP_PORT_MAX) {
        return cmap_fail(err, errlen, "a master's port %lld is out of range "
                         "(1 to 65535)", p->integer);
    }
    memcpy(host, s, len);
    host[len] = '\0';
    *port = (uint16_t)p->integer;
    return 0;
}

/* The index of HOST:PORT in OUT's nodes, added at the end when new; -1
 * when the map is full. */
static int
cmap_node_index(struct cmap *out, const char *host, uint16_t port)
{
    int i;

    for (i = 0; i < out->nnodes; i++) {
        if (out->nodes[i].port == port &&
            strcmp(out->nodes[i].host, host) == 0) {
            return i;
        }
    }
    if (out->nnodes == CMAP_NODES_MAX) {
        return -1;
    }
    strcpy(out->nodes[i].host, host);
    out->nodes[i].port = port;
    out->nnodes++;
    return i;
}

/* Reads one range entry E, [start, end, master, replicas...], into OUT. */
static int
cmap_read_range(const redisReply *e, const char *asked, struct cmap *out,
                char *err, size_t errlen)
{
    char        host[URL_HOST_MAX];
    uint16_t    port = 0;
    bool        unknown = false;
    long long   start, end, slot;
    int         idx = -1;
    size_t      i;

    if (e->type != REDIS_REPLY_ARRAY || e->elements < 3 ||
        e->element[0]->type != REDIS_REPLY_INTEGER ||
        e->element[1]->type != REDIS_REPLY_INTEGER) {
        return cmap_fail(err, errlen, "a range is not [start, end, master, "
                         "...]");
    }
    start = e->element[0]->integer;
    end = e->element[1]->integer;
    if (start < 0 || end >= SLOT_COUNT || start > end) {
        return cmap_fail(err, errlen, "bad slot range %lld-%lld", start, end);
    }
    if (cmap_read_node(e->element[2], asked, host, &port, &unknown, err,
                       errlen) != 0) {
        return -1;
    }
    /* Replicas are not read (the proxy talks to masters only), but a
     * reply whose entries are not even arrays is not CLUSTER SLOTS. */
    for (i = 3; i < e->elements; i++) {
        if (e->element[i]->type != REDIS_REPLY_ARRAY) {
            return cmap_fail(err, errlen, "a replica is not an array");
        }
    }
    if (!unknown) {
        idx = cmap_node_index(out, host, port);
        if (idx < 0) {
            return cmap_fail(err, errlen, "more than %d masters",
                             CMAP_NODES_MAX);
        }
    }
    for (slot = start; slot <= end; slot++) {
        if (out->owner[slot] != -2) {
            return cmap_fail(err, errlen, "slot %lld is in two ranges", slot);
        }
        out->owner[slot] = (int16_t)idx;
    }
    return 0;
}

int
cmap_parse_slots(const struct redisReply *r, const char *asked_host,
                 struct cmap *out, char *err, size_t errlen)
{
    size_t i;
    int    slot;

    out->nnodes = 0;
    /* -2 marks a slot no range has named yet, to catch overlaps; what
     * stays -2 at the end is uncovered, -1. */
    for (slot = 0; slot < SLOT_COUNT; slot++) {
        out->owner[slot] = -2;
    }
    if (r == NULL || r->type != REDIS_REPLY_ARRAY) {
        return cmap_fail(err, errlen, "the reply is not an array");
    }
    if (asked_host == NULL) {
        asked_host = "";
    }
    for (i = 0; i < r->elements; i++) {
        if (cmap_read_range(r->element[i], asked_host, out, err,
                            errlen) != 0) {
            return -1;
        }
    }
    for (slot = 0; slot < SLOT_COUNT; slot++) {
        if (out->owner[slot] == -2) {
            out->owner[slot] = -1;
        }
    }
    return 0;
}

/* Reads 1 to 5 decimal digits at *P (before END) as a number into *V and
 * moves *P past them. */
static bool
cmap_number(const char **p, const char *end, long *v)
{
    const char *s = *p;

    *v = 0;
    while (*p < end && **p >= '0' && **p <= '9' && *p - s < 5) {
        *v = *v * 10 + (**p - '0');
        (*p)++;
    }
    return *p > s && (*p == end || **p < '0' || **p > '9');
}

/* The redirections, as Redis spells them (and always upper case). */
static const struct {
    const char        *word;        /* with its trailing space */
    enum cmap_redirect kind;
} cmap_redirects[] = {
    { "MOVED ", CMAP_MOVED },
    { "ASK ", CMAP_ASK },
};

/*
 * Redis writes "<KIND> <slot> <endpoint>:<port>" with one space each and
 * the endpoint unbracketed even when it is an IPv6 address, so the port
 * is what follows the last ':'. Brackets are tolerated (and removed) in
 * case a proxy or a future version adds them.
 */
enum cmap_redirect
cmap_parse_redirect(const char *s, size_t len, unsigned *slot,
                    struct cmap_node *node)
{
    enum cmap_redirect kind = CMAP_NOT_REDIRECT;
    const char        *p = s, *end = s + len, *colon, *host;
    size_t             i, wlen, hlen;
    long               v, port;

    if (s == NULL) {
        return CMAP_NOT_REDIRECT;
    }
    for (i = 0; i < sizeof(cmap_redirects) / sizeof(cmap_redirects[0]); i++) {
        wlen = strlen(cmap_redirects[i].word);
        if (len > wlen && memcmp(s, cmap_redirects[i].word, wlen) == 0) {
            kind = cmap_redirects[i].kind;
            p = s + wlen;
            break;
        }
    }
    if (kind == CMAP_NOT_REDIRECT || !cmap_number(&p, end, &v) ||
        v >= SLOT_COUNT || p == end || *p != ' ') {
        return CMAP_NOT_REDIRECT;
    }
    host = ++p;
    for (colon = NULL; p < end; p++) {
        if (*p == ':') {
            colon = p;
        }
    }
    if (colon == NULL) {
        return CMAP_NOT_REDIRECT;
    }
    p = colon + 1;
    if (!cmap_number(&p, end, &port) || p != end || port < 1 ||
        port > CMAP_PORT_MAX) {
        return CMAP_NOT_REDIRECT;
    }
    hlen = (size_t)(colon - host);
    if (hlen >= 2 && host[0] == '[' && host[hlen - 1] == ']') {
        host++;
        hlen -= 2;
    }
    if (!cmap_host_ok(host, hlen) || memchr(host, '[', hlen) != NULL ||
        memchr(host, ']', hlen) != NULL) {
        return CMAP_NOT_REDIRECT;
    }
    memcpy(node->host, host, hlen);
    node->host[hlen] = '\0';
    node->port = (uint16_t)port;
    *slot = (unsigned)v;
    return kind;
}
