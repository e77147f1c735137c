/* test_store_err.c - the kinds of Redis error replies, table-driven. */
#include "config.h"

#include <string.h>

#include <criterion/criterion.h>

#include "stats.h"
#include "store_err.h"
#include "store_policy.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

struct err_case {
    const char         *reply;      /* the error reply's text */
    enum store_err_kind kind;
};

/* Texts as Redis 7.0 (and 5, 6 for the old AUTH wording) send them. */
static const struct err_case err_cases[] = {
    { "WRONGPASS invalid username-password pair or user is disabled.",
      STORE_ERR_AUTH },
    { "NOAUTH Authentication required.", STORE_ERR_AUTH },
    { "ERR invalid password", STORE_ERR_AUTH },
    { "ERR AUTH <password> called without any password configured for the "
      "default user. Are you sure your configuration is correct?",
      STORE_ERR_AUTH },
    { "ERR Client sent AUTH, but no password is set", STORE_ERR_AUTH },
    { "NOPERM this user has no permissions to run the 'evalsha' command",
      STORE_ERR_NOPERM },
    { "NOPERM No permissions to access a channel", STORE_ERR_NOPERM },
    { "READONLY You can't write against a read only replica.",
      STORE_ERR_READONLY },
    { "OOM command not allowed when used memory > 'maxmemory'.",
      STORE_ERR_OOM },
    { "ERR Error running script (call to f_0123): @user_script:1: "
      "@user_script: 1: -OOM command not allowed when used memory > "
      "'maxmemory'. ", STORE_ERR_OOM },
    { "ERR Error running script: @user_script:3: -READONLY You can't write "
      "against a read only replica.", STORE_ERR_READONLY },
    { "MOVED 3999 127.0.0.1:6381", STORE_ERR_MOVED },
    { "ASK 3999 127.0.0.1:6381", STORE_ERR_MOVED },
    { "CLUSTERDOWN The cluster is down", STORE_ERR_CLUSTER },
    { "CROSSSLOT Keys in request don't hash to the same slot",
      STORE_ERR_CLUSTER },
    { "TRYAGAIN Multiple keys request during rehashing of slot",
      STORE_ERR_CLUSTER },
    { "NOSCRIPT No matching script. Please use EVAL.", STORE_ERR_NOSCRIPT },
    { "ERR user_script:1: Script attempted to access nonexistent global "
      "variable 'x' script: 0123, on @user_script:1.", STORE_ERR_SCRIPT },
    { "ERR Error compiling script (new function): user_script:1: ...",
      STORE_ERR_SCRIPT },
    { "BUSY Redis is busy running a script.", STORE_ERR_BUSY },
    { "LOADING Redis is loading the dataset in memory", STORE_ERR_BUSY },
    { "MASTERDOWN Link with MASTER is down", STORE_ERR_BUSY },
    { "ERR DB index is out of range", STORE_ERR_OTHER },
    { "WRONGTYPE Operation against a key holding the wrong kind of value",
      STORE_ERR_OTHER },
    { "ERR unknown command 'HELLO'", STORE_ERR_OTHER },
    { "OOMPH not a code", STORE_ERR_OTHER },
    { "MOVEDX 1 h:1", STORE_ERR_OTHER },
    { "ERROR invalid password", STORE_ERR_OTHER },
    { "", STORE_ERR_OTHER },
    { NULL, STORE_ERR_OTHER },
};

Test(store_err, classify_table)
{
    size_t i;

    for (i = 0; i < NELEM(err_cases); i++) {
        const struct err_case *c = &err_cases[i];
        enum store_err_kind    k = store_err_classify(c->reply);

        cr_expect_eq(k, c->kind, "'%s': %s, want %s",
                     c->reply != NULL ? c->reply : "(null)",
                     store_err_name(k), store_err_name(c->kind));
    }
}

Test(store_err, names_and_what_degrades)
{
    static const char *const names[STORE_ERR_COUNT] = {
        "auth", "noperm", "readonly", "oom", "moved", "cluster",
        "noscript", "script", "busy", "other",
    };
    int k;

    for (k = 0; k < STORE_ERR_COUNT; k++) {
        cr_expect_str_eq(store_err_name((enum store_err_kind)k), names[k]);
        cr_expect_eq(store_err_degrades((enum store_err_kind)k),
                     k != STORE_ERR_NOSCRIPT, "%s", names[k]);
    }
    cr_expect_str_eq(store_err_name(STORE_ERR_COUNT), "other");
}

Test(store_err, notes_count_by_kind)
{
    enum store_err_kind kind;
    int64_t             ms;
    uint64_t            before = stats_get(STATS_RERR_OOM);

    cr_expect_not(store_err_last(&kind, &ms), "nothing noted yet");
    store_err_note(STORE_ERR_OOM, "test", "OOM command not allowed");
    store_err_note(STORE_ERR_OOM, "test", "OOM command not allowed");
    cr_expect_eq(stats_get(STATS_RERR_OOM), before + 2);
    cr_expect(store_err_last(&kind, &ms));
    cr_expect_eq(kind, STORE_ERR_OOM);
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
