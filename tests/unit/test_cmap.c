/*
 * test_cmap.c - the slot map (cmap.h): CLUSTER SLOTS replies decoded by
 * hiredis's own reader from RESP text, as the store gets them, and
 * MOVED/ASK errors.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <hiredis/hiredis.h>

#include "cmap.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))
#define RESP_MAX 65536

/*
 * Writes the RESP text of SPEC at *S into OUT (at *N, CAP bytes): a
 * short notation for replies, "[ ... ]" an array, "-12" or "7" an
 * integer, "'text'" a bulk string (no quote inside), "nil" a nil, "+OK"
 * a status. Tokens are separated by spaces.
 */
static void
resp_write(const char **s, char *out, size_t *n, size_t cap)
{
    const char *p;
    char        items[RESP_MAX];
    size_t      ni = 0, count = 0;

    while (**s == ' ') {
        (*s)++;
    }
    p = *s;
    if (*p == '[') {
        *s = p + 1;
        for (;;) {
            while (**s == ' ') {
                (*s)++;
            }
            if (**s == ']') {
                (*s)++;
                break;
            }
            cr_assert_neq(**s, '\0', "unclosed '['");
            resp_write(s, items, &ni, sizeof(items));
            count++;
        }
        *n += (size_t)snprintf(out + *n, cap - *n, "*%zu\r\n", count);
        cr_assert_lt(*n + ni, cap);
        memcpy(out + *n, items, ni);
        *n += ni;
    } else if (*p == '\'') {
        const char *q = strchr(p + 1, '\'');

        cr_assert_not_null(q, "unclosed quote");
        *n += (size_t)snprintf(out + *n, cap - *n, "$%d\r\n%.*s\r\n",
                               (int)(q - p - 1), (int)(q - p - 1), p + 1);
        *s = q + 1;
    } else if (strncmp(p, "nil", 3) == 0) {
        *n += (size_t)snprintf(out + *n, cap - *n, "$-1\r\n");
        *s = p + 3;
    } else if (*p == '+') {
        size_t len = strcspn(p, " ]");

        *n += (size_t)snprintf(out + *n, cap - *n, "%.*s\r\n", (int)len, p);
        *s = p + len;
    } else {
        size_t len = strspn(p, "-0123456789");

        cr_assert_gt(len, 0, "bad token at '%s'", p);
        *n += (size_t)snprintf(out + *n, cap - *n, ":%.*s\r\n", (int)len, p);
        *s = p + len;
    }
    cr_assert_lt(*n, cap, "reply too long");
}

/* The reply SPEC describes, decoded by hiredis; the caller frees it. */
static redisReply *
reply_of(const char *spec)
{
    static char  text[RESP_MAX];
    redisReader *rd = redisReaderCreate();
    void        *r = NULL;
    size_t       n = 0;

    resp_write(&spec, text, &n, sizeof(text));
    cr_assert_not_null(rd);
    cr_assert_eq(redisReaderFeed(rd, text, n), REDIS_OK);
    cr_assert_eq(redisReaderGetReply(rd, &r), REDIS_OK, "%s", rd->errstr);
    cr_assert_not_null(r, "incomplete reply");
    redisReaderFree(rd);
    return r;
}

struct owner_check {
    int slot;
    int owner;
};

struct slots_case {
    const char        *name;
    const char        *reply;
    const char        *asked;
    int                rc;
    int                nnodes;
    const char        *node0;       /* "host:port" of the first master */
    const char        *nodel;       /* and of the last */
    struct owner_check owners[4];   /* slot -1 ends them */
    const char        *err;         /* substring of the reason */
};

#define M(h, p, id) "['" h "' " #p " '" id "']"
#define THREE                                                           \
    "[ [0 5460 " M("127.0.0.1", 30001, "a1") M("127.0.0.1", 30004, "b1") \
    "] [5461 10922 " M("127.0.0.1", 30002, "a2")                         \
    M("127.0.0.1", 30005, "b2") "] [10923 16383 "                        \
    M("127.0.0.1", 30003, "a3") M("127.0.0.1", 30006, "b3") "] ]"

static const struct slots_case slots_cases[] = {
    { "three masters with replicas", THREE, "127.0.0.1", 0, 3,
      "127.0.0.1:30001", "127.0.0.1:30003",
      { { 0, 0 }, { 5460, 0 }, { 5461, 1 }, { 16383, 2 } }, NULL },
    { "Redis 7 metadata",
      "[ [0 16383 ['10.0.0.1' 6379 'a1' ['hostname' 'node-a']] "
      "['10.0.0.2' 6379 'b1' ['hostname' 'node-b' 'x' 'y']]] ]", "seed", 0,
      1, "10.0.0.1:6379", "10.0.0.1:6379",
      { { 0, 0 }, { 16383, 0 }, { -1, 0 } }, NULL },
    { "empty metadata, no id",
      "[ [0 1 ['h' 1 'a' []]] [2 3 ['i' 2]] ]", "seed", 0, 2, "h:1", "i:2",
      { { 1, 0 }, { 2, 1 }, { 4, -1 }, { -1, 0 } }, NULL },
    { "empty host is the node asked",
      "[ [0 99 ['' 7000 'a']] [100 199 ['10.0.0.2' 7001 'b']] ]",
      "seed.example", 0, 2, "seed.example:7000", "10.0.0.2:7001",
      { { 99, 0 }, { 100, 1 }, { -1, 0 } }, NULL },
    { "IPv6 host", "[ [0 16383 ['::1' 7000 'a']] ]", "::1", 0, 1,
      "::1:7000", "::1:7000", { { 0, 0 }, { -1, 0 } }, NULL },
    { "'?' host serves nothing",
      "[ [0 99 ['?' 7000 'a']] [100 16383 ['h' 7001 'b']] ]", "seed", 0, 1,
      "h:7001", "h:7001", { { 0, -1 }, { 99, -1 }, { 100, 0 }, { -1, 0 } },
      NULL },
    { "uncovered slots",
      "[ [10 19 ['h' 1 'a']] [16383 16383 ['i' 2 'b']] ]", "seed", 0, 2,
      "h:1", "i:2", { { 9, -1 }, { 10, 0 }, { 20, -1 }, { 16383, 1 } },
      NULL },
    { "one master in several ranges",
      "[ [0 9 ['h' 1 'a']] [10 19 ['h' 2 'b']] [20 29 ['h' 1 'a']] "
      "[30 39 ['' 1 'a']] ]", "h", 0, 2, "h:1", "h:2",
      { { 0, 0 }, { 15, 1 }, { 25, 0 }, { 35, 0 } }, NULL },
    { "no slots", "[ ]", "seed", 0, 0, NULL, NULL,
      { { 0, -1 }, { 16383, -1 }, { -1, 0 } }, NULL },
    { "not an array (error)", "+OK", "seed", -1, 0, NULL, NULL,
      { { -1, 0 } }, "not an array" },
    { "not an array (nil)", "nil", "seed", -1, 0, NULL, NULL, { { -1, 0 } },
      "not an array" },
    { "not an array (integer)", "5", "seed", -1, 0, NULL, NULL,
      { { -1, 0 } }, "not an array" },
    { "range not an array", "[ 'x' ]", "seed", -1, 0, NULL, NULL,
      { { -1, 0 } }, "a range is not" },
    { "range without a master", "[ [0 1] ]", "seed", -1, 0, NULL, NULL,
      { { -1, 0 } }, "a range is not" },
    { "start not an integer", "[ ['0' 1 ['h' 1 'a']] ]", "seed", -1, 0,
      NULL, NULL, { { -1, 0 } }, "a range is not" },
    { "start > end", "[ [5 4 ['h' 1 'a']] ]", "seed", -1, 0, NULL, NULL,
      { { -1, 0 } }, "bad slot range 5-4" },
    { "end 16384", "[ [0 16384 ['h' 1 'a']] ]", "seed", -1, 0, NULL, NULL,
      { { -1, 0 } }, "bad slot range" },
    { "start -1", "[ [-1 3 ['h' 1 'a']] ]", "seed", -1, 0, NULL, NULL,
      { { -1, 0 } }, "bad slot range" },
    { "overlap", "[ [0 10 ['h' 1 'a']] [10 20 ['i' 1 'b']] ]", "seed", -1, 0,
      NULL, NULL, { { -1, 0 } }, "slot 10 is in two ranges" },
    { "master not an array", "[ [0 1 'h'] ]", "seed", -1, 0, NULL, NULL,
      { { -1, 0 } }, "not [host, port" },
    { "master without a port", "[ [0 1 ['h']] ]", "seed", -1, 0, NULL, NULL,
      { { -1, 0 } }, "not [host, port" },
    { "port a string", "[ [0 1 ['h' '6379' 'a']] ]", "seed", -1, 0, NULL,
      NULL, { { -1, 0 } }, "port is not an integer" },
    { "port 0", "[ [0 1 ['h' 0 'a']] ]", "seed", -1, 0, NULL, NULL,
      { { -1, 0 } }, "port 0 is out of range" },
    { "port 65536", "[ [0 1 ['h' 65536 'a']] ]", "seed", -1, 0, NULL, NULL,
      { { -1, 0 } }, "out of range" },
    { "port -1", "[ [0 1 ['h' -1 'a']] ]", "seed", -1, 0, NULL, NULL,
      { { -1, 0 } }, "out of range" },
    { "host an integer", "[ [0 1 [7 1 'a']] ]", "seed", -1, 0, NULL, NULL,
      { { -1, 0 } }, "host is not a string" },
    { "host with a space", "[ [0 1 ['h x' 1 'a']] ]", "seed", -1, 0, NULL,
      NULL, { { -1, 0 } }, "space or control" },
    { "empty host, nothing asked", "[ [0 1 ['' 1 'a']] ]", "", -1, 0, NULL,
      NULL, { { -1, 0 } }, "empty host" },
    { "empty host, NULL asked", "[ [0 1 ['' 1 'a']] ]", NULL, -1, 0, NULL,
      NULL, { { -1, 0 } }, "empty host" },
    { "replica not an array", "[ [0 1 ['h' 1 'a'] 'r'] ]", "seed", -1, 0,
      NULL, NULL, { { -1, 0 } }, "replica" },
};

/* "host:port" of NODE into OUT. */
static const char *
node_text(const struct cmap_node *node, char *out, size_t cap)
{
    snprintf(out, cap, "%s:%u", node->host, (unsigned)node->port);
    return out;
}

Test(cmap, slots_table)
{
    static struct cmap m;
    size_t             i, j;

    for (i = 0; i < N(slots_cases); i++) {
        const struct slots_case *c = &slots_cases[i];
        redisReply              *r = reply_of(c->reply);
        char                     err[128] = "", a[300];
        int                      rc;

        rc = cmap_parse_slots(r, c->asked, &m, err, sizeof(err));
        freeReplyObject(r);
        cr_expect_eq(rc, c->rc, "%s: rc %d (%s)", c->name, rc, err);
        if (rc != c->rc) {
            continue;
        }
        if (rc != 0) {
            cr_expect_not_null(strstr(err, c->err), "%s: reason '%s' lacks "
                               "'%s'", c->name, err, c->err);
            continue;
        }
        cr_expect_eq(m.nnodes, c->nnodes, "%s: %d masters", c->name,
                     m.nnodes);
        if (c->node0 != NULL && m.nnodes > 0) {
            cr_expect_str_eq(node_text(&m.nodes[0], a, sizeof(a)), c->node0,
                             "%s: first master", c->name);
            cr_expect_str_eq(node_text(&m.nodes[m.nnodes - 1], a, sizeof(a)),
                             c->nodel, "%s: last master", c->name);
        }
        for (j = 0; j < N(c->owners) && c->owners[j].slot >= 0; j++) {
            cr_expect_eq(m.owner[c->owners[j].slot], c->owners[j].owner,
                         "%s: slot %d owner %d, want %d", c->name,
                         c->owners[j].slot, m.owner[c->owners[j].slot],
                         c->owners[j].owner);
        }
    }
}

/* Every slot of a well-formed map is owned by a valid index or -1. */
Test(cmap, every_slot_set)
{
    static struct cmap m;
    redisReply        *r = reply_of(THREE);
    int                slot;

    memset(&m, 0x5a, sizeof(m));
    cr_assert_eq(cmap_parse_slots(r, "127.0.0.1", &m, NULL, 0), 0);
    freeReplyObject(r);
    for (slot = 0; slot < SLOT_COUNT; slot++) {
        cr_assert_eq(m.owner[slot], slot <= 5460 ? 0 : slot <= 10922 ? 1 : 2,
                     "slot %d", slot);
    }
}

/* CMAP_NODES_MAX masters fit; one more is refused. */
Test(cmap, nodes_max)
{
    static struct cmap m;
    static char        spec[RESP_MAX];
    redisReply        *r;
    char               err[128] = "";
    size_t             n;
    int                i, nmasters;

    for (nmasters = CMAP_NODES_MAX; nmasters <= CMAP_NODES_MAX + 1;
         nmasters++) {
        n = (size_t)snprintf(spec, sizeof(spec), "[");
        for (i = 0; i < nmasters; i++) {
            n += (size_t)snprintf(spec + n, sizeof(spec) - n,
                                  " [%d %d ['h' %d 'id']]", i, i, 1000 + i);
        }
        snprintf(spec + n, sizeof(spec) - n, " ]");
        r = reply_of(spec);
        cr_expect_eq(cmap_parse_slots(r, "h", &m, err, sizeof(err)),
                     nmasters == CMAP_NODES_MAX ? 0 : -1, "%d masters",
                     nmasters);
        freeReplyObject(r);
    }
    cr_expect_not_null(strstr(err, "more than 64 masters"), "'%s'", err);
    cr_expect_eq(m.nnodes, CMAP_NODES_MAX);
}

/* A host of URL_HOST_MAX - 1 bytes fits with its NUL; one more does not
 * (and an empty host stands for the asked one, of any length that
 * fits). */
Test(cmap, host_length)
{
    static struct cmap m;
    char               host[URL_HOST_MAX + 1], spec[URL_HOST_MAX + 64];
    char               err[128] = "";
    redisReply        *r;

    memset(host, 'a', sizeof(host));
    host[URL_HOST_MAX - 1] = '\0';
    snprintf(spec, sizeof(spec), "[ [0 1 ['%s' 1 'x']] ]", host);
    r = reply_of(spec);
    cr_expect_eq(cmap_parse_slots(r, "seed", &m, err, sizeof(err)), 0, "%s",
                 err);
    cr_expect_str_eq(m.nodes[0].host, host);
    freeReplyObject(r);
    host[URL_HOST_MAX - 1] = 'a';
    host[URL_HOST_MAX] = '\0';
    snprintf(spec, sizeof(spec), "[ [0 1 ['%s' 1 'x']] ]", host);
    r = reply_of(spec);
    cr_expect_eq(cmap_parse_slots(r, "seed", &m, err, sizeof(err)), -1);
    cr_expect_not_null(strstr(err, "longer than 255"), "'%s'", err);
    freeReplyObject(r);
    r = reply_of("[ [0 1 ['' 1 'x']] ]");
    cr_expect_eq(cmap_parse_slots(r, host, &m, err, sizeof(err)), -1,
                 "a too long asked host");
    freeReplyObject(r);
}

/* A NUL inside a host would cut it short: refused. */
Test(cmap, host_with_nul)
{
    static struct cmap m;
    static const char  text[] = "*1\r\n*3\r\n:0\r\n:1\r\n*2\r\n$3\r\nh\0i\r\n"
                                ":1\r\n";
    redisReader       *rd = redisReaderCreate();
    void              *r = NULL;

    cr_assert_eq(redisReaderFeed(rd, text, sizeof(text) - 1), REDIS_OK);
    cr_assert_eq(redisReaderGetReply(rd, &r), REDIS_OK);
    cr_assert_not_null(r);
    cr_expect_eq(cmap_parse_slots(r, "seed", &m, NULL, 0), -1);
    freeReplyObject(r);
    redisReaderFree(rd);
}

struct redirect_case {
    const char        *in;
    enum cmap_redirect kind;
    unsigned           slot;
    const char        *host;
    uint16_t           port;
};

static const struct redirect_case redirect_cases[] = {
    { "MOVED 3999 127.0.0.1:6381", CMAP_MOVED, 3999, "127.0.0.1", 6381 },
    { "ASK 3999 127.0.0.1:6381", CMAP_ASK, 3999, "127.0.0.1", 6381 },
    { "MOVED 0 node-a.example:7000", CMAP_MOVED, 0, "node-a.example", 7000 },
    { "MOVED 16383 h:65535", CMAP_MOVED, 16383, "h", 65535 },
    { "MOVED 1 ::1:6380", CMAP_MOVED, 1, "::1", 6380 },
    { "ASK 2 2001:db8::7:1", CMAP_ASK, 2, "2001:db8::7", 1 },
    { "MOVED 1 [::1]:6380", CMAP_MOVED, 1, "::1", 6380 },
    { "MOVED 12 :6380", CMAP_MOVED, 12, "", 6380 },
    { "MOVED 12 ?:6380", CMAP_MOVED, 12, "?", 6380 },
    { "MOVED 16384 h:1", CMAP_NOT_REDIRECT, 0, NULL, 0 },
    { "MOVED 100000 h:1", CMAP_NOT_REDIRECT, 0, NULL, 0 },
    { "MOVED -1 h:1", CMAP_NOT_REDIRECT, 0, NULL, 0 },
    { "MOVED 1 h:0", CMAP_NOT_REDIRECT, 0, NULL, 0 },
    { "MOVED 1 h:65536", CMAP_NOT_REDIRECT, 0, NULL, 0 },
    { "MOVED 1 h:123456", CMAP_NOT_REDIRECT, 0, NULL, 0 },
    { "MOVED 1 h:", CMAP_NOT_REDIRECT, 0, NULL, 0 },
    { "MOVED 1 h:+1", CMAP_NOT_REDIRECT, 0, NULL, 0 },
    { "MOVED 1 h", CMAP_NOT_REDIRECT, 0, NULL, 0 },
    { "MOVED 1 h:6380 x", CMAP_NOT_REDIRECT, 0, NULL, 0 },
    { "MOVED 1 h:6380x", CMAP_NOT_REDIRECT, 0, NULL, 0 },
    { "MOVED 1 h:6380 ", CMAP_NOT_REDIRECT, 0, NULL, 0 },
    { "MOVED 1 h x:6380", CMAP_NOT_REDIRECT, 0, NULL, 0 },
    { "MOVED 1 [::1:6380", CMAP_NOT_REDIRECT, 0, NULL, 0 },
    { "MOVED  1 h:1", CMAP_NOT_REDIRECT, 0, NULL, 0 },
    { "MOVED 1  h:1", CMAP_NOT_REDIRECT, 0, NULL, 0 },
    { "MOVED h:1", CMAP_NOT_REDIRECT, 0, NULL, 0 },
    { "MOVED 1", CMAP_NOT_REDIRECT, 0, NULL, 0 },
    { "MOVED 1 ", CMAP_NOT_REDIRECT, 0, NULL, 0 },
    { "MOVED ", CMAP_NOT_REDIRECT, 0, NULL, 0 },
    { "MOVED", CMAP_NOT_REDIRECT, 0, NULL, 0 },
    { "", CMAP_NOT_REDIRECT, 0, NULL, 0 },
    { "moved 1 h:1", CMAP_NOT_REDIRECT, 0, NULL, 0 },
    { "MOVEDX 1 h:1", CMAP_NOT_REDIRECT, 0, NULL, 0 },
    { "ASKING 1 h:1", CMAP_NOT_REDIRECT, 0, NULL, 0 },
    { "TRYAGAIN Multiple keys request during rehashing of slot",
      CMAP_NOT_REDIRECT, 0, NULL, 0 },
    { "CLUSTERDOWN The cluster is down", CMAP_NOT_REDIRECT, 0, NULL, 0 },
    { "ERR unknown command", CMAP_NOT_REDIRECT, 0, NULL, 0 },
};

Test(cmap, redirect_table)
{
    size_t i;

    for (i = 0; i < N(redirect_cases); i++) {
        const struct redirect_case *c = &redirect_cases[i];
        struct cmap_node            node;
        unsigned                    slot = 0;
        enum cmap_redirect          kind;

        kind = cmap_parse_redirect(c->in, strlen(c->in), &slot, &node);
        cr_expect_eq(kind, c->kind, "'%s': kind %d, want %d", c->in, kind,
                     c->kind);
        if (kind != c->kind || kind == CMAP_NOT_REDIRECT) {
            continue;
        }
        cr_expect_eq(slot, c->slot, "'%s': slot %u", c->in, slot);
        cr_expect_str_eq(node.host, c->host, "'%s': host", c->in);
        cr_expect_eq(node.port, c->port, "'%s': port %u", c->in, node.port);
    }
}

/* LEN bounds the text: no NUL needed, and bytes past it are not read. */
Test(cmap, redirect_len)
{
    static const char s[] = "MOVED 7 h:6380\0junk";
    struct cmap_node  node;
    unsigned          slot;

    cr_expect_eq(cmap_parse_redirect(s, 14, &slot, &node), CMAP_MOVED);
    cr_expect_eq(node.port, 6380);
    cr_expect_eq(cmap_parse_redirect(s, 13, &slot, &node), CMAP_MOVED);
    cr_expect_eq(node.port, 638, "the length ends the port");
    cr_expect_eq(cmap_parse_redirect(s, sizeof(s) - 1, &slot, &node),
                 CMAP_NOT_REDIRECT, "a NUL and more after the port");
    cr_expect_eq(cmap_parse_redirect(NULL, 0, &slot, &node),
                 CMAP_NOT_REDIRECT);
}
