/* test_sandbox_endpoint.c - which decoded path is which S2S endpoint. */
#include <criterion/criterion.h>

#include <string.h>

#include "sandbox/endpoint.h"

#define P "/api/v1/appointment/s2s"

struct match_case {
    const char   *path;
    enum endpoint want;
    const char   *crm;              /* ENDPOINT_QUERY_CRM only */
};

static const struct match_case match_cases[] = {
    { P "/phone/query",              ENDPOINT_QUERY,        NULL },
    { P "/phone/query/blocks",       ENDPOINT_BLOCKS,       NULL },
    { P "/phone/query/dispositions", ENDPOINT_DISPOSITIONS, NULL },
    { P "/phone/update",             ENDPOINT_UPDATE,       NULL },
    { P "/phone/query/a0C8X0001",    ENDPOINT_QUERY_CRM,    "a0C8X0001" },
    { P "/phone/query/Blocks",       ENDPOINT_QUERY_CRM,    "Blocks" },
    { P "/phone/query/",             ENDPOINT_NONE,         NULL },
    { P "/phone/query/a/b",          ENDPOINT_NONE,         NULL },
    { P "/phone/queryx",             ENDPOINT_NONE,         NULL },
    { P "/phone/update/",            ENDPOINT_NONE,         NULL },
    { P "/phone",                    ENDPOINT_NONE,         NULL },
    { P,                             ENDPOINT_NONE,         NULL },
    { "/api/v1/appointment/phone/query", ENDPOINT_NONE,     NULL },
    { "/",                           ENDPOINT_NONE,         NULL },
};

Test(sandbox_endpoint, match_table)
{
    size_t i;

    for (i = 0; i < sizeof(match_cases) / sizeof(match_cases[0]); i++) {
        const struct match_case *c = &match_cases[i];
        const char              *crm = NULL;

        cr_expect_eq(endpoint_match(c->path, &crm), c->want, "%s", c->path);
        if (c->crm != NULL) {
            cr_expect_not_null(crm, "%s", c->path);
            if (crm != NULL) {
                cr_expect_str_eq(crm, c->crm, "%s", c->path);
            }
        }
    }
}

Test(sandbox_endpoint, names)
{
    static const char *const want[ENDPOINT_COUNT] = {
        "query", "query_crm", "blocks", "dispositions", "update",
    };
    size_t                   i;

    for (i = 0; i < ENDPOINT_COUNT; i++) {
        cr_expect_str_eq(endpoint_name((enum endpoint)i), want[i]);
    }
}
