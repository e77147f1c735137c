/* test_key.c - query parsing, tenant ids and key names (SPEC §3). */
#include "config.h"

#include <string.h>

#include <criterion/criterion.h>

#include "key.h"
#include "seal.h"

struct query_case {
    const char *query;
    bool        has_phone;
    const char *phone_raw;
    bool        repeated;
    int         sbi;            /* -1 absent, 0 false, 1 true, 2 bad */
    long        limit_days;     /* -1 absent, -2 bad */
    bool        has_token;
};

static const struct query_case query_cases[] = {
    { NULL, false, "", false, -1, -1, false },
    { "", false, "", false, -1, -1, false },
    { "phone=%2B18015551234", true, "+18015551234", false, -1, -1, false },
    { "phone=+18015551234", true, " 18015551234", false, -1, -1, false },
    { "phone=(801)%20555-1234", true, "(801) 555-1234", false, -1, -1,
      false },
    { "limitDays=3&phone=8015551234", true, "8015551234", false, -1, 3,
      false },
    { "phone=1&phone=2", true, "2", true, -1, -1, false },
    { "phone=1&simpleBlockId=true", true, "1", false, 1, -1, false },
    { "phone=1&simpleBlockId=false", true, "1", false, 0, -1, false },
    { "phone=1&simpleBlockId=yes", true, "1", false, 2, -1, false },
    { "phone=1&limitDays=0", true, "1", false, -1, -2, false },
    { "phone=1&limitDays=366", true, "1", false, -1, -2, false },
    { "phone=1&limitDays=3x", true, "1", false, -1, -2, false },
    { "phone=1&limitDays=-3", true, "1", false, -1, -2, false },
    { "phone=1&limitDays=", true, "1", false, -1, -2, false },
    { "phone=1&limitDays=365", true, "1", false, -1, 365, false },
    { "token=abc&phone=1", true, "1", false, -1, -1, true },
    { "token=&phone=1", true, "1", false, -1, -1, false },
    { "phone", true, "", false, -1, -1, false },
    { "&&phone=5&&", true, "5", false, -1, -1, false },
    { "Phone=5", false, "", false, -1, -1, false },
    { "phone=%zz1", true, "%zz1", false, -1, -1, false },
    { "phone=%2", true, "%2", false, -1, -1, false },
};

Test(key, parse_query_table)
{
    size_t i;

    for (i = 0; i < sizeof(query_cases) / sizeof(query_cases[0]); i++) {
        const struct query_case *c = &query_cases[i];
        struct key_query         q;
        int                      sbi;

        key_parse_query(c->query, &q);
        cr_expect_eq(q.has_phone, c->has_phone, "case %zu", i);
        cr_expect_str_eq(q.phone_raw, c->phone_raw, "case %zu", i);
        cr_expect_eq(q.phone_repeated, c->repeated, "case %zu", i);
        sbi = q.simple_block_id_bad   ? 2
              : !q.simple_block_id_set ? -1
              : q.simple_block_id      ? 1
                                       : 0;
        cr_expect_eq(sbi, c->sbi, "case %zu: simpleBlockId %d", i, sbi);
        cr_expect_eq(q.limit_days_bad ? -2 : q.limit_days, c->limit_days,
                     "case %zu: limitDays", i);
        cr_expect_eq(q.has_token, c->has_token, "case %zu", i);
    }
}

Test(key, parse_query_long_phone_is_flagged)
{
    struct key_query q;
    char             query[512];

    memset(query, '1', sizeof(query));
    memcpy(query, "phone=", 6);
    query[sizeof(query) - 1] = '\0';
    key_parse_query(query, &q);
    cr_expect(q.has_phone);
    cr_expect(q.phone_too_long);
}

/* A %00 would end the decoded C string early: the phone before it must
 * not stand for the whole value (its key would file another answer). */
Test(key, parse_query_nul_in_a_phone_is_flagged)
{
    struct key_query q;

    key_parse_query("phone=%2B18015551234%00x", &q);
    cr_expect(q.has_phone);
    cr_expect(q.phone_too_long);
    key_parse_query("phone=%2B18015551234", &q);
    cr_expect_not(q.phone_too_long);
    key_parse_query("limitDays=3%00&phone=1", &q);
    cr_expect(q.limit_days_bad);
}

Test(key, tenant_is_a_truncated_sha256)
{
    char t[KEY_TENANT_HEX + 1], u[KEY_TENANT_HEX + 1];

    key_tenant("abc", 3, t);
    /* SHA-256("abc") = ba7816bf8f01cfea414140de5dae2223b00361a3... */
    cr_expect_str_eq(t, "ba7816bf8f01cfea414140de5dae2223");
    key_tenant("abd", 3, u);
    cr_expect_str_neq(t, u);
    cr_expect_null(strstr(t, "abc"));
}

struct entry_case {
    enum route_id id;
    const char   *crm;
    const char   *query;
    int           rc;
    const char   *hash;
    const char   *field;
    const char   *epoch;
    const char   *bgen;
};

#define T "{0123456789abcdef0123456789abcdef}"
/* The name of +18015551234 under the keys of the token "tok-alpha" (see
 * names_known_answers): the builders only format it. */
#define PH "4ba2ea01e338780e41e5fc477c76ccf1"

static const struct entry_case entry_cases[] = {
    { ROUTE_QUERY, NULL, "phone=1", 0, "hsp:v3:" T ":lead:" PH, "q",
      "hsp:v3:" T ":ep:" PH, "" },
    { ROUTE_QUERY_CRM, "a0B8X00000DXabc", "phone=1", 0,
      "hsp:v3:" T ":lead:" PH, "c:a0B8X00000DXabc",
      "hsp:v3:" T ":ep:" PH, "" },
    { ROUTE_QUERY_CRM, "a%20b", "phone=1", -1, "", "", "", "" },
    { ROUTE_QUERY_CRM, "a:b", "phone=1", -1, "", "", "", "" },
    { ROUTE_BLOCKS, NULL, "phone=1", 0, "hsp:v3:" T ":blocks:" PH,
      "s0:d-", "hsp:v3:" T ":ep:" PH, "hsp:v3:" T ":bgen" },
    { ROUTE_BLOCKS, NULL, "limitDays=5&simpleBlockId=true&phone=1", 0,
      "hsp:v3:" T ":blocks:" PH, "s1:d5",
      "hsp:v3:" T ":ep:" PH, "hsp:v3:" T ":bgen" },
    { ROUTE_BLOCKS, NULL, "phone=1&simpleBlockId=true&limitDays=5", 0,
      "hsp:v3:" T ":blocks:" PH, "s1:d5",
      "hsp:v3:" T ":ep:" PH, "hsp:v3:" T ":bgen" },
    { ROUTE_BLOCKS, NULL, "phone=1&simpleBlockId=false", 0,
      "hsp:v3:" T ":blocks:" PH, "s0:d-",
      "hsp:v3:" T ":ep:" PH, "hsp:v3:" T ":bgen" },
    { ROUTE_DISPOSITIONS, NULL, "", 0, "hsp:v3:" T ":disp", "d",
      "hsp:v3:" T ":ep", "" },
    { ROUTE_UPDATE, NULL, "", -1, "", "", "", "" },
    { ROUTE_HEALTHZ, NULL, "", -1, "", "", "", "" },
};

Test(key, entry_table)
{
    size_t i;

    for (i = 0; i < sizeof(entry_cases) / sizeof(entry_cases[0]); i++) {
        const struct entry_case *c = &entry_cases[i];
        struct key_query         q;
        struct key_entry         k;
        int                      rc;

        key_parse_query(c->query, &q);
        rc = key_entry("hsp", "0123456789abcdef0123456789abcdef", c->id,
                       c->id == ROUTE_DISPOSITIONS ? NULL : PH, c->crm, &q,
                       &k);
        cr_expect_eq(rc, c->rc, "case %zu: rc %d", i, rc);
        if (rc != 0) {
            continue;
        }
        cr_expect_str_eq(k.hash, c->hash, "case %zu", i);
        cr_expect_str_eq(k.field, c->field, "case %zu", i);
        cr_expect_str_eq(k.epoch, c->epoch, "case %zu", i);
        cr_expect_str_eq(k.bgen, c->bgen, "case %zu", i);
    }
}

/*
 * Names of phones and Idempotency-Keys under the keys a token derives:
 * HMAC-SHA256 under HKDF-SHA256(token, "heavyset-proxy seal v1",
 * "heavyset-proxy names") of "<domain>\0<input>", first 128 bits in hex.
 * The expected names were computed apart from this code, with Python's
 * hmac and hashlib (HKDF written out as RFC 5869 gives it).
 */
static const struct {
    const char *token;
    bool        idem;
    const char *in;
    const char *name;
} name_cases[] = {
    { "tok-alpha", false, "+18015551234", PH },
    { "tok-alpha", false, "+447700900123", "e44e07138296b7cb2ee7a9b7096b3dd8" },
    { "tok-alpha", true, "abc", "5c8ba7dfe4dce953b539a85d80d1a260" },
    { "tok-bravo", false, "+18015551234", "727fdc55fff1d910131c0be78cfd03fb" },
    { "tok-bravo", true, "abc", "a218131ad9b993ffb3409fb8dc089b7f" },
};

Test(key, names_known_answers)
{
    struct seal_ctx *c = seal_ctx_new();
    size_t           i;

    cr_assert_not_null(c);
    for (i = 0; i < sizeof(name_cases) / sizeof(name_cases[0]); i++) {
        struct seal_keys *k = seal_keys_new(c, name_cases[i].token,
                                            strlen(name_cases[i].token));
        char              out[KEY_NAME_HEX + 1];
        int               rc;

        cr_assert_not_null(k);
        rc = name_cases[i].idem ? key_idem_name(c, k, name_cases[i].in, out)
                                : key_phone(c, k, name_cases[i].in, out);
        cr_expect_eq(rc, 0, "case %zu", i);
        cr_expect_str_eq(out, name_cases[i].name, "case %zu", i);
        seal_keys_free(k);
    }
    seal_ctx_free(c);
}

Test(key, names_are_not_the_v1_hashes)
{
    struct seal_ctx  *c = seal_ctx_new();
    struct seal_keys *k;
    char              out[KEY_NAME_HEX + 1];

    cr_assert_not_null(c);
    k = seal_keys_new(c, "abc", 3);
    cr_assert_not_null(k);
    /* v1 named +18015551234 of tenant key_tenant("abc") by the plain
     * SHA-256 of "ba7816bf8f01cfea414140de5dae2223:+18015551234". */
    cr_assert_eq(key_phone(c, k, "+18015551234", out), 0);
    cr_expect_str_neq(out, "0d943eb1b6a71d7a299c537820b35e7d");
    cr_expect_null(strstr(out, "8015551234"));
    seal_keys_free(k);
    seal_ctx_free(c);
}

Test(key, update_keys_match_the_lookup_keys)
{
    struct key_query q;
    struct key_entry lookup, lead, blocks_lookup;
    char             blocks[KEY_MAX];

    key_parse_query("phone=1", &q);
    key_entry("p", "t", ROUTE_QUERY, PH, NULL, &q, &lookup);
    key_entry("p", "t", ROUTE_BLOCKS, PH, NULL, &q, &blocks_lookup);
    key_update("p", "t", PH, &lead, blocks, sizeof(blocks));
    cr_expect_str_eq(lead.hash, lookup.hash);
    cr_expect_str_eq(lead.field, lookup.field);
    cr_expect_str_eq(lead.epoch, lookup.epoch);
    cr_expect_str_eq(lead.bgen, blocks_lookup.bgen);
    cr_expect_str_eq(blocks, blocks_lookup.hash);
}

Test(key, idem_record_is_scoped_by_tenant)
{
    static const char t1[] = "0123456789abcdef0123456789abcdef";
    static const char t2[] = "fedcba9876543210fedcba9876543210";
    char              a[KEY_MAX], b[KEY_MAX];

    /* the name of "abc" under tok-alpha's keys (names_known_answers) */
    key_idem("hsp", t1, "5c8ba7dfe4dce953b539a85d80d1a260", a);
    cr_expect_str_eq(a, "hsp:v3:{0123456789abcdef0123456789abcdef}:idem:"
                        "5c8ba7dfe4dce953b539a85d80d1a260");
    key_idem("hsp", t2, "5c8ba7dfe4dce953b539a85d80d1a260", b);
    cr_expect_str_neq(a, b, "the same key under two tenants is two records");
}

/* The token of a query, found as the upstream finds it (SPEC §3, §11). */
static const struct {
    const char    *query;
    enum key_param want;
    const char    *value;
} value_cases[] = {
    { NULL, KEY_PARAM_ABSENT, "" },
    { "", KEY_PARAM_ABSENT, "" },
    { "token=abc", KEY_PARAM_FOUND, "abc" },
    { "&phone=1&token=abc", KEY_PARAM_FOUND, "abc" },
    { "phone=1&&token=abc&&", KEY_PARAM_FOUND, "abc" },
    { "flag&token=abc", KEY_PARAM_FOUND, "abc" },
    { "token=&token=abc", KEY_PARAM_FOUND, "abc" },
    { "token=abc&token=abc", KEY_PARAM_FOUND, "abc" },
    { "token=abc&token=", KEY_PARAM_FOUND, "abc" },
    { "token=a%2Bb+c", KEY_PARAM_FOUND, "a+b c" },
    { "%74oken=abc", KEY_PARAM_FOUND, "abc" },
    { "TOKEN=B", KEY_PARAM_ABSENT, "" },
    { "TOKEN=B&token=A", KEY_PARAM_FOUND, "A" },
    { "Token=B&token=A", KEY_PARAM_FOUND, "A" },
    { "token=A&token=B", KEY_PARAM_CONFLICT, NULL },
    { "token=A&%74oken=B", KEY_PARAM_CONFLICT, NULL },
    { "token=a%00b", KEY_PARAM_BAD, NULL },
    { "token", KEY_PARAM_ABSENT, "" },
    { "token=", KEY_PARAM_ABSENT, "" },
    { "tokens=abc", KEY_PARAM_ABSENT, "" },
};

Test(key, query_value_table)
{
    size_t i;

    for (i = 0; i < sizeof(value_cases) / sizeof(value_cases[0]); i++) {
        const char    *q = value_cases[i].query;
        char           out[64];
        size_t         len = 99;
        enum key_param got;

        got = key_query_value(q, "token", out, sizeof(out), &len);
        cr_expect_eq(got, value_cases[i].want, "%s: %d", q ? q : "(null)",
                     got);
        if (value_cases[i].value != NULL) {
            cr_expect_str_eq(out, value_cases[i].value, "%s", q ? q : "");
            cr_expect_eq(len, strlen(value_cases[i].value), "%s",
                         q ? q : "");
        }
    }
}

/* The phone goes upstream as the number the key names, the rest as sent. */
static const struct {
    const char *query;
    const char *want;
} phone_cases[] = {
    { "phone=8015551234", "phone=%2B18015551234" },
    { "phone=(801)+555-1234&token=x", "phone=%2B18015551234&token=x" },
    { "&phone=801.555.1234&&flag", "&phone=%2B18015551234&&flag" },
    { "limitDays=3&phone=%2B18015551234&simpleBlockId=true",
      "limitDays=3&phone=%2B18015551234&simpleBlockId=true" },
    { "phones=1&phone=1", "phones=1&phone=%2B18015551234" },
    { "%70hone=8015551234", "phone=%2B18015551234" },
    { "", "" },
};

Test(key, query_set_phone_table)
{
    size_t i;
    char   out[128];

    for (i = 0; i < sizeof(phone_cases) / sizeof(phone_cases[0]); i++) {
        int n = key_query_set_phone(phone_cases[i].query, "+18015551234",
                                    out, sizeof(out));

        cr_expect_str_eq(out, phone_cases[i].want, "%s",
                         phone_cases[i].query);
        cr_expect_eq(n, (int)strlen(phone_cases[i].want));
    }
    cr_expect_eq(key_query_set_phone("phone=1&token=abcdef", "+18015551234",
                                     out, 16), -1);
    cr_expect_str_eq(out, "");
}

/* ---- the phone of a query, as the upstream checks it ---------------------- */

static const struct {
    const char *query;
    const char *e164;               /* NULL: refused */
    size_t      nmsgs;
    const char *first;              /* the first message */
} check_cases[] = {
    { "phone=%2B18015551234", "+18015551234", 0, NULL },
    { "phone=(801)%20555-1234", "+18015551234", 0, NULL },
    { "phone=801.555.1234&limitDays=3", "+18015551234", 0, NULL },
    { "phone=%2B447700900123", "+447700900123", 0, NULL },
    { NULL, NULL, 2, "phone should not be empty" },
    { "", NULL, 2, "phone should not be empty" },
    { "phone=", NULL, 2, "phone should not be empty" },
    { "phone", NULL, 2, "phone should not be empty" },
    { "phone=1&phone=2", NULL, 2, "phone must be a string" },
    { "phone=12", NULL, 1, "phone must be a valid phone number" },
    { "phone=abc", NULL, 1, "phone must be a valid phone number" },
    { "phone=8015551234567890123456789012345678901234567890123456789012345",
      NULL, 1, "phone must be a valid phone number" },
};

Test(key, query_phone_table)
{
    size_t i;

    for (i = 0; i < sizeof(check_cases) / sizeof(check_cases[0]); i++) {
        struct key_query   q;
        const char *const *msgs = (const char *const *)&q;
        char               e164[PHONE_E164_MAX] = "";
        size_t             n;

        key_parse_query(check_cases[i].query, &q);
        n = key_query_phone(&q, e164, sizeof(e164), &msgs);
        cr_expect_eq(n, check_cases[i].nmsgs, "%s: %zu messages",
                     check_cases[i].query, n);
        if (check_cases[i].e164 != NULL) {
            cr_expect_str_eq(e164, check_cases[i].e164, "%s",
                             check_cases[i].query);
            cr_expect_null(msgs);
        } else if (n > 0) {
            cr_expect_str_eq(msgs[0], check_cases[i].first, "%s",
                             check_cases[i].query);
        }
    }
}

/* ---- the keys of a PURGE -------------------------------------------------- */

#define PT "0123456789abcdef0123456789abcdef"

static const struct {
    const char          *prefix;
    enum key_purge_scope scope;
    const char          *phone;
    int                  rc;
    int                  nhashes;
    const char          *hashes[2];
    const char          *epoch;
    const char          *match;
} purge_cases[] = {
    { "hsp", KEY_PURGE_PHONE, "ph1", 0, 2,
      { "hsp:v3:{" PT "}:lead:ph1", "hsp:v3:{" PT "}:blocks:ph1" },
      "hsp:v3:{" PT "}:ep:ph1", "" },
    { "hsp", KEY_PURGE_DISPOSITIONS, NULL, 0, 1,
      { "hsp:v3:{" PT "}:disp", "" }, "hsp:v3:{" PT "}:ep", "" },
    { "hsp", KEY_PURGE_TENANT, NULL, 0, 0, { "", "" },
      "hsp:v3:{" PT "}:ep", "hsp:v3:{" PT "}:*" },
    /* a prefix holding MATCH's glob characters matches only itself */
    { "a*b?c[d]e\\f", KEY_PURGE_TENANT, NULL, 0, 0, { "", "" },
      "a*b?c[d]e\\f:v3:{" PT "}:ep",
      "a\\*b\\?c\\[d\\]e\\\\f:v3:{" PT "}:*" },
    /* a phone purge needs the phone's name */
    { "x", KEY_PURGE_PHONE, NULL, -1, 2, { "", "" }, "", "" },
    { "x", KEY_PURGE_PHONE, "", -1, 2, { "", "" }, "", "" },
};

Test(key, purge_table)
{
    size_t i;
    int    j;

    for (i = 0; i < sizeof(purge_cases) / sizeof(purge_cases[0]); i++) {
        struct key_purge p;
        int rc = key_purge(purge_cases[i].prefix, PT, purge_cases[i].scope,
                           purge_cases[i].phone, &p);

        cr_expect_eq(rc, purge_cases[i].rc, "case %zu: rc %d", i, rc);
        if (rc != 0) {
            continue;
        }
        cr_expect_eq(p.nhashes, purge_cases[i].nhashes, "case %zu", i);
        for (j = 0; j < p.nhashes; j++) {
            cr_expect_str_eq(p.hashes[j], purge_cases[i].hashes[j],
                             "case %zu", i);
        }
        cr_expect_str_eq(p.epoch, purge_cases[i].epoch, "case %zu", i);
        cr_expect_str_eq(p.match, purge_cases[i].match, "case %zu", i);
    }
}

/* A PURGE names exactly the keys the reads of the phone store under. */
Test(key, purge_names_the_entries_keys)
{
    struct key_query q;
    struct key_entry e;
    struct key_purge p;
    static const enum route_id ids[] = { ROUTE_QUERY, ROUTE_QUERY_CRM,
                                         ROUTE_BLOCKS };
    size_t i;

    memset(&q, 0, sizeof(q));
    q.limit_days = -1;
    cr_assert_eq(key_purge("hsp", PT, KEY_PURGE_PHONE, "ph1", &p), 0);
    for (i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
        cr_assert_eq(key_entry("hsp", PT, ids[i], "ph1", "crm1", &q, &e), 0);
        cr_expect(strcmp(e.hash, p.hashes[0]) == 0 ||
                      strcmp(e.hash, p.hashes[1]) == 0,
                  "route %d: %s not purged", (int)ids[i], e.hash);
        cr_expect_str_eq(e.epoch, p.epoch, "route %d", (int)ids[i]);
        cr_expect_eq(strncmp(e.hash, p.base, strlen(p.base)), 0);
    }
    cr_assert_eq(key_entry("hsp", PT, ROUTE_DISPOSITIONS, NULL, NULL, &q, &e),
                 0);
    cr_assert_eq(key_purge("hsp", PT, KEY_PURGE_DISPOSITIONS, NULL, &p), 0);
    cr_expect_str_eq(e.hash, p.hashes[0]);
    cr_expect_str_eq(e.epoch, p.epoch);
}

/* A prefix too long for a name is refused, never cut. */
Test(key, purge_refuses_what_does_not_fit)
{
    char             prefix[KEY_MAX];
    struct key_purge p;

    memset(prefix, 'p', sizeof(prefix) - 1);
    prefix[sizeof(prefix) - 1] = '\0';
    cr_expect_eq(key_purge(prefix, PT, KEY_PURGE_TENANT, NULL, &p), -1);
    prefix[KEY_MAX - 60] = '\0';
    cr_expect_eq(key_purge(prefix, PT, KEY_PURGE_DISPOSITIONS, NULL, &p), 0);
    cr_expect_eq(key_purge(prefix, PT, KEY_PURGE_PHONE,
                           "0123456789abcdef0123456789abcdef", &p), -1);
}
