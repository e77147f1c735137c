/*
 * json.h - thin helpers over json-c 0.16: a strict parser for request
 * bodies and data files, typed getters that never coerce, and compact
 * serialisation. Pure: no libevent, no hiredis.
 */
#ifndef HSP_JSON_H
#define HSP_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct json_object;

/*
 * Parses exactly LEN bytes of BUF as one strict JSON value (no comments,
 * no trailing bytes, valid UTF-8). Returns a new reference the caller
 * puts, or NULL with a reason written into ERR (ERRLEN bytes).
 */
struct json_object *json_parse_strict(const char *buf, size_t len, char *err,
                                      size_t errlen);

/*
 * Borrowed getters on object OBJ: return the member KEY when it exists
 * and has the asked type, else NULL / false. Never coerce "80x" to 80.
 */
const char *json_get_string(const struct json_object *obj, const char *key);
bool json_get_bool(const struct json_object *obj, const char *key, bool *out);
bool json_get_int(const struct json_object *obj, const char *key,
                  int64_t *out);

/* Whether OBJ has member KEY (of any type, null included). */
bool json_has(const struct json_object *obj, const char *key);

/*
 * Compact serialisation without slash escaping. The string is owned by OBJ
 * and valid until OBJ is put or serialised again.
 */
const char *json_compact(struct json_object *obj, size_t *len);

#endif /* HSP_JSON_H */
