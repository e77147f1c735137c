/* test_json.c - the strict parser and the non-coercing getters. */
#include "config.h"

#include <criterion/criterion.h>

#include <string.h>

#include <json-c/json.h>

#include "json.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* LEN is explicit so that cases may hold NUL bytes. */
#define JSON_CASE(text, want) { text, sizeof(text) - 1, want }

struct parse_case {
    const char *text;
    size_t      len;
    const char *want;   /* compact output, or "!reason" for a rejection */
};

static const struct parse_case parse_cases[] = {
    JSON_CASE("{}", "{}"),
    JSON_CASE("{} ", "{}"),
    JSON_CASE("{}\r\n\t ", "{}"),
    JSON_CASE(" \n{\"a\":1}", "{\"a\":1}"),
    JSON_CASE("[1,2,3]", "[1,2,3]"),
    JSON_CASE("{\"a\":{\"b\":[true,false,null]}}",
              "{\"a\":{\"b\":[true,false,null]}}"),
    JSON_CASE("\"s\"", "\"s\""),
    JSON_CASE("123", "123"),                    /* number at the very end */
    JSON_CASE("-0", "0"),
    JSON_CASE("true", "true"),
    JSON_CASE("1.5e3", "1.5e3"),
    JSON_CASE("{\"u\":\"http://x/y\"}", "{\"u\":\"http://x/y\"}"),
    JSON_CASE("{\"a\":\"\\u00e4\"}", "{\"a\":\"\xc3\xa4\"}"),
    JSON_CASE("[\"\xc3\xa4\xe2\x82\xac\xf0\x9f\x98\x80\"]",
              "[\"\xc3\xa4\xe2\x82\xac\xf0\x9f\x98\x80\"]"),
    JSON_CASE("[\"\xef\xbf\xbf\xf4\x8f\xbf\xbf\"]",
              "[\"\xef\xbf\xbf\xf4\x8f\xbf\xbf\"]"),
    /* json-c keeps the last of duplicate keys; so do we. */
    JSON_CASE("{\"a\":1,\"a\":2}", "{\"a\":2}"),
    JSON_CASE("{\"a\":\"x\\ty\\\"z\"}", "{\"a\":\"x\\ty\\\"z\"}"),
    JSON_CASE("", "!end of"),
    JSON_CASE("   ", "!end of"),
    JSON_CASE("{\"a\":", "!end of"),
    JSON_CASE("[1,2", "!end of"),
    JSON_CASE("\"abc", "!end of"),
    JSON_CASE("/* c */ {}", "!unexpected character"),
    JSON_CASE("{} // c", "!unexpected character"),
    JSON_CASE("{\"a\":1 /* c */}", "!separator"),
    JSON_CASE("{} x", "!unexpected character"),
    JSON_CASE("{}{}", "!unexpected character"),
    JSON_CASE("[1] 2", "!unexpected character"),
    JSON_CASE("{\"a\":1}\0", "!trailing data"),
    JSON_CASE("{\"a\":1,}", "!unexpected character"),
    JSON_CASE("[1,2,]", "!unexpected character"),
    JSON_CASE("{a:1}", "!quoted object property name"),
    JSON_CASE("{'a':1}", "!single-quoted"),
    JSON_CASE("{\"a\":'b'}", "!unexpected character"),
    JSON_CASE("{\"a\":NaN}", "!unexpected character"),
    JSON_CASE("{\"a\":-Infinity}", "!unexpected character"),
    JSON_CASE("{\"a\":tru}", "!boolean expected"),
    JSON_CASE("{\"a\":True}", "!boolean expected"),
    JSON_CASE("null", "!null is not a document"),
    JSON_CASE("+1", "!unexpected character"),
    JSON_CASE(".5", "!unexpected character"),
    JSON_CASE("0x10", "!unexpected character"),
    JSON_CASE("{\"a\":\"x\\qy\"}", "!invalid string sequence"),
    JSON_CASE("{\"a\":\"x\ty\"}", "!control character"),
    JSON_CASE("\"\xff\"", "!utf-8"),
    JSON_CASE("\"\xc3\"", "!utf-8"),                /* truncated */
    JSON_CASE("\"\xc3(\"", "!utf-8"),
    JSON_CASE("\"\xc0\xaf\"", "!utf-8"),            /* overlong '/' */
    JSON_CASE("\"\xe0\x80\xaf\"", "!utf-8"),        /* overlong '/' */
    JSON_CASE("\"\xed\xa0\x80\"", "!utf-8"),        /* a surrogate */
    JSON_CASE("\"\xf4\x90\x80\x80\"", "!utf-8"),    /* past U+10FFFF */
    JSON_CASE("\"\xf8\x88\x80\x80\x80\"", "!utf-8"),
    JSON_CASE("\xef\xbb\xbf{}", "!utf-8"),          /* a byte order mark */
    JSON_CASE("{\"a\":1}\xc3\xa4", "!"),
};

Test(json, parse_strict_table)
{
    size_t i;

    for (i = 0; i < NELEM(parse_cases); i++) {
        const struct parse_case *c = &parse_cases[i];
        struct json_object      *obj;
        char                     err[128] = "";

        obj = json_parse_strict(c->text, c->len, err, sizeof(err));
        if (c->want[0] == '!') {
            cr_expect_null(obj, "case %zu '%s' accepted", i, c->text);
            cr_expect(strncmp(err, "invalid JSON: ", 14) == 0,
                      "case %zu: reason '%s'", i, err);
            cr_expect_not_null(strstr(err, c->want + 1),
                               "case %zu '%s': reason '%s' lacks '%s'", i,
                               c->text, err, c->want + 1);
        } else {
            cr_expect_not_null(obj, "case %zu '%s' rejected: %s", i, c->text,
                               err);
            if (obj != NULL) {
                cr_expect_str_eq(json_compact(obj, NULL), c->want,
                                 "case %zu", i);
            }
        }
        json_object_put(obj);
    }
}

Test(json, parse_strict_limits)
{
    struct json_object *obj;
    char                err[16];

    obj = json_parse_strict("{\"abc\":", 7, err, sizeof(err));
    cr_expect_null(obj);
    cr_expect_eq(strlen(err), sizeof(err) - 1, "the reason is truncated");
    /* Only LEN bytes are read: the rest of the buffer is not looked at. */
    obj = json_parse_strict("{\"a\":1} garbage", 7, err, sizeof(err));
    cr_expect_not_null(obj);
    json_object_put(obj);
    obj = json_parse_strict("[1,2]", 3, err, sizeof(err));
    cr_expect_null(obj, "a truncated array");
}

/* Members of every type, for the getters. */
static const char getter_doc[] =
    "{\"port\":\"80x\",\"n\":80,\"neg\":-5,\"f\":1.5,\"e\":1e2,"
    "\"big\":9007199254740993,\"max\":9223372036854775807,"
    "\"over\":9223372036854775808,\"huge\":99999999999999999999999,"
    "\"under\":-9223372036854775809,\"b\":true,\"bf\":false,"
    "\"bs\":\"true\",\"s\":\"str\",\"empty\":\"\",\"num\":\"80\","
    "\"nul\":null,\"o\":{},\"arr\":[1],\"zero\":\"x\\u0000y\"}";

enum getter_kind { GET_INT, GET_BOOL, GET_STRING, GET_HAS };

struct getter_case {
    enum getter_kind kind;
    const char      *key;
    bool             found;
    int64_t          n;             /* GET_INT, GET_BOOL */
    const char      *s;             /* GET_STRING */
};

static const struct getter_case getter_cases[] = {
    { GET_INT, "n", true, 80, NULL },
    { GET_INT, "neg", true, -5, NULL },
    { GET_INT, "big", true, INT64_C(9007199254740993), NULL },
    { GET_INT, "max", true, INT64_MAX, NULL },
    { GET_INT, "port", false, 0, NULL },        /* "80x" is not 80 */
    { GET_INT, "num", false, 0, NULL },         /* "80" is a string */
    { GET_INT, "f", false, 0, NULL },
    { GET_INT, "e", false, 0, NULL },
    { GET_INT, "b", false, 0, NULL },
    { GET_INT, "nul", false, 0, NULL },
    { GET_INT, "o", false, 0, NULL },
    { GET_INT, "missing", false, 0, NULL },
    { GET_INT, "over", false, 0, NULL },        /* json-c clamps these */
    { GET_INT, "huge", false, 0, NULL },
    { GET_INT, "under", false, 0, NULL },
    { GET_BOOL, "b", true, 1, NULL },
    { GET_BOOL, "bf", true, 0, NULL },
    { GET_BOOL, "bs", false, 0, NULL },
    { GET_BOOL, "n", false, 0, NULL },
    { GET_BOOL, "nul", false, 0, NULL },
    { GET_BOOL, "missing", false, 0, NULL },
    { GET_STRING, "s", true, 0, "str" },
    { GET_STRING, "empty", true, 0, "" },
    { GET_STRING, "port", true, 0, "80x" },
    { GET_STRING, "n", false, 0, NULL },
    { GET_STRING, "b", false, 0, NULL },
    { GET_STRING, "nul", false, 0, NULL },
    { GET_STRING, "o", false, 0, NULL },
    { GET_STRING, "arr", false, 0, NULL },
    { GET_STRING, "zero", false, 0, NULL },     /* would read as "x" */
    { GET_STRING, "missing", false, 0, NULL },
    { GET_HAS, "nul", true, 0, NULL },
    { GET_HAS, "o", true, 0, NULL },
    { GET_HAS, "missing", false, 0, NULL },
    { GET_HAS, "", false, 0, NULL },
};

Test(json, getters_table)
{
    struct json_object *doc;
    char                err[128];
    size_t              i;

    doc = json_parse_strict(getter_doc, sizeof(getter_doc) - 1, err,
                            sizeof(err));
    cr_assert_not_null(doc, "%s", err);
    for (i = 0; i < NELEM(getter_cases); i++) {
        const struct getter_case *c = &getter_cases[i];
        int64_t                   n = -42;
        bool                      b = false, found = false;
        const char               *s = NULL;

        switch (c->kind) {
        case GET_INT:
            found = json_get_int(doc, c->key, &n);
            break;
        case GET_BOOL:
            found = json_get_bool(doc, c->key, &b);
            n = b;
            break;
        case GET_STRING:
            s = json_get_string(doc, c->key);
            found = s != NULL;
            break;
        case GET_HAS:
            found = json_has(doc, c->key);
            break;
        }
        cr_expect_eq(found, c->found, "case %zu (kind %d, key '%s')", i,
                     (int)c->kind, c->key);
        if (!found || !c->found) {
            continue;
        }
        if (c->kind == GET_STRING) {
            cr_expect_str_eq(s, c->s, "case %zu (key '%s')", i, c->key);
        } else if (c->kind != GET_HAS) {
            cr_expect_eq(n, c->n, "case %zu (key '%s'): %lld", i, c->key,
                         (long long)n);
        }
    }
    json_object_put(doc);
}

Test(json, getters_on_non_objects)
{
    struct json_object *arr;
    int64_t             n = 7;
    bool                b = true;
    char                err[64];

    arr = json_parse_strict("[{\"a\":1}]", 9, err, sizeof(err));
    cr_assert_not_null(arr, "%s", err);
    cr_expect_null(json_get_string(arr, "a"));
    cr_expect_not(json_get_int(arr, "a", &n));
    cr_expect_not(json_get_bool(arr, "a", &b));
    cr_expect_not(json_has(arr, "a"));
    cr_expect_null(json_get_string(NULL, "a"));
    cr_expect_not(json_get_int(NULL, "a", &n));
    cr_expect_not(json_get_bool(NULL, "a", &b));
    cr_expect_not(json_has(NULL, "a"));
    cr_expect_eq(n, 7, "OUT is untouched on failure");
    cr_expect_eq(b, true, "OUT is untouched on failure");
    json_object_put(arr);
}

Test(json, compact)
{
    static const char   in[] = "{ \"path\" : \"/api/v1/x\",\n"
                               " \"n\" : [ 1 , 2 ] }";
    struct json_object *obj;
    char                err[64];
    size_t              len = 0;
    const char         *out;

    obj = json_parse_strict(in, sizeof(in) - 1, err, sizeof(err));
    cr_assert_not_null(obj, "%s", err);
    out = json_compact(obj, &len);
    cr_expect_str_eq(out, "{\"path\":\"/api/v1/x\",\"n\":[1,2]}");
    cr_expect_eq(len, strlen(out));
    json_object_put(obj);
}
