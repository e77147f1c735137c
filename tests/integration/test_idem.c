/*
 * test_idem.c - Idempotency-Key on PATCH /phone/update end to end (SPEC
 * §5, §7): real proxies, a real redis-server and the sandbox over TLS,
 * counting the PATCHes that reach the sandbox. Started by
 * tests/integration/run.sh; the tests that restart, kill or reconfigure
 * a proxy start their own (tests/lib/hproc.h).
 *
 * Every test starts from an empty Redis and a freshly seeded sandbox, so
 * tests run one at a time (--jobs 1). The suite's .fini stops any proxy a
 * failed assertion left running and brings redis2 back if a test stopped
 * it.
 */
#include "config.h"

#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <hiredis/hiredis.h>
#include <json-c/json.h>

#include "hclient.h"
#include "hexpect.h"
#include "hsandbox.h"
#include "hfixture.h"
#include "hproc.h"
#include "hreq.h"

#define API        "/api/v1/appointment/s2s"
#define UPDATE     API "/phone/update"
#define ALPHA      "hs_test_tenant_alpha_0001"
#define BRAVO      "hs_test_tenant_bravo_0002"
#define PHONE      "+18015551234"       /* in alpha and bravo, other data */
#define QPHONE     "%2B18015551234"
#define MISSING    "+18015559999"       /* in no tenant */

#define BODY(fields) "{\"phone\":\"" PHONE "\"," fields "}"

#define MSG_KEY_SYNTAX \
    "Idempotency-Key must be 1 to 255 visible ASCII characters"
#define MSG_KEY_REQUIRED  "Idempotency-Key header is required"
#define MSG_KEY_REUSED    "Idempotency-Key was used with a different request"
#define MSG_IN_FLIGHT     "a request with this Idempotency-Key is in flight"
#define REPLAY_STATUS     "heavyset-proxy; hit; detail=idempotent-replay"
#define UNPROTECTED \
    "heavyset_idempotency_total{result=\"unprotected\"}"
#define REFUSED \
    "heavyset_idempotency_total{result=\"refused\"}"

#define POLL_MS    20
#define LEASE_MS   2200     /* main proxy: 1s + 2 x 100ms + 1s (SPEC §5) */

/* The proxies of tests/integration/run.sh. */
#define PROXY      hfixture_env("HSP_PROXY_URL")
#define PROXY_B    hfixture_env("HSP_PROXY_B_URL")
#define PROXY_R2   hfixture_env("HSP_PROXY_R2_URL")

/* ---- helpers ------------------------------------------------------------ */

/* Whether media type A is B, parameters aside. */
static bool
media_type_is(const char *a, const char *b)
{
    size_t n = strlen(b);

    return a != NULL && strncasecmp(a, b, n) == 0 &&
           (a[n] == '\0' || a[n] == ';' || a[n] == ' ');
}

/*
 * R is an error the proxy made itself (SPEC §7): STATUS, Content-Type
 * application/json, the body {"statusCode":STATUS,"message":[MESSAGE],
 * "error":REASON}, and neither Cache-Status nor Idempotent-Replayed.
 */
static void
expect_local_error(const struct hresp *r, int status, const char *message,
                   const char *reason)
{
    struct json_object *root, *v, *m;

    cr_assert_eq(r->status, status, "status %d, want %d: %s", r->status,
                 status, r->body);
    cr_expect(media_type_is(hresp_header(r, "Content-Type"),
                            "application/json"),
              "Content-Type %s", hresp_header(r, "Content-Type"));
    cr_expect_null(hresp_header(r, "Cache-Status"),
                   "a local error carries Cache-Status: %s",
                   hresp_header(r, "Cache-Status"));
    cr_expect_null(hresp_header(r, "Idempotent-Replayed"));
    root = hresp_json(r);
    cr_assert_not_null(root, "body is not JSON: %s", r->body);
    cr_expect(json_object_object_get_ex(root, "statusCode", &v) &&
                  json_object_is_type(v, json_type_int) &&
                  json_object_get_int(v) == status,
              "statusCode in %s", r->body);
    cr_expect(json_object_object_get_ex(root, "message", &v) &&
                  json_object_is_type(v, json_type_array) &&
                  json_object_array_length(v) == 1 &&
                  (m = json_object_array_get_idx(v, 0)) != NULL &&
                  json_object_is_type(m, json_type_string) &&
                  strcmp(json_object_get_string(m), message) == 0,
              "message is not [\"%s\"] in %s", message, r->body);
    cr_expect(json_object_object_get_ex(root, "error", &v) &&
                  json_object_is_type(v, json_type_string) &&
                  strcmp(json_object_get_string(v), reason) == 0,
              "error is not \"%s\" in %s", reason, r->body);
    cr_expect_eq(json_object_object_length(root), 3, "extra members in %s",
                 r->body);
    json_object_put(root);
}

/* R was forwarded (not a replay) and the upstream answered STATUS. */
static void
expect_forwarded(const struct hresp *r, int status)
{
    cr_assert_eq(r->status, status, "status %d, want %d: %s", r->status,
                 status, r->body);
    cr_expect_null(hresp_header(r, "Idempotent-Replayed"),
                   "a forwarded answer says Idempotent-Replayed: %s",
                   hresp_header(r, "Idempotent-Replayed"));
    cr_expect(hresp_header(r, "X-Cache") == NULL ||
                  strcmp(hresp_header(r, "X-Cache"), "REPLAY") != 0,
              "a forwarded answer says X-Cache: REPLAY");
}

/* R replays FIRST: its status, Content-Type and body bytes, marked so. */
static void
expect_replay(const struct hresp *r, const struct hresp *first)
{
    cr_assert_eq(r->status, first->status, "status %d, want the stored %d: %s",
                 r->status, first->status, r->body);
    cr_expect_str_eq(hreq_hdr(r, "Idempotent-Replayed"), "true",
                     "Idempotent-Replayed");
    cr_expect_str_eq(hreq_hdr(r, "X-Cache"), "REPLAY", "X-Cache");
    cr_expect_str_eq(hreq_hdr(r, "Cache-Status"), REPLAY_STATUS,
                     "Cache-Status");
    cr_expect_str_eq(hreq_hdr(r, "Content-Type"),
                     hreq_hdr(first, "Content-Type"), "Content-Type");
    cr_expect_eq(r->body_len, first->body_len, "body of %zu bytes, want %zu",
                 r->body_len, first->body_len);
    cr_expect(r->body_len == first->body_len &&
                  memcmp(r->body, first->body, r->body_len) == 0,
              "body %s, want the stored %s", r->body, first->body);
}

/* The Idempotency-Key of the last request the sandbox saw, copied. */
static void
last_key(char *out, size_t cap)
{
    struct json_object *last = hsandbox_last();
    const char         *v;

    cr_assert_not_null(last, "the sandbox saw no request");
    v = hsandbox_last_header(last, "Idempotency-Key");
    snprintf(out, cap, "%s", v != NULL ? v : "(none)");
    json_object_put(last);
}

/* Waits (bounded) until the sandbox has counted WANT PATCHes. */
static void
wait_updates(long want)
{
    long deadline = hfixture_now_ms() + 10000;

    while (hfixture_count("update") < want) {
        cr_assert_lt(hfixture_now_ms(), deadline,
                     "the sandbox saw %ld PATCHes after 10 s, want %ld",
                     hfixture_count("update"), want);
        hfixture_pause_ms(POLL_MS);
    }
}

static void
idem_init(void)
{
    hfixture_fresh();
}

static void
idem_fini(void)
{
    hproc_stop_all();
    if (!hfixture_redis2_up()) {
        hfixture_redis2_start();
    }
}

TestSuite(idem, .init = idem_init, .fini = idem_fini, .timeout = 60);

/* ---- the first request and its replay ----------------------------------- */

Test(idem, the_first_is_forwarded_with_its_key_then_replayed)
{
    static const char *const body = BODY("\"appendComment\":\"once\"");
    struct hresp first, again;
    char         key[300];

    hreq_patch(PROXY, body, HREQ(.token = ALPHA, .key = "idem-first-1"),
               &first);
    expect_forwarded(&first, 200);
    cr_expect_eq(hfixture_count("update"), 1);
    last_key(key, sizeof(key));
    cr_expect_str_eq(key, "idem-first-1", "the upstream saw the key");

    hreq_patch(PROXY, body, HREQ(.token = ALPHA, .key = "idem-first-1"),
               &again);
    expect_replay(&again, &first);
    cr_expect_eq(hfixture_count("update"), 1, "a replay calls no upstream");
    hresp_free(&first);
    hresp_free(&again);
}

Test(idem, the_same_request_spelt_otherwise_is_replayed)
{
    struct hresp first, r;

    hreq_patch(PROXY,
               "{\"phone\":\"" PHONE "\",\"firstName\":\"Spelt\","
               "\"lastName\":\"Same\"}",
               HREQ(.token = ALPHA, .key = "idem-spelling"), &first);
    expect_forwarded(&first, 200);

    /* keys in another order, whitespace, other headers: one request */
    hreq_patch(PROXY,
               " {\n  \"lastName\" : \"Same\",\t\"phone\":\"" PHONE "\" ,\r\n"
               "  \"firstName\":\"Spelt\"\n}\n",
               HREQ(.token = ALPHA, .key = "idem-spelling",
                    .extra = "X-Request-Id: other-1"), &r);
    expect_replay(&r, &first);
    hresp_free(&r);

    /* the structured-field string form is the same key */
    hreq_patch(PROXY,
               "{\"lastName\":\"Same\",\"firstName\":\"Spelt\","
               "\"phone\":\"" PHONE "\"}",
               HREQ(.token = ALPHA, .key = "\"idem-spelling\""), &r);
    expect_replay(&r, &first);
    hresp_free(&r);
    cr_expect_eq(hfixture_count("update"), 1);
    hresp_free(&first);
}

Test(idem, the_same_key_with_another_body_is_422)
{
    struct hresp r;

    hreq_patch(PROXY, BODY("\"firstName\":\"One\""),
               HREQ(.token = ALPHA, .key = "idem-reuse"), &r);
    expect_forwarded(&r, 200);
    hresp_free(&r);
    hreq_patch(PROXY, BODY("\"firstName\":\"Two\""),
               HREQ(.token = ALPHA, .key = "idem-reuse"), &r);
    expect_local_error(&r, 422, MSG_KEY_REUSED, "Unprocessable Entity");
    hresp_free(&r);
    cr_expect_eq(hfixture_count("update"), 1, "a 422 calls no upstream");
}

/* ---- key syntax and required keys --------------------------------------- */

struct key_case {
    const char *what;
    const char *key;
};

Test(idem, invalid_keys_are_400_without_an_upstream_call)
{
    static char long_key[257], max_key[256];
    static const struct key_case bad[] = {
        { "empty", "" },
        { "256 characters", long_key },
        { "a space in a bare key", "idem key" },
        { "a tab", "idem\tkey" },
        { "a control character", "idem\001key" },
        { "DEL", "idem\177key" },
        { "not ASCII", "caf\303\251" },
        { "an unterminated quote", "\"idem-key" },
        { "an empty quoted key", "\"\"" },
    };
    struct hresp r;
    size_t       i;

    memset(long_key, 'k', 256);
    memset(max_key, 'k', 255);
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        hreq_patch(PROXY, BODY("\"appendComment\":\"bad key\""),
                   HREQ(.token = ALPHA, .key = bad[i].key), &r);
        cr_expect_eq(r.status, 400, "%s: %d %s", bad[i].what, r.status,
                     r.body);
        if (r.status == 400) {
            expect_local_error(&r, 400, MSG_KEY_SYNTAX, "Bad Request");
        }
        hresp_free(&r);
    }
    cr_expect_eq(hfixture_count("total"), 0, "no invalid key reached the upstream");

    /* the bounds: 1 and 255 characters */
    hreq_patch(PROXY, BODY("\"appendComment\":\"one\""),
               HREQ(.token = ALPHA, .key = "k"), &r);
    expect_forwarded(&r, 200);
    hresp_free(&r);
    hreq_patch(PROXY, BODY("\"appendComment\":\"255\""),
               HREQ(.token = ALPHA, .key = max_key), &r);
    expect_forwarded(&r, 200);
    hresp_free(&r);
    cr_expect_eq(hfixture_count("update"), 2);
}

/*
 * The proxy checks in order: route, body size, JSON, token, key syntax,
 * then the PATCH's fields. A request failing two checks gets the
 * earlier one's answer: the same answer as without the bad key.
 */
Test(idem, checks_run_in_order)
{
    static char big[9 * 1024 + 64];
    struct {
        const char *what;
        const char *path;
        const char *token;
        const char *body;
    } earlier[] = {
        { "route", API "/phone/nowhere", ALPHA, BODY("\"x\":1") },
        { "body size", UPDATE, ALPHA, big },
        { "JSON", UPDATE, ALPHA, "{\"phone\":" },
        { "token", UPDATE, NULL, BODY("\"appendComment\":\"t\"") },
    };
    const char  *base = hfixture_env("HSP_PROXY_URL");
    struct hresp with, without;
    size_t       i, n;

    n = (size_t)snprintf(big, sizeof(big), "{\"phone\":\"" PHONE "\","
                         "\"appendComment\":\"");
    memset(big + n, 'x', sizeof(big) - n - 3);
    memcpy(big + sizeof(big) - 3, "\"}", 3);
    for (i = 0; i < sizeof(earlier) / sizeof(earlier[0]); i++) {
        hreq_send("PATCH", base, earlier[i].path, earlier[i].body,
                  HREQ(.type = "application/json", .token = earlier[i].token),
                  &without);
        hreq_send("PATCH", base, earlier[i].path, earlier[i].body,
                  HREQ(.type = "application/json", .token = earlier[i].token,
                       .key = "idem bad"), &with);
        cr_expect_geq(without.status, 400, "%s: %d", earlier[i].what,
                      without.status);
        cr_expect_eq(with.status, without.status, "%s: %d, want %d (%s)",
                     earlier[i].what, with.status, without.status, with.body);
        cr_expect_str_eq(with.body, without.body, "%s", earlier[i].what);
        hresp_free(&with);
        hresp_free(&without);
    }
    /* the key before the PATCH's own field checks */
    hreq_patch(PROXY, "{}", HREQ(.token = ALPHA, .key = "idem bad"), &with);
    expect_local_error(&with, 400, MSG_KEY_SYNTAX, "Bad Request");
    hresp_free(&with);
    cr_expect_eq(hfixture_count("total"), 0, "nothing reached the upstream");
}

Test(idem, a_required_key_that_is_missing_is_400)
{
    static const char *const opts[] = { "idempotency_required=yes", NULL };
    static struct hproc p;
    struct hresp        r;

    cr_assert_eq(hproc_proxy_start("idem-required", opts, &p), 0, "%s",
                 p.error);
    hreq_patch(p.url, BODY("\"appendComment\":\"no key\""),
               HREQ(.token = ALPHA), &r);
    expect_local_error(&r, 400, MSG_KEY_REQUIRED, "Bad Request");
    hresp_free(&r);
    /* after the token and JSON checks, before the field checks */
    hreq_patch(p.url, BODY("\"appendComment\":\"no key\""), NULL, &r);
    cr_expect_eq(r.status, 401, "no token: %d %s", r.status, r.body);
    hresp_free(&r);
    hreq_patch(p.url, "{\"phone\":", HREQ(.token = ALPHA), &r);
    cr_expect_eq(r.status, 400);
    cr_expect_null(strstr(r.body, "Idempotency-Key"), "JSON first: %s",
                   r.body);
    hresp_free(&r);
    hreq_patch(p.url, "{}", HREQ(.token = ALPHA), &r);
    expect_local_error(&r, 400, MSG_KEY_REQUIRED, "Bad Request");
    hresp_free(&r);
    cr_expect_eq(hfixture_count("total"), 0, "nothing reached the upstream");

    /* with a key it goes through; lookups need none */
    hreq_patch(p.url, BODY("\"appendComment\":\"key\""),
               HREQ(.token = ALPHA, .key = "idem-required-1"), &r);
    expect_forwarded(&r, 200);
    hresp_free(&r);
    hreq_get(p.url, API "/phone/query?phone=" QPHONE, HREQ(.token = ALPHA),
             &r);
    cr_expect_eq(r.status, 200, "GET needs no key: %d %s", r.status, r.body);
    hresp_free(&r);
    cr_expect_eq(hfixture_count("update"), 1);
    cr_expect_eq(hproc_stop(&p, SIGTERM), 0, "exit status after SIGTERM: %s",
                 p.error);
}

/* ---- in flight, failures and what is stored ----------------------------- */

Test(idem, a_duplicate_while_the_first_is_in_flight_is_409)
{
    static const char *const body = BODY("\"appendComment\":\"in flight\"");
    static struct hheld      held;  /* the thread may outlive a failure */
    struct hresp             r;

    /* the first is held by the sandbox for 1.5 s (B waits 5 s) */
    held = (struct hheld){
        .method = "PATCH", .base = PROXY_B, .path = UPDATE, .body = body,
        .opt = { .type = "application/json", .token = ALPHA,
                 .key = "idem-in-flight",
                 .extra = "X-Sandbox-Delay-Ms: 1500" },
    };
    hreq_held_start(&held);
    wait_updates(1);
    /* duplicates on the other instance and on the same one */
    hreq_patch(PROXY, body, HREQ(.token = ALPHA, .key = "idem-in-flight"), &r);
    expect_local_error(&r, 409, MSG_IN_FLIGHT, "Conflict");
    cr_expect_str_eq(hreq_hdr(&r, "Retry-After"), "1", "Retry-After");
    hresp_free(&r);
    hreq_patch(PROXY_B, body, HREQ(.token = ALPHA, .key = "idem-in-flight"),
               &r);
    expect_local_error(&r, 409, MSG_IN_FLIGHT, "Conflict");
    hresp_free(&r);
    hreq_held_join(&held);
    cr_assert_eq(held.rc, 0, "the first PATCH: %s", held.resp.error);
    expect_forwarded(&held.resp, 200);

    hreq_patch(PROXY, body, HREQ(.token = ALPHA, .key = "idem-in-flight"), &r);
    expect_replay(&r, &held.resp);
    hresp_free(&r);
    hresp_free(&held.resp);
    cr_expect_eq(hfixture_count("update"), 1, "one PATCH reached the upstream");
}

/*
 * The first PATCH with KEY carries FAULT and gets WANT; the claim is
 * released, so the retry without the fault is forwarded and answers 200,
 * and the one after that replays it.
 */
static void
expect_released(const char *key, const char *fault, int want)
{
    static const char *const body = BODY("\"appendComment\":\"retry me\"");
    struct hresp first, retry, again;

    hreq_patch(PROXY, body, HREQ(.token = ALPHA, .key = key, .extra = fault),
               &first);
    cr_expect_eq(first.status, want, "%s: %d, want %d: %s", fault,
                 first.status, want, first.body);
    cr_expect_null(hresp_header(&first, "Idempotent-Replayed"));
    hresp_free(&first);
    cr_expect_eq(hfixture_count("update"), 1, "%s", fault);

    hreq_patch(PROXY, body, HREQ(.token = ALPHA, .key = key), &retry);
    expect_forwarded(&retry, 200);
    cr_expect_eq(hfixture_count("update"), 2, "after %s the retry was forwarded",
                 fault);
    hreq_patch(PROXY, body, HREQ(.token = ALPHA, .key = key), &again);
    expect_replay(&again, &retry);
    cr_expect_eq(hfixture_count("update"), 2);
    hresp_free(&retry);
    hresp_free(&again);
}

/*
 * An upstream failure that must release the claim (SPEC §5). Parameters
 * reach the test's process as bytes (criterion runs each test in a new
 * process, where a pointer into this one means nothing), so strings are
 * arrays.
 */
struct released_case {
    char key[16];                   /* its Idempotency-Key */
    char fault[32];                 /* the header line that makes it */
    int  want;                      /* the status the client gets */
};

ParameterizedTestParameters(idem, an_upstream_failure_releases_the_claim)
{
    static struct released_case cases[] = {
        { "idem-5xx", "X-Sandbox-Fail: 500", 500 },
        { "idem-503", "X-Sandbox-Fail: 503", 503 },
        /* upstream_timeout is 1s on the main proxy */
        { "idem-timeout", "X-Sandbox-Delay-Ms: 2000", 504 },
        { "idem-drop", "X-Sandbox-Fail: drop", 502 },   /* dropped */
        { "idem-429", "X-Sandbox-Fail: 429", 429 },
        { "idem-408", "X-Sandbox-Fail: 408", 408 },
    };

    return cr_make_param_array(struct released_case, cases,
                               sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct released_case *c, idem,
                  an_upstream_failure_releases_the_claim)
{
    cr_log_info("%s", c->fault);
    expect_released(c->key, c->fault, c->want);
}

Test(idem, other_upstream_4xx_are_stored_and_replayed)
{
    static const char *const missing = "{\"phone\":\"" MISSING "\","
                                       "\"appendComment\":\"who\"}";
    static const char *const refused = BODY("\"firstName\":7");
    struct hresp first, again;

    /* the sandbox's 404 for a phone the tenant does not have */
    hreq_patch(PROXY, missing, HREQ(.token = ALPHA, .key = "idem-404"),
               &first);
    expect_forwarded(&first, 404);
    hreq_patch(PROXY, missing, HREQ(.token = ALPHA, .key = "idem-404"),
               &again);
    expect_replay(&again, &first);
    hresp_free(&first);
    hresp_free(&again);
    cr_expect_eq(hfixture_count("update"), 1);

    /* the sandbox's own validation (the proxy lets a number through) */
    hreq_patch(PROXY, refused, HREQ(.token = ALPHA, .key = "idem-400"),
               &first);
    expect_forwarded(&first, 400);
    hreq_patch(PROXY, refused, HREQ(.token = ALPHA, .key = "idem-400"),
               &again);
    expect_replay(&again, &first);
    hresp_free(&first);
    hresp_free(&again);
    cr_expect_eq(hfixture_count("update"), 2);
}

Test(idem, a_refused_request_claims_nothing)
{
    static const char *const bodies[] = {
        "{\"phone\":",                                  /* invalid JSON */
        "{}",                                           /* no phone */
        BODY("\"primaryPhone\":\"8015550000\""),        /* refused field */
    };
    struct hresp first, r;
    size_t       i;

    for (i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
        hreq_patch(PROXY, bodies[i],
                   HREQ(.token = ALPHA, .key = "idem-refused"), &r);
        cr_expect_eq(r.status, 400, "%s: %d %s", bodies[i], r.status, r.body);
        cr_expect_null(hresp_header(&r, "Idempotent-Replayed"));
        hresp_free(&r);
    }
    cr_expect_eq(hfixture_count("total"), 0, "nothing reached the upstream");
    /* the key is still free: a 422 or 409 here would mean it was taken */
    hreq_patch(PROXY, BODY("\"appendComment\":\"now valid\""),
               HREQ(.token = ALPHA, .key = "idem-refused"), &first);
    expect_forwarded(&first, 200);
    hreq_patch(PROXY, BODY("\"appendComment\":\"now valid\""),
               HREQ(.token = ALPHA, .key = "idem-refused"), &r);
    expect_replay(&r, &first);
    hresp_free(&r);
    hresp_free(&first);
    cr_expect_eq(hfixture_count("update"), 1);
}

/* ---- across instances, restarts and time -------------------------------- */

Test(idem, a_claim_left_by_a_killed_proxy_expires_with_its_lease)
{
    static const char *const body = BODY("\"appendComment\":\"killed\"");
    static struct hproc      p;
    static struct hheld      held;  /* the thread may outlive a failure */
    struct hresp             r;
    long                     t0, first_ok = -1, last_conflict = -1;
    long                     deadline;
    int                      conflicts = 0;

    /* its lease, like the main proxy's: 1s + 2 x 100ms + 1s */
    cr_assert_eq(hproc_proxy_start("idem-killed", NULL, &p), 0, "%s",
                 p.error);
    held = (struct hheld){
        .method = "PATCH", .base = p.url, .path = UPDATE, .body = body,
        .opt = { .type = "application/json", .token = ALPHA,
                 .key = "idem-killed", .extra = "X-Sandbox-Delay-Ms: 3000" },
    };
    hreq_held_start(&held);
    wait_updates(1);                /* claimed, then forwarded: held */
    t0 = hfixture_now_ms();
    cr_expect_eq(hproc_stop(&p, SIGKILL), 128 + SIGKILL, "%s", p.error);
    hreq_held_join(&held);
    hresp_free(&held.resp);

    /* 409 until the lease runs out, then forwarded as a first request */
    deadline = t0 + LEASE_MS + 3000;
    for (;;) {
        long sent = hfixture_now_ms();

        hreq_patch(PROXY, body, HREQ(.token = ALPHA, .key = "idem-killed"),
                   &r);
        if (r.status != 409) {
            first_ok = sent;
            break;
        }
        conflicts++;
        last_conflict = sent;
        hresp_free(&r);
        cr_assert_lt(hfixture_now_ms(), deadline,
                     "still 409 %ld ms after the kill", hfixture_now_ms() - t0);
        hfixture_pause_ms(100);
    }
    expect_forwarded(&r, 200);
    hresp_free(&r);
    cr_expect_gt(conflicts, 0, "the retry right after the kill got 409");
    cr_expect_geq(first_ok - t0, LEASE_MS - 700,
                  "forwarded %ld ms after the kill: the lease is %d ms",
                  first_ok - t0, LEASE_MS);
    cr_expect_leq(last_conflict - t0, LEASE_MS + 100,
                  "still 409 %ld ms after the kill", last_conflict - t0);
    cr_expect_eq(hfixture_count("update"), 2, "the killed one and the retry");
}

Test(idem, a_replay_works_on_another_instance)
{
    static const char *const body = BODY("\"appendComment\":\"via A\"");
    struct hresp first, r;

    hreq_patch(PROXY, body, HREQ(.token = ALPHA, .key = "idem-instances"),
               &first);
    expect_forwarded(&first, 200);
    hreq_patch(PROXY_B, body, HREQ(.token = ALPHA, .key = "idem-instances"),
               &r);
    expect_replay(&r, &first);
    hresp_free(&r);
    hreq_patch(PROXY_B, BODY("\"appendComment\":\"via B\""),
               HREQ(.token = ALPHA, .key = "idem-instances"), &r);
    expect_local_error(&r, 422, MSG_KEY_REUSED, "Unprocessable Entity");
    hresp_free(&r);
    hresp_free(&first);
    cr_expect_eq(hfixture_count("update"), 1);
}

Test(idem, a_replay_survives_a_proxy_restart)
{
    static const char *const body = BODY("\"appendComment\":\"restart\"");
    static struct hproc p;
    struct hresp        first, r;

    cr_assert_eq(hproc_proxy_start("idem-restart", NULL, &p), 0, "%s",
                 p.error);
    hreq_patch(p.url, body, HREQ(.token = ALPHA, .key = "idem-restart"),
               &first);
    expect_forwarded(&first, 200);
    cr_assert_eq(hproc_stop(&p, SIGTERM), 0, "exit status after SIGTERM: %s",
                 p.error);

    cr_assert_eq(hproc_proxy_start("idem-restart", NULL, &p), 0, "%s",
                 p.error);
    hreq_patch(p.url, body, HREQ(.token = ALPHA, .key = "idem-restart"), &r);
    expect_replay(&r, &first);
    hresp_free(&r);
    hresp_free(&first);
    cr_expect_eq(hfixture_count("update"), 1, "one PATCH in all");
    cr_expect_eq(hproc_stop(&p, SIGTERM), 0, "exit status after SIGTERM: %s",
                 p.error);
}

Test(idem, a_record_expires_after_idempotency_ttl)
{
    static const char *const opts[] = { "idempotency_ttl=1s", NULL };
    static const char *const body = BODY("\"appendComment\":\"ttl\"");
    static struct hproc p;
    struct hresp        first, r;

    cr_assert_eq(hproc_proxy_start("idem-ttl", opts, &p), 0, "%s", p.error);
    hreq_patch(p.url, body, HREQ(.token = ALPHA, .key = "idem-ttl"), &first);
    expect_forwarded(&first, 200);
    hreq_patch(p.url, body, HREQ(.token = ALPHA, .key = "idem-ttl"), &r);
    expect_replay(&r, &first);      /* it was stored */
    hresp_free(&r);
    cr_expect_eq(hfixture_count("update"), 1);
    hfixture_pause_ms(1500);                 /* idempotency_ttl = 1s there */
    hreq_patch(p.url, body, HREQ(.token = ALPHA, .key = "idem-ttl"), &r);
    expect_forwarded(&r, 200);
    hresp_free(&r);
    hresp_free(&first);
    cr_expect_eq(hfixture_count("update"), 2, "forwarded again after the TTL");
    cr_expect_eq(hproc_stop(&p, SIGTERM), 0, "exit status after SIGTERM: %s",
                 p.error);
}

Test(idem, the_scope_is_tenant_and_key)
{
    static const char *const body = BODY("\"appendComment\":\"scope\"");
    struct hresp alpha, bravo, r;
    char         a[64], b[64];

    hreq_patch(PROXY, body, HREQ(.token = ALPHA, .key = "idem-scope"), &alpha);
    expect_forwarded(&alpha, 200);
    hreq_patch(PROXY, body, HREQ(.token = BRAVO, .key = "idem-scope"), &bravo);
    expect_forwarded(&bravo, 200);
    cr_expect_eq(hfixture_count("update"), 2, "two tenants, two records");
    hfixture_body_string(&alpha, "name", a, sizeof(a));
    hfixture_body_string(&bravo, "name", b, sizeof(b));
    cr_expect_str_neq(a, b, "each tenant's own lead");

    hreq_patch(PROXY, body, HREQ(.token = BRAVO, .key = "idem-scope"), &r);
    expect_replay(&r, &bravo);
    hresp_free(&r);
    hreq_patch(PROXY, body, HREQ(.token = ALPHA, .key = "idem-scope"), &r);
    expect_replay(&r, &alpha);
    hresp_free(&r);
    hresp_free(&alpha);
    hresp_free(&bravo);
    cr_expect_eq(hfixture_count("update"), 2);
}

/* ---- Redis ------------------------------------------------------------- */

/*
 * With redis2 stopped, PATCH BODY with Idempotency-Key KEY twice to BASE;
 * returns how much the metric SERIES of BASE grew meanwhile. Each answer
 * goes into R[i] (the caller frees them).
 */
static double
patch_without_redis(const char *base, const char *body, const char *key,
                    const char *series, struct hresp r[2])
{
    double before, after;
    bool   found;
    int    i;

    before = hreq_metric(base, series, &found);
    hfixture_redis2_stop();
    for (i = 0; i < 2; i++) {
        hreq_patch(base, body, HREQ(.token = ALPHA, .key = key), &r[i]);
    }
    after = hreq_metric(base, series, &found);
    cr_expect(found, "no %s in /metrics", series);
    hfixture_redis2_start();
    return after - before;
}

/* SPEC §8: at-most-once cannot be promised without Redis, so by default
 * (idempotency_on_store_error = refuse) the PATCH is refused, not sent. */
Test(idem, without_redis_a_patch_with_a_key_is_refused_with_503)
{
    static const char *const body = BODY("\"appendComment\":\"no redis\"");
    struct hresp r[2];
    double       grew;
    int          i;

    grew = patch_without_redis(PROXY_R2, body, "idem-no-redis", REFUSED, r);
    for (i = 0; i < 2; i++) {
        cr_expect_eq(r[i].status, 503, "round %d: %d %s", i, r[i].status,
                     r[i].body);
        cr_expect_str_eq(hreq_hdr(&r[i], "Retry-After"), "1", "round %d", i);
        cr_expect(strstr(r[i].body, "\"statusCode\":503") != NULL &&
                      strstr(r[i].body, "\"error\":\"Service Unavailable\"")
                          != NULL,
                  "the upstream's error format: %s", r[i].body);
        hresp_free(&r[i]);
    }
    cr_expect_eq(hfixture_count("update"), 0, "nothing went upstream");
    cr_expect_eq(grew, 2, "%s grew by %g", REFUSED, grew);
}

/* A PATCH without a key is not at-most-once: it still fails open. */
Test(idem, without_redis_a_patch_without_a_key_is_forwarded)
{
    static const char *const body = BODY("\"appendComment\":\"no key\"");
    struct hresp r;

    hfixture_redis2_stop();
    hreq_patch(PROXY_R2, body, HREQ(.token = ALPHA), &r);
    hfixture_redis2_start();
    expect_forwarded(&r, 200);
    hresp_free(&r);
    cr_expect_eq(hfixture_count("update"), 1);
}

Test(idem, with_forward_without_redis_a_patch_is_forwarded_unprotected)
{
    static const char *const body = BODY("\"appendComment\":\"no redis\"");
    struct hproc p;
    struct hresp r[2];
    char         redis[600];
    const char  *opts[] = { redis, "idempotency_on_store_error=forward",
                            "rate_limit_fallback=0/min", NULL };
    double       grew;
    int          i;

    snprintf(redis, sizeof(redis), "redis=unix://%s",
             hfixture_env("HSP_REDIS2_SOCK"));
    hfixture_proxy("idem-forward", opts, &p);
    grew = patch_without_redis(p.url, body, "idem-no-redis", UNPROTECTED, r);
    for (i = 0; i < 2; i++) {
        expect_forwarded(&r[i], 200);
        hresp_free(&r[i]);
    }
    cr_expect_eq(hfixture_count("update"), 2, "no protection without Redis");
    cr_expect_eq(grew, 2, "%s grew by %g", UNPROTECTED, grew);
    hfixture_stop(&p);
}

Test(idem, a_replay_does_not_write_the_lead_back)
{
    static const char *const alpha1 = BODY("\"firstName\":\"Alpha1\"");
    struct hresp first, r;
    char         name[64];

    hreq_patch(PROXY, alpha1, HREQ(.token = ALPHA, .key = "idem-write-once"),
               &first);
    expect_forwarded(&first, 200);
    hreq_patch(PROXY, BODY("\"firstName\":\"Alpha2\""), HREQ(.token = ALPHA),
               &r);
    expect_forwarded(&r, 200);
    hresp_free(&r);

    hreq_patch(PROXY, alpha1, HREQ(.token = ALPHA, .key = "idem-write-once"),
               &r);
    expect_replay(&r, &first);
    hfixture_body_string(&r, "name", name, sizeof(name));
    cr_expect_str_eq(name, "Alpha1 Doe", "the replay is the stored answer");
    hresp_free(&r);
    hresp_free(&first);

    hreq_get(hfixture_env("HSP_PROXY_URL"), API "/phone/query?phone=" QPHONE,
             HREQ(.token = ALPHA), &r);
    cr_expect_eq(r.status, 200);
    cr_expect_str_eq(hreq_hdr(&r, "X-Cache"), "HIT",
                     "the last PATCH wrote the lead through");
    hfixture_body_string(&r, "name", name, sizeof(name));
    cr_expect_str_eq(name, "Alpha2 Doe", "the replay wrote nothing back");
    hresp_free(&r);
    cr_expect_eq(hfixture_count("query"), 0);
    cr_expect_eq(hfixture_count("update"), 2);
}

Test(idem, redis_keys_show_no_token_phone_or_key)
{
    static const char *const key = "idem-SECRET-k3y-7Qz";
    redisContext *c;
    redisReply   *before, *after;
    struct hresp  r;
    size_t        i, j, added = 0;

    hreq_patch(PROXY, BODY("\"appendComment\":\"no key\""),
               HREQ(.token = ALPHA), &r);
    expect_forwarded(&r, 200);
    hresp_free(&r);
    c = hfixture_redis("HSP_REDIS_SOCK");
    before = redisCommand(c, "KEYS *");
    cr_assert(before != NULL && before->type == REDIS_REPLY_ARRAY);

    hreq_patch(PROXY, BODY("\"appendComment\":\"with key\""),
               HREQ(.token = ALPHA, .key = key), &r);
    expect_forwarded(&r, 200);
    hresp_free(&r);
    after = redisCommand(c, "KEYS *");
    cr_assert(after != NULL && after->type == REDIS_REPLY_ARRAY);
    for (i = 0; i < after->elements; i++) {
        const char *k = after->element[i]->str;
        bool        old = false;
        redisReply *dump;

        for (j = 0; j < before->elements; j++) {
            old = old || strcmp(k, before->element[j]->str) == 0;
        }
        added += !old;
        cr_expect_null(strstr(k, ALPHA), "token in key %s", k);
        cr_expect_null(strstr(k, "8015551234"), "phone in key %s", k);
        cr_expect_null(strstr(k, key), "Idempotency-Key in key %s", k);
        hexpect_tenant_key(k);
        dump = redisCommand(c, "DUMP %s", k);
        cr_assert(dump != NULL);
        if (dump->type == REDIS_REPLY_STRING) {
            cr_expect_null(memmem(dump->str, dump->len, ALPHA, strlen(ALPHA)),
                           "token in the value of %s", k);
        }
        freeReplyObject(dump);
    }
    cr_expect_gt(added, 0, "the keyed PATCH stored a record");
    freeReplyObject(before);
    freeReplyObject(after);
    redisFree(c);
}

/* ---- a frozen Redis (SPEC §12) ------------------------------------------ */

/* Pauses the main Redis's writes for MS (scripts included). */
static void
pause_redis_writes(int ms)
{
    redisContext *c = hfixture_redis("HSP_REDIS_SOCK");
    redisReply   *r = redisCommand(c, "CLIENT PAUSE %d WRITE", ms);

    cr_assert(r != NULL && r->type == REDIS_REPLY_STATUS, "CLIENT PAUSE: %s",
              r != NULL && r->str != NULL ? r->str : "no reply");
    freeReplyObject(r);
    redisFree(c);
}

/*
 * A claim that reaches Redis after its request gave up on it (Redis
 * paused past redis_timeout) must not be taken: an orphan claim would
 * answer the client's retry 409 for a whole lease. The proxy has no near
 * cache here, so that nothing but the PATCH calls Redis while it is
 * paused; a first PATCH teaches it Redis's clock.
 */
Test(idem, a_claim_redis_runs_too_late_leaves_no_orphan)
{
    static const char *const opts[] = { "near_cache=0", NULL };
    static struct hproc      p;
    struct hresp             r;

    cr_assert_eq(hproc_proxy_start("idem-late", opts, &p), 0, "%s",
                 p.error);
    hreq_patch(p.url, BODY("\"appendComment\":\"learn the clock\""),
               HREQ(.token = ALPHA, .key = "idem-late-clock"), &r);
    expect_forwarded(&r, 200);
    hresp_free(&r);

    pause_redis_writes(1500);
    hreq_patch(p.url, BODY("\"appendComment\":\"while paused\""),
               HREQ(.token = ALPHA, .key = "idem-late-1"), &r);
    cr_expect_neq(r.status, 409, "%d %s", r.status, r.body);
    hresp_free(&r);
    usleep(1800 * 1000);            /* the pause ends; the claim runs */

    /* the retry finds no claim: it is forwarded, not refused as busy */
    hreq_patch(p.url, BODY("\"appendComment\":\"while paused\""),
               HREQ(.token = ALPHA, .key = "idem-late-1"), &r);
    cr_expect_eq(r.status, 200, "the retry got %d (an orphan claim?): %s",
                 r.status, r.body);
    hresp_free(&r);
    cr_expect_eq(hproc_stop(&p, SIGTERM), 0, "exit status after SIGTERM: %s",
                 p.error);
}

/*
 * The same from a fresh start: the very first keyed PATCH of a new proxy
 * has a deadline too, since the store learns Redis's clock (TIME) as its
 * link comes up, before any claim could teach it.
 */
Test(idem, the_first_claim_after_a_start_has_a_deadline)
{
    static const char *const opts[] = { "near_cache=0", NULL };
    static struct hproc      p;
    struct hresp             r;
    bool                     up;
    int                      i;

    cr_assert_eq(hproc_proxy_start("idem-first", opts, &p), 0, "%s",
                 p.error);
    /* Its Redis link up (a PATCH before that could not have a deadline:
     * nothing of Redis is known yet). */
    for (i = 0;; i++) {
        hreq_get(p.url, "/readyz", NULL, &r);
        up = strstr(r.body, "\"redis\":{\"status\":\"up\"") != NULL;
        hresp_free(&r);
        if (up) {
            break;
        }
        cr_assert_lt(i, 100, "redis never up");
        usleep(50 * 1000);
    }
    pause_redis_writes(1500);
    hreq_patch(p.url, BODY("\"appendComment\":\"first, while paused\""),
               HREQ(.token = ALPHA, .key = "idem-first-1"), &r);
    cr_expect_neq(r.status, 409, "%d %s", r.status, r.body);
    hresp_free(&r);
    usleep(1800 * 1000);            /* the pause ends; the claim runs */

    hreq_patch(p.url, BODY("\"appendComment\":\"first, while paused\""),
               HREQ(.token = ALPHA, .key = "idem-first-1"), &r);
    cr_expect_eq(r.status, 200, "the retry got %d (an orphan claim?): %s",
                 r.status, r.body);
    hresp_free(&r);
    cr_expect_eq(hproc_stop(&p, SIGTERM), 0, "exit status after SIGTERM: %s",
                 p.error);
}
