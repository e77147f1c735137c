/* test_idem.c - Idempotency-Key syntax, canonical bodies, fingerprints. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "idem.h"

struct key_case {
    const char *header;
    int         rc;
    const char *key;            /* OUT when rc is 0 */
};

static const struct key_case key_cases[] = {
    { "abc", 0, "abc" },
    { "\"abc\"", 0, "abc" },
    { "  abc\t", 0, "abc" },
    { " \t\"abc\" ", 0, "abc" },
    { "\"a\\\"b\"", 0, "a\"b" },
    { "\"a\\\\b\"", 0, "a\\b" },
    { "8e3b-4f1a_~!#$%&'()*+,./:;<=>?@[]^`{|}", 0,
      "8e3b-4f1a_~!#$%&'()*+,./:;<=>?@[]^`{|}" },
    { "a\\b", 0, "a\\b" },      /* backslash is visible ASCII when bare */
    { "", -1, NULL },
    { "   ", -1, NULL },
    { "\"\"", -1, NULL },
    { "\"", -1, NULL },
    { "\"abc", -1, NULL },
    { "abc\"", -1, NULL },
    { "a\"b", -1, NULL },
    { "\"a\"b\"", -1, NULL },
    { "\"abc\"x", -1, NULL },
    { "\"a\\nb\"", -1, NULL },  /* only \" and \\ escape */
    { "\"abc\\\"", -1, NULL },  /* the closing quote is escaped */
    { "a b", -1, NULL },
    { "\"a b\"", -1, NULL },    /* a valid sf-string, but not a key */
    { "a\tb", -1, NULL },
    { "\"a\tb\"", -1, NULL },
    { "caf\xc3\xa9", -1, NULL },
    { "\"caf\xc3\xa9\"", -1, NULL },
    { "a\x01" "b", -1, NULL },
    { "a\x7f", -1, NULL },
    { "\"a\x7f\"", -1, NULL },
    { "a\r\nb", -1, NULL },
};

Test(idem, key_table)
{
    size_t i;

    for (i = 0; i < sizeof(key_cases) / sizeof(key_cases[0]); i++) {
        const struct key_case *c = &key_cases[i];
        char                   out[IDEM_KEY_MAX + 1];
        int                    rc;

        memset(out, 'x', sizeof(out));
        rc = idem_key_parse(c->header, out, sizeof(out));
        cr_expect_eq(rc, c->rc, "case %zu (%s): rc %d", i, c->header, rc);
        cr_expect_str_eq(out, c->rc == 0 ? c->key : "", "case %zu", i);
    }
}

Test(idem, key_null)
{
    char out[8];

    cr_expect_eq(idem_key_parse(NULL, out, sizeof(out)), -1);
    cr_expect_str_eq(out, "");
}

Test(idem, key_lengths)
{
    char key[300], quoted[310], out[IDEM_KEY_MAX + 1];

    memset(key, 'k', 255);
    key[255] = '\0';
    cr_expect_eq(idem_key_parse(key, out, sizeof(out)), 0);
    cr_expect_eq(strlen(out), 255);
    snprintf(quoted, sizeof(quoted), "\"%s\"", key);
    cr_expect_eq(idem_key_parse(quoted, out, sizeof(out)), 0);
    cr_expect_eq(strlen(out), 255);
    /* Escapes count once: 254 characters and one \\ make 255. */
    snprintf(quoted, sizeof(quoted), "\"%.254s\\\\\"", key);
    cr_expect_eq(idem_key_parse(quoted, out, sizeof(out)), 0);
    cr_expect_eq(strlen(out), 255);

    memset(key, 'k', 256);
    key[256] = '\0';
    cr_expect_eq(idem_key_parse(key, out, sizeof(out)), -1);
    snprintf(quoted, sizeof(quoted), "\"%s\"", key);
    cr_expect_eq(idem_key_parse(quoted, out, sizeof(out)), -1);

    /* A CAP too small for the key is a refusal, never a truncation. */
    cr_expect_eq(idem_key_parse("abcd", out, 4), -1);
    cr_expect_eq(idem_key_parse("abc", out, 4), 0);
    cr_expect_str_eq(out, "abc");
}

Test(idem, key_forms_equal)
{
    char bare[IDEM_KEY_MAX + 1], quoted[IDEM_KEY_MAX + 1];

    cr_assert_eq(idem_key_parse("x-7f3a", bare, sizeof(bare)), 0);
    cr_assert_eq(idem_key_parse(" \"x-7f3a\"\t", quoted, sizeof(quoted)), 0);
    cr_expect_str_eq(bare, quoted);
}

struct canon_case {
    const char *body;
    int         rc;
    const char *canon;          /* when rc is 0 */
};

static const struct canon_case canon_cases[] = {
    { "{\"b\":1,\"a\":2}", 0, "{\"a\":2,\"b\":1}" },
    { "{\"z\":{\"y\":1,\"x\":2},\"a\":0}", 0,
      "{\"a\":0,\"z\":{\"x\":2,\"y\":1}}" },
    { "{\"k\":{\"k\":{\"c\":3,\"b\":2,\"a\":1}}}", 0,
      "{\"k\":{\"k\":{\"a\":1,\"b\":2,\"c\":3}}}" },
    /* Bytewise: upper case before lower case, shorter prefix first,
     * UTF-8 after ASCII. */
    { "{\"b\":1,\"B\":2,\"aa\":3,\"a\":4,\"\xc3\xa9\":5}", 0,
      "{\"B\":2,\"a\":4,\"aa\":3,\"b\":1,\"\xc3\xa9\":5}" },
    { " \r\n{ \"a\" :\t[ 1 , 2 ] }\n ", 0, "{\"a\":[1,2]}" },
    { "[{\"b\":1,\"a\":2},{\"d\":{},\"c\":[]}]", 0,
      "[{\"a\":2,\"b\":1},{\"c\":[],\"d\":{}}]" },
    { "[3,1,2]", 0, "[3,1,2]" },
    { "{}", 0, "{}" },
    { "[]", 0, "[]" },
    { "{\"a\":{\"b\":{}},\"c\":[[],[{}]]}", 0,
      "{\"a\":{\"b\":{}},\"c\":[[],[{}]]}" },
    { "\"\\u00e9\"", 0, "\"\xc3\xa9\"" },
    { "\"\xc3\xa9\"", 0, "\"\xc3\xa9\"" },
    { "\"\\ud83d\\ude00\"", 0, "\"\xf0\x9f\x98\x80\"" },
    { "\"\\u0041\\/\"", 0, "\"A/\"" },
    { "\"a\\\"b\\\\c\"", 0, "\"a\\\"b\\\\c\"" },
    { "\"\\u0022\\u005c\"", 0, "\"\\\"\\\\\"" },
    { "\"\\n\\t\\r\\b\\f\\u0001\\u001F\"", 0,
      "\"\\n\\t\\r\\b\\f\\u0001\\u001f\"" },
    { "\"\\u007f\"", 0, "\"\x7f\"" },
    { "[1.50,1e3,1E+03,-0.0,1.0e-5,0.1]", 0,
      "[1.50,1e3,1E+03,-0.0,1.0e-5,0.1]" },
    { "[0,-1,42,-0]", 0, "[0,-1,42,0]" },
    { "[9223372036854775807,18446744073709551614]", 0,
      "[9223372036854775807,18446744073709551614]" },
    { "[true,false,null]", 0, "[true,false,null]" },
    { "42", 0, "42" },
    { "\"s\"", 0, "\"s\"" },
    { "null", -1, NULL },      /* json_parse_strict: not a document */
    /* Duplicate keys: json-c keeps the last. */
    { "{\"a\":1,\"a\":2}", 0, "{\"a\":2}" },
    { "{\"a\":1,\"b\":0,\"a\":{\"y\":1,\"x\":0}}", 0,
      "{\"a\":{\"x\":0,\"y\":1},\"b\":0}" },
    { "{\"a\":1", -1, NULL },
    { "{\"a\":1,}", -1, NULL },
    { "{a:1}", -1, NULL },
    { "{\"a\":1} x", -1, NULL },
    { "{\"a\":1}{}", -1, NULL },
    { "[1]]", -1, NULL },
    { "'a'", -1, NULL },
    { "[NaN]", -1, NULL },
    { "\"\x01\"", -1, NULL },
    { "\"\xff\"", -1, NULL },
    { " ", -1, NULL },
    { "[18446744073709551616]", -1, NULL },   /* json-c would clamp */
    { "[-9223372036854775809]", -1, NULL },
    /* json-c cuts keys at NUL, so such keys are refused, values are not */
    { "{\"a\\u0000x\":1}", -1, NULL },
    { "{\"k\":{\"\\u0000\" :1}}", -1, NULL },
    { "{\"k\":\"\\u0000\"}", 0, "{\"k\":\"\\u0000\"}" },
    { "{\"a\\\\u0000\":1}", 0, "{\"a\\\\u0000\":1}" },
};

Test(idem, canonical_table)
{
    size_t i;

    for (i = 0; i < sizeof(canon_cases) / sizeof(canon_cases[0]); i++) {
        const struct canon_case *c = &canon_cases[i];
        char                     err[128] = "";
        static char              unset[] = "unset";
        char                    *out = unset; /* must become NULL on -1 */
        size_t                   outlen = 99;
        int                      rc;

        rc = idem_canonical(c->body, strlen(c->body), &out, &outlen, err,
                            sizeof(err));
        cr_expect_eq(rc, c->rc, "case %zu (%s): rc %d %s", i, c->body, rc,
                     err);
        if (c->rc == 0 && rc == 0) {
            cr_expect_str_eq(out, c->canon, "case %zu", i);
            cr_expect_eq(outlen, strlen(c->canon), "case %zu", i);
        } else if (rc != 0) {
            cr_expect_null(out, "case %zu", i);
            cr_expect_neq(err[0], '\0', "case %zu: no reason", i);
        }
        if (rc == 0) {
            free(out);
        }
    }
}

Test(idem, canonical_empty)
{
    char   err[64];
    char  *out = NULL;
    size_t outlen = 99;

    cr_assert_eq(idem_canonical(NULL, 0, &out, &outlen, err, sizeof(err)), 0);
    cr_expect_str_eq(out, "");
    cr_expect_eq(outlen, 0);
    free(out);
}

Test(idem, canonical_nul_in_string)
{
    static const char body[] = "[\"a\\u0000b\"]";
    char              err[64];
    char             *out = NULL;
    size_t            outlen = 0;

    cr_assert_eq(idem_canonical(body, strlen(body), &out, &outlen, err,
                                sizeof(err)), 0);
    cr_expect_str_eq(out, "[\"a\\u0000b\"]");
    free(out);
}

/* The fingerprint of METHOD PATH and BODY, through the canonical form. */
static void
fp_of(const char *method, const char *path, const char *body, char *fp)
{
    char   err[128];
    char  *canon = NULL;
    size_t len = 0;

    cr_assert_eq(idem_canonical(body, strlen(body), &canon, &len, err,
                                sizeof(err)), 0, "%s: %s", body, err);
    idem_fingerprint(method, path, canon, len, fp);
    free(canon);
}

Test(idem, fingerprint)
{
    char a[IDEM_FP_HEX + 1], b[IDEM_FP_HEX + 1];

    fp_of("PATCH", "/phone/update", "{\"phone\":\"+18015551234\",\"x\":[1,2]}",
          a);
    cr_expect_eq(strlen(a), IDEM_FP_HEX);
    cr_expect_eq(strspn(a, "0123456789abcdef"), IDEM_FP_HEX);

    fp_of("PATCH", "/phone/update",
          "\n{ \"x\" : [ 1, 2 ],\n  \"phone\": \"\\u002b18015551234\" }\n", b);
    cr_expect_str_eq(a, b, "reordered and reformatted");

    fp_of("POST", "/phone/update", "{\"phone\":\"+18015551234\",\"x\":[1,2]}",
          b);
    cr_expect_str_neq(a, b, "method");
    fp_of("PATCH", "/phone/update2",
          "{\"phone\":\"+18015551234\",\"x\":[1,2]}", b);
    cr_expect_str_neq(a, b, "path");
    fp_of("PATCH", "/phone/update", "{\"phone\":\"+18015551234\",\"x\":[2,1]}",
          b);
    cr_expect_str_neq(a, b, "array order");
    fp_of("PATCH", "/phone/update",
          "{\"phone\":\"+18015551235\",\"x\":[1,2]}", b);
    cr_expect_str_neq(a, b, "value");
    fp_of("PATCH", "/phone/update",
          "{\"phone\":\"+18015551234\",\"x\":[1,2.0]}", b);
    cr_expect_str_neq(a, b, "2 and 2.0 are written differently");
}

Test(idem, fingerprint_known)
{
    char fp[IDEM_FP_HEX + 1];

    /* sha256 of "GET\n/\n" (printf 'GET\n/\n' | sha256sum). */
    idem_fingerprint("GET", "/", NULL, 0, fp);
    cr_expect_str_eq(
        fp, "139fb16fdd19069e75f6f3dd0e619a89fb157dab65e8722c66e6b3fd43f7900c");
}
