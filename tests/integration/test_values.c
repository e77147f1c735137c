/*
 * test_values.c - values Redis holds are sealed (SPEC §13): after every
 * kind of request that stores something, no value in the run's Redis
 * holds the token, the phone in any spelling, a lead's strings, or the
 * hex SHA-256 of a phone-derived string; a sealed value moved under
 * another key name or field, or with one byte changed, does not open: a
 * miss (the real answer, fetched again), counted, never garbage. Real
 * proxies, a real redis-server and the sandbox, started by
 * tests/integration/run.sh.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <hiredis/hiredis.h>

#include "hexpect.h"
#include "hfixture.h"
#include "hreq.h"
#include "idem.h"
#include "key.h"

#define API        "/api/v1/appointment/s2s"
#define QUERY      API "/phone/query?phone="
#define ALPHA      "hs_test_tenant_alpha_0001"
#define ALPHA_CRM  "a0C8X00000AlphaCRM"
#define IDEM_KEY   "idem-values-Zq81"
#define PATCH_BODY "{\"phone\":\"+18015551234\",\"appendComment\":\"seal\"}"
#define UNSEAL     "heavyset_store_unseal_failures_total"
#define BURST      8

/* The seeded leads these requests touch (conf/sandbox-seed.json). */
static const char *const e164s[] = { "+18015551234", "+13035550142",
                                     "+18015559999" };
static const char *const spellings[] = {
    "(801) 555-1234", "801-555-1234", "801.555.1234", "801 555 1234",
    "(303) 555-0142", "303-555-0142" };
static const char *const lead_strings[] = {
    "Jane Doe", "Jane", "jane@example.com", "123 Main St", "Apt 4B",
    "Maria Garcia", "Maria", "Garcia", "maria.garcia@example.com",
    "9 Larimer St", "John Smith", "john@heavyset.tech", "Credit too low",
    "Roof in poor condition", "a0p8X00000AlpB01", "appendComment" };

static struct hexpect_words words;

static void
gather_words(void)
{
    char   tenant[KEY_TENANT_HEX + 1], in[256];
    char   fp[IDEM_FP_HEX + 1], *canon, err[80];
    size_t i, clen;

    words.n = 0;
    key_tenant(ALPHA, strlen(ALPHA), tenant);
    hexpect_forbid(&words, ALPHA);
    hexpect_forbid(&words, IDEM_KEY);
    for (i = 0; i < sizeof(e164s) / sizeof(e164s[0]); i++) {
        const char *p = e164s[i];

        hexpect_forbid(&words, p);          /* E.164 */
        hexpect_forbid(&words, p + 1);      /* digits only */
        hexpect_forbid(&words, p + 2);      /* the national number */
        hexpect_forbid_sha(&words, p, strlen(p));
        hexpect_forbid_sha(&words, p + 1, strlen(p + 1));
        hexpect_forbid_sha(&words, p + 2, strlen(p + 2));
        snprintf(in, sizeof(in), "%s:%s", tenant, p);
        hexpect_forbid_sha(&words, in, strlen(in));
    }
    for (i = 0; i < sizeof(spellings) / sizeof(spellings[0]); i++) {
        hexpect_forbid(&words, spellings[i]);
    }
    for (i = 0; i < sizeof(lead_strings) / sizeof(lead_strings[0]); i++) {
        hexpect_forbid(&words, lead_strings[i]);
    }
    /* The PATCH's plain fingerprint: a SHA-256 of a body that is mostly
     * the phone, which a reader could test guesses against. */
    cr_assert_eq(idem_canonical(PATCH_BODY, strlen(PATCH_BODY), &canon,
                                &clen, err, sizeof(err)), 0);
    idem_fingerprint("PATCH", API "/phone/update", canon, clen, fp);
    free(canon);
    hexpect_forbid(&words, fp);
}

/* Expects the LEN bytes at V (of key K) to hold no forbidden word. */
static void
expect_clean(const char *k, const char *what, const char *v, size_t len)
{
    size_t j;

    for (j = 0; j < words.n; j++) {
        cr_expect_null(memmem(v, len, words.w[j], strlen(words.w[j])),
                       "%s %s of %s holds \"%s\"", k, what, k, words.w[j]);
    }
}

/* Checks every value of every key of the run's Redis; returns how many
 * values it read. */
static size_t handed;                   /* hand-overs seen by scans */

static size_t
scan_values(void)
{
    redisContext *c = hfixture_redis("HSP_REDIS_SOCK");
    redisReply   *rep, *v;
    char          cursor[32] = "0";
    size_t        i, j, seen = 0;

    do {
        rep = redisCommand(c, "SCAN %s COUNT 1000", cursor);
        cr_assert(rep != NULL && rep->type == REDIS_REPLY_ARRAY &&
                  rep->elements == 2);
        snprintf(cursor, sizeof(cursor), "%s", rep->element[0]->str);
        for (i = 0; i < rep->element[1]->elements; i++) {
            const char *k = rep->element[1]->element[i]->str;

            /* GET and HGETALL, not DUMP: a DUMP may be compressed (LZF),
             * which would hide a plain string from this search. */
            v = redisCommand(c, "GET %s", k);
            cr_assert_not_null(v);
            if (v->type == REDIS_REPLY_STRING) {
                expect_clean(k, "value", v->str, v->len);
                seen++;
                handed += strstr(k, ":lock:") != NULL && v->str[0] == 'A';
            }
            freeReplyObject(v);
            v = redisCommand(c, "HGETALL %s", k);
            cr_assert_not_null(v);
            for (j = 0; v->type == REDIS_REPLY_ARRAY && j < v->elements;
                 j++) {
                expect_clean(k, j % 2 ? "value" : "field",
                             v->element[j]->str, v->element[j]->len);
                seen += j % 2;
            }
            freeReplyObject(v);
        }
        freeReplyObject(rep);
    } while (strcmp(cursor, "0") != 0);
    redisFree(c);
    return seen;
}

static void
get(const char *base, const char *path, int want)
{
    struct hresp r;

    hreq_get(base, path, HREQ(.token = ALPHA), &r);
    cr_expect_eq(r.status, want, "%s: %d %s", path, r.status, r.body);
    hresp_free(&r);
}

TestSuite(values, .init = hfixture_fresh, .timeout = 90);

Test(values, no_value_holds_personal_data)
{
    static struct hheld shots[BURST];
    const char         *shorter = hfixture_env("HSP_PROXY_SHORT_URL");
    const char *const   two[] = { hfixture_env("HSP_PROXY_URL"),
                                  hfixture_env("HSP_PROXY_B_URL") };
    struct hresp        r;
    double              max_ms;
    int                 i;

    gather_words();
    /* Every kind of entry: a lead, a variant, blocks (cached by the short
     * proxy only), dispositions, a not-found. */
    get(shorter, QUERY "%2B18015551234", 200);
    get(shorter, API "/phone/query/" ALPHA_CRM "?phone=8015551234", 200);
    get(shorter, API "/phone/query/blocks?phone=%2B18015551234&limitDays=5",
        200);
    get(shorter, API "/phone/query/dispositions", 200);
    get(shorter, QUERY "%2B18015559999", 404);
    /* a PATCH with an Idempotency-Key (its record, its write-through),
     * then its replay */
    for (i = 0; i < 2; i++) {
        hreq_patch(shorter, PATCH_BODY, HREQ(.token = ALPHA, .key = IDEM_KEY),
                   &r);
        cr_expect_eq(r.status, 200, "%s", r.body);
        hresp_free(&r);
    }
    cr_expect_gt(scan_values(), 6, "the requests above stored values");
    /* A coalesced miss over two instances: the answer handed over in the
     * fetch lock lives a second; scanned at once. */
    (void)hexpect_stampede(two, 2, QUERY "%2B13035550142",
                           HREQ(.token = ALPHA,
                                .extra = "X-Sandbox-Delay-Ms: 300"),
                           shots, BURST, &max_ms);
    hreq_burst_free(shots, BURST);
    handed = 0;
    (void)scan_values();
    /* Not asserted: the hand-over may have expired before the scan. */
    cr_log_info("answers handed over in a fetch lock, scanned: %zu", handed);
}

/* The one key of the run's Redis matching PATTERN, into OUT. */
static void
only_key(redisContext *c, const char *pattern, char *out, size_t cap)
{
    redisReply *rep = redisCommand(c, "KEYS %s", pattern);

    cr_assert(rep != NULL && rep->type == REDIS_REPLY_ARRAY);
    cr_assert_eq(rep->elements, 1, "%zu keys match %s", rep->elements,
                 pattern);
    snprintf(out, cap, "%s", rep->element[0]->str);
    freeReplyObject(rep);
}

/* GETs PATH of BASE and expects a miss answered with NAME, and the unseal
 * failures of BASE up by at least one. */
static void
expect_clear_miss(const char *base, const char *path, const char *name,
                  double before)
{
    struct hresp r;
    char         got[64];

    hreq_get(base, path, HREQ(.token = ALPHA), &r);
    cr_expect_eq(r.status, 200, "%s: %d %s", path, r.status, r.body);
    cr_expect_str_eq(hreq_hdr(&r, "X-Cache"), "MISS");
    hfixture_body_string(&r, "name", got, sizeof(got));
    cr_expect_str_eq(got, name);
    hresp_free(&r);
    cr_expect_geq(hreq_metric(base, UNSEAL, NULL) - before, 1,
                  UNSEAL " did not rise");
    /* and filled anew: a hit now */
    hreq_get(base, path, HREQ(.token = ALPHA), &r);
    cr_expect_str_eq(hreq_hdr(&r, "X-Cache"), "HIT");
    hfixture_body_string(&r, "name", got, sizeof(got));
    cr_expect_str_eq(got, name);
    hresp_free(&r);
}

Test(values, a_value_moved_under_another_name_does_not_open)
{
    const char   *base = hfixture_env("HSP_PROXY_URL");
    redisContext *c = hfixture_redis("HSP_REDIS_SOCK");
    redisReply   *rep;
    char          jane[512], maria[512];
    double        before;

    get(base, QUERY "%2B18015551234", 200);
    only_key(c, "*:lead:*", jane, sizeof(jane));
    get(base, QUERY "%2B13035550142", 200);
    rep = redisCommand(c, "KEYS *:lead:*");
    cr_assert(rep != NULL && rep->elements == 2);
    snprintf(maria, sizeof(maria), "%s",
             strcmp(rep->element[0]->str, jane) == 0 ? rep->element[1]->str
                                                     : rep->element[0]->str);
    freeReplyObject(rep);

    /* Jane's lead under Maria's key name */
    rep = redisCommand(c, "HGET %s q", jane);
    cr_assert(rep != NULL && rep->type == REDIS_REPLY_STRING);
    freeReplyObject(redisCommand(c, "HSET %s q %b", maria, rep->str,
                                 rep->len));
    /* and into the variant's field of Jane's own hash */
    freeReplyObject(redisCommand(c, "HSET %s c:%s %b", jane, ALPHA_CRM,
                                 rep->str, rep->len));
    freeReplyObject(rep);

    before = hreq_metric(base, UNSEAL, NULL);
    expect_clear_miss(base, QUERY "%2B13035550142", "Maria Garcia", before);
    before = hreq_metric(base, UNSEAL, NULL);
    expect_clear_miss(base,
                      API "/phone/query/" ALPHA_CRM "?phone=8015551234",
                      "Jane Doe", before);
    redisFree(c);
}

Test(values, a_changed_byte_does_not_open)
{
    const char   *base = hfixture_env("HSP_PROXY_URL");
    redisContext *c = hfixture_redis("HSP_REDIS_SOCK");
    redisReply   *rep;
    char          jane[512], v[8192];
    size_t        len, at;
    double        before;

    get(base, QUERY "%2B18015551234", 200);
    only_key(c, "*:lead:*", jane, sizeof(jane));
    rep = redisCommand(c, "HGET %s q", jane);
    cr_assert(rep != NULL && rep->type == REDIS_REPLY_STRING &&
              rep->len < sizeof(v));
    len = rep->len;
    memcpy(v, rep->str, len);
    freeReplyObject(rep);
    /* one byte of the body, past the plain header the scripts read */
    at = (size_t)((char *)memchr(v, '\n', len) - v) + 20;
    cr_assert_lt(at, len);
    v[at] ^= 0x01;
    freeReplyObject(redisCommand(c, "HSET %s q %b", jane, v, len));

    before = hreq_metric(base, UNSEAL, NULL);
    expect_clear_miss(base, QUERY "%2B18015551234", "Jane Doe", before);
    redisFree(c);
}
