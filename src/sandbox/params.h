/*
 * params.h - what a request asks, read as the real API reads it: the
 * query string (Express's parser), the JSON body and its Content-Type,
 * the token, and the sandbox's X-Sandbox-Answer / X-Sandbox-Cache-Control
 * asks. Pure: no event loop, nothing logged.
 */
#ifndef HSP_PARAMS_H
#define HSP_PARAMS_H

#include <stdbool.h>
#include <stddef.h>

struct evkeyvalq;
struct json_object;

/*
 * Parses the raw QUERY (NULL: none) into OUT, an initialised list the
 * caller owns and clears with evhttp_clear_headers(). Never refuses a
 * query; see params.c for what is kept.
 */
void params_parse_query(const char *query, struct evkeyvalq *out);

/*
 * The first value of parameter NAME in PARAMS, matched case-sensitively
 * as the real API does (`TOKEN` is not `token`), or NULL. Borrowed from
 * PARAMS.
 */
const char *params_get(const struct evkeyvalq *params, const char *name);

/* Whether the Content-Type value CT is JSON (application/json, +json). */
bool params_is_json_type(const char *ct);

/*
 * Reads the LEN bytes at BODY, sent with the Content-Type CT (NULL:
 * none), into *OUT, a new reference the caller puts; an empty body is
 * {}. Returns 0, or -1 with *OUT NULL and the 400 message in ERR (a
 * Content-Type other than JSON, or invalid JSON); ERR is left empty when
 * out of memory.
 */
int params_body(const char *ct, const char *body, size_t len,
                struct json_object **out, char *err, size_t errlen);

/*
 * The token of a request (SPEC §3): its x-hs-token header value HDR,
 * else the parameter "token" of QUERY, else the string member "token" of
 * BODY (NULL: no body); an empty value counts as absent. Returns a
 * pointer borrowed from where it was found, or NULL.
 */
const char *params_token(const char *hdr, const struct evkeyvalq *query,
                         const struct json_object *body);

/*
 * Reads the X-Sandbox-Answer value A (a status 200-299) into *STATUS and
 * the X-Sandbox-Cache-Control value CC (visible ASCII) into
 * *CACHE_CONTROL, a copy the caller frees; either may be NULL (absent),
 * which leaves its output alone. Returns 0, or -1 with ERR set.
 */
int params_answer(const char *a, const char *cc, int *status,
                  char **cache_control, char *err, size_t errlen);

#endif /* HSP_PARAMS_H */
