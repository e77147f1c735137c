/*
 * test_tkeys.c - a worker's cache of tenants' derived keys: one
 * derivation per tenant, the bound, and keys that outlive their eviction
 * while a request holds them (run under the sanitizers, a use after free
 * here is a failure).
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include <criterion/criterion.h>

#include "seal.h"
#include "tkeys.h"

#define TOKEN_A "hs_test_tenant_alpha_0001"
#define TOKEN_B "hs_test_tenant_bravo_0002"
#define TOKEN_C "hs_test_tenant_charlie_0003"

/* The name of +18015551234 under K: what tells two tenants' keys apart. */
static void
name_of(struct tkeys *t, const struct tkey *k, char *out)
{
    cr_assert_eq(seal_name(tkeys_ctx(t), tkey_keys(k), SEAL_DOMAIN_PHONE,
                           "+18015551234", 12, out),
                 SEAL_OK);
}

/* The same name from keys derived afresh, outside the cache. */
static void
name_fresh(const char *token, char *out)
{
    struct seal_ctx  *c = seal_ctx_new();
    struct seal_keys *k = seal_keys_new(c, token, strlen(token));

    cr_assert(c != NULL && k != NULL);
    cr_assert_eq(seal_name(c, k, SEAL_DOMAIN_PHONE, "+18015551234", 12, out),
                 SEAL_OK);
    seal_keys_free(k);
    seal_ctx_free(c);
}

Test(tkeys, a_tenant_is_derived_once_and_shared)
{
    struct tkeys *t = tkeys_new(4);
    struct tkey  *a, *a2, *b;
    char          n1[SEAL_NAME_HEX + 1], n2[SEAL_NAME_HEX + 1];

    cr_assert_not_null(t);
    a = tkeys_get(t, "tenant-a", TOKEN_A, strlen(TOKEN_A));
    /* a hit never looks at the token: the id is what is cached */
    a2 = tkeys_get(t, "tenant-a", "", 0);
    b = tkeys_get(t, "tenant-b", TOKEN_B, strlen(TOKEN_B));
    cr_assert(a != NULL && b != NULL);
    cr_expect_eq(a, a2, "one entry per tenant");
    cr_expect_neq(a, b);
    cr_expect_eq(tkeys_count(t), 2);
    name_of(t, a, n1);
    name_fresh(TOKEN_A, n2);
    cr_expect_str_eq(n1, n2, "the cached keys are the token's");
    name_of(t, b, n2);
    cr_expect_str_neq(n1, n2);
    tkey_release(a);
    tkey_release(a2);
    tkey_release(b);
    tkeys_free(t);
}

Test(tkeys, bounded_least_recently_used_out)
{
    struct tkeys *t = tkeys_new(2);
    struct tkey  *k;
    char          id[16], tok[32];
    int           i;

    cr_assert_not_null(t);
    for (i = 0; i < 10; i++) {
        snprintf(id, sizeof(id), "t%d", i);
        snprintf(tok, sizeof(tok), "token-%d", i);
        k = tkeys_get(t, id, tok, strlen(tok));
        cr_assert_not_null(k);
        tkey_release(k);
        cr_expect_leq(tkeys_count(t), 2);
        /* t0 is used again each round, so it is never the oldest */
        k = tkeys_get(t, "t0", "token-0", 7);
        cr_assert_not_null(k);
        tkey_release(k);
    }
    cr_expect_eq(tkeys_count(t), 2);
    tkeys_free(t);
}

Test(tkeys, evicted_keys_live_while_held)
{
    struct tkeys *t = tkeys_new(1);
    struct tkey  *a, *b, *a2;
    char          before[SEAL_NAME_HEX + 1], after[SEAL_NAME_HEX + 1];

    cr_assert_not_null(t);
    a = tkeys_get(t, "tenant-a", TOKEN_A, strlen(TOKEN_A));
    cr_assert_not_null(a);
    name_of(t, a, before);
    b = tkeys_get(t, "tenant-b", TOKEN_B, strlen(TOKEN_B)); /* evicts a */
    cr_assert_not_null(b);
    cr_expect_eq(tkeys_count(t), 1);
    name_of(t, a, after);           /* still held: still there */
    cr_expect_str_eq(before, after);
    a2 = tkeys_get(t, "tenant-a", TOKEN_A, strlen(TOKEN_A)); /* again */
    cr_assert_not_null(a2);
    cr_expect_neq(a, a2, "derived again, not the evicted one revived");
    name_of(t, a2, after);
    cr_expect_str_eq(before, after);
    tkey_release(a);                /* frees the evicted entry */
    tkey_release(b);                /* b was evicted by a2: freed */
    tkey_release(a2);
    tkeys_free(t);
}

Test(tkeys, a_reference_outlives_the_cache)
{
    struct tkeys *t = tkeys_new(8);
    struct tkey  *c = tkeys_get(t, "tenant-c", TOKEN_C, strlen(TOKEN_C));
    char          n[SEAL_NAME_HEX + 1];

    cr_assert_not_null(c);
    name_of(t, c, n);
    tkeys_free(t);
    tkey_release(c);                /* the last one out frees it */
}

Test(tkeys, an_empty_token_is_refused)
{
    struct tkeys *t = tkeys_new(8);

    cr_assert_not_null(t);
    cr_expect_null(tkeys_get(t, "tenant-e", "", 0));
    cr_expect_eq(tkeys_count(t), 0);
    tkeys_free(t);
}
