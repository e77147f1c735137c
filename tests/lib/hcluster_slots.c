/*
 * hcluster_slots.c - a test cluster's slot map, the tenants' keys on it,
 * and live slot migration (hcluster.h).
 */
#include "config.h"

#include "hcluster.h"

#include <stdio.h>
#include <string.h>

#include <criterion/criterion.h>

#include "hcluster_int.h"
#include "hrcli.h"
#include "key.h"

#define HCLUSTER_MIGRATE  100       /* keys per MIGRATE */
#define HCLUSTER_READY_MS 30000

/* ---- the slot map and the tenants' keys ---------------------------------- */

int
hcluster_slot_node(const struct hcluster *c, int slot)
{
    redisReply *r = hcluster_cmd(c, hcluster_first_up(c), "CLUSTER SLOTS");
    int         node = -1;
    size_t      j;

    for (j = 0; j < r->elements && node < 0; j++) {
        const redisReply *e = r->element[j];

        if (e->element[0]->integer <= slot && slot <= e->element[1]->integer) {
            node = hcluster_node_at(c, (int)e->element[2]->element[1]->integer);
        }
    }
    freeReplyObject(r);
    return node;
}

int
hcluster_keyslot(const struct hcluster *c, const char *key)
{
    redisReply *r = hcluster_cmd(c, hcluster_first_up(c), "CLUSTER KEYSLOT %s", key);
    int         slot;

    cr_assert_eq(r->type, REDIS_REPLY_INTEGER);
    slot = (int)r->integer;
    freeReplyObject(r);
    return slot;
}

/* "{<tenant id>}" of TOKEN into OUT. */
static void
tag_of(const char *token, char out[KEY_TENANT_HEX + 3])
{
    char tenant[KEY_TENANT_HEX + 1];

    key_tenant(token, strlen(token), tenant);
    snprintf(out, KEY_TENANT_HEX + 3, "{%s}", tenant);
}

int
hcluster_tenant_slot(const struct hcluster *c, const char *token)
{
    char tag[KEY_TENANT_HEX + 3];

    tag_of(token, tag);
    return hcluster_keyslot(c, tag);
}

long
hcluster_tenant_keys(const struct hcluster *c, int i, const char *token)
{
    char        tag[KEY_TENANT_HEX + 3], match[KEY_TENANT_HEX + 8];
    char        cursor[32] = "0";
    long        n = 0;

    tag_of(token, tag);
    snprintf(match, sizeof(match), "*%s*", tag);
    do {
        redisReply *r = hcluster_cmd(c, i, "SCAN %s MATCH %s COUNT 1000",
                                     cursor, match);

        cr_assert(r->type == REDIS_REPLY_ARRAY && r->elements == 2);
        snprintf(cursor, sizeof(cursor), "%s", r->element[0]->str);
        n += (long)r->element[1]->elements;
        freeReplyObject(r);
    } while (strcmp(cursor, "0") != 0);
    return n;
}

int
hcluster_tenant_node(const struct hcluster *c, const char *token)
{
    int i, node = -1;

    for (i = 0; i < c->n; i++) {
        if (!hcluster_up(c, i) || !hcluster_is_master(c, i) ||
            hcluster_tenant_keys(c, i, token) == 0) {
            continue;
        }
        cr_assert_lt(node, 0, "both %s and %s hold keys of %s",
                     c->nodes[node].name, c->nodes[i].name, token);
        node = i;
    }
    return node;
}

/* ---- live migration ------------------------------------------------------ */

/* MIGRATEs the first N keys of the array KEYS from node FROM to TO, with
 * the cluster's credentials; how many it moved. */
static long
migrate(const struct hcluster *c, const redisReply *keys, size_t n, int from,
        int to)
{
    const char  *argv[HCLUSTER_MIGRATE + 16];
    size_t       lens[HCLUSTER_MIGRATE + 16], k;
    char         port[16];
    int          argc = 0;
    struct hrcli *cli;
    redisReply  *r;

    cr_assert_leq(n, HCLUSTER_MIGRATE);
    snprintf(port, sizeof(port), "%d", c->nodes[to].port);
    argv[argc++] = "MIGRATE";
    argv[argc++] = "127.0.0.1";
    argv[argc++] = port;
    argv[argc++] = "";
    argv[argc++] = "0";
    argv[argc++] = "5000";
    if (c->user[0] != '\0') {
        argv[argc++] = "AUTH2";
        argv[argc++] = c->user;
        argv[argc++] = c->password;
    } else if (c->password[0] != '\0') {
        argv[argc++] = "AUTH";
        argv[argc++] = c->password;
    }
    argv[argc++] = "KEYS";
    for (k = 0; k < n; k++) {
        argv[argc++] = keys->element[k]->str;
    }
    for (k = 0; k < (size_t)argc; k++) {
        lens[k] = strlen(argv[k]);
    }
    for (k = 0; k < n; k++) {
        lens[argc - (int)n + (int)k] = keys->element[k]->len;
    }
    cli = hcluster_connect(c, from);
    r = hrcli_argv(cli, argc, argv, lens);
    cr_assert(r != NULL && r->type != REDIS_REPLY_ERROR,
              "MIGRATE of %zu keys from %s to %s: %s", n, c->nodes[from].name,
              c->nodes[to].name, r != NULL ? r->str : hrcli_error(cli));
    freeReplyObject(r);
    hrcli_close(cli);
    return (long)n;
}

long
hcluster_migrate_keys(const struct hcluster *c, int slot, int from, int to)
{
    long n = 0;

    for (;;) {
        redisReply *keys = hcluster_cmd(c, from, "CLUSTER GETKEYSINSLOT %d %d",
                                         slot, HCLUSTER_MIGRATE);
        size_t      k = keys->elements;

        if (k > 0) {
            n += migrate(c, keys, k, from, to);
        }
        freeReplyObject(keys);
        if (k == 0) {
            return n;
        }
    }
}

int
hcluster_migrate_begin(const struct hcluster *c, int slot, int to,
                       long nkeys)
{
    int from = hcluster_slot_node(c, slot);

    cr_assert(from >= 0 && from != to, "slot %d is on %d, not to move to %d",
              slot, from, to);
    /* The target first, as the Redis manual has it: a client sent there
     * by ASK must find it importing. */
    hcluster_ok(c, to, "CLUSTER SETSLOT %d IMPORTING %s", slot, c->ids[from]);
    hcluster_ok(c, from, "CLUSTER SETSLOT %d MIGRATING %s", slot, c->ids[to]);
    if (nkeys < 0) {
        hcluster_migrate_keys(c, slot, from, to);
    } else if (nkeys > 0) {
        redisReply *keys = hcluster_cmd(c, from,
                                        "CLUSTER GETKEYSINSLOT %d %ld", slot,
                                        nkeys);

        if (keys->elements > 0) {
            migrate(c, keys, keys->elements, from, to);
        }
        freeReplyObject(keys);
    }
    return from;
}

void
hcluster_migrate_finish(const struct hcluster *c, int slot, int from, int to)
{
    int i;

    hcluster_migrate_keys(c, slot, from, to);
    hcluster_ok(c, to, "CLUSTER SETSLOT %d NODE %s", slot, c->ids[to]);
    hcluster_ok(c, from, "CLUSTER SETSLOT %d NODE %s", slot, c->ids[to]);
    for (i = 0; i < HCLUSTER_MASTERS; i++) {
        if (i != to && i != from && hcluster_up(c, i) && hcluster_is_master(c, i)) {
            hcluster_ok(c, i, "CLUSTER SETSLOT %d NODE %s", slot, c->ids[to]);
        }
    }
    hcluster_wait_ok(c, HCLUSTER_READY_MS);
    cr_assert_eq(hcluster_slot_node(c, slot), to, "slot %d did not move",
                 slot);
}

void
hcluster_move_slot(const struct hcluster *c, int slot, int to)
{
    int from = hcluster_migrate_begin(c, slot, to, -1);

    hcluster_migrate_finish(c, slot, from, to);
}
