/*
 * phone.h - phone number normalisation (SPEC §3) and masking for logs.
 * Pure: no libevent, no hiredis, no allocation.
 *
 * The rules, exactly as SPEC §3 states them and nothing more (no
 * numbering-plan checks: area codes and country codes are not looked up):
 *
 *   - Separators are ' ', '-', '.', '(' and ')'. They may appear anywhere
 *     around the digits, so leading and trailing spaces are fine, but
 *     parentheses must pair up and may not nest: "(801) 555-1234" is fine,
 *     "801) 555-1234" and "((801))5551234" are not.
 *   - A '+' is allowed once, as the first character that is not a space.
 *     It must be followed by 8 to 15 digits; the result is '+' and those
 *     digits. So "+1 (801) 555-1234" is valid and gives "+18015551234",
 *     and "+447700900123" is its own number.
 *   - Without a '+', only NANP numbers are phones: 10 digits (the result
 *     is "+1" and the digits) or 11 digits starting with 1 (the result is
 *     '+' and the digits).
 *   - Anything else is invalid: no digits, any other character (letters,
 *     tabs, a second or embedded '+', NUL inside the input), too few or
 *     too many digits, or input longer than PHONE_INPUT_MAX bytes.
 *
 * Note for HTTP callers: in a query string an unencoded '+' decodes to a
 * space, so "?phone=+447700900123" arrives as " 447700900123" and is
 * invalid (12 digits, no '+'), while "?phone=+18015551234" still works as
 * an 11-digit NANP number. Clients must send "%2B", as the API doc does.
 */
#ifndef HSP_PHONE_H
#define HSP_PHONE_H

#include <stddef.h>

#define PHONE_E164_MAX  17          /* '+', up to 15 digits, NUL */
#define PHONE_INPUT_MAX 64          /* longer input is rejected unread */
#define PHONE_MASK_MAX  8           /* "***" + 4 digits + NUL */

/*
 * Normalises the NUL-terminated IN into OUT (OUTLEN bytes; at least
 * PHONE_E164_MAX is always enough) as "+<digits>". Returns 0, or -1 when
 * IN is NULL, is not a phone under the rules above, or the result does
 * not fit; OUT is then an empty string (when OUTLEN > 0).
 */
int phone_normalize(const char *in, char *out, size_t outlen);

/*
 * Like phone_normalize() for the LEN bytes at IN, which need not be
 * NUL-terminated. A NUL byte inside those LEN bytes makes it invalid:
 * use this for strings that carry their length (JSON, decoded URLs).
 */
int phone_normalize_n(const char *in, size_t len, char *out, size_t outlen);

/*
 * Writes a log-safe form of the phone PHONE into OUT (OUTLEN bytes,
 * PHONE_MASK_MAX is enough): "***" followed by its last 4 digits, e.g.
 * "***1234". Returns 0, or -1 when PHONE is NULL or has fewer than 4
 * digits (OUT is then "***") or OUT is too small (OUT is then empty when
 * OUTLEN > 0). Never copies anything but those 4 digits.
 */
int phone_mask(const char *phone, char *out, size_t outlen);

#endif /* HSP_PHONE_H */
