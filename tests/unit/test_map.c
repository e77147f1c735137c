/* test_map.c - the per-worker hash table. */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include <criterion/criterion.h>

#include "map.h"

Test(map, put_get_del_table)
{
    static const struct {
        const char *op;             /* "put", "get", "del" */
        const char *key;
        int         value;          /* put: the value; get/del: expected,
                                       0 for none */
    } steps[] = {
        { "get", "a", 0 },   { "put", "a", 1 },   { "get", "a", 1 },
        { "put", "b", 2 },   { "get", "b", 2 },   { "put", "a", 3 },
        { "get", "a", 3 },   { "del", "a", 3 },   { "get", "a", 0 },
        { "del", "a", 0 },   { "get", "b", 2 },   { "put", "", 4 },
        { "get", "", 4 },    { "del", "", 4 },    { "del", "b", 2 },
    };
    static int values[8];
    struct map *m = map_new();
    size_t      i;

    cr_assert_not_null(m);
    for (i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
        values[i] = (int)i;
    }
    for (i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        const char *k = steps[i].key;
        int        *v;

        if (strcmp(steps[i].op, "put") == 0) {
            cr_assert_eq(map_put(m, k, strlen(k), &values[steps[i].value]),
                         0);
            continue;
        }
        v = strcmp(steps[i].op, "get") == 0 ? map_get(m, k, strlen(k))
                                             : map_del(m, k, strlen(k));
        if (steps[i].value == 0) {
            cr_expect_null(v, "step %zu", i);
        } else {
            cr_expect(v != NULL && *v == steps[i].value, "step %zu", i);
        }
    }
    cr_expect_eq(map_count(m), 0);
    map_free(m);
}

Test(map, binary_keys_with_nul_bytes_are_distinct)
{
    struct map *m = map_new();
    int         a = 1, b = 2;

    cr_assert_not_null(m);
    cr_assert_eq(map_put(m, "x\0y", 3, &a), 0);
    cr_assert_eq(map_put(m, "x\0z", 3, &b), 0);
    cr_expect_eq(map_get(m, "x\0y", 3), &a);
    cr_expect_eq(map_get(m, "x\0z", 3), &b);
    cr_expect_null(map_get(m, "x", 1));
    map_free(m);
}

static void
count_value(void *value, void *arg)
{
    (void)value;
    (*(int *)arg)++;
}

Test(map, grows_and_clears)
{
    struct map *m = map_new();
    static int  v[5000];
    char        k[32];
    int         i, seen = 0;

    cr_assert_not_null(m);
    for (i = 0; i < 5000; i++) {
        snprintf(k, sizeof(k), "key-%d", i);
        cr_assert_eq(map_put(m, k, strlen(k), &v[i]), 0);
    }
    cr_expect_eq(map_count(m), 5000);
    for (i = 0; i < 5000; i++) {
        snprintf(k, sizeof(k), "key-%d", i);
        cr_expect_eq(map_get(m, k, strlen(k)), &v[i], "key %d", i);
    }
    map_clear(m, count_value, &seen);
    cr_expect_eq(seen, 5000);
    cr_expect_eq(map_count(m), 0);
    snprintf(k, sizeof(k), "key-%d", 7);
    cr_expect_null(map_get(m, k, strlen(k)));
    map_free(m);
}
