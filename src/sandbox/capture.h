/*
 * capture.h - a request as it arrived, as JSON, for GET /__sandbox/last:
 * tests use it to prove what the proxy forwarded (headers kept or
 * stripped, Content-Length, the body byte for byte).
 */
#ifndef HSP_CAPTURE_H
#define HSP_CAPTURE_H

#include <stddef.h>

struct evhttp_request;
struct json_object;

/*
 * Describes REQ (borrowed; only read) as a new reference to
 * {"method":METHOD,"path":"<request-target as sent>",
 *  "headers":{name:value},          repeated names joined with ", "
 *  "header_list":[[name,value],...], every header line in order
 *  "body":"<the body>",             null when not kept (LEN < TOTAL)
 *  "body_length":TOTAL}
 * BODY holds the first LEN bytes of a body of TOTAL bytes; invalid UTF-8
 * in it becomes U+FFFD so the JSON stays valid. Returns NULL when out of
 * memory.
 */
struct json_object *capture_request(struct evhttp_request *req,
                                    const char *method,
                                    const unsigned char *body, size_t len,
                                    size_t total);

/*
 * Copies the LEN bytes at S into a new NUL-terminated string (the caller
 * frees it) with every byte that is not part of valid UTF-8 (RFC 3629:
 * no overlongs, surrogates or code points past U+10FFFF) replaced by
 * U+FFFD; *OUTLEN gets its length. Pure. Returns NULL when out of memory.
 */
char *capture_utf8_copy(const unsigned char *s, size_t len, size_t *outlen);

#endif /* HSP_CAPTURE_H */
