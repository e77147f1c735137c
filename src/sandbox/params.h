/*
 * params.h - what a request asks, read as the real API reads it: the
 * query string (Express's parser), whether a Content-Type is JSON, and
 * the sandbox's X-Sandbox-Answer / X-Sandbox-Cache-Control asks. Pure:
 * no event loop, nothing logged.
 */
#ifndef HSP_PARAMS_H
#define HSP_PARAMS_H

#include <stdbool.h>
#include <stddef.h>

struct evkeyvalq;

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
 * Reads the X-Sandbox-Answer value A (a status 200-299) into *STATUS and
 * the X-Sandbox-Cache-Control value CC (visible ASCII) into
 * *CACHE_CONTROL, a copy the caller frees; either may be NULL (absent),
 * which leaves its output alone. Returns 0, or -1 with ERR set.
 */
int params_answer(const char *a, const char *cc, int *status,
                  char **cache_control, char *err, size_t errlen);

#endif /* HSP_PARAMS_H */
