/*
 * idem.h - the Idempotency-Key header and request fingerprints (SPEC §5):
 * key syntax, the canonical form of a JSON body and the SHA-256 that
 * identifies a request. Pure: no libevent, no hiredis.
 */
#ifndef HSP_IDEM_H
#define HSP_IDEM_H

#include <stddef.h>

#define IDEM_KEY_MAX 255                /* characters of a key */
#define IDEM_FP_HEX  64                 /* hex digits of a fingerprint */

/*
 * Validates the Idempotency-Key header value HEADER and writes the key
 * into OUT (CAP bytes, IDEM_KEY_MAX + 1 is always enough). Spaces and
 * tabs around the value are ignored. The bare form is 1..255 visible
 * ASCII characters (0x21..0x7E) other than '"'. The quoted form is an
 * RFC 8941 sf-string: '"', printable ASCII (0x20..0x7E) with \" and \\
 * as the only escapes, '"'; it is unescaped, and the result must then be
 * 1..255 visible ASCII characters (no space). So `abc` and `"abc"` give
 * the same OUT. Returns 0, or -1 (OUT is then "") when HEADER is NULL,
 * invalid, or the key does not fit CAP.
 */
int idem_key_parse(const char *header, char *out, size_t cap);

/*
 * Writes the canonical form of the JSON request body BODY (LEN bytes)
 * into *OUT, a malloc'd NUL-terminated string of *OUTLEN bytes that the
 * caller frees. BODY is parsed strictly (json_parse_strict) and written
 * back with no insignificant whitespace, object keys sorted bytewise at
 * every depth, arrays in order, true/false/null as literals. Strings are
 * escaped minimally: \" and \\, the short forms \b \f \n \r \t, every
 * other byte below 0x20 as \u00xx (lower-case hex); everything else,
 * non-ASCII included, is written raw, so "\u00e9" and "é" are the same.
 * Numbers with a fraction or exponent keep the text they were written
 * with ("1.50", "1e3"); integers are written as their decimal value
 * ("-0" becomes "0"). Of duplicate keys the last one wins (json-c).
 * An empty body (LEN 0) is the empty string. Returns 0, or -1 with a
 * reason in ERR (ERRLEN bytes) when BODY is not valid JSON or holds an
 * integer json-c cannot represent (it would clamp it silently).
 */
int idem_canonical(const char *body, size_t len, char **out, size_t *outlen,
                   char *err, size_t errlen);

/*
 * Writes into OUT the lower-case hex SHA-256 of METHOD, '\n', PATH, '\n'
 * and the canonical body CANON (LEN bytes, may be NULL when LEN is 0).
 */
void idem_fingerprint(const char *method, const char *path, const char *canon,
                      size_t len, char out[IDEM_FP_HEX + 1]);

#endif /* HSP_IDEM_H */
