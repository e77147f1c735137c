/* json.c - strict parsing and non-coercing getters over json-c. */
#include "config.h"

#include "json.h"

#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

/* The length of the well-formed UTF-8 sequence at S (N bytes), or 0. */
static size_t
json_utf8_len(const unsigned char *s, size_t n)
{
    unsigned char lo = 0x80, hi = 0xbf;    /* range of the second byte */
    size_t        len, i;

    if (s[0] >= 0xc2 && s[0] <= 0xdf) {
        len = 2;
    } else if (s[0] >= 0xe0 && s[0] <= 0xef) {
        len = 3;
        lo = s[0] == 0xe0 ? 0xa0 : lo;     /* overlong */
        hi = s[0] == 0xed ? 0x9f : hi;     /* UTF-16 surrogates */
    } else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
        len = 4;
        lo = s[0] == 0xf0 ? 0x90 : lo;     /* overlong */
        hi = s[0] == 0xf4 ? 0x8f : hi;     /* past U+10FFFF */
    } else {
        return 0;
    }
    if (n < len || s[1] < lo || s[1] > hi) {
        return 0;
    }
    for (i = 2; i < len; i++) {
        if (s[i] < 0x80 || s[i] > 0xbf) {
            return 0;
        }
    }
    return len;
}

/*
 * json-c 0.16 lets through, even with JSON_TOKENER_STRICT and
 * VALIDATE_UTF8, single-quoted strings, NaN and Infinity, raw control
 * characters inside strings, and UTF-8 that is overlong, encodes a
 * surrogate or lies past U+10FFFF (all verified). RFC 8259 allows none,
 * so the text json-c accepted is checked again. Returns why it is
 * invalid, or NULL.
 */
static const char *
json_text_invalid(const char *buf, size_t len)
{
    static const char outside[] = " \t\r\n{}[],:-+.0123456789eEtruefalsn";
    bool              in_string = false;
    size_t            i, n;

    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)buf[i];

        if (c >= 0x80) {
            n = in_string ? json_utf8_len((const unsigned char *)buf + i,
                                          len - i) : 0;
            if (n == 0) {
                return "invalid utf-8 string";
            }
            i += n - 1;
        } else if (in_string) {
            if (c < 0x20) {
                return "control character in string";
            }
            if (c == '\\') {
                i++;                /* json-c checked the escape itself */
            } else if (c == '"') {
                in_string = false;
            }
        } else if (c == '"') {
            in_string = true;
        } else if (c == '\'') {
            return "single-quoted string";
        } else if (c == '\0' || strchr(outside, c) == NULL) {
            return "unexpected character";
        }
    }
    return NULL;
}

struct json_object *
json_parse_strict(const char *buf, size_t len, char *err, size_t errlen)
{
    struct json_tokener *tok;
    struct json_object  *obj;
    enum json_tokener_error jerr;
    const char          *why;
    size_t               i, end;

    if (len > INT32_MAX) {
        snprintf(err, errlen, "body too large");
        return NULL;
    }
    tok = json_tokener_new();
    if (tok == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    /* STRICT refuses comments, trailing commas and the like;
     * VALIDATE_UTF8 refuses most invalid byte sequences inside strings. */
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT |
                                    JSON_TOKENER_VALIDATE_UTF8);
    obj = json_tokener_parse_ex(tok, buf, (int)len);
    jerr = json_tokener_get_error(tok);
    end = json_tokener_get_parse_end(tok);
    if (obj == NULL && jerr == json_tokener_continue && end == len) {
        /* A number or literal at the very end ("123", "true") waits for
         * a delimiter; the NUL tells json-c the input is complete. */
        obj = json_tokener_parse_ex(tok, "", 1);
        jerr = json_tokener_get_error(tok);
    }
    json_tokener_free(tok);
    if (obj == NULL && jerr == json_tokener_success) {
        snprintf(err, errlen, "invalid JSON: null is not a document");
        return NULL;
    }
    if (obj == NULL || jerr != json_tokener_success) {
        snprintf(err, errlen, "invalid JSON: %s",
                 jerr == json_tokener_continue ? "unexpected end of input"
                                               : json_tokener_error_desc(jerr));
        json_object_put(obj);
        return NULL;
    }
    /* Trailing whitespace is fine; anything else is garbage. */
    for (i = end; i < len; i++) {
        if (strchr(" \t\r\n", buf[i]) == NULL || buf[i] == '\0') {
            snprintf(err, errlen, "invalid JSON: trailing data");
            json_object_put(obj);
            return NULL;
        }
    }
    why = json_text_invalid(buf, len);
    if (why != NULL) {
        snprintf(err, errlen, "invalid JSON: %s", why);
        json_object_put(obj);
        return NULL;
    }
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

    /* "+1801\u0000x" would read as "+1801" through a C string. */
    if (v == NULL || strlen(json_object_get_string(v)) !=
                         (size_t)json_object_get_string_len(v)) {
        return NULL;
    }
    return json_object_get_string(v);
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
    int64_t             n;

    if (v == NULL) {
        return false;
    }
    /* json-c clamps integers that do not fit an int64_t to its limits,
     * silently; refuse both limits rather than coerce. */
    n = json_object_get_int64(v);
    if (n == INT64_MIN ||
        (n == INT64_MAX && json_object_get_uint64(v) != (uint64_t)n)) {
        return false;
    }
    *out = n;
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
