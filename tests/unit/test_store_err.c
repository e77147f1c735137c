/* test_store_err.c - Redis error replies counted, and what degrades
 * /readyz; the eviction policy read from Redis. */
#include "config.h"

#include <string.h>

#include <criterion/criterion.h>

#include "stats.h"
#include "store_err.h"
#include "store_policy.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* The kinds themselves are rerr.c's: tests/unit/test_rerr.c. */

Test(store_err, names_and_what_degrades)
{
    static const char *const names[RERR_KINDS] = {
        "auth", "noperm", "readonly", "oom", "moved", "cluster",
        "noscript", "script", "busy", "other",
    };
    int k;

    for (k = 0; k < RERR_KINDS; k++) {
        cr_expect_str_eq(rerr_name((enum rerr_kind)k), names[k]);
        cr_expect_eq(store_err_degrades((enum rerr_kind)k),
                     k != RERR_NOSCRIPT, "%s", names[k]);
    }
}

Test(store_err, notes_count_by_kind)
{
    enum rerr_kind kind;
    int64_t             ms;
    uint64_t            before = stats_get(STATS_RERR_OOM);

    cr_expect_not(store_err_last(&kind, &ms), "nothing noted yet");
    store_err_note(RERR_OOM, "test", "OOM command not allowed");
    store_err_note(RERR_OOM, "test", "OOM command not allowed");
    cr_expect_eq(stats_get(STATS_RERR_OOM), before + 2);
    cr_expect(store_err_last(&kind, &ms));
    cr_expect_eq(kind, RERR_OOM);
    cr_expect_gt(ms, 0);
}

/* ---- maxmemory-policy (store_policy.h) ---------------------------------- */

Test(store_policy, only_noeviction_keeps_our_keys)
{
    static const char *const evicting[] = {
        "allkeys-lru", "volatile-lru", "allkeys-lfu", "volatile-lfu",
        "allkeys-random", "volatile-random", "volatile-ttl", "",
    };
    size_t i;

    cr_expect_not(store_policy_evicts("noeviction"));
    for (i = 0; i < NELEM(evicting); i++) {
        cr_expect(store_policy_evicts(evicting[i]), "%s", evicting[i]);
    }
    cr_expect(store_policy_evicts(NULL));
}

Test(store_policy, read_from_info_memory)
{
    static const char info[] =
        "# Memory\r\nused_memory:1\r\nmaxmemory:0\r\n"
        "maxmemory_human:0B\r\nmaxmemory_policy:volatile-lru\r\n"
        "allocator_frag_ratio:1.0\r\n";
    char out[32], tiny[4];

    cr_expect_eq(store_policy_from_info(info, out, sizeof(out)), 0);
    cr_expect_str_eq(out, "volatile-lru");
    cr_expect_eq(store_policy_from_info(info, tiny, sizeof(tiny)), -1);
    cr_expect_eq(store_policy_from_info("# Memory\r\n", out, sizeof(out)),
                 -1);
    cr_expect_eq(store_policy_from_info("maxmemory_policy:\r\n", out,
                                        sizeof(out)), -1);
    cr_expect_eq(store_policy_from_info("maxmemory_policy:noeviction", out,
                                        sizeof(out)), 0);
    cr_expect_str_eq(out, "noeviction");
}

/* INFO replication, as a cluster master answers it: its replicas. */
Test(store_policy, any_info_field)
{
    static const struct {
        const char *info, *field;
        int         rc;
        const char *want;
    } rows[] = {
        { "# Replication\r\nrole:master\r\nconnected_slaves:1\r\n"
          "slave0:ip=127.0.0.1,port=7104,state=online\r\n",
          "connected_slaves:", 0, "1" },
        { "# Replication\r\nrole:master\r\nconnected_slaves:0\r\n",
          "connected_slaves:", 0, "0" },
        { "# Replication\r\nrole:slave\r\n", "connected_slaves:", -1, NULL },
        { "xconnected_slaves:3\r\n", "connected_slaves:", -1, NULL },
        { "role:master\nconnected_slaves:2\n", "connected_slaves:", 0, "2" },
    };
    char   out[16];
    size_t i;

    for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        cr_expect_eq(store_policy_info_field(rows[i].info, rows[i].field,
                                             out, sizeof(out)),
                     rows[i].rc, "row %zu", i);
        if (rows[i].want != NULL) {
            cr_expect_str_eq(out, rows[i].want, "row %zu", i);
        }
    }
}

/* WAIT's replica count: up at once, down only once a fall has lasted. */
Test(store_policy, replicas_fall_only_once_settled)
{
    static const struct {
        int     seen;
        int64_t at_ms;
        int     want;
    } steps[] = {
        { 2, 0, 2 },
        { 1, 1000, 2 },             /* a replica leaves: maybe promoted */
        { 1, 1000 + STORE_REPLICAS_SETTLE_MS - 1, 2 },
        { 1, 1000 + STORE_REPLICAS_SETTLE_MS, 1 },  /* gone for good */
        { 3, 40000, 3 },            /* new ones count at once */
        { 2, 41000, 3 },
        { 3, 42000, 3 },            /* back: the fall is forgotten */
        { 2, 43000, 3 },
        { 2, 43000 + STORE_REPLICAS_SETTLE_MS - 1, 3 },
        { 0, 43000 + STORE_REPLICAS_SETTLE_MS, 0 },
    };
    struct store_replicas r;
    size_t                i;

    store_replicas_reset(&r);
    cr_expect_eq(r.want, -1);
    for (i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        cr_expect_eq(store_replicas_seen(&r, steps[i].seen, steps[i].at_ms),
                     steps[i].want, "step %zu", i);
    }
    store_replicas_reset(&r);
    cr_expect_eq(store_replicas_seen(&r, 1, 99), 1, "a new connection");
}
