/* test_script.c - the scripts' KEYS/ARGV layouts, replies and SHAs. */
#include "config.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <hiredis/hiredis.h>

#include "script.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* ---- the scripts themselves --------------------------------------------- */

/*
 * The SHA1 of each script: a proxy finds its scripts in Redis by them,
 * and proxies of two releases share one Redis during a deploy, so a text
 * changes only deliberately, under a new name (lookup2, fill2, lock2 and
 * write2 make a missing guard no proof, and idem_claim2 refuses a late
 * claim, SPEC §12; lookup3 and lock3 refuse a late lock), and this table
 * with it.
 */
static const struct {
    enum script_id id;
    const char    *name;
    const char    *sha;
} sha_rows[] = {
    { SCRIPT_ID_LOOKUP, "lookup3",
      "0bb8cefe50d8854b7856257a765adc201f8df8f0" },
    { SCRIPT_ID_FILL, "fill2", "5f474d47af9e1d59fa9c46beff78324092475fb7" },
    { SCRIPT_ID_LOCK, "lock3", "7123860bbc9d57f13eb2270958e5adbc95025e66" },
    { SCRIPT_ID_PING, "ping", "48df9b519ca145c867b895f740b37bd891e887af" },
    { SCRIPT_ID_UNLOCK, "unlock", "e3c3d76062307ee5b6bfa31446da0fc22c456964" },
    { SCRIPT_ID_WRITE, "write2", "0d2a8b01cafcfe8e94d4b36c88b9d0c7d59d1931" },
    { SCRIPT_ID_IDEM_CLAIM, "idem_claim2",
      "9710f17d5339da139bfbad9b516534c448698de5" },
    { SCRIPT_ID_IDEM_COMPLETE, "idem_complete",
      "5d6662042468801a8ee3c16f149df5eb992fdc79" },
    { SCRIPT_ID_IDEM_RELEASE, "idem_release",
      "b6eff099d5d39e933cc7423ec7cbe42428c68c03" },
    { SCRIPT_ID_MARKER, "marker",
      "5cb1975929472492c39b214c114b58b40c94f7f4" },
    { SCRIPT_ID_PURGE, "purge", "2fbf5dcefe072857e452dacdcb961e0b256bd76b" },
    { SCRIPT_ID_PURGE_SCAN, "purge_scan",
      "0a6da59ef4c2ae87d3b0564f3763b943bc64af6b" },
};

/* The text of every script, by its SHA. */
Test(script, sha_unchanged)
{
    size_t i;

    cr_assert_eq(N(sha_rows), SCRIPT_ID_COUNT);
    for (i = 0; i < N(sha_rows); i++) {
        struct store_script *s = script_get(sha_rows[i].id);

        cr_expect_str_eq(s->name, sha_rows[i].name, "row %zu", i);
        cr_expect_str_eq(s->sha, sha_rows[i].sha, "row %zu (%s) is %s", i,
                         sha_rows[i].name, s->sha);
    }
}

/* ---- the layouts -------------------------------------------------------- */

/*
 * Each row: arguments by name, and the KEYS then ARGV, by position, that
 * the proxy sent for them before the typed calls (the old lookup.c and
 * patch.c): what proxies of both kinds sharing one Redis must agree on.
 */
struct layout_row {
    const char *name;
    void      (*lay)(const void *args, struct script_argv *out);
    const void *args;
    int         nkeys;
    int         argc;
    const char *want[SCRIPT_ARGV_MAX];
    size_t      want_len[SCRIPT_ARGV_MAX]; /* 0: strlen(want) */
};

#define LAY(type)                                                           \
    static void lay_##type(const void *a, struct script_argv *out)          \
    {                                                                       \
        script_##type##_argv(a, out);                                       \
    }
LAY(lookup)
LAY(lock)
LAY(fill)
LAY(unlock)
LAY(write)
LAY(idem_claim)
LAY(idem_complete)
LAY(idem_release)
LAY(purge)
LAY(purge_scan)

static const struct script_lookup_args lookup_phone = {
    .hash = "p:t1:h", .epoch_key = "p:t1:e", .bgen_key = "p:t1:g",
    .lock_key = "p:t1:l", .field = "q", .is_blocks = false,
    .now_ms = 1700000000123, .max_age_s = -1, .owner = "own1",
    .lease_ms = 15000, .take_answer = false, .guard_ms = 86400000,
    .deadline_ms = 1700000000245
};

static const struct script_lookup_args lookup_blocks = {
    .hash = "b:t1:h", .epoch_key = "b:t1:e", .bgen_key = "b:t1:g",
    .lock_key = "b:t1:l", .field = "d=2024", .is_blocks = true,
    .now_ms = 0, .max_age_s = 60, .owner = NULL, .lease_ms = 1,
    .take_answer = true, .guard_ms = 172800000
};

static const struct script_lookup_args lookup_nolock = {
    .hash = "h", .epoch_key = "e", .bgen_key = NULL, .lock_key = "l",
    .field = "f", .owner = "", .now_ms = INT64_MAX, .max_age_s = INT64_MIN,
    .lease_ms = 0, .guard_ms = 0
};

static const struct script_lock_args lock_phone = {
    .lock_key = "p:l", .epoch_key = "p:e", .bgen_key = "p:g",
    .owner = "own2", .lease_ms = 20000, .is_blocks = false,
    .take_answer = true, .guard_ms = 86400000, .deadline_ms = 1733460000100
};

static const struct script_lock_args lock_blocks = {
    .lock_key = "b:l", .epoch_key = "b:e", .bgen_key = "b:g",
    .owner = "own3", .lease_ms = 5, .is_blocks = true, .take_answer = false,
    .guard_ms = 1
};

static const struct script_fill_args fill_phone = {
    .hash = "p:h", .epoch_key = "p:e", .bgen_key = "p:g", .lock_key = "p:l",
    .field = "q", .value = "hsp1 200\0body", .value_len = 13,
    .expire_ms = 86400000, .epoch = "4", .is_blocks = false, .bgen = "",
    .store = true, .owner = "own4", .answer_ms = 2000, .channel = "hsp:wake"
};

static const struct script_fill_args fill_blocks = {
    .hash = "b:h", .epoch_key = "b:e", .bgen_key = "b:g", .lock_key = "b:l",
    .field = "d", .value = "", .value_len = 0, .expire_ms = 1,
    .epoch = "", .is_blocks = true, .bgen = "9", .store = false,
    .owner = NULL, .answer_ms = 0, .channel = "c"
};

static const struct script_unlock_args unlock_args = {
    .lock_key = "p:l", .owner = "own5", .channel = "hsp:wake"
};

static const struct script_write_args write_through = {
    .hash = "p:h", .epoch_key = "p:e", .blocks_hash = "b:h",
    .bgen_key = "b:g", .value = "lead\0x", .value_len = 6,
    .expire_ms = 3600000, .drop_blocks = true, .epoch_expire_ms = 7200000
};

static const struct script_write_args write_drop = {
    .hash = "p:h", .epoch_key = "p:e", .blocks_hash = "b:h",
    .bgen_key = "b:g", .value = NULL, .value_len = 99,
    .expire_ms = 0, .drop_blocks = false, .epoch_expire_ms = 600000
};

static const struct script_idem_claim_args claim_args = {
    .record = "i:t1:k", .fingerprint = "fp", .owner = "own6",
    .lease_ms = 30000, .deadline_ms = 1733460000100
};

static const struct script_idem_claim_args claim_nodeadline = {
    .record = "i:t1:k", .fingerprint = "fp", .owner = "own7",
    .lease_ms = 1
};

static const struct script_idem_complete_args complete_args = {
    .record = "i:t1:k", .owner = "own6", .fingerprint = "fp",
    .answer = "hsp1 201\0{}", .answer_len = 11, .ttl_ms = 86400000
};

static const struct script_idem_release_args release_args = {
    .record = "i:t1:k", .owner = "own6"
};

static const struct script_purge_args purge_phone = {
    .hashes = { "p:lead:n", "p:blocks:n" }, .nhashes = 2,
    .epoch_key = "p:ep:n", .epoch_expire_ms = 172800000
};

static const struct script_purge_args purge_disp = {
    .hashes = { "p:disp", "never sent" }, .nhashes = 1, .epoch_key = "p:ep",
    .epoch_expire_ms = 1
};

static const struct script_purge_scan_args purge_scan_args = {
    .epoch_key = "p:v3:{t}:ep", .cursor = "18446744073709551615",
    .match = "p\\*:v3:{t}:*", .count = 1000, .base = "p*:v3:{t}:",
    .epoch_expire_ms = 86400000
};

static const struct layout_row layout_rows[] = {
    { "lookup phone", lay_lookup, &lookup_phone, 4, 13,
      { "p:t1:h", "p:t1:e", "p:t1:e", "p:t1:l", "q", "0", "1700000000123",
        "-1", "own1", "15000", "0", "86400000", "1700000000245" },
      { 0 } },
    { "lookup blocks", lay_lookup, &lookup_blocks, 4, 13,
      { "b:t1:h", "b:t1:e", "b:t1:g", "b:t1:l", "d=2024", "1", "0", "60",
        "", "1", "1", "172800000", "0" }, { 0 } },
    { "lookup no lock", lay_lookup, &lookup_nolock, 4, 13,
      { "h", "e", "e", "l", "f", "0", "9223372036854775807",
        "-9223372036854775808", "", "0", "0", "0", "0" }, { 0 } },
    { "lock phone", lay_lock, &lock_phone, 3, 9,
      { "p:l", "p:e", "p:e", "own2", "20000", "0", "1", "86400000",
        "1733460000100" }, { 0 } },
    { "lock blocks", lay_lock, &lock_blocks, 3, 9,
      { "b:l", "b:e", "b:g", "own3", "5", "1", "0", "1", "0" }, { 0 } },
    { "fill phone", lay_fill, &fill_phone, 4, 14,
      { "p:h", "p:e", "p:e", "p:l", "q", "hsp1 200\0body", "86400000", "4",
        "0", "", "1", "own4", "2000", "hsp:wake" },
      { [5] = 13 } },
    { "fill blocks", lay_fill, &fill_blocks, 4, 14,
      { "b:h", "b:e", "b:g", "b:l", "d", "", "1", "", "1", "9", "0", "",
        "0", "c" }, { 0 } },
    { "unlock", lay_unlock, &unlock_args, 1, 3,
      { "p:l", "own5", "hsp:wake" }, { 0 } },
    { "write through", lay_write, &write_through, 4, 8,
      { "p:h", "p:e", "b:h", "b:g", "lead\0x", "3600000", "1", "7200000" },
      { [4] = 6 } },
    { "write drop", lay_write, &write_drop, 4, 8,
      { "p:h", "p:e", "b:h", "b:g", "", "0", "0", "600000" }, { 0 } },
    { "idem claim", lay_idem_claim, &claim_args, 1, 5,
      { "i:t1:k", "fp", "own6", "30000", "1733460000100" }, { 0 } },
    { "idem claim, no deadline", lay_idem_claim, &claim_nodeadline, 1, 5,
      { "i:t1:k", "fp", "own7", "1", "0" }, { 0 } },
    { "idem complete", lay_idem_complete, &complete_args, 1, 5,
      { "i:t1:k", "own6", "fp", "hsp1 201\0{}", "86400000" },
      { [3] = 11 } },
    { "idem release", lay_idem_release, &release_args, 1, 2,
      { "i:t1:k", "own6" }, { 0 } },
    { "purge phone", lay_purge, &purge_phone, 3, 4,
      { "p:lead:n", "p:blocks:n", "p:ep:n", "172800000" }, { 0 } },
    { "purge dispositions", lay_purge, &purge_disp, 2, 3,
      { "p:disp", "p:ep", "1" }, { 0 } },
    { "purge scan", lay_purge_scan, &purge_scan_args, 1, 6,
      { "p:v3:{t}:ep", "18446744073709551615", "p\\*:v3:{t}:*", "1000",
        "p*:v3:{t}:", "86400000" }, { 0 } },
};

Test(script, layouts)
{
    size_t i;
    int    j;

    for (i = 0; i < N(layout_rows); i++) {
        const struct layout_row *r = &layout_rows[i];
        struct script_argv       v;

        memset(&v, 0x5a, sizeof(v));    /* the layout sets everything */
        r->lay(r->args, &v);
        cr_expect_eq(v.nkeys, r->nkeys, "%s: nkeys %d", r->name, v.nkeys);
        cr_assert_eq(v.argc, r->argc, "%s: argc %d", r->name, v.argc);
        for (j = 0; j < r->argc; j++) {
            size_t len = r->want_len[j] != 0 ? r->want_len[j]
                                             : strlen(r->want[j]);

            cr_expect_eq(v.lens[j], len, "%s: [%d] length %zu", r->name, j,
                         v.lens[j]);
            cr_expect(v.lens[j] != len ||
                          memcmp(v.argv[j], r->want[j], len) == 0,
                      "%s: [%d] is %.*s", r->name, j, (int)v.lens[j],
                      v.argv[j]);
        }
    }
}

/* The values are sent as given, not copied: store_eval copies them. */
Test(script, layouts_borrow)
{
    struct script_argv v;

    script_fill_argv(&fill_phone, &v);
    cr_expect_eq(v.argv[5], fill_phone.value);
    script_idem_complete_argv(&complete_args, &v);
    cr_expect_eq(v.argv[3], complete_args.answer);
}

/* ---- reply trees -------------------------------------------------------- */

/*
 * A reply written as text: nil, i:<n>, s:<bytes>, e:<error>, t:<status>,
 * [<reply>,...]. Strings run to the next ',' or ']'. Freed by rfree.
 */
static redisReply *rparse(const char **p);

static redisReply *
rnew(int type)
{
    redisReply *r = calloc(1, sizeof(*r));

    cr_assert_not_null(r);
    r->type = type;
    return r;
}

static redisReply *
rtext(int type, const char **p)
{
    redisReply *r = rnew(type);
    size_t      n = strcspn(*p, ",]");

    r->str = malloc(n + 1);
    cr_assert_not_null(r->str);
    memcpy(r->str, *p, n);
    r->str[n] = '\0';
    r->len = n;
    *p += n;
    return r;
}

static redisReply *
rparse(const char **p)
{
    redisReply *r;

    if (strncmp(*p, "nil", 3) == 0) {
        *p += 3;
        return rnew(REDIS_REPLY_NIL);
    }
    if (strncmp(*p, "i:", 2) == 0) {
        char *end;

        r = rnew(REDIS_REPLY_INTEGER);
        r->integer = strtoll(*p + 2, &end, 10);
        *p = end;
        return r;
    }
    if ((*p)[0] != '\0' && (*p)[1] == ':') {
        static const struct { char c; int type; } kinds[] = {
            { 's', REDIS_REPLY_STRING }, { 'e', REDIS_REPLY_ERROR },
            { 't', REDIS_REPLY_STATUS }
        };
        size_t k;

        for (k = 0; k < N(kinds); k++) {
            if ((*p)[0] == kinds[k].c) {
                *p += 2;
                return rtext(kinds[k].type, p);
            }
        }
    }
    cr_assert_eq(**p, '[', "bad reply text at %s", *p);
    (*p)++;
    r = rnew(REDIS_REPLY_ARRAY);
    r->element = calloc(SCRIPT_ARGV_MAX, sizeof(*r->element));
    cr_assert_not_null(r->element);
    while (**p != ']') {
        cr_assert_lt(r->elements, SCRIPT_ARGV_MAX);
        r->element[r->elements++] = rparse(p);
        if (**p == ',') {
            (*p)++;
        }
    }
    (*p)++;
    return r;
}

/* The reply TEXT stands for; NULL for NULL (no reply). */
static redisReply *
rbuild(const char *text)
{
    redisReply *r;

    if (text == NULL) {
        return NULL;
    }
    r = rparse(&text);
    cr_assert_eq(*text, '\0', "trailing reply text %s", text);
    return r;
}

static void
rfree(redisReply *r)
{
    size_t i;

    if (r == NULL) {
        return;
    }
    for (i = 0; i < r->elements; i++) {
        rfree(r->element[i]);
    }
    free(r->element);
    free(r->str);
    free(r);
}

/* Whether the LEN bytes at GOT are the string WANT (both NULL: yes). */
static bool
same(const char *got, size_t len, const char *want)
{
    if (got == NULL || want == NULL) {
        return got == want && len == 0;
    }
    return len == strlen(want) && memcmp(got, want, len) == 0;
}

Test(script, builder)
{
    redisReply *r = rbuild("[nil,i:-7,s:,e:ERR x,t:OK,[s:a b]]");

    cr_assert_eq(r->type, REDIS_REPLY_ARRAY);
    cr_assert_eq(r->elements, 6);
    cr_expect_eq(r->element[0]->type, REDIS_REPLY_NIL);
    cr_expect_eq(r->element[1]->integer, -7);
    cr_expect_eq(r->element[2]->len, 0);
    cr_expect_str_eq(r->element[3]->str, "ERR x");
    cr_expect_eq(r->element[4]->type, REDIS_REPLY_STATUS);
    cr_expect_str_eq(r->element[5]->element[0]->str, "a b");
    rfree(r);
}

/* ---- LOOKUP and LOCK ---------------------------------------------------- */

struct lookup_row {
    const char                *reply;   /* see rbuild */
    enum script_lookup_verdict verdict;
    const char                *entry;
    const char                *epoch;
    const char                *bgen;
    int64_t                    pttl;
    const char                *answer;
};

#define L_FAILED    SCRIPT_LOOKUP_FAILED, NULL, NULL, NULL, -1, NULL
#define L_MALFORMED SCRIPT_LOOKUP_MALFORMED, NULL, NULL, NULL, -1, NULL

static const struct lookup_row lookup_rows[] = {
    /* no reply, or not the script's */
    { NULL, L_FAILED },
    { "e:NOSCRIPT No matching script", L_FAILED },
    { "e:ERR Error running script", L_FAILED },
    { "nil", L_MALFORMED },
    { "i:1", L_MALFORMED },
    { "s:hit", L_MALFORMED },
    { "[]", L_MALFORMED },
    { "[s:E,s:3,s:]", L_MALFORMED },
    /* the verdicts */
    { "[s:E,s:3,s:,s:hit]", SCRIPT_LOOKUP_HIT, "E", "3", "", -1, NULL },
    { "[s:E,s:3,s:7,s:hit]", SCRIPT_LOOKUP_HIT, "E", "3", "7", -1, NULL },
    { "[nil,s:,s:,s:none]", SCRIPT_LOOKUP_NONE, NULL, "", "", -1, NULL },
    { "[s:E,s:,s:,s:none]", SCRIPT_LOOKUP_NONE, "E", "", "", -1, NULL },
    { "[s:E,s:12,s:2,s:lead]", SCRIPT_LOOKUP_LEAD, "E", "12", "2", -1,
      NULL },
    { "[nil,s:,s:,s:lead]", SCRIPT_LOOKUP_LEAD, NULL, "", "", -1, NULL },
    { "[nil,s:1,s:,s:wait,i:250]", SCRIPT_LOOKUP_WAIT, NULL, "1", "", 250,
      NULL },
    { "[nil,s:1,s:,s:wait,i:-2]", SCRIPT_LOOKUP_WAIT, NULL, "1", "", -2,
      NULL },
    { "[nil,s:1,s:,s:wait]", SCRIPT_LOOKUP_WAIT, NULL, "1", "", -1, NULL },
    { "[nil,s:1,s:,s:wait,s:250]", SCRIPT_LOOKUP_WAIT, NULL, "1", "", -1,
      NULL },
    { "[nil,s:1,s:,s:wait,nil]", SCRIPT_LOOKUP_WAIT, NULL, "1", "", -1,
      NULL },
    { "[s:E,s:1,s:,s:answer,s:A]", SCRIPT_LOOKUP_ANSWER, "E", "1", "", -1,
      "A" },
    { "[nil,s:1,s:,s:answer,s:]", SCRIPT_LOOKUP_ANSWER, NULL, "1", "", -1,
      "" },
    /* past its deadline: no lock taken */
    { "[nil,s:1,s:,s:late]", SCRIPT_LOOKUP_LATE, NULL, "1", "", -1, NULL },
    { "[s:E,s:1,s:2,s:late]", SCRIPT_LOOKUP_LATE, "E", "1", "2", -1, NULL },
    /* an entry not a string counts as none, as lookup.c took it */
    { "[i:5,s:,s:,s:none]", SCRIPT_LOOKUP_NONE, NULL, "", "", -1, NULL },
    { "[[s:E],s:,s:,s:hit]", SCRIPT_LOOKUP_HIT, NULL, "", "", -1, NULL },
    /* extra elements after what the verdict needs are ignored */
    { "[s:E,s:,s:,s:hit,s:x]", SCRIPT_LOOKUP_HIT, "E", "", "", -1, NULL },
    { "[s:E,s:,s:,s:lead,i:3]", SCRIPT_LOOKUP_LEAD, "E", "", "", -1, NULL },
    /* an answer without its entry */
    { "[nil,s:1,s:,s:answer]", L_MALFORMED },
    { "[nil,s:1,s:,s:answer,nil]", L_MALFORMED },
    { "[nil,s:1,s:,s:answer,i:1]", L_MALFORMED },
    /* epochs that are not strings ("" is one: no epoch yet) */
    { "[nil,nil,s:,s:hit]", L_MALFORMED },
    { "[nil,s:,nil,s:hit]", L_MALFORMED },
    { "[nil,i:3,s:,s:none]", L_MALFORMED },
    { "[nil,s:,i:3,s:none]", L_MALFORMED },
    { "[nil,s:,e:ERR,s:none]", L_MALFORMED },
    /* verdicts that are not the script's */
    { "[nil,s:,s:,t:hit]", L_MALFORMED },
    { "[nil,s:,s:,i:1]", L_MALFORMED },
    { "[nil,s:,s:,nil]", L_MALFORMED },
    { "[nil,s:,s:,s:HIT]", L_MALFORMED },
    { "[nil,s:,s:,s:hitx]", L_MALFORMED },
    { "[nil,s:,s:,s:hi]", L_MALFORMED },
    { "[nil,s:,s:,s:]", L_MALFORMED },
    { "[nil,s:,s:,s:claimed]", L_MALFORMED },
};

static const struct lookup_row lock_rows[] = {
    { NULL, L_FAILED },
    { "e:ERR Error running script", L_FAILED },
    { "nil", L_MALFORMED },
    { "i:0", L_MALFORMED },
    { "[]", L_MALFORMED },
    { "[s:lead]", L_MALFORMED },
    { "[s:wait]", L_MALFORMED },
    /* the verdicts: epoch and generation come with LEAD only */
    { "[s:lead,s:3,s:1]", SCRIPT_LOOKUP_LEAD, NULL, "3", "1", -1, NULL },
    { "[s:lead,s:,s:]", SCRIPT_LOOKUP_LEAD, NULL, "", "", -1, NULL },
    { "[s:wait,i:100]", SCRIPT_LOOKUP_WAIT, NULL, NULL, NULL, 100, NULL },
    { "[s:wait,i:-1]", SCRIPT_LOOKUP_WAIT, NULL, NULL, NULL, -1, NULL },
    { "[s:wait,s:100]", SCRIPT_LOOKUP_WAIT, NULL, NULL, NULL, -1, NULL },
    { "[s:wait,i:7,s:x]", SCRIPT_LOOKUP_WAIT, NULL, NULL, NULL, 7, NULL },
    { "[s:answer,s:A]", SCRIPT_LOOKUP_ANSWER, NULL, NULL, NULL, -1, "A" },
    /* LATE alone: past its deadline, it took nothing and read nothing */
    { "[s:late]", SCRIPT_LOOKUP_LATE, NULL, NULL, NULL, -1, NULL },
    { "[s:late,i:5]", SCRIPT_LOOKUP_LATE, NULL, NULL, NULL, -1, NULL },
    /* LEAD is exactly three strings */
    { "[s:lead,s:3]", L_MALFORMED },
    { "[s:lead,s:3,s:1,s:x]", L_MALFORMED },
    { "[s:lead,nil,s:]", L_MALFORMED },
    { "[s:lead,s:,i:0]", L_MALFORMED },
    /* ANSWER with its entry string */
    { "[s:answer,nil]", L_MALFORMED },
    { "[s:answer,i:1]", L_MALFORMED },
    /* not LOCK's verdicts */
    { "[s:hit,s:x]", L_MALFORMED },
    { "[s:none,s:]", L_MALFORMED },
    { "[s:Lead,s:,s:]", L_MALFORMED },
    { "[t:lead,s:,s:]", L_MALFORMED },
    { "[i:1,i:2]", L_MALFORMED },
    { "[nil,s:]", L_MALFORMED },
};

static void
check_lookup_rows(const char *what, const struct lookup_row *rows,
                  size_t n,
                  int (*parse)(const struct redisReply *,
                               struct script_lookup_result *))
{
    size_t i;

    for (i = 0; i < n; i++) {
        const struct lookup_row    *w = &rows[i];
        redisReply                 *r = rbuild(w->reply);
        struct script_lookup_result out;
        int                         rc;
        bool                        ok;

        memset(&out, 0x5a, sizeof(out));
        rc = parse(r, &out);
        ok = w->verdict != SCRIPT_LOOKUP_FAILED &&
             w->verdict != SCRIPT_LOOKUP_MALFORMED;
        cr_expect_eq(out.verdict, w->verdict, "%s %s: verdict %d", what,
                     w->reply, (int)out.verdict);
        cr_expect_eq(rc, ok ? 0 : -1, "%s %s: rc %d", what, w->reply, rc);
        cr_expect(same(out.entry, out.entry_len, w->entry), "%s %s: entry",
                  what, w->reply);
        cr_expect(same(out.epoch, out.epoch_len, w->epoch), "%s %s: epoch",
                  what, w->reply);
        cr_expect(same(out.bgen, out.bgen_len, w->bgen), "%s %s: bgen",
                  what, w->reply);
        cr_expect_eq(out.pttl, w->pttl, "%s %s: pttl %" PRId64, what,
                     w->reply, out.pttl);
        cr_expect(same(out.answer, out.answer_len, w->answer),
                  "%s %s: answer", what, w->reply);
        rfree(r);
    }
}

Test(script, lookup_reply)
{
    check_lookup_rows("lookup", lookup_rows, N(lookup_rows),
                      script_lookup_reply);
}

Test(script, lock_reply)
{
    check_lookup_rows("lock", lock_rows, N(lock_rows), script_lock_reply);
}

/* Strings point into the reply; verdicts are matched on all their bytes. */
Test(script, lookup_reply_bytes)
{
    redisReply                 *r = rbuild("[s:E,s:1,s:,s:hit]");
    struct script_lookup_result out;

    cr_assert_eq(script_lookup_reply(r, &out), 0);
    cr_expect_eq(out.entry, r->element[0]->str);
    cr_expect_eq(out.epoch, r->element[1]->str);
    /* "hit\0x": lookup.c's strcmp took it for "hit"; the script never
     * answers that, and a verdict is all of its bytes. */
    free(r->element[3]->str);
    r->element[3]->str = malloc(6);
    cr_assert_not_null(r->element[3]->str);
    memcpy(r->element[3]->str, "hit\0x", 6);
    r->element[3]->len = 5;
    cr_expect_eq(script_lookup_reply(r, &out), -1);
    cr_expect_eq(out.verdict, SCRIPT_LOOKUP_MALFORMED);
    rfree(r);
}

/* ---- IDEM_CLAIM --------------------------------------------------------- */

static const struct {
    const char               *reply;
    enum script_claim_verdict verdict;
    const char               *answer;
    int64_t                   redis_ms;     /* -1: none in the reply */
} claim_rows[] = {
    { NULL, SCRIPT_CLAIM_FAILED, NULL, -1 },
    { "e:ERR Error running script", SCRIPT_CLAIM_FAILED, NULL, -1 },
    { "nil", SCRIPT_CLAIM_MALFORMED, NULL, -1 },
    { "i:1", SCRIPT_CLAIM_MALFORMED, NULL, -1 },
    { "s:claimed", SCRIPT_CLAIM_MALFORMED, NULL, -1 },
    { "[]", SCRIPT_CLAIM_MALFORMED, NULL, -1 },
    { "[s:claimed]", SCRIPT_CLAIM_CLAIMED, NULL, -1 },
    { "[s:busy]", SCRIPT_CLAIM_BUSY, NULL, -1 },
    { "[s:mismatch]", SCRIPT_CLAIM_MISMATCH, NULL, -1 },
    { "[s:done,s:hsp1 201]", SCRIPT_CLAIM_DONE, "hsp1 201", -1 },
    { "[s:done,s:]", SCRIPT_CLAIM_DONE, "", -1 },
    /* extra elements after a bare verdict: as patch.c took them */
    { "[s:claimed,s:x]", SCRIPT_CLAIM_CLAIMED, NULL, -1 },
    { "[s:busy,i:1]", SCRIPT_CLAIM_BUSY, NULL, 1 },
    /* DONE is followed by exactly its answer string */
    { "[s:done]", SCRIPT_CLAIM_MALFORMED, NULL, -1 },
    { "[s:done,nil]", SCRIPT_CLAIM_MALFORMED, NULL, -1 },
    { "[s:done,i:1]", SCRIPT_CLAIM_MALFORMED, NULL, -1 },
    { "[s:done,s:A,s:B]", SCRIPT_CLAIM_MALFORMED, NULL, -1 },
    { "[s:done,s:A,i:1,i:2]", SCRIPT_CLAIM_MALFORMED, NULL, -1 },
    /* Redis's time after the verdict (and after DONE's answer) */
    { "[s:claimed,i:1733460000123]", SCRIPT_CLAIM_CLAIMED, NULL,
      1733460000123 },
    { "[s:busy,i:7]", SCRIPT_CLAIM_BUSY, NULL, 7 },
    { "[s:mismatch,i:0]", SCRIPT_CLAIM_MISMATCH, NULL, 0 },
    { "[s:done,s:hsp1 200,i:42]", SCRIPT_CLAIM_DONE, "hsp1 200", 42 },
    { "[s:late,i:1733460000999]", SCRIPT_CLAIM_LATE, NULL, 1733460000999 },
    { "[s:late]", SCRIPT_CLAIM_LATE, NULL, -1 },
    { "[s:Late,i:1]", SCRIPT_CLAIM_MALFORMED, NULL, -1 },
    /* not the script's verdicts */
    { "[s:Claimed]", SCRIPT_CLAIM_MALFORMED, NULL, -1 },
    { "[s:claim]", SCRIPT_CLAIM_MALFORMED, NULL, -1 },
    { "[s:lead,s:,s:]", SCRIPT_CLAIM_MALFORMED, NULL, -1 },
    { "[t:claimed]", SCRIPT_CLAIM_MALFORMED, NULL, -1 },
    { "[nil]", SCRIPT_CLAIM_MALFORMED, NULL, -1 },
    { "[[s:claimed]]", SCRIPT_CLAIM_MALFORMED, NULL, -1 },
};

Test(script, idem_claim_reply)
{
    size_t i;

    for (i = 0; i < N(claim_rows); i++) {
        redisReply                *r = rbuild(claim_rows[i].reply);
        struct script_claim_result out;
        int                        rc;
        bool                       ok;

        memset(&out, 0x5a, sizeof(out));
        rc = script_idem_claim_reply(r, &out);
        ok = claim_rows[i].verdict != SCRIPT_CLAIM_FAILED &&
             claim_rows[i].verdict != SCRIPT_CLAIM_MALFORMED;
        cr_expect_eq(out.verdict, claim_rows[i].verdict, "%s: verdict %d",
                     claim_rows[i].reply, (int)out.verdict);
        cr_expect_eq(rc, ok ? 0 : -1, "%s: rc", claim_rows[i].reply);
        cr_expect(same(out.answer, out.answer_len, claim_rows[i].answer),
                  "%s: answer", claim_rows[i].reply);
        if (ok) {
            cr_expect_eq(out.redis_ms, claim_rows[i].redis_ms,
                         "%s: redis_ms %" PRId64, claim_rows[i].reply,
                         out.redis_ms);
        }
        rfree(r);
    }
}

/* ---- the integer replies ------------------------------------------------ */

static const struct {
    const char                  *reply;
    enum script_fill_verdict     fill;
    enum script_unlock_verdict   unlock;
    enum script_complete_verdict complete;
    enum script_release_verdict  release;
    enum script_write_verdict    write;
    int64_t                      epoch;
} int_rows[] = {
    { NULL, SCRIPT_FILL_FAILED, SCRIPT_UNLOCK_FAILED, SCRIPT_COMPLETE_FAILED,
      SCRIPT_RELEASE_FAILED, SCRIPT_WRITE_FAILED, 0 },
    { "e:ERR Error running script", SCRIPT_FILL_FAILED,
      SCRIPT_UNLOCK_FAILED, SCRIPT_COMPLETE_FAILED, SCRIPT_RELEASE_FAILED,
      SCRIPT_WRITE_FAILED, 0 },
    { "i:1", SCRIPT_FILL_STORED, SCRIPT_UNLOCK_DROPPED,
      SCRIPT_COMPLETE_STORED, SCRIPT_RELEASE_RELEASED, SCRIPT_WRITE_DONE,
      1 },
    { "i:0", SCRIPT_FILL_NOT_STORED, SCRIPT_UNLOCK_NOT_OURS,
      SCRIPT_COMPLETE_LOST, SCRIPT_RELEASE_NOT_OURS, SCRIPT_WRITE_DONE, 0 },
    { "i:2", SCRIPT_FILL_MALFORMED, SCRIPT_UNLOCK_MALFORMED,
      SCRIPT_COMPLETE_MALFORMED, SCRIPT_RELEASE_MALFORMED,
      SCRIPT_WRITE_DONE, 2 },
    { "i:-1", SCRIPT_FILL_MALFORMED, SCRIPT_UNLOCK_MALFORMED,
      SCRIPT_COMPLETE_MALFORMED, SCRIPT_RELEASE_MALFORMED,
      SCRIPT_WRITE_DONE, -1 },
    { "i:9007199254740993", SCRIPT_FILL_MALFORMED, SCRIPT_UNLOCK_MALFORMED,
      SCRIPT_COMPLETE_MALFORMED, SCRIPT_RELEASE_MALFORMED,
      SCRIPT_WRITE_DONE, 9007199254740993 },
    { "s:1", SCRIPT_FILL_MALFORMED, SCRIPT_UNLOCK_MALFORMED,
      SCRIPT_COMPLETE_MALFORMED, SCRIPT_RELEASE_MALFORMED,
      SCRIPT_WRITE_MALFORMED, 0 },
    { "t:OK", SCRIPT_FILL_MALFORMED, SCRIPT_UNLOCK_MALFORMED,
      SCRIPT_COMPLETE_MALFORMED, SCRIPT_RELEASE_MALFORMED,
      SCRIPT_WRITE_MALFORMED, 0 },
    { "nil", SCRIPT_FILL_MALFORMED, SCRIPT_UNLOCK_MALFORMED,
      SCRIPT_COMPLETE_MALFORMED, SCRIPT_RELEASE_MALFORMED,
      SCRIPT_WRITE_MALFORMED, 0 },
    { "[i:1]", SCRIPT_FILL_MALFORMED, SCRIPT_UNLOCK_MALFORMED,
      SCRIPT_COMPLETE_MALFORMED, SCRIPT_RELEASE_MALFORMED,
      SCRIPT_WRITE_MALFORMED, 0 },
    { "[]", SCRIPT_FILL_MALFORMED, SCRIPT_UNLOCK_MALFORMED,
      SCRIPT_COMPLETE_MALFORMED, SCRIPT_RELEASE_MALFORMED,
      SCRIPT_WRITE_MALFORMED, 0 },
};

Test(script, integer_replies)
{
    size_t  i;
    int64_t epoch;

    for (i = 0; i < N(int_rows); i++) {
        redisReply *r = rbuild(int_rows[i].reply);
        const char *s = int_rows[i].reply;

        cr_expect_eq(script_fill_reply(r), int_rows[i].fill, "fill %s", s);
        cr_expect_eq(script_unlock_reply(r), int_rows[i].unlock,
                     "unlock %s", s);
        cr_expect_eq(script_idem_complete_reply(r), int_rows[i].complete,
                     "complete %s", s);
        cr_expect_eq(script_idem_release_reply(r), int_rows[i].release,
                     "release %s", s);
        epoch = 42;
        cr_expect_eq(script_write_reply(r, &epoch), int_rows[i].write,
                     "write %s", s);
        cr_expect_eq(epoch, int_rows[i].epoch, "write %s: epoch %" PRId64,
                     s, epoch);
        rfree(r);
    }
}

/* MARKER's reply: the counter, or nothing usable. */
Test(script, count_reply)
{
    static const struct {
        const char *reply;
        int         rc;
        int64_t     n;
    } rows[] = {
        { "i:1", 0, 1 },          { "i:9007199254740993", 0,
                                    9007199254740993 },
        { "i:0", 0, 0 },          { NULL, -1, -7 },
        { "e:OOM no", -1, -7 },   { "s:1", -1, -7 },
        { "nil", -1, -7 },        { "[i:1]", -1, -7 },
    };
    size_t i;

    for (i = 0; i < N(rows); i++) {
        redisReply *r = rbuild(rows[i].reply);
        int64_t     n = -7;

        cr_expect_eq(script_count_reply(r, &n), rows[i].rc, "%s",
                     rows[i].reply);
        cr_expect_eq(n, rows[i].n, "%s: %" PRId64, rows[i].reply, n);
        rfree(r);
    }
}

/* ---- PURGE_SCAN ---------------------------------------------------------- */

static const struct {
    const char *reply;
    int         rc;
    const char *cursor;
    int64_t     n;
} purge_scan_rows[] = {
    { NULL, -1, NULL, 0 },
    { "e:ERR Error running script", -1, NULL, 0 },
    { "nil", -1, NULL, 0 },
    { "i:0", -1, NULL, 0 },
    { "[]", -1, NULL, 0 },
    { "[s:0]", -1, NULL, 0 },
    { "[s:0,i:0]", 0, "0", 0 },
    { "[s:0,i:6]", 0, "0", 6 },
    { "[s:1792,i:0]", 0, "1792", 0 },
    { "[s:18446744073709551615,i:3]", 0, "18446744073709551615", 3 },
    /* a cursor is digits, and fits */
    { "[s:,i:0]", -1, NULL, 0 },
    { "[s:12a,i:0]", -1, NULL, 0 },
    { "[s:-1,i:0]", -1, NULL, 0 },
    { "[s:1234567890123456789012345,i:0]", -1, NULL, 0 },
    { "[i:0,i:0]", -1, NULL, 0 },
    /* a count is a non-negative integer */
    { "[s:0,s:6]", -1, NULL, 0 },
    { "[s:0,i:-1]", -1, NULL, 0 },
    { "[s:0,i:1,i:2]", -1, NULL, 0 },
};

Test(script, purge_scan_reply)
{
    size_t i;

    for (i = 0; i < N(purge_scan_rows); i++) {
        redisReply *r = rbuild(purge_scan_rows[i].reply);
        char        cursor[24] = "untouched";
        int64_t     n = -7;
        int         rc = script_purge_scan_reply(r, cursor, sizeof(cursor),
                                                 &n);

        cr_expect_eq(rc, purge_scan_rows[i].rc, "%s: rc %d",
                     purge_scan_rows[i].reply, rc);
        if (rc == 0) {
            cr_expect_str_eq(cursor, purge_scan_rows[i].cursor, "%s",
                             purge_scan_rows[i].reply);
            cr_expect_eq(n, purge_scan_rows[i].n, "%s",
                         purge_scan_rows[i].reply);
        }
        rfree(r);
    }
}
