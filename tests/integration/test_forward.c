/*
 * test_forward.c - forwarding end to end: what each route of the API
 * sends upstream and answers (route), the upstream's errors relayed as
 * they came (relay), the errors the proxy makes itself (local), an
 * upstream that fails TLS, cannot be reached or is slow (upstream), what
 * a forwarded request carries (forward), and the token in the query
 * (token). Against the sandbox, over real HTTP, TLS and Redis.
 * tests/integration/run.sh starts the daemons and exports their URLs
 * (HSP_*); these tests only talk to them.
 *
 * The tests share one sandbox and one Redis with the other integration
 * tests and run one at a time (--jobs 1). Each starts from an empty Redis
 * and a freshly seeded sandbox with faults and its rate limit off
 * (fresh(), the suites' .init), and proves how many upstream calls a
 * request made by reading the sandbox's counters before and after it.
 * Within a test, each concern uses its own seed lead (the LEAD_* table).
 *
 * Responses and JSON values live in static locals: a failed assertion
 * ends the test at once, and memory still reachable from a static is not
 * a leak to LeakSanitizer, so a failure is reported alone. Each test runs
 * in its own process, so the statics start zeroed every time.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <hiredis/hiredis.h>
#include <json-c/json.h>

#include "hclient.h"
#include "hsandbox.h"
#include "hfixture.h"
#include "hproc.h"
#include "hreq.h"

#define API "/api/v1/appointment/s2s"

#define TOKEN_UNKNOWN "hs_test_tenant_unknown_9999"

/* Tenants by their index in the seed file's "tenants". */
enum { ALPHA, BRAVO, CHARLIE };

/*
 * Seed leads (tenant, index in its "leads") by the test that owns them.
 * fresh() already isolates tests; distinct leads also keep a test's
 * concerns apart (a cached or changed lead of one never answers another).
 */
#define LEAD_QUERY        ALPHA, 0
#define LEAD_QUERY_CRM    ALPHA, 1
#define LEAD_BLOCKS       ALPHA, 2
#define LEAD_TOKEN_QUERY  ALPHA, 3
#define LEAD_RELAY        ALPHA, 4  /* errors: nothing gets cached */
#define LEAD_LOCAL        ALPHA, 5  /* local errors: never reaches upstream */
#define LEAD_FAILURES     ALPHA, 6  /* proxy-noca / proxy-down only */
#define LEAD_UPDATE       BRAVO, 1
#define LEAD_FORWARD      CHARLIE, 0
#define LEAD_PATCH_FWD    CHARLIE, 1

/* ---- fixtures ----------------------------------------------------------- */

static struct json_object *seed;    /* the parsed seed file, per process */

static const char *
env(const char *name)
{
    const char *v = getenv(name);

    cr_assert(v != NULL && *v != '\0',
              "%s is not set: run the tests through tests/integration/run.sh",
              name);
    return v;
}

static struct json_object *
seed_tenant(size_t t)
{
    struct json_object *tenants, *tenant;

    if (seed == NULL) {
        seed = hsandbox_seed_load();
        cr_assert_not_null(seed, "cannot load the seed file");
    }
    cr_assert(json_object_object_get_ex(seed, "tenants", &tenants) &&
                  json_object_is_type(tenants, json_type_array),
              "the seed file has no \"tenants\" array");
    tenant = json_object_array_get_idx(tenants, t);
    cr_assert_not_null(tenant, "the seed file has no tenant #%zu", t);
    return tenant;
}

static const char *
tenant_string(size_t t, const char *key)
{
    struct json_object *v;

    cr_assert(json_object_object_get_ex(seed_tenant(t), key, &v) &&
                  json_object_is_type(v, json_type_string),
              "seed tenant #%zu has no string \"%s\"", t, key);
    return json_object_get_string(v);
}

static const char *
seed_token(size_t t)
{
    return tenant_string(t, "token");
}

static const char *
seed_phone(size_t t, size_t l)
{
    struct json_object *leads, *lead, *phone;

    cr_assert(json_object_object_get_ex(seed_tenant(t), "leads", &leads),
              "seed tenant #%zu has no leads", t);
    lead = json_object_array_get_idx(leads, l);
    cr_assert(lead != NULL && json_object_object_get_ex(lead, "phone",
                                                        &phone),
              "seed tenant #%zu has no lead #%zu with a phone", t, l);
    return json_object_get_string(phone);
}

/* Whether any seed lead of any tenant has PHONE. */
static bool
seed_has_phone(const char *phone)
{
    struct json_object *tenants, *leads, *v;
    size_t              t, l;

    seed_tenant(0);
    json_object_object_get_ex(seed, "tenants", &tenants);
    for (t = 0; t < json_object_array_length(tenants); t++) {
        if (!json_object_object_get_ex(json_object_array_get_idx(tenants, t),
                                       "leads", &leads)) {
            continue;
        }
        for (l = 0; l < json_object_array_length(leads); l++) {
            if (json_object_object_get_ex(json_object_array_get_idx(leads, l),
                                          "phone", &v) &&
                strcmp(json_object_get_string(v), phone) == 0) {
                return true;
            }
        }
    }
    return false;
}

/* Writes a valid NANP phone that no seed lead has, distinct per SALT. */
static void
unknown_phone(char *buf, size_t cap, unsigned salt)
{
    unsigned i;

    for (i = 0; i < 10000; i++) {
        snprintf(buf, cap, "+1801555%04u", (salt * 37 + i * 7919) % 10000);
        if (!seed_has_phone(buf)) {
            return;
        }
    }
    cr_assert_fail("every +1801555xxxx phone is in the seed");
}

/* PHONE as a query value: '+' percent-encoded, the rest as is. */
static const char *
qphone(const char *phone, char *buf, size_t cap)
{
    size_t o = 0;

    for (; *phone != '\0' && o + 4 < cap; phone++) {
        if (*phone == '+') {
            memcpy(buf + o, "%2B", 3);
            o += 3;
        } else {
            buf[o++] = *phone;
        }
    }
    buf[o] = '\0';
    return buf;
}

/* A string no other test or run used: PREFIX-pid-time-counter. */
static const char *
unique(const char *prefix, char *buf, size_t cap)
{
    static unsigned n;

    snprintf(buf, cap, "%s-%ld-%ld-%u", prefix, (long)getpid(),
             (long)time(NULL), n++);
    return buf;
}

/* ---- requests and assertions -------------------------------------------- */

/* Whether Content-Types A and B name the same media type (parameters,
 * such as a charset, aside; RFC 9110 §8.3.1). */
static bool
same_media_type(const char *a, const char *b)
{
    size_t la = strcspn(a, "; \t"), lb = strcspn(b, "; \t");

    return la == lb && strncasecmp(a, b, la) == 0;
}

enum same_type {
    SAME_TYPE_EXACT,                /* relayed: the upstream's header as is */
    SAME_TYPE_MEDIA                 /* made locally: the media type only */
};

/*
 * Asserts that the proxy's response GOT equals the sandbox's response
 * WANT to the same request: status, Content-Type (per TYPE) and every
 * body byte.
 */
static void
assert_same(const struct hresp *got, const struct hresp *want,
            const char *what, enum same_type type)
{
    const char *gct = hresp_header(got, "Content-Type");
    const char *wct = hresp_header(want, "Content-Type");

    cr_assert_eq(got->status, want->status,
                 "%s: status %d through the proxy, %d from the sandbox "
                 "(proxy body: %s)", what, got->status, want->status,
                 got->body);
    cr_assert(wct != NULL && gct != NULL &&
                  (type == SAME_TYPE_EXACT ? strcmp(gct, wct) == 0
                                           : same_media_type(gct, wct)),
              "%s: Content-Type \"%s\" through the proxy, \"%s\" from the "
              "sandbox", what, gct != NULL ? gct : "(none)",
              wct != NULL ? wct : "(none)");
    cr_assert(got->body_len == want->body_len &&
                  memcmp(got->body, want->body, got->body_len) == 0,
              "%s: bodies differ\n  proxy:   %s\n  sandbox: %s", what,
              got->body, want->body);
}

/* The JSON body of R, asserted to be an object. Caller puts it. */
static struct json_object *
body_object(const struct hresp *r)
{
    static struct json_object *obj;

    obj = hresp_json(r);
    cr_assert(obj != NULL && json_object_is_type(obj, json_type_object),
              "the body is not a JSON object: %s", r->body);
    return obj;
}

/* String member KEY of OBJ, asserted present. Borrowed from OBJ. */
static const char *
member_string(struct json_object *obj, const char *key)
{
    struct json_object *v;

    cr_assert(json_object_object_get_ex(obj, key, &v) &&
                  json_object_is_type(v, json_type_string),
              "no string \"%s\" in %s", key,
              json_object_to_json_string(obj));
    return json_object_get_string(v);
}

/*
 * Asserts an error the proxy made itself (SPEC §7): STATUS, Content-Type
 * application/json, the upstream's payload {"statusCode":STATUS,
 * "message":[strings...],"error":REASON}, and no Cache-Status.
 */
static void
assert_local_error(const struct hresp *r, int status, const char *reason)
{
    static struct json_object *obj;
    struct json_object        *v, *m;
    const char                *ct = hresp_header(r, "Content-Type");
    size_t                     i, n;

    cr_assert_eq(r->status, status, "status %d, want %d (body: %s)",
                 r->status, status, r->body);
    cr_assert(ct != NULL && strncasecmp(ct, "application/json", 16) == 0,
              "Content-Type \"%s\", want application/json",
              ct != NULL ? ct : "(none)");
    obj = body_object(r);
    cr_assert(json_object_object_get_ex(obj, "statusCode", &v) &&
                  json_object_is_type(v, json_type_int) &&
                  json_object_get_int(v) == status,
              "statusCode is not %d in %s", status, r->body);
    cr_assert(json_object_object_get_ex(obj, "message", &v) &&
                  json_object_is_type(v, json_type_array),
              "message is not an array in %s", r->body);
    n = json_object_array_length(v);
    cr_assert_gt(n, 0, "message is empty in %s", r->body);
    for (i = 0; i < n; i++) {
        m = json_object_array_get_idx(v, i);
        cr_assert(json_object_is_type(m, json_type_string),
                  "message[%zu] is not a string in %s", i, r->body);
    }
    cr_assert_str_eq(member_string(obj, "error"), reason,
                     "error is not \"%s\" in %s", reason, r->body);
    cr_assert_eq(json_object_object_length(obj), 3,
                 "extra members in %s", r->body);
    cr_assert_null(hresp_header(r, "Cache-Status"),
                   "a local error carries Cache-Status: %s",
                   hresp_header(r, "Cache-Status"));
    json_object_put(obj);
}

/* /__sandbox/last, asserted present. Caller puts it. */
static struct json_object *
last_request(void)
{
    static struct json_object *last;

    last = hsandbox_last();
    cr_assert_not_null(last, "the sandbox has no last request");
    return last;
}

/* The authority (host:port) of URL, e.g. of $HSP_SANDBOX_URL. */
static const char *
authority(const char *url, char *buf, size_t cap)
{
    const char *p = strstr(url, "://");

    cr_assert_not_null(p, "bad URL %s", url);
    p += 3;
    snprintf(buf, cap, "%.*s", (int)strcspn(p, "/"), p);
    return buf;
}

/* Waits (bounded) until the sandbox holds no delayed request. */
static void
wait_sandbox_idle(void)
{
    struct timespec ts = { 0, 50 * 1000 * 1000 };
    int             i;

    for (i = 0; i < 200; i++) {
        if (hfixture_count("held") == 0) {
            return;
        }
        nanosleep(&ts, NULL);
    }
    cr_assert_fail("the sandbox still holds a delayed request after 10 s");
}

/*
 * Every test's .init: an empty Redis (no entry cached by an earlier test,
 * of this file or another) and a sandbox restored to its seed, its
 * counters at zero, without injected latency, faults or rate limit.
 */
static void
fresh(void)
{
    static const char *const no_faults =
        "{\"latency_ms\":0,\"fail_rate\":0,\"drop_rate\":0,"
        "\"rate_limit\":0,\"misbehave\":\"none\"}";
    redisContext *c;
    redisReply   *reply;

    c = redisConnectUnix(env("HSP_REDIS_SOCK"));
    cr_assert(c != NULL && c->err == 0, "cannot reach redis at %s: %s",
              env("HSP_REDIS_SOCK"), c != NULL ? c->errstr : "no memory");
    reply = redisCommand(c, "FLUSHALL");
    cr_assert(reply != NULL && reply->type == REDIS_REPLY_STATUS,
              "FLUSHALL failed");
    freeReplyObject(reply);
    redisFree(c);
    cr_assert_eq(hsandbox_config(no_faults), 0,
                 "cannot reset the sandbox's config");
    cr_assert_eq(hsandbox_reset(), 0, "cannot reset the sandbox");
}

TestSuite(route, .init = fresh, .timeout = 30);
TestSuite(relay, .init = fresh, .timeout = 30);
TestSuite(local, .init = fresh, .timeout = 30);
TestSuite(upstream, .init = fresh, .timeout = 30);
TestSuite(forward, .init = fresh, .timeout = 30);
TestSuite(token, .init = fresh, .timeout = 30);

/* ---- every route, end to end -------------------------------------------- */

Test(route, query)
{
    static struct hresp        got, want;
    static struct json_object *lead;
    char                path[256], q[64];
    const char         *phone = seed_phone(LEAD_QUERY);
    long                before;

    snprintf(path, sizeof(path), API "/phone/query?phone=%s",
             qphone(phone, q, sizeof(q)));
    before = hfixture_count("query");
    hreq_get(env("HSP_PROXY_URL"), path, HREQ(.token = seed_token(ALPHA)),
             &got);
    cr_assert_eq(hfixture_count("query") - before, 1,
                 "a first lookup makes exactly one upstream call");
    hreq_get(env("HSP_SANDBOX_URL"), path, HREQ(.token = seed_token(ALPHA)),
             &want);

    cr_assert_eq(got.status, 200, "status %d: %s", got.status, got.body);
    assert_same(&got, &want, "query", SAME_TYPE_EXACT);
    lead = body_object(&got);
    cr_assert_str_eq(member_string(lead, "phone"), phone);
    json_object_put(lead);
    hresp_free(&got);
    hresp_free(&want);
}

Test(route, query_crm_settings_id)
{
    static struct hresp got, want;
    char         path[256], q[64];
    long         before;

    snprintf(path, sizeof(path), API "/phone/query/%s?phone=%s",
             tenant_string(ALPHA, "crmSettingsId"),
             qphone(seed_phone(LEAD_QUERY_CRM), q, sizeof(q)));
    before = hfixture_count("query_crm");
    hreq_get(env("HSP_PROXY_URL"), path, HREQ(.token = seed_token(ALPHA)),
             &got);
    cr_assert_eq(hfixture_count("query_crm") - before, 1,
                 "the crmSettingsId route goes to the upstream once");
    hreq_get(env("HSP_SANDBOX_URL"), path, HREQ(.token = seed_token(ALPHA)),
             &want);

    cr_assert_eq(got.status, 200, "status %d: %s", got.status, got.body);
    assert_same(&got, &want, "query/{crmSettingsId}", SAME_TYPE_EXACT);
    hresp_free(&got);
    hresp_free(&want);
}

Test(route, blocks)
{
    static const char *const variants[] = {
        "",
        "&simpleBlockId=true",
        "&limitDays=3",
        "&simpleBlockId=true&limitDays=5",
    };
    static struct hresp        got, want;
    static struct json_object *obj, *slots;
    char                path[256], q[64];
    size_t              i;
    long                before;

    for (i = 0; i < sizeof(variants) / sizeof(variants[0]); i++) {
        snprintf(path, sizeof(path), API "/phone/query/blocks?phone=%s%s",
                 qphone(seed_phone(LEAD_BLOCKS), q, sizeof(q)), variants[i]);
        before = hfixture_count("blocks");
        hreq_get(env("HSP_PROXY_URL"), path, HREQ(.token = seed_token(ALPHA)),
                 &got);
        cr_assert_eq(hfixture_count("blocks") - before, 1,
                     "%s: blocks are forwarded once (ttl_blocks is 0)", path);
        hreq_get(env("HSP_SANDBOX_URL"), path,
                 HREQ(.token = seed_token(ALPHA)), &want);

        cr_assert_eq(got.status, 200, "%s: status %d: %s", path, got.status,
                     got.body);
        assert_same(&got, &want, path, SAME_TYPE_EXACT);
        obj = body_object(&got);
        cr_assert(json_object_object_get_ex(obj, "slots", &slots) &&
                      json_object_is_type(slots, json_type_array),
                  "no slots array: %s", got.body);
        json_object_put(obj);
        hresp_free(&got);
        hresp_free(&want);
    }
}

Test(route, dispositions)
{
    static struct hresp        got, want;
    static struct json_object *obj, *reasons;
    const char         *path = API "/phone/query/dispositions";
    long                before;

    before = hfixture_count("dispositions");
    hreq_get(env("HSP_PROXY_URL"), path, HREQ(.token = seed_token(BRAVO)),
             &got);
    cr_assert_eq(hfixture_count("dispositions") - before, 1,
                 "a first dispositions request goes to the upstream once");
    hreq_get(env("HSP_SANDBOX_URL"), path, HREQ(.token = seed_token(BRAVO)),
             &want);

    cr_assert_eq(got.status, 200, "status %d: %s", got.status, got.body);
    assert_same(&got, &want, "dispositions", SAME_TYPE_EXACT);
    obj = body_object(&got);
    cr_assert(json_object_object_get_ex(obj, "notQualifiedReasons",
                                        &reasons) &&
                  json_object_is_type(reasons, json_type_array),
              "no notQualifiedReasons array: %s", got.body);
    json_object_put(obj);
    hresp_free(&got);
    hresp_free(&want);
}

Test(route, update_then_query_shows_it)
{
    static struct hresp        r, direct;
    static struct json_object *lead;
    const char         *phone = seed_phone(LEAD_UPDATE);
    const char         *token = seed_token(BRAVO);
    char                path[256], q[64], email[128], body[512], id[64];
    long                before;

    snprintf(path, sizeof(path), API "/phone/query?phone=%s",
             qphone(phone, q, sizeof(q)));
    snprintf(email, sizeof(email), "%s@example.com",
             unique("it", id, sizeof(id)));

    /* Fetch first, so a cached copy exists that the PATCH must replace. */
    hreq_get(env("HSP_PROXY_URL"), path, HREQ(.token = token), &r);
    cr_assert_eq(r.status, 200, "status %d: %s", r.status, r.body);
    lead = body_object(&r);
    cr_assert_str_neq(member_string(lead, "email"), email);
    json_object_put(lead);
    hresp_free(&r);

    snprintf(body, sizeof(body),
             "{\"phone\":\"%s\",\"email\":\"%s\","
             "\"appendComment\":\"integration test\"}", phone, email);
    before = hfixture_count("update");
    hreq_patch(env("HSP_PROXY_URL"), body, HREQ(.token = token), &r);
    cr_assert_eq(hfixture_count("update") - before, 1, "PATCH goes upstream once");
    cr_assert_eq(r.status, 200, "PATCH status %d: %s", r.status, r.body);
    lead = body_object(&r);
    cr_assert_str_eq(member_string(lead, "email"), email,
                     "the refreshed lead lacks the change: %s", r.body);
    cr_assert_str_eq(member_string(lead, "phone"), phone);
    json_object_put(lead);
    hresp_free(&r);

    hreq_get(env("HSP_PROXY_URL"), path, HREQ(.token = token), &r);
    cr_assert_eq(r.status, 200, "status %d: %s", r.status, r.body);
    lead = body_object(&r);
    cr_assert_str_eq(member_string(lead, "email"), email,
                     "a lookup after the PATCH shows the old lead: %s",
                     r.body);
    json_object_put(lead);
    hreq_get(env("HSP_SANDBOX_URL"), path, HREQ(.token = token), &direct);
    assert_same(&r, &direct, "query after update", SAME_TYPE_EXACT);
    hresp_free(&r);
    hresp_free(&direct);
}

/* ---- upstream errors are relayed byte for byte -------------------------- */

Test(relay, unknown_token_401)
{
    static struct hresp got, want;
    char         path[256], q[64];
    long         before;

    snprintf(path, sizeof(path), API "/phone/query?phone=%s",
             qphone(seed_phone(LEAD_RELAY), q, sizeof(q)));
    before = hfixture_count("total");
    hreq_get(env("HSP_PROXY_URL"), path, HREQ(.token = TOKEN_UNKNOWN), &got);
    cr_assert_eq(hfixture_count("total") - before, 1,
                 "an unknown token is the upstream's to judge");
    hreq_get(env("HSP_SANDBOX_URL"), path, HREQ(.token = TOKEN_UNKNOWN),
             &want);

    cr_assert_eq(want.status, 401, "the sandbox said %d", want.status);
    assert_same(&got, &want, "unknown token", SAME_TYPE_EXACT);
    hresp_free(&got);
    hresp_free(&want);
}

Test(relay, unknown_phone_404)
{
    static struct hresp got, want;
    char         path[256], q[64], phone[32];
    long         before;

    unknown_phone(phone, sizeof(phone), 1);
    snprintf(path, sizeof(path), API "/phone/query?phone=%s",
             qphone(phone, q, sizeof(q)));
    before = hfixture_count("query");
    hreq_get(env("HSP_PROXY_URL"), path, HREQ(.token = seed_token(ALPHA)),
             &got);
    cr_assert_eq(hfixture_count("query") - before, 1, "a miss goes upstream once");
    hreq_get(env("HSP_SANDBOX_URL"), path, HREQ(.token = seed_token(ALPHA)),
             &want);

    cr_assert_eq(want.status, 404, "the sandbox said %d", want.status);
    assert_same(&got, &want, "unknown phone", SAME_TYPE_EXACT);
    hresp_free(&got);
    hresp_free(&want);
}

/*
 * The proxy refuses a malformed phone itself (SPEC §3), without spending
 * the rate budget, and its 400 must be the one the upstream would give.
 */
Test(relay, bad_phone_400)
{
    static const char *const phones[] = { "abc", "555-12", "",
                                          "%2B12", "180155512345678" };
    static struct hresp got, want;
    char         path[256];
    size_t       i;
    long         before;

    for (i = 0; i < sizeof(phones) / sizeof(phones[0]); i++) {
        snprintf(path, sizeof(path), API "/phone/query?phone=%s", phones[i]);
        before = hfixture_count("total");
        hreq_get(env("HSP_PROXY_URL"), path, HREQ(.token = seed_token(ALPHA)),
                 &got);
        cr_assert_eq(hfixture_count("total"), before,
                     "phone \"%s\": a bad phone reached the upstream",
                     phones[i]);
        hreq_get(env("HSP_SANDBOX_URL"), path,
                 HREQ(.token = seed_token(ALPHA)), &want);

        cr_assert_eq(want.status, 400, "phone \"%s\": the sandbox said %d",
                     phones[i], want.status);
        /* made locally: SPEC §7 says application/json, the sandbox adds
         * a charset; RFC 8259 defines none, so both are one type */
        assert_same(&got, &want, path, SAME_TYPE_MEDIA);
        hresp_free(&got);
        hresp_free(&want);
    }
}

/* PATCH bodies are validated locally too (SPEC §4), in the same words. */
Test(relay, invalid_patch_400)
{
    static struct hresp got, want;
    const char  *phone = seed_phone(LEAD_RELAY);
    char         bodies[5][256];
    size_t       i;
    long         before;

    snprintf(bodies[0], sizeof(bodies[0]), "{\"phone\":");
    snprintf(bodies[1], sizeof(bodies[1]), "[\"%s\"]", phone);
    snprintf(bodies[2], sizeof(bodies[2]),
             "{\"phone\":\"%s\",\"cancelAppt\":true,\"blockId\":\"x1\"}",
             phone);
    snprintf(bodies[3], sizeof(bodies[3]),
             "{\"phone\":\"%s\",\"primaryPhone\":\"+18015550000\"}", phone);
    snprintf(bodies[4], sizeof(bodies[4]), "{\"email\":\"a@example.com\"}");

    for (i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
        before = hfixture_count("total");
        hreq_patch(env("HSP_PROXY_URL"), bodies[i],
                   HREQ(.token = seed_token(ALPHA)), &got);
        cr_assert_eq(hfixture_count("total"), before,
                     "body %s: an invalid PATCH reached the upstream",
                     bodies[i]);
        hreq_patch(env("HSP_SANDBOX_URL"), bodies[i],
                   HREQ(.token = seed_token(ALPHA)), &want);

        cr_assert_eq(want.status, 400, "body %s: the sandbox said %d",
                     bodies[i], want.status);
        assert_same(&got, &want, bodies[i], SAME_TYPE_MEDIA);
        hresp_free(&got);
        hresp_free(&want);
    }
}

/* ---- errors the proxy makes itself: no upstream call -------------------- */

Test(local, no_token_401)
{
    static struct hresp r;
    char         path[256], q[64];
    long         before;

    snprintf(path, sizeof(path), API "/phone/query?phone=%s",
             qphone(seed_phone(LEAD_LOCAL), q, sizeof(q)));
    before = hfixture_count("total");
    hreq_get(env("HSP_PROXY_URL"), path, NULL, &r);
    cr_assert_eq(hfixture_count("total"), before, "no token, yet an upstream call");
    assert_local_error(&r, 401, "Unauthorized");
    hresp_free(&r);
}

Test(local, unknown_route_404)
{
    static const char *const paths[] = {
        "/",
        "/api/v1/appointment/s2s",
        API "/phone",
        API "/phone/lookup?phone=%2B18015551234",
        API "/phone/query/blocks/extra?phone=%2B18015551234",
        "/api/v2/appointment/s2s/phone/query?phone=%2B18015551234",
    };
    static struct hresp r;
    size_t       i;
    long         before;

    for (i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        before = hfixture_count("total");
        hreq_get(env("HSP_PROXY_URL"), paths[i],
                 HREQ(.token = seed_token(ALPHA)), &r);
        cr_assert_eq(hfixture_count("total"), before, "%s reached the upstream",
                     paths[i]);
        cr_assert_eq(r.status, 404, "%s: status %d", paths[i], r.status);
        assert_local_error(&r, 404, "Not Found");
        hresp_free(&r);
    }
}

Test(local, wrong_method_405)
{
    static const struct {
        const char *method;
        const char *path;
    } cases[] = {
        { "POST", "/phone/query?phone=%2B18015551234" },
        { "PUT", "/phone/query?phone=%2B18015551234" },
        { "DELETE", "/phone/update" },
        { "GET", "/phone/update" },
        { "POST", "/phone/query/dispositions" },
        { "PATCH", "/phone/query/blocks?phone=%2B18015551234" },
    };
    static struct hresp r;
    char         path[256], th[256];
    const char  *headers[] = { th, "Content-Type: application/json", NULL };
    size_t       i;
    long         before;

    snprintf(th, sizeof(th), "x-hs-token: %s", seed_token(ALPHA));
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        snprintf(path, sizeof(path), API "%s", cases[i].path);
        before = hfixture_count("total");
        /* No body on a DELETE: evhttp reads none, so the proxy refuses
         * one with 400 and a close (test_hostile.c). */
        hreq_send(cases[i].method, env("HSP_PROXY_URL"), path,
                  strcmp(cases[i].method, "GET") == 0 ||
                          strcmp(cases[i].method, "DELETE") == 0
                      ? NULL
                      : "{}",
                  HREQ(.headers = headers), &r);
        cr_assert_eq(hfixture_count("total"), before, "%s %s reached the upstream",
                     cases[i].method, path);
        cr_assert_eq(r.status, 405, "%s %s: status %d", cases[i].method,
                     path, r.status);
        assert_local_error(&r, 405, "Method Not Allowed");
        cr_assert_not_null(hresp_header(&r, "Allow"),
                           "%s %s: a 405 without Allow (RFC 9110 §15.5.6)",
                           cases[i].method, path);
        hresp_free(&r);
    }
}

Test(local, body_too_large_413)
{
    static struct hresp r;
    static char        *body;
    const char  *phone = seed_phone(LEAD_LOCAL);
    size_t       len = 9000, n;     /* max_body is 8k for this proxy */
    long         before;

    body = malloc(len + 1);
    cr_assert_not_null(body);
    n = (size_t)snprintf(body, len, "{\"phone\":\"%s\",\"appendComment\":\"",
                         phone);
    memset(body + n, 'x', len - n - 2);
    memcpy(body + len - 2, "\"}", 3);
    cr_assert_eq(strlen(body), len);

    before = hfixture_count("total");
    hreq_patch(env("HSP_PROXY_URL"), body, HREQ(.token = seed_token(ALPHA)),
               &r);
    cr_assert_eq(hfixture_count("total"), before, "an oversized body was forwarded");
    assert_local_error(&r, 413, "Payload Too Large");
    hresp_free(&r);
    free(body);
}

/* ---- upstream failures -------------------------------------------------- */

Test(upstream, tls_verification_failure_502)
{
    static struct hresp r;
    char         path[256], q[64];
    long         before;

    snprintf(path, sizeof(path), API "/phone/query?phone=%s",
             qphone(seed_phone(LEAD_FAILURES), q, sizeof(q)));
    before = hfixture_count("total");
    hreq_get(env("HSP_PROXY_NOCA_URL"), path, HREQ(.token = seed_token(ALPHA)),
             &r);
    cr_assert_eq(hfixture_count("total"), before,
                 "a request crossed a TLS connection that failed to verify");
    assert_local_error(&r, 502, "Bad Gateway");
    hresp_free(&r);
}

/*
 * A refused upstream certificate: a 502 of the proxy's own, which names
 * TLS, and nothing of the upstream's (no byte of it crossed: the
 * handshake failed before the request was sent).
 */
static void
assert_tls_refused(const char *base)
{
    static struct hresp r;
    static struct json_object *obj;
    struct json_object        *msgs;
    char                       path[256], q[64];

    snprintf(path, sizeof(path), API "/phone/query?phone=%s",
             qphone(seed_phone(LEAD_FAILURES), q, sizeof(q)));
    hreq_get(base, path, HREQ(.token = seed_token(ALPHA)), &r);
    assert_local_error(&r, 502, "Bad Gateway");
    obj = body_object(&r);
    cr_assert(json_object_object_get_ex(obj, "message", &msgs));
    cr_expect_str_eq(json_object_get_string(json_object_array_get_idx(msgs,
                                                                     0)),
                     "upstream TLS verification failed", "%s", r.body);
    cr_expect_null(hresp_header(&r, "X-Cache"), "an upstream answer: %s",
                   r.body);
    hresp_free(&r);
}

/*
 * A proxy whose upstream certificate fails, by its URL's variable. An
 * array: parameters reach the test's process as bytes (see test_idem.c).
 */
struct tls_case {
    char url_env[32];
};

ParameterizedTestParameters(upstream, tls_refused_certificate_502)
{
    static struct tls_case cases[] = {
        { "HSP_PROXY_WRONGNAME_URL" },  /* a wrong host name */
        { "HSP_PROXY_EXPIRED_URL" },    /* an expired certificate */
        { "HSP_PROXY_NOCA_URL" },       /* an unknown CA */
    };

    return cr_make_param_array(struct tls_case, cases,
                               sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct tls_case *c, upstream, tls_refused_certificate_502)
{
    cr_log_info("the proxy at $%s", c->url_env);
    assert_tls_refused(env(c->url_env));
}

Test(upstream, unreachable_502)
{
    static struct hresp r;
    char         path[256], q[64];

    snprintf(path, sizeof(path), API "/phone/query?phone=%s",
             qphone(seed_phone(LEAD_FAILURES), q, sizeof(q)));
    hreq_get(env("HSP_PROXY_DOWN_URL"), path, HREQ(.token = seed_token(ALPHA)),
             &r);
    assert_local_error(&r, 502, "Bad Gateway");
    hresp_free(&r);
}

/* How many lines of the file at PATH hold both A and B. */
static int
lines_with(const char *path, const char *a, const char *b)
{
    FILE *f = fopen(path, "r");
    char  line[4096];
    int   n = 0;

    cr_assert_not_null(f, "cannot read %s", path);
    while (fgets(line, sizeof(line), f) != NULL) {
        n += strstr(line, a) != NULL && strstr(line, b) != NULL;
    }
    fclose(f);
    return n;
}

/*
 * An upstream that is down fails every call (found by scripts/chaos:
 * 6,640 "cannot connect" lines in 6 s): the log says so once per kind
 * per 10 s, with the count held back, while every call is still
 * answered 502 and counted.
 */
Test(upstream, a_down_upstream_is_logged_once_per_period)
{
    static struct hproc p;
    static struct hresp r;
    struct sockaddr_in  a = { .sin_family = AF_INET };
    socklen_t           len = sizeof(a);
    char                up[64], path[256], q[64];
    const char         *opts[] = { up, NULL };
    int                 fd = socket(AF_INET, SOCK_STREAM, 0);

    /* a port bound and not listening: every connect is refused */
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert(fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
              getsockname(fd, (struct sockaddr *)&a, &len) == 0);
    snprintf(up, sizeof(up), "upstream=http://127.0.0.1:%d",
             ntohs(a.sin_port));
    hfixture_proxy("forward-down-log", opts, &p);
    snprintf(path, sizeof(path), API "/phone/query?phone=%s",
             qphone(seed_phone(LEAD_FAILURES), q, sizeof(q)));
    for (int i = 0; i < 20; i++) {
        hreq_get(p.url, path, HREQ(.token = seed_token(ALPHA)), &r);
        cr_expect_eq(r.status, 502, "call %d: %d", i, r.status);
        hresp_free(&r);
    }
    hfixture_stop(&p);
    close(fd);
    cr_expect_eq(lines_with(p.log, "upstream: 127.0.0.1", "cannot connect"),
                 1, "20 refused connects, in %s", p.log);
}

Test(upstream, slow_upstream_504)
{
    static struct hresp r;
    char         path[256], q[64], th[256];
    const char  *headers[] = { th, "X-Sandbox-Delay-Ms: 3000", NULL };

    /* blocks: never cached, so there is nothing stale to serve instead. */
    snprintf(path, sizeof(path), API "/phone/query/blocks?phone=%s",
             qphone(seed_phone(LEAD_BLOCKS), q, sizeof(q)));
    snprintf(th, sizeof(th), "x-hs-token: %s", seed_token(ALPHA));
    hreq_send("GET", env("HSP_PROXY_URL"), path, NULL,
              HREQ(.headers = headers), &r);
    assert_local_error(&r, 504, "Gateway Timeout");
    /* upstream_timeout is 1s; generous bounds for slow (sanitizer) builds */
    cr_assert(r.elapsed_ms >= 900 && r.elapsed_ms <= 2500,
              "504 after %.0f ms with upstream_timeout=1s", r.elapsed_ms);
    hresp_free(&r);
    /* Let the held request finish, so it cannot land in a later test. */
    wait_sandbox_idle();
}

/* ---- what reaches the upstream ------------------------------------------ */

Test(forward, patch_body_and_end_to_end_headers)
{
    static struct hresp        r;
    static struct json_object *last, *v;
    const char         *phone = seed_phone(LEAD_PATCH_FWD);
    const char         *token = seed_token(CHARLIE);
    const char         *h;
    char                body[512], id[64], idem[64], ua[64], cl[16];
    char                th[256], hid[128], hidem[128], hua[128];
    const char         *headers[] = {
        th, "Content-Type: application/json", hidem, hua, hid, NULL
    };

    unique("req", id, sizeof(id));
    unique("idem", idem, sizeof(idem));
    unique("hsp-it/1.0", ua, sizeof(ua));
    snprintf(th, sizeof(th), "x-hs-token: %s", token);
    snprintf(hid, sizeof(hid), "X-Request-Id: %s", id);
    snprintf(hidem, sizeof(hidem), "Idempotency-Key: %s", idem);
    snprintf(hua, sizeof(hua), "User-Agent: %s", ua);
    /* Odd spacing and key order: the body must arrive untouched. */
    snprintf(body, sizeof(body),
             "{ \"appendComment\" : \"forwarded \\u00e9 %s\",\n"
             "  \"phone\":\"%s\", \"homeYear\": 1999 }", id, phone);

    hreq_send("PATCH", env("HSP_PROXY_URL"), API "/phone/update", body,
              HREQ(.headers = headers), &r);
    cr_assert_eq(r.status, 200, "status %d: %s", r.status, r.body);
    h = hresp_header(&r, "X-Request-Id");
    cr_assert(h != NULL && strcmp(h, id) == 0,
              "X-Request-Id \"%s\" echoed as \"%s\"", id,
              h != NULL ? h : "(none)");

    last = last_request();
    cr_assert_str_eq(member_string(last, "method"), "PATCH");
    cr_assert_str_eq(member_string(last, "path"), API "/phone/update");
    cr_assert_str_eq(member_string(last, "body"), body,
                     "the body did not arrive intact");
    if (json_object_object_get_ex(last, "body_length", &v)) {
        cr_assert_eq(json_object_get_int64(v), (int64_t)strlen(body));
    }
    snprintf(cl, sizeof(cl), "%zu", strlen(body));
    h = hsandbox_last_header(last, "Content-Length");
    cr_assert(h != NULL && strcmp(h, cl) == 0,
              "Content-Length \"%s\" upstream, want %s (PITFALLS 4.1.2)",
              h != NULL ? h : "(none)", cl);
    cr_assert_str_eq(hsandbox_last_header(last, "x-hs-token"), token);
    h = hsandbox_last_header(last, "Content-Type");
    cr_assert(h != NULL && strcmp(h, "application/json") == 0,
              "Content-Type \"%s\" upstream", h != NULL ? h : "(none)");
    h = hsandbox_last_header(last, "Idempotency-Key");
    cr_assert(h != NULL && strcmp(h, idem) == 0,
              "Idempotency-Key \"%s\" upstream, want %s",
              h != NULL ? h : "(none)", idem);
    h = hsandbox_last_header(last, "User-Agent");
    cr_assert(h != NULL && strcmp(h, ua) == 0,
              "User-Agent \"%s\" upstream, want %s", h != NULL ? h : "(none)",
              ua);
    h = hsandbox_last_header(last, "X-Request-Id");
    cr_assert(h != NULL && strcmp(h, id) == 0,
              "X-Request-Id \"%s\" upstream, want %s",
              h != NULL ? h : "(none)", id);
    json_object_put(last);
    hresp_free(&r);
}

Test(forward, request_id_generated_when_absent)
{
    static struct hresp        r;
    static struct json_object *last;
    const char         *id, *up;
    char                path[256], q[64];

    /* blocks: never cached, so every request reaches the sandbox. */
    snprintf(path, sizeof(path), API "/phone/query/blocks?phone=%s",
             qphone(seed_phone(LEAD_FORWARD), q, sizeof(q)));
    hreq_get(env("HSP_PROXY_URL"), path, HREQ(.token = seed_token(CHARLIE)),
             &r);
    cr_assert_eq(r.status, 200, "status %d: %s", r.status, r.body);
    id = hresp_header(&r, "X-Request-Id");
    cr_assert(id != NULL && *id != '\0' && strlen(id) <= 128,
              "no usable generated X-Request-Id on the response");
    cr_assert_eq(hresp_header_count(&r, "X-Request-Id"), 1);

    last = last_request();
    up = hsandbox_last_header(last, "X-Request-Id");
    cr_assert(up != NULL && strcmp(up, id) == 0,
              "upstream saw X-Request-Id \"%s\", the client got \"%s\"",
              up != NULL ? up : "(none)", id);
    json_object_put(last);
    hresp_free(&r);
}

Test(forward, hop_by_hop_headers_dropped)
{
    static const char *const dropped[] = {
        "X-Foo", "Keep-Alive", "TE", "Upgrade", "Proxy-Authorization",
        "Proxy-Connection",
    };
    static struct hresp        r;
    static struct json_object *last;
    const char         *h;
    char                path[256], q[64], th[256];
    const char         *headers[] = {
        th,
        "Connection: X-Foo",
        "X-Foo: named-in-connection",
        "Keep-Alive: timeout=5",
        "TE: trailers",
        "Upgrade: websocket",
        "Proxy-Authorization: Basic Zm9vOmJhcg==",
        "Proxy-Connection: keep-alive",
        "X-Bar: end-to-end",
        NULL
    };
    size_t              i;

    snprintf(path, sizeof(path), API "/phone/query/blocks?phone=%s",
             qphone(seed_phone(LEAD_FORWARD), q, sizeof(q)));
    snprintf(th, sizeof(th), "x-hs-token: %s", seed_token(CHARLIE));
    hreq_send("GET", env("HSP_PROXY_URL"), path, NULL,
              HREQ(.headers = headers), &r);
    cr_assert_eq(r.status, 200, "status %d: %s", r.status, r.body);

    last = last_request();
    cr_assert_str_eq(member_string(last, "path"), path);
    for (i = 0; i < sizeof(dropped) / sizeof(dropped[0]); i++) {
        h = hsandbox_last_header(last, dropped[i]);
        cr_assert_null(h, "hop-by-hop %s reached the upstream: \"%s\"",
                       dropped[i], h);
    }
    h = hsandbox_last_header(last, "Connection");
    cr_assert(h == NULL || strcasestr(h, "x-foo") == NULL,
              "the client's Connection reached the upstream: \"%s\"", h);
    h = hsandbox_last_header(last, "X-Bar");
    cr_assert(h != NULL && strcmp(h, "end-to-end") == 0,
              "an end-to-end header was lost: \"%s\"",
              h != NULL ? h : "(none)");
    json_object_put(last);
    hresp_free(&r);
}

Test(forward, query_string_unchanged)
{
    static const struct {
        const char *before;         /* parameters before phone= */
        const char *after;          /* and after it */
    } forms[] = {
        { "", "&limitDays=3" },
        { "limitDays=3&", "" },
        { "simpleBlockId=true&", "&limitDays=2" },
    };
    static struct hresp        r;
    static struct json_object *last;
    char                path[256], q[64];
    size_t              i;

    qphone(seed_phone(LEAD_FORWARD), q, sizeof(q));
    for (i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
        snprintf(path, sizeof(path), API "/phone/query/blocks?%sphone=%s%s",
                 forms[i].before, q, forms[i].after);
        hreq_get(env("HSP_PROXY_URL"), path,
                 HREQ(.token = seed_token(CHARLIE)), &r);
        cr_assert_eq(r.status, 200, "%s: status %d: %s", path, r.status,
                     r.body);
        last = last_request();
        cr_assert_str_eq(member_string(last, "path"), path,
                         "the request target changed on the way");
        json_object_put(last);
        hresp_free(&r);
    }
}

Test(forward, host_is_the_upstreams)
{
    static struct hresp        r;
    static struct json_object *last;
    const char         *h;
    char                path[256], q[64], want[300], client[300];

    snprintf(path, sizeof(path), API "/phone/query/blocks?phone=%s",
             qphone(seed_phone(LEAD_FORWARD), q, sizeof(q)));
    hreq_get(env("HSP_PROXY_URL"), path, HREQ(.token = seed_token(CHARLIE)),
             &r);
    cr_assert_eq(r.status, 200, "status %d: %s", r.status, r.body);

    authority(env("HSP_SANDBOX_URL"), want, sizeof(want));
    authority(env("HSP_PROXY_URL"), client, sizeof(client));
    last = last_request();
    h = hsandbox_last_header(last, "Host");
    cr_assert(h != NULL && strcmp(h, want) == 0,
              "Host \"%s\" upstream, want \"%s\" (the client sent \"%s\")",
              h != NULL ? h : "(none)", want, client);
    json_object_put(last);
    hresp_free(&r);
}

/* ---- the token in the query string -------------------------------------- */

Test(token, in_query_parameter)
{
    static struct hresp        got, want;
    static struct json_object *last;
    char                path[256], q[64];
    long                before;

    snprintf(path, sizeof(path), API "/phone/query?phone=%s&token=%s",
             qphone(seed_phone(LEAD_TOKEN_QUERY), q, sizeof(q)),
             seed_token(ALPHA));
    before = hfixture_count("query");
    hreq_get(env("HSP_PROXY_URL"), path, NULL, &got);
    cr_assert_eq(hfixture_count("query") - before, 1, "not forwarded once");
    cr_assert_eq(got.status, 200, "status %d: %s", got.status, got.body);

    last = last_request();
    cr_assert_str_eq(member_string(last, "path"), path,
                     "the token must be forwarded the way it came");
    cr_assert_null(hsandbox_last_header(last, "x-hs-token"),
                   "the proxy moved the token into a header");
    json_object_put(last);

    hreq_get(env("HSP_SANDBOX_URL"), path, NULL, &want);
    assert_same(&got, &want, "token in the query", SAME_TYPE_EXACT);
    hresp_free(&got);
    hresp_free(&want);
}
