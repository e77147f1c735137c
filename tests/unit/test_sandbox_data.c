/*
 * test_sandbox_data.c - the sandbox's data module: seed loading, lookups,
 * blocks and limitDays, PATCH validation (table-driven) and application,
 * booking, cancelling and reset. "Now" is fixed: Wednesday 2025-05-14,
 * 12:00 UTC (06:00 in Denver, MDT).
 */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "json.h"
#include "sandbox/data.h"

#define NOW INT64_C(1747224000)     /* 2025-05-14T12:00:00Z, a Wednesday */

static const char seed[] =
    "{\"tenants\":["
    "{\"token\":\"tok_one\",\"name\":\"one\",\"crmSettingsId\":\"crm-1\","
    " \"timeZone\":\"America/Denver\","
    " \"dispositions\":[\"Credit too low\",\"Not homeowner\"],"
    " \"blocks\":["
    "  {\"id\":\"B1\",\"day\":1,\"start\":\"09:00\",\"end\":\"10:30\","
    "   \"capacity\":2},"
    "  {\"id\":\"B2\",\"day\":2,\"start\":\"13:00\",\"end\":\"14:00\","
    "   \"capacity\":1},"
    "  {\"id\":\"B3\",\"day\":3,\"start\":\"15:00\",\"end\":\"16:30\","
    "   \"capacity\":1},"
    "  {\"id\":\"B4\",\"day\":10,\"start\":\"08:00\",\"end\":\"09:00\","
    "   \"capacity\":3},"
    "  {\"id\":\"B0\",\"day\":1,\"start\":\"07:00\",\"end\":\"07:30\","
    "   \"capacity\":0}],"
    " \"leads\":["
    "  {\"phone\":\"+18015551234\",\"name\":\"Jane Doe\",\"zip\":\"80202\","
    "   \"blockId\":\"B3\",\"optOutText\":false},"
    "  {\"phone\":\"(801) 555-0000\",\"name\":\"Solo\"},"
    "  {\"phone\":\"+447700900123\",\"name\":\"Oliver Twist\","
    "   \"zip\":\"SW1A 2AA\",\"city\":\"London\"}]},"
    "{\"token\":\"tok_two\",\"name\":\"two\",\"timeZone\":\"America/New_York\","
    " \"dispositions\":[\"Renter\"],\"blocks\":[],"
    " \"leads\":[{\"phone\":\"8015551234\",\"name\":\"Bob Other\"}]}"
    "]}";

static struct data *
load(void)
{
    char         err[256];
    struct data *d = data_load_buf(seed, strlen(seed), NOW, err, sizeof(err));

    cr_assert_not_null(d, "seed: %s", err);
    return d;
}

static struct json_object *
parse(const char *s)
{
    char                err[128];
    struct json_object *o = json_parse_strict(s, strlen(s), err, sizeof(err));

    cr_assert_not_null(o, "%s: %s", s, err);
    return o;
}

/* A copy of OBJ's compact text (OBJ is put). */
static char *
text_of(struct json_object *obj)
{
    char *s;

    cr_assert_not_null(obj);
    s = strdup(json_compact(obj, NULL));
    json_object_put(obj);
    return s;
}

static char *
lead_text(struct data_tenant *t, const char *phone)
{
    struct data_errors errs;

    return text_of(data_query(t, NULL, phone, &errs));
}

static void
expect_errors(const struct data_errors *errs, int status,
              const char *const *want, const char *what)
{
    size_t n = 0;

    while (want[n] != NULL) {
        n++;
    }
    cr_expect_eq(errs->status, status, "%s: status %d", what, errs->status);
    cr_expect_eq(errs->count, n, "%s: %zu messages, first \"%s\"", what,
                 errs->count, errs->count > 0 ? errs->msg[0] : "");
    for (size_t i = 0; i < n && i < errs->count; i++) {
        cr_expect_str_eq(errs->msg[i], want[i], "%s: message %zu", what, i);
    }
}

/* ---- seed ---- */

struct seed_case {
    const char *json;
    const char *want;               /* substring of the error */
};

static const struct seed_case bad_seeds[] = {
    { "", "invalid JSON" },
    { "{\"tenants\":[]} x", "invalid JSON" },
    { "[]", "must be a JSON object" },
    { "{\"tenants\":[],\"x\":1}", "unknown key \"x\"" },
    { "{\"tenants\":[]}", "must not be empty" },
    { "{\"tenants\":[{\"name\":\"a\"}]}", "tenants[0].token: missing" },
    { "{\"tenants\":[{\"tok\":\"a\"}]}",
      "tenants[0]: unknown key \"tok\"" },
    { "{\"tenants\":[{\"token\":\"t\",\"name\":\"a\","
      "\"timeZone\":\"Mars/Base\",\"dispositions\":[],\"blocks\":[],"
      "\"leads\":[]}]}",
      "unknown zone" },
    { "{\"tenants\":[{\"token\":\"t t\",\"name\":\"a\",\"timeZone\":\"UTC\","
      "\"dispositions\":[],\"blocks\":[],\"leads\":[]}]}",
      "visible ASCII" },
    { "{\"tenants\":[{\"token\":\"t\",\"name\":\"a\",\"timeZone\":\"UTC\","
      "\"dispositions\":[],\"blocks\":[],\"leads\":[]},"
      "{\"token\":\"t\",\"name\":\"b\",\"timeZone\":\"UTC\","
      "\"dispositions\":[],\"blocks\":[],\"leads\":[]}]}",
      "tenants[1].token: same token as tenants[0]" },
    { "{\"tenants\":[{\"token\":\"t\",\"name\":\"a\",\"timeZone\":\"UTC\","
      "\"dispositions\":[\"\"],\"blocks\":[],\"leads\":[]}]}",
      "dispositions[0]" },
    { "{\"tenants\":[{\"token\":\"t\",\"name\":\"a\",\"timeZone\":\"UTC\","
      "\"dispositions\":[],\"blocks\":[{\"id\":\"b\",\"day\":0,"
      "\"start\":\"09:00\",\"end\":\"10:00\",\"capacity\":1}],\"leads\":[]}]}",
      "blocks[0].day: must be 1 to 365" },
    { "{\"tenants\":[{\"token\":\"t\",\"name\":\"a\",\"timeZone\":\"UTC\","
      "\"dispositions\":[],\"blocks\":[{\"id\":\"b\",\"day\":1,"
      "\"start\":\"10:00\",\"end\":\"09:00\",\"capacity\":1}],\"leads\":[]}]}",
      "start < end" },
    { "{\"tenants\":[{\"token\":\"t\",\"name\":\"a\",\"timeZone\":\"UTC\","
      "\"dispositions\":[],\"blocks\":[{\"id\":\"b\",\"day\":1,"
      "\"start\":\"09:00\",\"end\":\"10:00\",\"capacity\":\"1\"}],"
      "\"leads\":[]}]}",
      "capacity: must be an integer" },
    { "{\"tenants\":[{\"token\":\"t\",\"name\":\"a\",\"timeZone\":\"UTC\","
      "\"dispositions\":[],\"blocks\":[],\"leads\":[{\"phone\":\"12\"}]}]}",
      "leads[0].phone: not a valid phone" },
    { "{\"tenants\":[{\"token\":\"t\",\"name\":\"a\",\"timeZone\":\"UTC\","
      "\"dispositions\":[],\"blocks\":[],\"leads\":[{\"phone\":\"8015551234\""
      "},{\"phone\":\"+18015551234\"}]}]}",
      "leads[1].phone: duplicate +18015551234" },
    { "{\"tenants\":[{\"token\":\"t\",\"name\":\"a\",\"timeZone\":\"UTC\","
      "\"dispositions\":[],\"blocks\":[],\"leads\":[{\"phone\":\"8015551234\","
      "\"nickname\":\"x\"}]}]}",
      "leads[0]: unknown key \"nickname\"" },
    { "{\"tenants\":[{\"token\":\"t\",\"name\":\"a\",\"timeZone\":\"UTC\","
      "\"dispositions\":[],\"blocks\":[],\"leads\":[{\"phone\":\"8015551234\","
      "\"tcpa\":\"yes\"}]}]}",
      "leads[0].tcpa: must be a boolean or null" },
    { "{\"tenants\":[{\"token\":\"t\",\"name\":\"a\",\"timeZone\":\"UTC\","
      "\"dispositions\":[],\"blocks\":[],\"leads\":[{\"phone\":\"8015551234\","
      "\"blockId\":\"nope\"}]}]}",
      "no block \"nope\"" },
    { "{\"tenants\":[{\"token\":\"t\",\"name\":\"a\",\"timeZone\":\"UTC\","
      "\"dispositions\":[],\"blocks\":[{\"id\":\"b\",\"day\":1,"
      "\"start\":\"09:00\",\"end\":\"10:00\",\"capacity\":1}],\"leads\":["
      "{\"phone\":\"8015551234\",\"blockId\":\"b\"},"
      "{\"phone\":\"8015551235\",\"blockId\":\"b\"}]}]}",
      "leads[1].blockId: block \"b\" is full" },
};

Test(sandbox_data, bad_seeds_name_the_problem)
{
    char   err[256];
    size_t i;

    for (i = 0; i < sizeof(bad_seeds) / sizeof(bad_seeds[0]); i++) {
        struct data *d = data_load_buf(bad_seeds[i].json,
                                       strlen(bad_seeds[i].json), NOW, err,
                                       sizeof(err));

        cr_expect_null(d, "case %zu loaded", i);
        data_free(d);
        cr_expect(strstr(err, bad_seeds[i].want) != NULL,
                  "case %zu: \"%s\" lacks \"%s\"", i, err, bad_seeds[i].want);
    }
}

Test(sandbox_data, missing_file)
{
    char err[256];

    cr_expect_null(data_load_file("/nonexistent/seed.json", NOW, err,
                                  sizeof(err)));
    cr_expect(strstr(err, "No such file") != NULL, "%s", err);
}

Test(sandbox_data, shipped_seed_loads)
{
    const char  *top = getenv("abs_top_srcdir");
    char         path[4096], err[256];
    struct data *d;

    snprintf(path, sizeof(path), "%s/conf/sandbox-seed.json",
             top != NULL ? top : ".");
    d = data_load_file(path, NOW, err, sizeof(err));
    cr_assert_not_null(d, "%s: %s", path, err);
    cr_expect_geq(data_tenant_count(d), 2);
    cr_expect_geq(data_lead_count(d), 20);
    cr_expect_not_null(data_tenant_find(d, "hs_test_tenant_alpha_0001"));
    cr_expect_not_null(data_tenant_find(d, "hs_test_tenant_bravo_0002"));
    data_free(d);
}

/* ---- lookups ---- */

Test(sandbox_data, lead_has_every_documented_field_in_order)
{
    static const char *const fields[] = {
        "name", "address1", "address2", "city", "state", "stateAlpha2", "zip",
        "country", "countryAlpha2", "countryAlpha3", "phone", "leadId",
        "prospectId", "createdDate", "appointmentStatus", "appointmentStart",
        "appointmentEnd", "appointmentStartAMPM", "appointmentEndAMPM",
        "source", "sourceType", "optOutText", "optOutEmail", "tcpa", "email",
        "marketSegment", "blockId", "optIn", "product", "disposition",
        "hearAbout", "homeYear", "salesRepName", "salesRepEmail",
        "salesRepAvatarUrl",
    };
    struct data                *d = load();
    struct data_errors          errs;
    struct json_object         *lead;
    struct json_object_iterator it, end;
    size_t                      i = 0;

    lead = data_query(data_tenant_find(d, "tok_one"), NULL, "8015550000",
                      &errs);
    cr_assert_not_null(lead);
    it = json_object_iter_begin(lead);
    end = json_object_iter_end(lead);
    for (; !json_object_iter_equal(&it, &end); json_object_iter_next(&it)) {
        cr_assert_lt(i, sizeof(fields) / sizeof(fields[0]));
        cr_expect_str_eq(json_object_iter_peek_name(&it), fields[i]);
        i++;
    }
    cr_expect_eq(i, sizeof(fields) / sizeof(fields[0]));
    cr_expect_str_eq(json_get_string(lead, "phone"), "+18015550000");
    cr_expect_str_eq(json_get_string(lead, "name"), "Solo");
    cr_expect(json_has(lead, "email") && json_get_string(lead, "email") ==
                                             NULL);     /* null */
    json_object_put(lead);
    data_free(d);
}

Test(sandbox_data, query_spellings_tenants_and_errors)
{
    struct data        *d = load();
    struct data_tenant *one = data_tenant_find(d, "tok_one");
    struct data_tenant *two = data_tenant_find(d, "tok_two");
    struct data_errors  errs;
    struct json_object *o;
    static const char *const spellings[] = {
        "+18015551234", "18015551234", "8015551234", "(801) 555-1234",
        "801-555-1234", "801.555.1234", " 18015551234",
    };
    static const char *const empty[] = {
        "phone should not be empty", "phone must be a valid phone number",
        NULL,
    };
    static const char *const invalid[] = {
        "phone must be a valid phone number", NULL,
    };
    static const char *const nolead[] = { "Lead not found", NULL };
    static const char *const nocrm[] = { "crmSettingsId not found", NULL };

    cr_assert_not_null(one);
    cr_assert_not_null(two);
    cr_expect_null(data_tenant_find(d, "tok_three"));
    cr_expect_str_eq(data_tenant_name(one), "one");
    for (size_t i = 0; i < sizeof(spellings) / sizeof(spellings[0]); i++) {
        o = data_query(one, NULL, spellings[i], &errs);
        cr_assert_not_null(o, "%s", spellings[i]);
        cr_expect_str_eq(json_get_string(o, "name"), "Jane Doe");
        json_object_put(o);
    }
    /* the same phone is another lead under another token */
    o = data_query(two, NULL, "8015551234", &errs);
    cr_assert_not_null(o);
    cr_expect_str_eq(json_get_string(o, "name"), "Bob Other");
    json_object_put(o);
    cr_expect_null(data_query(two, NULL, "+447700900123", &errs));
    expect_errors(&errs, 404, nolead, "other tenant's lead");

    cr_expect_null(data_query(one, NULL, NULL, &errs));
    expect_errors(&errs, 400, empty, "missing phone");
    cr_expect_null(data_query(one, NULL, "", &errs));
    expect_errors(&errs, 400, empty, "empty phone");
    cr_expect_null(data_query(one, NULL, "555-12", &errs));
    expect_errors(&errs, 400, invalid, "short phone");
    cr_expect_null(data_query(one, NULL, "+19995550000", &errs));
    expect_errors(&errs, 404, nolead, "unknown phone");

    /* crmSettingsId: checked when the tenant has one, else any id */
    o = data_query(one, "crm-1", "8015551234", &errs);
    cr_expect_not_null(o);
    json_object_put(o);
    cr_expect_null(data_query(one, "crm-2", "8015551234", &errs));
    expect_errors(&errs, 404, nocrm, "wrong crm");
    o = data_query(two, "whatever", "8015551234", &errs);
    cr_expect_not_null(o);
    json_object_put(o);
    data_free(d);
}

Test(sandbox_data, seeded_booking_fills_the_appointment)
{
    struct data        *d = load();
    struct data_errors  errs;
    struct json_object *o;

    o = data_query(data_tenant_find(d, "tok_one"), NULL, "8015551234", &errs);
    cr_assert_not_null(o);
    /* B3: 3rd business day after Wed 05-14 is Mon 05-19, 15:00 MDT */
    cr_expect_str_eq(json_get_string(o, "appointmentStatus"), "Confirmed");
    cr_expect_str_eq(json_get_string(o, "appointmentStart"),
                     "2025-05-19T21:00:00.000Z");
    cr_expect_str_eq(json_get_string(o, "appointmentEnd"),
                     "2025-05-19T22:30:00.000Z");
    cr_expect_str_eq(json_get_string(o, "appointmentStartAMPM"), "3:00 pm");
    cr_expect_str_eq(json_get_string(o, "appointmentEndAMPM"), "4:30 pm");
    cr_expect_str_eq(json_get_string(o, "blockId"), "B3");
    json_object_put(o);
    data_free(d);
}

Test(sandbox_data, dispositions_per_tenant)
{
    struct data *d = load();
    char        *s;

    s = text_of(data_dispositions(data_tenant_find(d, "tok_one")));
    cr_expect_str_eq(s, "{\"notQualifiedReasons\":[\"Credit too low\","
                        "\"Not homeowner\"]}");
    free(s);
    s = text_of(data_dispositions(data_tenant_find(d, "tok_two")));
    cr_expect_str_eq(s, "{\"notQualifiedReasons\":[\"Renter\"]}");
    free(s);
    data_free(d);
}

/* ---- blocks ---- */

static char *
blocks_text(struct data_tenant *t, const char *simple, const char *limit)
{
    struct data_errors errs;

    return text_of(data_blocks(t, "8015550000", simple, limit, NOW, &errs));
}

#define SLOT(date, start, end, n, id)                                        \
    "{\"appointmentDate\":\"" date "\",\"startTime\":\"" start "\","       \
    "\"endTime\":\"" end "\",\"availableSlots\":" #n ",\"blockId\":\"" id  \
    "\",\"timeZone\":\"America/Denver\"}"

Test(sandbox_data, blocks_listing_limit_and_aliases)
{
    struct data        *d = load();
    struct data_tenant *t = data_tenant_find(d, "tok_one");
    char               *s;

    /* B0 has no capacity and B3 is full: neither is listed */
    s = blocks_text(t, NULL, NULL);
    cr_expect_str_eq(s, "{\"timeZone\":\"America/Denver\",\"slots\":["
                        SLOT("2025-05-15", "9:00 AM", "10:30 AM", 2, "B1") ","
                        SLOT("2025-05-16", "1:00 PM", "2:00 PM", 1, "B2") ","
                        SLOT("2025-05-28", "8:00 AM", "9:00 AM", 3, "B4")
                        "]}");
    free(s);
    /* business days: 2 -> Thu and Fri; 9 stops before the 10th */
    s = blocks_text(t, "false", "2");
    cr_expect_str_eq(s, "{\"timeZone\":\"America/Denver\",\"slots\":["
                        SLOT("2025-05-15", "9:00 AM", "10:30 AM", 2, "B1") ","
                        SLOT("2025-05-16", "1:00 PM", "2:00 PM", 1, "B2")
                        "]}");
    free(s);
    s = blocks_text(t, NULL, "1");
    cr_expect(strstr(s, "B2") == NULL && strstr(s, "B1") != NULL, "%s", s);
    free(s);
    s = blocks_text(t, NULL, "9");
    cr_expect(strstr(s, "B4") == NULL, "%s", s);
    free(s);
    s = blocks_text(t, NULL, "10");
    cr_expect(strstr(s, "B4") != NULL, "%s", s);
    free(s);
    /* aliases: 20 + the seed index (B1 20, B2 21, B3 22, B4 23) */
    s = blocks_text(t, "true", NULL);
    cr_expect_str_eq(s, "{\"timeZone\":\"America/Denver\",\"slots\":["
                        SLOT("2025-05-15", "9:00 AM", "10:30 AM", 2, "20") ","
                        SLOT("2025-05-16", "1:00 PM", "2:00 PM", 1, "21") ","
                        SLOT("2025-05-28", "8:00 AM", "9:00 AM", 3, "23")
                        "]}");
    free(s);
    s = blocks_text(t, "1", "365");
    cr_expect(strstr(s, "\"blockId\":\"20\"") != NULL, "%s", s);
    free(s);
    data_free(d);
}

Test(sandbox_data, blocks_of_a_tenant_without_blocks)
{
    struct data        *d = load();
    struct data_errors  errs;
    char               *s;

    s = text_of(data_blocks(data_tenant_find(d, "tok_two"), "8015551234",
                            "true", "5", NOW, &errs));
    cr_expect_str_eq(s, "{\"timeZone\":\"America/New_York\",\"slots\":[]}");
    free(s);
    data_free(d);
}

struct blocks_case {
    const char *phone, *simple, *limit;
    int         status;
    const char *msgs[4];
};

static const struct blocks_case blocks_cases[] = {
    { NULL, NULL, NULL, 400,
      { "phone should not be empty", "phone must be a valid phone number" } },
    { "8015550000", "yes", NULL, 400,
      { "simpleBlockId must be a boolean value" } },
    { "8015550000", NULL, "0", 400, { "limitDays must not be less than 1" } },
    { "8015550000", NULL, "366", 400,
      { "limitDays must not be greater than 365" } },
    { "8015550000", NULL, "1.5", 400,
      { "limitDays must be an integer number" } },
    { "8015550000", NULL, "-1", 400,
      { "limitDays must be an integer number" } },
    { "8015550000", NULL, "", 400, { "limitDays must be an integer number" } },
    { "8015550000", NULL, "99999999", 400,
      { "limitDays must be an integer number" } },
    { "x", "no", "0", 400,
      { "phone must be a valid phone number",
        "simpleBlockId must be a boolean value",
        "limitDays must not be less than 1" } },
    { "8015559999", NULL, NULL, 404, { "Lead not found" } },
};

Test(sandbox_data, blocks_validation_table)
{
    struct data        *d = load();
    struct data_tenant *t = data_tenant_find(d, "tok_one");
    struct data_errors  errs;
    size_t              i;

    for (i = 0; i < sizeof(blocks_cases) / sizeof(blocks_cases[0]); i++) {
        const struct blocks_case *c = &blocks_cases[i];
        char                      what[32];

        snprintf(what, sizeof(what), "blocks case %zu", i);
        cr_expect_null(data_blocks(t, c->phone, c->simple, c->limit, NOW,
                                   &errs),
                       "%s", what);
        expect_errors(&errs, c->status, c->msgs, what);
    }
    data_free(d);
}

/* ---- PATCH validation ---- */

struct update_case {
    const char *body;
    int         status;             /* 200, or the refusal */
    const char *msgs[8];
};

static const struct update_case update_cases[] = {
    { "{}", 400,
      { "phone should not be empty", "phone must be a valid phone number" } },
    { "{\"phone\":null}", 400,
      { "phone should not be empty", "phone must be a valid phone number" } },
    { "{\"phone\":\"\"}", 400,
      { "phone should not be empty", "phone must be a valid phone number" } },
    { "{\"phone\":12}", 400,
      { "phone must be a string", "phone must be a valid phone number" } },
    { "{\"phone\":\"12\"}", 400, { "phone must be a valid phone number" } },
    { "{\"phone\":\"801555\\u00001234\"}", 400,
      { "phone must be a valid phone number" } },
    { "[]", 400, { "body must be a JSON object" } },
    { "\"8015551234\"", 400, { "body must be a JSON object" } },
    { "{\"phone\":\"8015550000\",\"primaryPhone\":\"8015550001\"}", 400,
      { "property primaryPhone should not exist" } },
    { "{\"phone\":\"8015550000\",\"textPhone\":null}", 400,
      { "property textPhone should not exist" } },
    { "{\"phone\":\"8015550000\",\"cancelAppt\":true,\"blockId\":\"B1\"}", 400,
      { "cancelAppt and blockId cannot both be supplied" } },
    { "{\"phone\":\"8015550000\",\"cancelAppt\":false,\"blockId\":\"B1\"}",
      400, { "cancelAppt and blockId cannot both be supplied" } },
    { "{\"phone\":\"8015550000\",\"cancelAppt\":\"yes\"}", 400,
      { "cancelAppt must be a boolean value" } },
    { "{\"phone\":\"8015550000\",\"firstName\":5}", 400,
      { "firstName must be a string" } },
    { "{\"phone\":\"8015550000\",\"firstName\":\"a\\u0000b\"}", 400,
      { "firstName must not contain NUL characters" } },
    { "{\"phone\":\"8015550000\",\"optOutPhone\":0}", 400,
      { "optOutPhone must be a boolean value" } },
    { "{\"phone\":\"8015550000\",\"homeYear\":\"1999\"}", 400,
      { "homeYear must be a number conforming to the specified "
        "constraints" } },
    { "{\"phone\":\"8015550000\",\"homeYear\":1999.5}", 400,
      { "homeYear must be an integer number" } },
    { "{\"phone\":\"8015550000\",\"homeYear\":1700}", 400,
      { "homeYear must not be less than 1800" } },
    { "{\"phone\":\"8015550000\",\"homeYear\":3000}", 400,
      { "homeYear must not be greater than 2100" } },
    { "{\"phone\":\"8015550000\",\"email\":\"nope\"}", 400,
      { "email must be an email" } },
    { "{\"phone\":\"8015550000\",\"email\":\"a@b\"}", 400,
      { "email must be an email" } },
    { "{\"phone\":\"8015550000\",\"email\":\"\"}", 400,
      { "email should not be empty" } },
    { "{\"phone\":\"8015550000\",\"zip\":\"\"}", 400,
      { "zip should not be empty" } },
    { "{\"phone\":\"8015550000\",\"token\":5}", 400,
      { "token must be a string" } },
    { "{\"phone\":\"8015550000\",\"notQualifiedReason\":\"Renter\"}", 400,
      { "notQualifiedReason must be one of the following values: Credit "
        "too low, Not homeowner" } },
    { "{\"phone\":1,\"firstName\":2,\"optOutPhone\":\"x\",\"tcpaFlag\":1,"
      "\"textPhone\":\"1\"}", 400,
      { "phone must be a string", "phone must be a valid phone number",
        "property textPhone should not exist", "firstName must be a string",
        "optOutPhone must be a boolean value",
        "tcpaFlag must be a boolean value" } },
    /* then the lead, then the block */
    { "{\"phone\":\"8015559999\"}", 404, { "Lead not found" } },
    { "{\"phone\":\"8015559999\",\"blockId\":\"nope\"}", 404,
      { "Lead not found" } },
    { "{\"phone\":\"8015550000\",\"blockId\":\"nope\"}", 400,
      { "blockId not found" } },
    { "{\"phone\":\"8015550000\",\"blockId\":\"B3\"}", 400,
      { "block is full" } },
    { "{\"phone\":\"8015550000\",\"blockId\":\"22\",\"simpleBlockId\":true}",
      400, { "block is full" } },
    { "{\"phone\":\"8015550000\",\"blockId\":\"B1\",\"simpleBlockId\":true}",
      400, { "blockId not found" } },
    { "{\"phone\":\"8015550000\",\"blockId\":\"25\",\"simpleBlockId\":true}",
      400, { "blockId not found" } },
    { "{\"phone\":\"8015550000\",\"blockId\":\"19\",\"simpleBlockId\":true}",
      400, { "blockId not found" } },
    { "{\"phone\":\"8015550000\",\"blockId\":\"20\"}", 400,
      { "blockId not found" } },
    /* accepted: null is absent, unknown fields and token are ignored */
    { "{\"phone\":\"8015550000\",\"cancelAppt\":null,\"blockId\":\"B1\"}",
      200, { NULL } },
    { "{\"phone\":\"8015550000\",\"nickname\":7,\"token\":\"tok_one\"}", 200,
      { NULL } },
    { "{\"phone\":\"+1 (801) 555-0000\",\"firstName\":null}", 200, { NULL } },
    { "{\"phone\":\"8015550000\",\"blockId\":\"20\",\"simpleBlockId\":true}",
      200, { NULL } },
    { "{\"phone\":\"8015550000\",\"homeYear\":1800,\"email\":\"x@y.io\"}",
      200, { NULL } },
};

Test(sandbox_data, update_validation_table)
{
    size_t i;

    for (i = 0; i < sizeof(update_cases) / sizeof(update_cases[0]); i++) {
        const struct update_case *c = &update_cases[i];
        struct data              *d = load();
        struct data_tenant       *t = data_tenant_find(d, "tok_one");
        struct json_object       *body = parse(c->body), *res;
        struct data_errors        errs;
        char                     *before, *after, what[48];

        snprintf(what, sizeof(what), "update case %zu", i);
        before = lead_text(t, "8015550000");
        res = data_update(t, body, NOW, &errs);
        if (c->status == 200) {
            cr_expect_not_null(res, "%s refused: %s", what,
                               errs.count > 0 ? errs.msg[0] : "");
            json_object_put(res);
        } else {
            cr_expect_null(res, "%s accepted", what);
            expect_errors(&errs, c->status, c->msgs, what);
            /* a refused update changes nothing */
            after = lead_text(t, "8015550000");
            cr_expect_str_eq(before, after, "%s changed the lead", what);
            free(after);
        }
        free(before);
        json_object_put(body);
        data_free(d);
    }
}

Test(sandbox_data, update_string_length_limit)
{
    struct data        *d = load();
    struct data_tenant *t = data_tenant_find(d, "tok_one");
    struct data_errors  errs;
    struct json_object *body = json_object_new_object(), *res;
    char                name[300];
    static const char *const want[] = {
        "firstName must be shorter than or equal to 255 characters", NULL,
    };

    memset(name, 'a', 256);
    name[256] = '\0';
    json_object_object_add(body, "phone", json_object_new_string("8015550000"));
    json_object_object_add(body, "firstName", json_object_new_string(name));
    cr_expect_null(data_update(t, body, NOW, &errs));
    expect_errors(&errs, 400, want, "256 chars");
    name[255] = '\0';
    json_object_object_add(body, "firstName", json_object_new_string(name));
    res = data_update(t, body, NOW, &errs);
    cr_expect_not_null(res);
    json_object_put(res);
    json_object_put(body);
    data_free(d);
}

/* ---- PATCH application ---- */

static struct json_object *
update_ok(struct data_tenant *t, const char *json)
{
    struct json_object *body = parse(json), *res;
    struct data_errors  errs;

    res = data_update(t, body, NOW, &errs);
    json_object_put(body);
    cr_assert_not_null(res, "%s: %s", json,
                       errs.count > 0 ? errs.msg[0] : "no message");
    return res;
}

Test(sandbox_data, update_applies_fields)
{
    struct data        *d = load();
    struct data_tenant *t = data_tenant_find(d, "tok_one");
    struct data_errors  errs;
    struct json_object *o, *hidden, *comments;
    bool                b;

    o = update_ok(t, "{\"phone\":\"801.555.1234\",\"firstName\":\"Janet\","
                     "\"email\":\"janet.d@example.com\",\"optOutPhone\":true,"
                     "\"tcpaFlag\":false,\"appendComment\":\"Updated.\","
                     "\"streetAddress\":\"1 New St\",\"homeYear\":1998,"
                     "\"notQualifiedReason\":\"Not homeowner\","
                     "\"takerId\":\"T-7\"}");
    cr_expect_str_eq(json_get_string(o, "name"), "Janet Doe");
    cr_expect_str_eq(json_get_string(o, "email"), "janet.d@example.com");
    cr_expect_str_eq(json_get_string(o, "address1"), "1 New St");
    cr_expect_str_eq(json_get_string(o, "homeYear"), "1998");
    cr_expect_str_eq(json_get_string(o, "disposition"), "Not homeowner");
    cr_expect(json_get_bool(o, "optOutText", &b) && b);
    cr_expect(json_get_bool(o, "tcpa", &b) && !b);
    cr_expect_str_eq(json_get_string(o, "phone"), "+18015551234");
    /* the appointment is untouched */
    cr_expect_str_eq(json_get_string(o, "appointmentStatus"), "Confirmed");
    json_object_put(o);

    o = update_ok(t, "{\"phone\":\"8015551234\",\"lastName\":\"Roe\","
                     "\"appendComment\":\"Second.\"}");
    cr_expect_str_eq(json_get_string(o, "name"), "Janet Roe");
    json_object_put(o);

    hidden = data_inspect(t, "8015551234", &errs);
    cr_assert_not_null(hidden);
    cr_expect_str_eq(json_get_string(hidden, "firstName"), "Janet");
    cr_expect_str_eq(json_get_string(hidden, "lastName"), "Roe");
    cr_expect_str_eq(json_get_string(hidden, "takerId"), "T-7");
    cr_expect_str_eq(json_get_string(hidden, "timeZone"), "America/Denver");
    cr_assert(json_object_object_get_ex(hidden, "comments", &comments));
    cr_expect_str_eq(json_compact(comments, NULL),
                     "[\"Updated.\",\"Second.\"]");
    json_object_put(hidden);
    cr_expect_null(data_inspect(t, "8015559999", &errs));
    data_free(d);
}

Test(sandbox_data, update_zip_autofill)
{
    struct data        *d = load();
    struct data_tenant *t = data_tenant_find(d, "tok_one");
    struct data_errors  errs;
    struct json_object *o, *hidden;

    /* known zip: city, state and zone follow it */
    o = update_ok(t, "{\"phone\":\"+447700900123\",\"zip\":\"33602-1234\"}");
    cr_expect_str_eq(json_get_string(o, "zip"), "33602-1234");
    cr_expect_str_eq(json_get_string(o, "city"), "Tampa");
    cr_expect_str_eq(json_get_string(o, "state"), "Florida");
    cr_expect_str_eq(json_get_string(o, "stateAlpha2"), "FL");
    cr_expect_str_eq(json_get_string(o, "countryAlpha3"), "USA");
    json_object_put(o);
    hidden = data_inspect(t, "+447700900123", &errs);
    cr_expect_str_eq(json_get_string(hidden, "timeZone"), "America/New_York");
    json_object_put(hidden);

    /* a given city wins over the zip's */
    o = update_ok(t, "{\"phone\":\"+447700900123\",\"zip\":\"60601\","
                     "\"city\":\"Evanston\"}");
    cr_expect_str_eq(json_get_string(o, "city"), "Evanston");
    cr_expect_str_eq(json_get_string(o, "stateAlpha2"), "IL");
    json_object_put(o);

    /* unknown zip: kept, nothing else changes */
    o = update_ok(t, "{\"phone\":\"+447700900123\",\"zip\":\"00000\"}");
    cr_expect_str_eq(json_get_string(o, "zip"), "00000");
    cr_expect_str_eq(json_get_string(o, "city"), "Evanston");
    cr_expect_str_eq(json_get_string(o, "state"), "Illinois");
    json_object_put(o);
    data_free(d);
}

/* availableSlots of block ID in an unfiltered listing, 0 when unlisted. */
static int
available(struct data_tenant *t, const char *id)
{
    struct data_errors  errs;
    struct json_object *res, *slots, *slot;
    size_t              i;
    int                 n = 0;
    int64_t             v;

    res = data_blocks(t, "8015550000", NULL, NULL, NOW, &errs);
    cr_assert_not_null(res);
    cr_assert(json_object_object_get_ex(res, "slots", &slots));
    for (i = 0; i < json_object_array_length(slots); i++) {
        slot = json_object_array_get_idx(slots, i);
        if (strcmp(json_get_string(slot, "blockId"), id) == 0 &&
            json_get_int(slot, "availableSlots", &v)) {
            n = (int)v;
        }
    }
    json_object_put(res);
    return n;
}

Test(sandbox_data, booking_rebooking_and_cancelling)
{
    struct data        *d = load();
    struct data_tenant *t = data_tenant_find(d, "tok_one");
    struct data_errors  errs;
    struct json_object *o, *body;
    static const char *const full[] = { "block is full", NULL };

    cr_expect_eq(available(t, "B1"), 2);
    cr_expect_eq(available(t, "B2"), 1);
    cr_expect_eq(available(t, "B3"), 0);

    /* Solo books B2 (capacity 1): it fills and leaves the listing */
    o = update_ok(t, "{\"phone\":\"8015550000\",\"blockId\":\"B2\"}");
    cr_expect_str_eq(json_get_string(o, "appointmentStatus"), "Confirmed");
    cr_expect_str_eq(json_get_string(o, "blockId"), "B2");
    cr_expect_str_eq(json_get_string(o, "appointmentStart"),
                     "2025-05-16T19:00:00.000Z");
    cr_expect_str_eq(json_get_string(o, "appointmentEnd"),
                     "2025-05-16T20:00:00.000Z");
    cr_expect_str_eq(json_get_string(o, "appointmentStartAMPM"), "1:00 pm");
    cr_expect_str_eq(json_get_string(o, "appointmentEndAMPM"), "2:00 pm");
    json_object_put(o);
    cr_expect_eq(available(t, "B2"), 0);

    /* nobody else gets B2 */
    body = parse("{\"phone\":\"+447700900123\",\"blockId\":\"B2\"}");
    cr_expect_null(data_update(t, body, NOW, &errs));
    expect_errors(&errs, 400, full, "B2 taken");
    json_object_put(body);

    /* booking the block one already holds is fine and takes nothing */
    o = update_ok(t, "{\"phone\":\"8015550000\",\"blockId\":\"B2\"}");
    json_object_put(o);
    cr_expect_eq(available(t, "B2"), 0);

    /* rescheduling by alias (B1 is 20) frees B2 */
    o = update_ok(t, "{\"phone\":\"8015550000\",\"blockId\":\"20\","
                     "\"simpleBlockId\":true}");
    cr_expect_str_eq(json_get_string(o, "blockId"), "B1");
    json_object_put(o);
    cr_expect_eq(available(t, "B1"), 1);
    cr_expect_eq(available(t, "B2"), 1);

    /* Jane cancels B3: the slot is free, the times stay, blockId goes */
    o = update_ok(t, "{\"phone\":\"8015551234\",\"cancelAppt\":true,"
                     "\"appendComment\":\"Customer called to cancel.\"}");
    cr_expect_str_eq(json_get_string(o, "appointmentStatus"), "Cancelled");
    cr_expect_null(json_get_string(o, "blockId"));
    cr_expect_str_eq(json_get_string(o, "appointmentStart"),
                     "2025-05-19T21:00:00.000Z");
    json_object_put(o);
    cr_expect_eq(available(t, "B3"), 1);

    /* cancelling again changes nothing; cancelAppt:false does nothing */
    o = update_ok(t, "{\"phone\":\"8015551234\",\"cancelAppt\":true}");
    cr_expect_str_eq(json_get_string(o, "appointmentStatus"), "Cancelled");
    json_object_put(o);
    cr_expect_eq(available(t, "B3"), 1);
    o = update_ok(t, "{\"phone\":\"+447700900123\",\"cancelAppt\":false}");
    cr_expect_null(json_get_string(o, "appointmentStatus"));
    json_object_put(o);

    /* a lead without an appointment stays without one */
    o = update_ok(t, "{\"phone\":\"+447700900123\",\"cancelAppt\":true}");
    cr_expect_null(json_get_string(o, "appointmentStatus"));
    json_object_put(o);

    /* the freed B3 can be booked again */
    o = update_ok(t, "{\"phone\":\"+447700900123\",\"blockId\":\"B3\"}");
    cr_expect_str_eq(json_get_string(o, "appointmentStatus"), "Confirmed");
    json_object_put(o);
    cr_expect_eq(available(t, "B3"), 0);
    data_free(d);
}

Test(sandbox_data, reset_restores_the_seed)
{
    struct data        *d = load();
    struct data_tenant *t = data_tenant_find(d, "tok_one");
    struct data_errors  errs;
    struct json_object *o, *hidden, *comments;
    char               *before, *after, err[128];

    before = lead_text(t, "8015551234");
    o = update_ok(t, "{\"phone\":\"8015551234\",\"cancelAppt\":true,"
                     "\"firstName\":\"X\",\"appendComment\":\"c\"}");
    json_object_put(o);
    o = update_ok(t, "{\"phone\":\"8015550000\",\"blockId\":\"B2\"}");
    json_object_put(o);
    cr_assert_eq(data_reset(d, NOW, err, sizeof(err)), 0, "%s", err);
    cr_expect_eq(data_tenant_find(d, "tok_one"), t, "tenant moved");
    after = lead_text(t, "8015551234");
    cr_expect_str_eq(before, after);
    cr_expect_eq(available(t, "B2"), 1);
    cr_expect_eq(available(t, "B3"), 0);
    hidden = data_inspect(t, "8015551234", &errs);
    cr_assert(json_object_object_get_ex(hidden, "comments", &comments));
    cr_expect_eq(json_object_array_length(comments), 0);
    json_object_put(hidden);
    free(before);
    free(after);
    data_free(d);
}

Test(sandbox_data, free_null)
{
    data_free(NULL);
}
