/*
 * fuzz_json.c - libFuzzer harness for the strict JSON parser (src/json.c)
 * and the canonical form behind Idempotency-Key fingerprints
 * (src/idem.c, SPEC §5). The input is a PATCH body; as a C string it is
 * also tried as an Idempotency-Key header value.
 *
 * Properties:
 *   - idem_canonical() succeeds exactly when json_parse_strict() accepts
 *     the body (the only extra refusals are the documented ones: keys
 *     holding \u0000 and integers json-c clamps), and then its output is
 *     *OUTLEN bytes with no NUL inside;
 *   - the canonical form is a fixed point: canonicalising it again gives
 *     the same bytes, so equal requests keep equal fingerprints;
 *   - the compact serialisation of anything the strict parser accepted is
 *     itself accepted (the sandbox answers with it), and canonicalises
 *     like the body it came from;
 *   - a parsed Idempotency-Key is 1..255 visible ASCII characters, and,
 *     when it holds no '"', parses to itself again in the bare form.
 */
#include "config.h"

#include "fuzz.h"

#include <stdbool.h>

#include <json-c/json.h>

#include "idem.h"
#include "json.h"

static void
check_canonical(const char *body, size_t len)
{
    char  *canon = NULL, *again = NULL, err[256] = "", fp[IDEM_FP_HEX + 1];
    size_t clen = 0, alen = 0;
    struct json_object *obj;
    int    rc;

    obj = json_parse_strict(body, len, err, sizeof(err));
    rc = idem_canonical(body, len, &canon, &clen, err, sizeof(err));
    if (len > 0 && obj == NULL) {
        FUZZ_CHECK(rc == -1, "what the parser refuses is not canonical");
    }
    json_object_put(obj);
    if (rc != 0) {
        FUZZ_CHECK(rc == -1 && canon == NULL && err[0] != '\0',
                   "a failure says why and gives nothing");
        return;
    }
    FUZZ_CHECK(canon != NULL && strlen(canon) == clen,
               "the canonical form has no NUL inside");
    FUZZ_CHECK(len == 0 || clen > 0, "a value is not empty");
    rc = idem_canonical(canon, clen, &again, &alen, err, sizeof(err));
    FUZZ_CHECK(rc == 0, "the canonical form is valid JSON");
    FUZZ_CHECK(alen == clen && memcmp(again, canon, clen) == 0,
               "canonicalising is idempotent");
    idem_fingerprint("PATCH", "/api/v1/appointment/s2s/phone/update", canon,
                     clen, fp);
    FUZZ_CHECK(strlen(fp) == IDEM_FP_HEX, "a fingerprint is 64 hex digits");
    free(again);
    free(canon);
}

/* A body and json-c's compact rewrite of it are one request: when both
 * canonicalise, they must do so alike (else a client library that
 * reserialises its body would get a 422 on its own retry). */
static void
same_canonical(const char *a, size_t alen, const char *b, size_t blen)
{
    char  *ca = NULL, *cb = NULL, err[256];
    size_t calen = 0, cblen = 0;

    if (idem_canonical(a, alen, &ca, &calen, err, sizeof(err)) == 0 &&
        idem_canonical(b, blen, &cb, &cblen, err, sizeof(err)) == 0) {
        FUZZ_CHECK(calen == cblen && memcmp(ca, cb, calen) == 0,
                   "a body and its compact form canonicalise alike");
    }
    free(ca);
    free(cb);
}

static void
check_compact(const char *body, size_t len)
{
    struct json_object *obj, *back;
    const char         *text;
    char                err[256];
    size_t              tlen = 0;
    int64_t             n;
    bool                b;

    obj = json_parse_strict(body, len, err, sizeof(err));
    if (obj == NULL) {
        return;
    }
    (void)json_get_string(obj, "phone");
    (void)json_get_string(obj, "token");
    (void)json_get_int(obj, "limitDays", &n);
    (void)json_get_bool(obj, "simpleBlockId", &b);
    (void)json_has(obj, "crmSettingsId");
    text = json_compact(obj, &tlen);
    FUZZ_CHECK(text != NULL, "json_compact");
    back = json_parse_strict(text, tlen, err, sizeof(err));
    FUZZ_CHECK(back != NULL, "compact output parses strictly");
    json_object_put(back);
    same_canonical(body, len, text, tlen);
    json_object_put(obj);
}

static void
check_key(const char *header)
{
    char   key[IDEM_KEY_MAX + 1], again[IDEM_KEY_MAX + 1];
    size_t i, n;

    if (idem_key_parse(header, key, sizeof(key)) != 0) {
        FUZZ_CHECK(key[0] == '\0', "a refused key leaves OUT empty");
        return;
    }
    n = strlen(key);
    FUZZ_CHECK(n >= 1 && n <= IDEM_KEY_MAX, "a key is 1..255 characters");
    for (i = 0; i < n; i++) {
        FUZZ_CHECK(key[i] >= 0x21 && key[i] <= 0x7e, "a key is visible");
    }
    if (strchr(key, '"') == NULL) {
        FUZZ_CHECK(idem_key_parse(key, again, sizeof(again)) == 0 &&
                   strcmp(key, again) == 0, "a key parses to itself");
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s;

    check_canonical((const char *)data, size);
    check_compact((const char *)data, size);
    s = fuzz_strndup(data, size);
    check_key(s);
    free(s);
    return 0;
}
