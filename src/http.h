/*
 * http.h - pure HTTP helpers shared by the proxy and the sandbox: the
 * hop-by-hop header table, reason phrases, the upstream's error payload
 * (SPEC §7) and X-Request-Id checks. No libevent: unit-tested alone.
 */
#ifndef HSP_HTTP_H
#define HSP_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HTTP_REQUEST_ID_MAX 128     /* longer client ids are replaced */

/*
 * Whether header NAME is hop-by-hop (RFC 9110 §7.6.1), or is named in
 * CONNECTION, the value of the message's Connection header (may be NULL).
 * Such headers are never forwarded in either direction.
 */
bool http_is_hop_by_hop(const char *name, const char *connection);

/* The reason phrase of STATUS ("Bad Gateway"); "Unknown" if none. */
const char *http_reason(int status);

/*
 * Writes the upstream's error payload for STATUS with the N messages MSGS:
 * {"statusCode":502,"message":["upstream unreachable"],"error":"Bad Gateway"}
 * Strings are JSON-escaped. Returns the length, or -1 when it does not fit
 * in CAP bytes of BUF (BUF is then an empty string).
 */
int http_error_body(char *buf, size_t cap, int status,
                    const char *const *msgs, size_t n);

/*
 * Whether ID may be echoed as an X-Request-Id: 1..HTTP_REQUEST_ID_MAX
 * visible ASCII characters. Anything else is replaced by a generated id.
 */
bool http_request_id_valid(const char *id);

/*
 * Writes a random request id (32 lowercase hex digits) into OUT, which
 * holds at least 33 bytes. Returns 0, or -1 if no randomness was had.
 */
int http_request_id_new(char *out, size_t cap);

/*
 * The wait a Retry-After value V asks for, in ms from NOW_MS (Unix ms):
 * delta-seconds ("120") or an IMF-fixdate ("Wed, 21 Oct 2015 07:28:00
 * GMT"), RFC 9110 §10.2.3. Returns -1 when V is NULL or neither; 0 for a
 * date already past.
 */
int64_t http_retry_after_ms(const char *v, int64_t now_ms);

#endif /* HSP_HTTP_H */
