/* test_near.c - the near cache: bounds, LRU order, invalidation. */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include <criterion/criterion.h>

#include "near.h"

static const char *
get(struct near *n, const char *key)
{
    static char buf[256];
    size_t      len;
    const char *v = near_get(n, key, strlen(key), &len);

    if (v == NULL) {
        return NULL;
    }
    snprintf(buf, sizeof(buf), "%.*s", (int)len, v);
    return buf;
}

static void
put(struct near *n, const char *key, const char *value, const char *dep1,
    const char *dep2)
{
    cr_assert_eq(near_put(n, key, strlen(key), value, strlen(value), dep1,
                          dep2), 0, "put %s", key);
}

Test(near, put_get_replace)
{
    struct near *n = near_new(1 << 20);

    cr_assert_not_null(n);
    cr_expect_null(get(n, "k"));
    put(n, "k", "v1", "h", NULL);
    cr_expect_str_eq(get(n, "k"), "v1");
    put(n, "k", "v2", "h", NULL);
    cr_expect_str_eq(get(n, "k"), "v2");
    cr_expect_eq(near_count(n), 1);
    near_free(n);
}

Test(near, invalidation_table)
{
    /* Entries and the Redis keys they depend on, then which survive an
     * invalidation of each key. */
    static const struct {
        const char *key, *dep1, *dep2;
    } entries[] = {
        { "lead:a q", "lead:a", NULL },
        { "lead:a c:x", "lead:a", NULL },
        { "lead:b q", "lead:b", NULL },
        { "blocks:a s0", "blocks:a", "bgen" },
        { "blocks:b s1", "blocks:b", "bgen" },
    };
    static const struct {
        const char *inval;
        const char *left;           /* surviving keys, in table order */
    } cases[] = {
        { "lead:a", "lead:b q|blocks:a s0|blocks:b s1|" },
        { "lead:b", "lead:a q|lead:a c:x|blocks:a s0|blocks:b s1|" },
        { "bgen", "lead:a q|lead:a c:x|lead:b q|" },
        { "blocks:a", "lead:a q|lead:a c:x|lead:b q|blocks:b s1|" },
        { "nobody", "lead:a q|lead:a c:x|lead:b q|blocks:a s0|blocks:b s1|" },
    };
    size_t c, i;

    for (c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        struct near *n = near_new(1 << 20);
        char         left[256] = "";

        cr_assert_not_null(n);
        for (i = 0; i < sizeof(entries) / sizeof(entries[0]); i++) {
            put(n, entries[i].key, "v", entries[i].dep1, entries[i].dep2);
        }
        near_invalidate(n, cases[c].inval, strlen(cases[c].inval));
        for (i = 0; i < sizeof(entries) / sizeof(entries[0]); i++) {
            if (get(n, entries[i].key) != NULL) {
                strcat(left, entries[i].key);
                strcat(left, "|");
            }
        }
        cr_expect_str_eq(left, cases[c].left, "invalidating %s",
                         cases[c].inval);
        near_free(n);
    }
}

Test(near, bound_evicts_least_recently_used)
{
    struct near *n = near_new(4096);
    char         key[32], value[200];
    int          i;

    cr_assert_not_null(n);
    memset(value, 'x', sizeof(value) - 1);
    value[sizeof(value) - 1] = '\0';
    for (i = 0; i < 100; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        put(n, key, value, "h", NULL);
        if (i >= 1) {
            cr_assert_not_null(get(n, "k0"), "k0 kept hot at %d", i);
        }
        cr_assert_leq(near_bytes(n), 4096);
    }
    cr_expect_not_null(get(n, "k0"));
    cr_expect_not_null(get(n, "k99"));
    cr_expect_null(get(n, "k1"), "the coldest went first");
    cr_expect_lt(near_count(n), 100);
    near_free(n);
}

Test(near, too_large_an_entry_is_refused)
{
    struct near *n = near_new(4096);
    static char  big[2048];

    cr_assert_not_null(n);
    memset(big, 'x', sizeof(big) - 1);
    cr_expect_eq(near_put(n, "k", 1, big, strlen(big), "h", NULL), -1);
    cr_expect_eq(near_count(n), 0);
    near_free(n);
}

Test(near, clear_empties_everything)
{
    struct near *n = near_new(1 << 20);

    cr_assert_not_null(n);
    put(n, "a", "1", "h1", "g");
    put(n, "b", "2", "h2", NULL);
    near_clear(n);
    cr_expect_eq(near_count(n), 0);
    cr_expect_eq(near_bytes(n), 0);
    cr_expect_null(get(n, "a"));
    near_invalidate(n, "g", 1);     /* no dependency lists left behind */
    put(n, "a", "3", "h1", "g");
    cr_expect_str_eq(get(n, "a"), "3");
    near_free(n);
}
