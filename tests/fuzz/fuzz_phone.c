/*
 * fuzz_phone.c - libFuzzer harness for the phone normaliser and the log
 * mask (src/phone.c, SPEC §3). The input is the raw phone text.
 *
 * Properties checked on every input:
 *   - phone_normalize_n() gives E.164 ('+' and 8 to 15 digits) or fails
 *     with an empty OUT; a number without '+' in the input is NANP, +1
 *     and 10 digits;
 *   - normalising its own output gives the same output (idempotent);
 *   - phone_normalize() on the NUL-terminated copy agrees, when the input
 *     holds no NUL;
 *   - every smaller OUT either holds the same result or fails, and no
 *     call writes past OUTLEN (OUT is a heap block of exactly OUTLEN
 *     bytes, so ASan sees a single byte too far);
 *   - phone_mask() gives "***" and the last 4 digits, or fails.
 */
#include "config.h"

#include "fuzz.h"

#include <stdbool.h>

#include "phone.h"

static bool
is_e164(const char *s)
{
    size_t n;

    if (s[0] != '+') {
        return false;
    }
    n = strspn(s + 1, "0123456789");
    return n >= 8 && n <= 15 && s[1 + n] == '\0';
}

/* Normalises IN/LEN into a heap OUT of exactly OUTLEN bytes and checks
 * the answer against WANT (the result with room enough, or NULL). */
static void
check_outlen(const char *in, size_t len, size_t outlen, const char *want)
{
    char *out = malloc(outlen);     /* ASan: 0 bytes is a real block */
    int   rc;

    FUZZ_CHECK(out != NULL || outlen == 0, "malloc");
    rc = phone_normalize_n(in, len, out, outlen);
    if (rc == 0) {
        FUZZ_CHECK(want != NULL && strcmp(out, want) == 0,
                   "a small OUT gives the same number or fails");
    } else if (outlen > 0) {
        FUZZ_CHECK(out[0] == '\0', "a failure leaves OUT empty");
        FUZZ_CHECK(want == NULL || strlen(want) + 1 > outlen,
                   "fails only when the number does not fit");
    }
    free(out);
}

static void
check_mask(const char *phone)
{
    char        mask[PHONE_MASK_MAX], small[PHONE_MASK_MAX - 1];
    char        last[4];
    size_t      i, n = 0;
    int         rc;

    for (i = strnlen(phone, PHONE_INPUT_MAX + 1); i > 0 && n < 4; i--) {
        if (phone[i - 1] >= '0' && phone[i - 1] <= '9') {
            last[3 - n++] = phone[i - 1];
        }
    }
    rc = phone_mask(phone, mask, sizeof(mask));
    if (n == 4) {
        FUZZ_CHECK(rc == 0 && strlen(mask) == 7 &&
                   memcmp(mask, "***", 3) == 0 &&
                   memcmp(mask + 3, last, 4) == 0,
                   "mask is *** and the last 4 digits");
    } else {
        FUZZ_CHECK(rc == -1 && strcmp(mask, "***") == 0,
                   "fewer than 4 digits give ***");
    }
    FUZZ_CHECK(phone_mask(phone, small, sizeof(small)) == -1 &&
               small[0] == '\0', "a too small mask buffer fails empty");
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *in = (const char *)data;
    char        out[PHONE_E164_MAX], again[PHONE_E164_MAX];
    char        viastr[PHONE_E164_MAX], *s;
    size_t      outlen;
    int         rc;

    rc = phone_normalize_n(in, size, out, sizeof(out));
    if (rc == 0) {
        FUZZ_CHECK(is_e164(out), "output is E.164");
        FUZZ_CHECK(size <= PHONE_INPUT_MAX, "long input is refused");
        if (memchr(in, '+', size) == NULL) {
            FUZZ_CHECK(strncmp(out, "+1", 2) == 0 && strlen(out) == 12,
                       "without '+' only NANP numbers pass");
        }
        FUZZ_CHECK(phone_normalize(out, again, sizeof(again)) == 0 &&
                   strcmp(out, again) == 0, "normalising is idempotent");
    } else {
        FUZZ_CHECK(rc == -1 && out[0] == '\0', "failure is -1 and empty");
    }
    for (outlen = 0; outlen <= PHONE_E164_MAX; outlen++) {
        check_outlen(in, size, outlen, rc == 0 ? out : NULL);
    }

    s = fuzz_strndup(data, size);
    if (memchr(in, '\0', size) == NULL) {
        FUZZ_CHECK(phone_normalize(s, viastr, sizeof(viastr)) == rc &&
                   strcmp(viastr, out) == 0,
                   "the C-string form agrees with the counted one");
    } else {
        FUZZ_CHECK(rc == -1, "a NUL inside makes the input invalid");
    }
    check_mask(s);
    if (rc == 0) {
        check_mask(out);
    }
    free(s);
    return 0;
}
