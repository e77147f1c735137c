/*
 * params.c - what a request asks, read the way the real API (NestJS on
 * Express) reads it: the query string, the JSON body, the token, and the
 * X-Sandbox-Answer / X-Sandbox-Cache-Control asks. Pure: libevent's
 * key/value lists and URI decoding only, no event loop. Owns nothing; the
 * lists, objects and strings it fills belong to the caller.
 */
#include "config.h"

#include "sandbox/params.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>

#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <json-c/json.h>

#include "json.h"

/*
 * Parses the raw QUERY into OUT as the real API (Express's query parser)
 * reads one: pairs split at '&', empty pairs skipped (`?&a=1`, `&&`), a
 * pair without '=' a name with an empty value, names and values
 * percent-decoded with '+' as a space. Never refuses a query: the
 * upstream does not, and a proxy in front must not be tested against a
 * stricter one than it will meet. A pair that decodes to a NUL is dropped.
 */
void
params_parse_query(const char *query, struct evkeyvalq *out)
{
    const char *p = query;

    while (p != NULL && *p != '\0') {
        const char *amp = p + strcspn(p, "&");
        const char *eq = memchr(p, '=', (size_t)(amp - p));
        size_t      nlen = (size_t)((eq != NULL ? eq : amp) - p);
        char       *raw, *name = NULL, *value = NULL;
        size_t      len;

        if (nlen > 0) {
            raw = strndup(p, (size_t)(amp - p));
            if (raw == NULL) {
                return;
            }
            raw[nlen] = '\0';
            name = evhttp_uridecode(raw, 1, &len);
            if (name != NULL && strlen(name) != len) {
                free(name);
                name = NULL;
            }
            value = evhttp_uridecode(eq != NULL ? raw + nlen + 1 : "", 1,
                                     &len);
            if (value != NULL && strlen(value) != len) {
                free(value);
                value = NULL;
            }
            if (name != NULL && value != NULL) {
                evhttp_add_header(out, name, value);
            }
            free(name);
            free(value);
            free(raw);
        }
        p = *amp == '&' ? amp + 1 : amp;
    }
}

const char *
params_get(const struct evkeyvalq *params, const char *name)
{
    const struct evkeyval *kv;

    TAILQ_FOREACH(kv, params, next) {
        if (strcmp(kv->key, name) == 0) {
            return kv->value;
        }
    }
    return NULL;
}

/* Whether the Content-Type value CT is JSON (application/json, +json). */
bool
params_is_json_type(const char *ct)
{
    size_t n = strcspn(ct, ";");

    while (n > 0 && (ct[n - 1] == ' ' || ct[n - 1] == '\t')) {
        n--;
    }
    return (n == 16 && strncasecmp(ct, "application/json", 16) == 0) ||
           (n > 5 && strncasecmp(ct + n - 5, "+json", 5) == 0);
}

int
params_answer(const char *a, const char *cc, int *status, char **cache_control,
              char *err, size_t errlen)
{
    char       *end;
    long        v;
    size_t      i;

    if (a != NULL) {
        v = strtol(a, &end, 10);
        if (a[0] < '0' || a[0] > '9' || *end != '\0' || v < 200 || v > 299) {
            snprintf(err, errlen, "X-Sandbox-Answer must be a status 200-299");
            return -1;
        }
        *status = (int)v;
    }
    if (cc != NULL) {
        for (i = 0; cc[i] != '\0'; i++) {
            if (cc[i] < 0x20 || cc[i] > 0x7e) {
                snprintf(err, errlen, "X-Sandbox-Cache-Control must be "
                                      "visible ASCII");
                return -1;
            }
        }
        *cache_control = strdup(cc);
        if (*cache_control == NULL) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
    }
    return 0;
}

int
params_body(const char *ct, const char *body, size_t len,
            struct json_object **out, char *err, size_t errlen)
{
    *out = NULL;
    err[0] = '\0';
    if (ct != NULL && !params_is_json_type(ct)) {
        snprintf(err, errlen, "Content-Type must be application/json");
        return -1;
    }
    if (len == 0) {
        *out = json_object_new_object();
        return *out == NULL ? -1 : 0;
    }
    *out = json_parse_strict(body, len, err, errlen);
    return *out == NULL ? -1 : 0;
}

const char *
params_token(const char *hdr, const struct evkeyvalq *query,
             const struct json_object *body)
{
    const char *tok = hdr;

    if (tok == NULL || tok[0] == '\0') {
        tok = params_get(query, "token");
    }
    if ((tok == NULL || tok[0] == '\0') && body != NULL) {
        tok = json_get_string(body, "token");
    }
    return tok == NULL || tok[0] == '\0' ? NULL : tok;
}
