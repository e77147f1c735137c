/* test_route.c - the route table of SPEC §2, table-driven. */
#include "config.h"

#include <string.h>

#include <criterion/criterion.h>

#include "route.h"

#define P ROUTE_PREFIX

struct route_case {
    const char        *path;
    enum route_method  method;
    enum route_result  want;
    enum route_id      id;
    const char        *crm;         /* expected crmSettingsId, or NULL */
};

static const struct route_case route_cases[] = {
    { P "/phone/query", ROUTE_M_GET, ROUTE_OK, ROUTE_QUERY, NULL },
    { P "/phone/query/blocks", ROUTE_M_GET, ROUTE_OK, ROUTE_BLOCKS, NULL },
    { P "/phone/query/dispositions", ROUTE_M_GET, ROUTE_OK,
      ROUTE_DISPOSITIONS, NULL },
    { P "/phone/query/a0B8X00000DXabc", ROUTE_M_GET, ROUTE_OK,
      ROUTE_QUERY_CRM, "a0B8X00000DXabc" },
    { P "/phone/query/Blocks", ROUTE_M_GET, ROUTE_OK, ROUTE_QUERY_CRM,
      "Blocks" },
    { P "/phone/query/blocks2", ROUTE_M_GET, ROUTE_OK, ROUTE_QUERY_CRM,
      "blocks2" },
    { P "/phone/query/a%20b", ROUTE_M_GET, ROUTE_OK, ROUTE_QUERY_CRM,
      "a%20b" },
    { P "/phone/update", ROUTE_M_PATCH, ROUTE_OK, ROUTE_UPDATE, NULL },
    { "/healthz", ROUTE_M_GET, ROUTE_OK, ROUTE_HEALTHZ, NULL },
    { "/healthz", ROUTE_M_HEAD, ROUTE_OK, ROUTE_HEALTHZ, NULL },
    { "/metrics", ROUTE_M_GET, ROUTE_OK, ROUTE_METRICS, NULL },
    { "/readyz", ROUTE_M_GET, ROUTE_OK, ROUTE_READYZ, NULL },
    { "/readyz", ROUTE_M_HEAD, ROUTE_OK, ROUTE_READYZ, NULL },
    { "/readyz", ROUTE_M_PATCH, ROUTE_BAD_METHOD, ROUTE_READYZ, NULL },
    { "/readyz/", ROUTE_M_GET, ROUTE_NOT_FOUND, ROUTE_NONE, NULL },
    { "/readyZ", ROUTE_M_GET, ROUTE_NOT_FOUND, ROUTE_NONE, NULL },
    { "/metrics", ROUTE_M_POST, ROUTE_BAD_METHOD, ROUTE_METRICS, NULL },
    /* PURGE on every cacheable route, and only there (SPEC §13) */
    { P "/phone/query", ROUTE_M_PURGE, ROUTE_OK, ROUTE_QUERY, NULL },
    { P "/phone/query/blocks", ROUTE_M_PURGE, ROUTE_OK, ROUTE_BLOCKS, NULL },
    { P "/phone/query/dispositions", ROUTE_M_PURGE, ROUTE_OK,
      ROUTE_DISPOSITIONS, NULL },
    { P "/phone/query/x1", ROUTE_M_PURGE, ROUTE_OK, ROUTE_QUERY_CRM, "x1" },
    { P "/phone/update", ROUTE_M_PURGE, ROUTE_BAD_METHOD, ROUTE_UPDATE,
      NULL },
    { "/healthz", ROUTE_M_PURGE, ROUTE_BAD_METHOD, ROUTE_HEALTHZ, NULL },
    { "/metrics", ROUTE_M_PURGE, ROUTE_BAD_METHOD, ROUTE_METRICS, NULL },
        /* wrong methods */
    { P "/phone/query", ROUTE_M_POST, ROUTE_BAD_METHOD, ROUTE_QUERY, NULL },
    { P "/phone/query", ROUTE_M_PATCH, ROUTE_BAD_METHOD, ROUTE_QUERY, NULL },
    { P "/phone/query", ROUTE_M_HEAD, ROUTE_OK, ROUTE_QUERY, NULL },
    { P "/phone/query/dispositions", ROUTE_M_HEAD, ROUTE_OK,
      ROUTE_DISPOSITIONS, NULL },
    { P "/phone/update", ROUTE_M_HEAD, ROUTE_BAD_METHOD, ROUTE_UPDATE, NULL },
    { P "/phone/update", ROUTE_M_GET, ROUTE_BAD_METHOD, ROUTE_UPDATE, NULL },
    { P "/phone/update", ROUTE_M_DELETE, ROUTE_BAD_METHOD, ROUTE_UPDATE,
      NULL },
    { P "/phone/update", ROUTE_M_OTHER, ROUTE_BAD_METHOD, ROUTE_UPDATE,
      NULL },
    { P "/phone/query/blocks", ROUTE_M_PUT, ROUTE_BAD_METHOD, ROUTE_BLOCKS,
      NULL },
    { P "/phone/query/x1", ROUTE_M_PATCH, ROUTE_BAD_METHOD, ROUTE_QUERY_CRM,
      "x1" },
    /* unknown paths */
    { "/", ROUTE_M_GET, ROUTE_NOT_FOUND, ROUTE_NONE, NULL },
    { "", ROUTE_M_GET, ROUTE_NOT_FOUND, ROUTE_NONE, NULL },
    { P, ROUTE_M_GET, ROUTE_NOT_FOUND, ROUTE_NONE, NULL },
    { P "/phone", ROUTE_M_GET, ROUTE_NOT_FOUND, ROUTE_NONE, NULL },
    { P "/phone/query/", ROUTE_M_GET, ROUTE_NOT_FOUND, ROUTE_NONE, NULL },
    { P "/phone/query/a/b", ROUTE_M_GET, ROUTE_NOT_FOUND, ROUTE_NONE, NULL },
    { P "/phone/query/blocks/x", ROUTE_M_GET, ROUTE_NOT_FOUND, ROUTE_NONE,
      NULL },
    { P "/phone/updates", ROUTE_M_PATCH, ROUTE_NOT_FOUND, ROUTE_NONE, NULL },
    { P "/phone/update/", ROUTE_M_PATCH, ROUTE_NOT_FOUND, ROUTE_NONE, NULL },
    { "/api/v1/appointment/s2s/PHONE/query", ROUTE_M_GET, ROUTE_NOT_FOUND,
      ROUTE_NONE, NULL },
    { "/api/v2/appointment/s2s/phone/query", ROUTE_M_GET, ROUTE_NOT_FOUND,
      ROUTE_NONE, NULL },
    { "/healthz/", ROUTE_M_GET, ROUTE_NOT_FOUND, ROUTE_NONE, NULL },
    { P "/phone/query/"
        "0123456789012345678901234567890123456789012345678901234567890123"
        "01234567890123456789012345678901234567890123456789012345678901234",
      ROUTE_M_GET, ROUTE_NOT_FOUND, ROUTE_NONE, NULL },
};

Test(route, match_table)
{
    size_t i;

    for (i = 0; i < sizeof(route_cases) / sizeof(route_cases[0]); i++) {
        const struct route_case *c = &route_cases[i];
        struct route_match       m;
        enum route_result        got = route_match(c->path, c->method, &m);

        cr_expect_eq(got, c->want, "case %zu \"%s\": result %d, want %d", i,
                     c->path, got, c->want);
        cr_expect_eq(m.id, c->id, "case %zu \"%s\": route %d, want %d", i,
                     c->path, m.id, c->id);
        cr_expect_str_eq(m.name, route_name(c->id), "case %zu", i);
        if (c->crm != NULL) {
            cr_expect_str_eq(m.crm, c->crm, "case %zu crm", i);
        } else {
            cr_expect_str_empty(m.crm, "case %zu: crm \"%s\"", i, m.crm);
        }
    }
}

Test(route, upstream_routes_are_forwarded)
{
    struct route_match m;

    route_match(P "/phone/query", ROUTE_M_GET, &m);
    cr_expect(m.upstream_api);
    route_match("/healthz", ROUTE_M_GET, &m);
    cr_expect_not(m.upstream_api);
    route_match("/metrics", ROUTE_M_GET, &m);
    cr_expect_not(m.upstream_api);
    route_match("/readyz", ROUTE_M_GET, &m);
    cr_expect_not(m.upstream_api);
}

Test(route, allow_header)
{
    char buf[64];

    route_allow_header(ROUTE_M_GET, buf, sizeof(buf));
    cr_expect_str_eq(buf, "GET");
    route_allow_header(ROUTE_M_GET | ROUTE_M_HEAD, buf, sizeof(buf));
    cr_expect_str_eq(buf, "GET, HEAD");
    route_allow_header(ROUTE_M_PATCH, buf, sizeof(buf));
    cr_expect_str_eq(buf, "PATCH");
    route_allow_header(ROUTE_M_GET | ROUTE_M_HEAD | ROUTE_M_PURGE, buf,
                       sizeof(buf));
    cr_expect_str_eq(buf, "GET, HEAD, PURGE");
    route_allow_header(0, buf, sizeof(buf));

    cr_expect_str_empty(buf);
    route_allow_header(ROUTE_M_GET | ROUTE_M_HEAD, buf, 5);
    cr_expect_str_eq(buf, "GET", "a short buffer keeps whole names");
}

Test(route, method_names)
{
    cr_expect_eq(route_method_from_name("GET"), ROUTE_M_GET);
    cr_expect_eq(route_method_from_name("PATCH"), ROUTE_M_PATCH);
    cr_expect_eq(route_method_from_name("patch"), ROUTE_M_OTHER);
    cr_expect_eq(route_method_from_name("BREW"), ROUTE_M_OTHER);
    cr_expect_eq(route_method_from_name("PURGE"), ROUTE_M_PURGE);
    cr_expect_str_eq(route_method_name(ROUTE_M_PURGE), "PURGE");
    cr_expect_str_eq(route_method_name(ROUTE_M_GET), "GET");
    cr_expect_str_eq(route_method_name(ROUTE_M_OTHER), "OTHER");
    cr_expect_str_eq(route_method_name(ROUTE_M_GET | ROUTE_M_HEAD), "OTHER");
    cr_expect_str_eq(route_name(ROUTE_COUNT), "none");
}
