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
#include <openssl/sha.h>

#include "hexpect.h"
#include "hfixture.h"
#include "hreq.h"

#define API       "/api/v1/appointment/s2s"
#define ALPHA     "hs_test_tenant_alpha_0001"
#define ALPHA_CRM "a0C8X00000AlphaCRM"
#define IDEM_KEY  "idem-names-Zq81"

/* The phones the requests below name: a lead, and one in no tenant. */
static const char *const e164s[] = { "+18015551234", "+18015559999" };

/* Lowercase hex of SHA-256(S): what a reader with a dictionary computes. */
static void
sha256_hex(const char *s, char out[2 * SHA256_DIGEST_LENGTH + 1])
{
    unsigned char md[SHA256_DIGEST_LENGTH];
    size_t        i;

    SHA256((const unsigned char *)s, strlen(s), md);
    for (i = 0; i < sizeof(md); i++) {
        snprintf(out + 2 * i, 3, "%02x", md[i]);
    }
}

/* The strings no key name may hold, gathered into WORDS (NULL-ended). */
#define WORDS_MAX 64
static char words[WORDS_MAX][2 * SHA256_DIGEST_LENGTH + 1];
static size_t nwords;

static void
forbid(const char *w)
{
    cr_assert_lt(nwords, WORDS_MAX);
    snprintf(words[nwords++], sizeof(words[0]), "%s", w);
}

/* Forbids S and the hex SHA-256 of "<tenant>:<S>", whole and at 128 bits. */
static void
forbid_hashed(const char *tenant, const char *s)
{
    char in[256], h[2 * SHA256_DIGEST_LENGTH + 1];

    snprintf(in, sizeof(in), "%s:%s", tenant, s);
    sha256_hex(in, h);
    forbid(h);
    h[32] = '\0';
    forbid(h);
}

static void
gather_words(void)
{
    char   tenant[2 * SHA256_DIGEST_LENGTH + 1];
    size_t i;

    nwords = 0;
    sha256_hex(ALPHA, tenant);
    tenant[32] = '\0';              /* the tenant id: in names on purpose */
    forbid(ALPHA);
    forbid(IDEM_KEY);
    forbid_hashed(tenant, IDEM_KEY);
    for (i = 0; i < sizeof(e164s) / sizeof(e164s[0]); i++) {
        forbid(e164s[i]);           /* E.164 */
        forbid(e164s[i] + 1);       /* digits only */
        forbid(e164s[i] + 2);       /* the national number */
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
            for (j = 0; j < nwords; j++) {
                cr_expect_null(strstr(k, words[j]), "key %s holds %s", k,
                               words[j]);
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
