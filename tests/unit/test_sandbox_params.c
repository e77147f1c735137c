/*
 * test_sandbox_params.c - how the sandbox reads what a request asks, as
 * the real API (NestJS on Express) does: query strings, JSON bodies,
 * the token, and the X-Sandbox-Answer / X-Sandbox-Cache-Control asks.
 */
#include <criterion/criterion.h>

#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <json-c/json.h>

#include "sandbox/params.h"

struct query_case {
    const char *query;
    const char *name;
    const char *want;               /* NULL: absent */
};

static const struct query_case query_cases[] = {
    { "a=1&b=2",        "b",     "2" },
    { "&a=1&&b",        "a",     "1" },       /* empty pairs skipped */
    { "&a=1&&b",        "b",     "" },        /* no '=': empty value */
    { "a+b=c%20d+e",    "a b",   "c d e" },   /* '+' is a space */
    { "a=1&a=2",        "a",     "1" },       /* the first wins */
    { "TOKEN=x",        "token", NULL },      /* case-sensitive */
    { "x=%00&y=1",      "x",     NULL },      /* a NUL drops the pair */
    { "x=%00&y=1",      "y",     "1" },
    { "=v&k=w",         "",      NULL },      /* no name: skipped */
    { "k=%zz",          "k",     "%zz" },     /* bad escapes stay */
    { "",               "a",     NULL },
    { NULL,             "a",     NULL },
};

Test(sandbox_params, query_table)
{
    size_t i;

    for (i = 0; i < sizeof(query_cases) / sizeof(query_cases[0]); i++) {
        const struct query_case *c = &query_cases[i];
        struct evkeyvalq         q;
        const char              *got;

        TAILQ_INIT(&q);
        params_parse_query(c->query, &q);
        got = params_get(&q, c->name);
        if (c->want == NULL) {
            cr_expect_null(got, "\"%s\" [%s]", c->query, c->name);
        } else {
            cr_expect_not_null(got, "\"%s\" [%s]", c->query, c->name);
            if (got != NULL) {
                cr_expect_str_eq(got, c->want, "\"%s\" [%s]", c->query,
                                 c->name);
            }
        }
        evhttp_clear_headers(&q);
    }
}

Test(sandbox_params, json_types)
{
    cr_expect(params_is_json_type("application/json"));
    cr_expect(params_is_json_type("application/json; charset=utf-8"));
    cr_expect(params_is_json_type("Application/JSON ;charset=utf-8"));
    cr_expect(params_is_json_type("application/problem+json"));
    cr_expect_not(params_is_json_type("text/plain"));
    cr_expect_not(params_is_json_type("application/jsonx"));
    cr_expect_not(params_is_json_type("+json"));
    cr_expect_not(params_is_json_type(""));
}

Test(sandbox_params, body)
{
    struct json_object *obj;
    char                err[256];

    cr_expect_eq(params_body("text/plain", "{}", 2, &obj, err, sizeof(err)),
                 -1);
    cr_expect_null(obj);
    cr_expect_str_eq(err, "Content-Type must be application/json");

    cr_expect_eq(params_body(NULL, "", 0, &obj, err, sizeof(err)), 0);
    cr_expect(json_object_is_type(obj, json_type_object));
    cr_expect_eq(json_object_object_length(obj), 0);
    json_object_put(obj);

    cr_expect_eq(params_body("application/json", "{bad", 4, &obj, err,
                             sizeof(err)), -1);
    cr_expect_null(obj);
    cr_expect_neq(err[0], '\0');

    cr_expect_eq(params_body("application/json", "[1]", 3, &obj, err,
                             sizeof(err)), 0);
    cr_expect(json_object_is_type(obj, json_type_array));
    json_object_put(obj);
}

Test(sandbox_params, token_order)
{
    struct evkeyvalq    q;
    struct json_object *body = json_tokener_parse("{\"token\":\"b\"}");
    struct json_object *empty = json_tokener_parse("{\"token\":\"\"}");

    TAILQ_INIT(&q);
    params_parse_query("token=q", &q);
    cr_expect_str_eq(params_token("h", &q, body), "h");
    cr_expect_str_eq(params_token("", &q, body), "q");
    evhttp_clear_headers(&q);
    params_parse_query("token=", &q);
    cr_expect_str_eq(params_token(NULL, &q, body), "b");
    cr_expect_null(params_token(NULL, &q, empty));
    cr_expect_null(params_token(NULL, &q, NULL));
    evhttp_clear_headers(&q);
    json_object_put(body);
    json_object_put(empty);
}

Test(sandbox_params, answer_asks)
{
    static const char *const bad[] = { "300", "199", "2x", "+200", "",
                                       " 200" };
    char                    *cc = NULL;
    char                     err[128];
    int                      status = 0;
    size_t                   i;

    cr_expect_eq(params_answer(NULL, NULL, &status, &cc, err, sizeof(err)),
                 0);
    cr_expect_eq(status, 0);
    cr_expect_null(cc);
    cr_expect_eq(params_answer("202", "no-store, private", &status, &cc, err,
                               sizeof(err)), 0);
    cr_expect_eq(status, 202);
    cr_expect_str_eq(cc, "no-store, private");
    free(cc);
    cc = NULL;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cr_expect_eq(params_answer(bad[i], NULL, &status, &cc, err,
                                   sizeof(err)), -1, "accepted \"%s\"",
                     bad[i]);
        cr_expect_str_eq(err, "X-Sandbox-Answer must be a status 200-299");
    }
    cr_expect_eq(params_answer(NULL, "bad\x01", &status, &cc, err,
                               sizeof(err)), -1);
    cr_expect_null(cc);
    cr_expect_str_eq(err, "X-Sandbox-Cache-Control must be visible ASCII");
}
