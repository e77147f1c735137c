/*
 * test_rerr.c - Redis error replies to kinds (rerr.h), from the texts
 * Redis 7.0 writes (without the leading '-'), and 5 and 6 for the old
 * wordings of a refused password.
 */
#include "config.h"

#include <string.h>

#include <criterion/criterion.h>

#include "rerr.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

struct kind_case {
    const char     *text;
    enum rerr_kind  want;
};

static const struct kind_case kind_cases[] = {
    { "WRONGPASS invalid username-password pair or user is disabled.",
      RERR_AUTH },
    { "NOAUTH Authentication required.", RERR_AUTH },
    { "ERR invalid password", RERR_AUTH },
    { "ERR invalid username-password pair", RERR_AUTH },
    { "ERR AUTH <password> called without any password configured for "
      "the default user. Are you sure your configuration is correct?",
      RERR_AUTH },
    { "ERR Client sent AUTH, but no password is set", RERR_AUTH },
    { "NOPERM this user has no permissions to run the 'eval' command",
      RERR_NOPERM },
    { "NOPERM this user has no permissions to access one of the keys "
      "used as arguments", RERR_NOPERM },
    { "READONLY You can't write against a read only replica.",
      RERR_READONLY },
    { "OOM command not allowed when used memory > 'maxmemory'.", RERR_OOM },
    { "MOVED 3999 127.0.0.1:6381", RERR_MOVED },
    { "ASK 3999 127.0.0.1:6381", RERR_MOVED },
    { "TRYAGAIN Multiple keys request during rehashing of slot",
      RERR_CLUSTER },
    { "CLUSTERDOWN The cluster is down", RERR_CLUSTER },
    { "CROSSSLOT Keys in request don't hash to the same slot",
      RERR_CLUSTER },
    { "NOSCRIPT No matching script. Please use EVAL.", RERR_NOSCRIPT },
    { "BUSY Redis is busy running a script. You can only call SCRIPT KILL "
      "or SHUTDOWN NOSAVE.", RERR_BUSY },
    { "LOADING Redis is loading the dataset in memory", RERR_BUSY },
    { "MASTERDOWN Link with MASTER is down and replica-serve-stale-data "
      "is set to 'no'.", RERR_BUSY },
    /* A bare word, and lower case. */
    { "OOM", RERR_OOM },
    { "readonly you can't write", RERR_READONLY },
    /* The whole first word must match: no prefix matches. */
    { "OOMX something", RERR_OTHER },
    { "ASKING", RERR_OTHER },
    { "BUSYKEY Target key name already exists.", RERR_OTHER },
    { "NOAUTHX", RERR_OTHER },
    /* Script errors, and what a script wrapped. */
    { "ERR Error running script (call to f_abc): @user_script:1: oops",
      RERR_SCRIPT },
    { "ERR Error running script (call to f_0123): @user_script:1: "
      "@user_script: 1: -OOM command not allowed when used memory > "
      "'maxmemory'. ", RERR_OOM },
    { "ERR Error running script: @user_script:3: -READONLY You can't write "
      "against a read only replica.", RERR_READONLY },
    { "ERR user_script:1: Script attempted to access nonexistent global "
      "variable 'x' script: 0123, on @user_script:1.", RERR_SCRIPT },
    { "ERR Error compiling script (new function): user_script:1: ...",
      RERR_SCRIPT },
    { "NOPERM No permissions to access a channel", RERR_NOPERM },
    /* Generic errors. */
    { "ERR unknown command 'FOO', with args beginning with: ", RERR_OTHER },
    { "ERR unknown command 'HELLO'", RERR_OTHER },
    { "MOVEDX 1 h:1", RERR_OTHER },
    { "ERROR invalid password", RERR_OTHER },
    { "WRONGTYPE Operation against a key holding the wrong kind of value",
      RERR_OTHER },
    { "ERR invalid DB index", RERR_OTHER },
    { "ERR DB index is out of range", RERR_OTHER },
    { "", RERR_OTHER },
    { " WRONGPASS", RERR_OTHER },
};

Test(rerr, classify_table)
{
    size_t i;

    for (i = 0; i < N(kind_cases); i++) {
        const struct kind_case *c = &kind_cases[i];

        cr_expect_eq(rerr_classify(c->text, strlen(c->text)), c->want,
                     "row %zu \"%s\": got %s, want %s", i, c->text,
                     rerr_name(rerr_classify(c->text, strlen(c->text))),
                     rerr_name(c->want));
    }
}

/* LEN bounds the text: a reply's str need not end where its len does. */
Test(rerr, classify_reads_len_bytes_only)
{
    cr_expect_eq(rerr_classify("OOMPH", 3), RERR_OOM);
    cr_expect_eq(rerr_classify("NOSCRIPTS", 8), RERR_NOSCRIPT);
    cr_expect_eq(rerr_classify("ERR invalid password", 12), RERR_OTHER);
    cr_expect_eq(rerr_classify(NULL, 0), RERR_OTHER);
}

Test(rerr, every_kind_has_a_distinct_name)
{
    int i;
    int j;

    for (i = 0; i < RERR_KINDS; i++) {
        cr_assert_not_null(rerr_name((enum rerr_kind)i));
        for (j = 0; j < i; j++) {
            cr_expect_str_neq(rerr_name((enum rerr_kind)i),
                              rerr_name((enum rerr_kind)j));
        }
    }
    cr_expect_str_eq(rerr_name(RERR_AUTH), "auth");
}
