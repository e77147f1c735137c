/* phone.c - phone normalisation to E.164 and masking (SPEC §3). */
#include "config.h"

#include "phone.h"

#include <stdbool.h>
#include <string.h>

#define PHONE_INTL_MIN 8            /* digits after '+' */
#define PHONE_INTL_MAX 15
#define PHONE_NANP_LEN 10           /* without the leading 1 */

static bool
phone_is_separator(char c)
{
    return c == ' ' || c == '-' || c == '.' || c == '(' || c == ')';
}

static int
phone_fail(char *out, size_t outlen)
{
    if (outlen > 0) {
        out[0] = '\0';
    }
    return -1;
}

int
phone_normalize(const char *in, char *out, size_t outlen)
{
    if (in == NULL) {
        return phone_fail(out, outlen);
    }
    /* Stop counting past the limit: very long input is never walked. */
    return phone_normalize_n(in, strnlen(in, PHONE_INPUT_MAX + 1), out,
                             outlen);
}

int
phone_normalize_n(const char *in, size_t len, char *out, size_t outlen)
{
    char   digits[PHONE_INTL_MAX + 1];
    size_t ndigits = 0, i = 0;
    bool   plus = false, in_parens = false;

    if (in == NULL || len > PHONE_INPUT_MAX) {
        return phone_fail(out, outlen);
    }
    while (i < len && in[i] == ' ') {
        i++;
    }
    if (i < len && in[i] == '+') {
        plus = true;
        i++;
    }
    for (; i < len; i++) {
        char c = in[i];

        if (c >= '0' && c <= '9') {
            if (ndigits == PHONE_INTL_MAX) {
                return phone_fail(out, outlen);     /* too many digits */
            }
            digits[ndigits++] = c;
        } else if (c == '(') {
            if (in_parens) {
                return phone_fail(out, outlen);
            }
            in_parens = true;
        } else if (c == ')') {
            if (!in_parens) {
                return phone_fail(out, outlen);
            }
            in_parens = false;
        } else if (!phone_is_separator(c)) {
            return phone_fail(out, outlen);         /* letters, '+', NUL */
        }
    }
    if (in_parens) {
        return phone_fail(out, outlen);
    }

    if (plus) {
        if (ndigits < PHONE_INTL_MIN || ndigits + 2 > outlen) {
            return phone_fail(out, outlen);
        }
        out[0] = '+';
        memcpy(out + 1, digits, ndigits);
        out[ndigits + 1] = '\0';
        return 0;
    }
    if (ndigits == PHONE_NANP_LEN) {
        if (outlen < PHONE_NANP_LEN + 3) {
            return phone_fail(out, outlen);
        }
        memcpy(out, "+1", 2);
        memcpy(out + 2, digits, ndigits);
        out[ndigits + 2] = '\0';
        return 0;
    }
    if (ndigits == PHONE_NANP_LEN + 1 && digits[0] == '1') {
        if (outlen < PHONE_NANP_LEN + 3) {
            return phone_fail(out, outlen);
        }
        out[0] = '+';
        memcpy(out + 1, digits, ndigits);
        out[ndigits + 1] = '\0';
        return 0;
    }
    return phone_fail(out, outlen);
}

int
phone_mask(const char *phone, char *out, size_t outlen)
{
    char   last[4];
    size_t n = 0, i, len;

    if (outlen < PHONE_MASK_MAX) {
        return phone_fail(out, outlen);
    }
    memcpy(out, "***", 4);
    if (phone == NULL) {
        return -1;
    }
    /* Walk back from the end, collecting the last four digits. */
    len = strnlen(phone, PHONE_INPUT_MAX + 1);
    for (i = len; i > 0 && n < sizeof(last); i--) {
        if (phone[i - 1] >= '0' && phone[i - 1] <= '9') {
            last[sizeof(last) - 1 - n] = phone[i - 1];
            n++;
        }
    }
    if (n < sizeof(last)) {
        return -1;
    }
    memcpy(out + 3, last, sizeof(last));
    out[3 + sizeof(last)] = '\0';
    return 0;
}
