/*
 * test_names.c - Redis key names that cannot be reversed (SPEC §13): after
 * every kind of request that stores something, no key of the run's Redis
 * carries the token, the phone in any spelling, the Idempotency-Key, or a
 * plain SHA-256 of a phone or key input that a dictionary could reverse.
 * Real proxies, a real redis-server and the sandbox, started by
 * tests/integration/run.sh.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include <criterion/criterion.h>
#include <hiredis/hiredis.h>

#include "hexpect.h"
#include "hfixture.h"
#include "hreq.h"
#include "key.h"

#define API       "/api/v1/appointment/s2s"
#define ALPHA     "hs_test_tenant_alpha_0001"
#define ALPHA_CRM "a0C8X00000AlphaCRM"
#define IDEM_KEY  "idem-names-Zq81"

/* The phones the requests below name: a lead, and one in no tenant. */
static const char *const e164s[] = { "+18015551234", "+18015559999" };

/* The strings no key name may hold. */
static struct hexpect_words words;

/* Forbids S and the hex SHA-256 of "<tenant>:<S>", whole and at 128 bits. */
static void
forbid_hashed(const char *tenant, const char *s)
{
    char in[256];

    snprintf(in, sizeof(in), "%s:%s", tenant, s);
    hexpect_forbid_sha(&words, in, strlen(in));
}

static void
gather_words(void)
{
    char   tenant[KEY_TENANT_HEX + 1];
    size_t i;

    words.n = 0;
    key_tenant(ALPHA, strlen(ALPHA), tenant); /* in names on purpose */
    hexpect_forbid(&words, ALPHA);
    hexpect_forbid(&words, IDEM_KEY);
    forbid_hashed(tenant, IDEM_KEY);
    for (i = 0; i < sizeof(e164s) / sizeof(e164s[0]); i++) {
        hexpect_forbid(&words, e164s[i]);       /* E.164 */
        hexpect_forbid(&words, e164s[i] + 1);   /* digits only */
        hexpect_forbid(&words, e164s[i] + 2);   /* the national number */
        forbid_hashed(tenant, e164s[i]);
    }
}

static void
get(const char *base, const char *path, int want)
{
    struct hresp r;

    hreq_get(base, path, HREQ(.token = ALPHA), &r);
    cr_expect_eq(r.status, want, "%s: %d %s", path, r.status, r.body);
    hresp_free(&r);
}

Test(names, no_key_name_can_be_reversed)
{
    const char   *shorter = hfixture_env("HSP_PROXY_SHORT_URL");
    redisContext *c;
    redisReply   *rep;
    struct hresp  r;
    char          cursor[32] = "0";
    size_t        i, j, seen = 0;

    hfixture_fresh();
    gather_words();
    /* Every kind of entry: a lead, a variant, blocks (cached by the short
     * proxy only), dispositions, a not-found, an Idempotency-Key record. */
    get(shorter, API "/phone/query?phone=%2B18015551234", 200);
    get(shorter, API "/phone/query/" ALPHA_CRM "?phone=8015551234", 200);
    get(shorter, API "/phone/query/blocks?phone=%2B18015551234&limitDays=5",
        200);
    get(shorter, API "/phone/query/dispositions", 200);
    get(shorter, API "/phone/query?phone=%2B18015559999", 404);
    hreq_patch(shorter, "{\"phone\":\"+18015551234\","
                        "\"appendComment\":\"names\"}",
               HREQ(.token = ALPHA, .key = IDEM_KEY), &r);
    cr_expect_eq(r.status, 200, "%s", r.body);
    hresp_free(&r);
    /* the lookups again, so that entries the PATCH dropped are back */
    get(shorter, API "/phone/query?phone=%2B18015551234", 200);
    get(shorter, API "/phone/query/blocks?phone=%2B18015551234&limitDays=5",
        200);

    c = hfixture_redis("HSP_REDIS_SOCK");
    do {
        rep = redisCommand(c, "SCAN %s COUNT 1000", cursor);
        cr_assert(rep != NULL && rep->type == REDIS_REPLY_ARRAY &&
                  rep->elements == 2);
        snprintf(cursor, sizeof(cursor), "%s", rep->element[0]->str);
        for (i = 0; i < rep->element[1]->elements; i++) {
            const char *k = rep->element[1]->element[i]->str;

            seen++;
            for (j = 0; j < words.n; j++) {
                cr_expect_null(strstr(k, words.w[j]), "key %s holds %s", k,
                               words.w[j]);
            }
            hexpect_tenant_key(k);
        }
        freeReplyObject(rep);
    } while (strcmp(cursor, "0") != 0);
    /* lead, blocks, disp, epochs, bgen, idem record, marker at least */
    cr_expect_gt(seen, 6, "the requests above stored entries (%zu keys)",
                 seen);
    redisFree(c);
}
