/* test_update.c - local checks of PATCH /phone/update (SPEC §4). */
#include "config.h"

#include <string.h>

#include <criterion/criterion.h>
#include <json-c/json.h>

#include "update.h"

struct update_case {
    const char *body;
    int         rc;
    const char *phone;          /* when valid */
    bool        books;
    const char *first_msg;      /* when invalid */
    size_t      nmsgs;
};

static const struct update_case update_cases[] = {
    { "{\"phone\":\"+18015551234\"}", 0, "+18015551234", false, NULL, 0 },
    { "{\"phone\":\"(801) 555-1234\",\"firstName\":\"J\"}", 0,
      "+18015551234", false, NULL, 0 },
    { "{\"phone\":\"+447700900123\",\"blockId\":\"b1\"}", 0,
      "+447700900123", true, NULL, 0 },
    { "{\"phone\":\"8015551234\",\"cancelAppt\":true}", 0, "+18015551234",
      true, NULL, 0 },
    { "{\"phone\":\"8015551234\",\"cancelAppt\":false}", 0, "+18015551234",
      true, NULL, 0 },
    { "[]", -1, NULL, false, "body must be a JSON object", 1 },
    { "\"x\"", -1, NULL, false, "body must be a JSON object", 1 },
    { "{}", -1, NULL, false, "phone should not be empty", 2 },
    { "{\"phone\":null}", -1, NULL, false, "phone should not be empty", 2 },
    { "{\"phone\":\"\"}", -1, NULL, false, "phone should not be empty", 2 },
    { "{\"phone\":18015551234}", -1, NULL, false, "phone must be a string",
      2 },
    { "{\"phone\":\"555-12\"}", -1, NULL, false,
      "phone must be a valid phone number", 1 },
    { "{\"phone\":\"801555\\u00001234\"}", -1, NULL, false,
      "phone must be a valid phone number", 1 },
    { "{\"phone\":\"8015551234\",\"primaryPhone\":\"1\"}", -1, NULL, false,
      "property primaryPhone should not exist", 1 },
    { "{\"phone\":\"8015551234\",\"textPhone\":\"1\"}", -1, NULL, false,
      "property textPhone should not exist", 1 },
    { "{\"phone\":\"8015551234\",\"blockId\":\"b\",\"cancelAppt\":true}", -1,
      NULL, false, "cancelAppt and blockId cannot both be supplied", 1 },
    { "{\"primaryPhone\":\"1\",\"textPhone\":\"2\",\"blockId\":\"b\","
      "\"cancelAppt\":true}",
      -1, NULL, false, "phone should not be empty", 5 },
};

Test(update, check_table)
{
    size_t i;

    for (i = 0; i < sizeof(update_cases) / sizeof(update_cases[0]); i++) {
        const struct update_case *c = &update_cases[i];
        struct update_check       chk;
        struct json_object       *body = json_tokener_parse(c->body);
        int                       rc;

        cr_assert_not_null(body, "case %zu does not parse", i);
        rc = update_check(body, &chk);
        cr_expect_eq(rc, c->rc, "case %zu: rc %d", i, rc);
        if (c->rc == 0) {
            cr_expect_str_eq(chk.phone, c->phone, "case %zu", i);
            cr_expect_eq(chk.books, c->books, "case %zu books", i);
            cr_expect_eq(chk.nmsgs, 0, "case %zu", i);
        } else {
            cr_expect_eq(chk.nmsgs, c->nmsgs, "case %zu: %zu messages", i,
                         chk.nmsgs);
            cr_expect_str_eq(chk.msgs[0], c->first_msg, "case %zu", i);
        }
        json_object_put(body);
    }
}

Test(update, null_body)
{
    struct update_check chk;

    cr_expect_eq(update_check(NULL, &chk), -1);
    cr_expect_str_eq(chk.msgs[0], "body must be a JSON object");
}
