/* json.c - strict parsing and non-coercing getters over json-c. */
#include "config.h"

#include "json.h"

#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

struct json_object *
json_parse_strict(const char *buf, size_t len, char *err, size_t errlen)
{
    struct json_tokener *tok;
    struct json_object  *obj;
    enum json_tokener_error jerr;

    if (len > INT32_MAX) {
        snprintf(err, errlen, "body too large");
        return NULL;
    }
    tok = json_tokener_new();
    if (tok == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    /* STRICT refuses comments, single quotes and the like; VALIDATE_UTF8
     * refuses invalid byte sequences inside strings. */
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT |
                                    JSON_TOKENER_VALIDATE_UTF8);
    obj = json_tokener_parse_ex(tok, buf, (int)len);
    jerr = json_tokener_get_error(tok);
    if (obj == NULL || jerr != json_tokener_success) {
        snprintf(err, errlen, "invalid JSON: %s",
                 jerr == json_tokener_continue ? "unexpected end of input"
                                               : json_tokener_error_desc(jerr));
        json_object_put(obj);
        json_tokener_free(tok);
        return NULL;
    }
    if (json_tokener_get_parse_end(tok) != len) {
        size_t i;

        /* Trailing whitespace is fine; anything else is garbage. */
        for (i = json_tokener_get_parse_end(tok); i < len; i++) {
            if (strchr(" \t\r\n", buf[i]) == NULL) {
                snprintf(err, errlen, "invalid JSON: trailing data");
                json_object_put(obj);
                json_tokener_free(tok);
                return NULL;
            }
        }
    }
    json_tokener_free(tok);
    return obj;
}

static struct json_object *
json_member(const struct json_object *obj, const char *key, json_type type)
{
    struct json_object *v;

    if (obj == NULL || !json_object_is_type(obj, json_type_object) ||
        !json_object_object_get_ex(obj, key, &v) ||
        !json_object_is_type(v, type)) {
        return NULL;
    }
    return v;
}

const char *
json_get_string(const struct json_object *obj, const char *key)
{
    struct json_object *v = json_member(obj, key, json_type_string);

    return v == NULL ? NULL : json_object_get_string(v);
}

bool
json_get_bool(const struct json_object *obj, const char *key, bool *out)
{
    struct json_object *v = json_member(obj, key, json_type_boolean);

    if (v == NULL) {
        return false;
    }
    *out = json_object_get_boolean(v);
    return true;
}

bool
json_get_int(const struct json_object *obj, const char *key, int64_t *out)
{
    struct json_object *v = json_member(obj, key, json_type_int);

    if (v == NULL) {
        return false;
    }
    *out = json_object_get_int64(v);
    return true;
}

bool
json_has(const struct json_object *obj, const char *key)
{
    return obj != NULL && json_object_is_type(obj, json_type_object) &&
           json_object_object_get_ex(obj, key, NULL);
}

const char *
json_compact(struct json_object *obj, size_t *len)
{
    return json_object_to_json_string_length(
        obj, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, len);
}
