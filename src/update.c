/* update.c - local validation of PATCH /phone/update (SPEC §4). */
#include "config.h"

#include "update.h"

#include <string.h>

#include <json-c/json.h>

#include "json.h"

/* The fields the upstream refuses outright (the phone cannot change). */
static const char *const update_forbidden[][2] = {
    { "primaryPhone", "property primaryPhone should not exist" },
    { "textPhone", "property textPhone should not exist" },
};

static void
update_msg(struct update_check *out, const char *msg)
{
    if (out->nmsgs < UPDATE_MSGS_MAX) {
        out->msgs[out->nmsgs++] = msg;
    }
}

int
update_check(const struct json_object *body, struct update_check *out)
{
    struct json_object *v = NULL;
    size_t              i;

    memset(out, 0, sizeof(*out));
    if (body == NULL || !json_object_is_type(body, json_type_object)) {
        update_msg(out, "body must be a JSON object");
        return -1;
    }
    /* Messages in class-validator's words and order, as the upstream
     * (a NestJS service) writes them. */
    if (!json_object_object_get_ex(body, "phone", &v) || v == NULL) {
        update_msg(out, "phone should not be empty");
        update_msg(out, "phone must be a valid phone number");
    } else if (!json_object_is_type(v, json_type_string)) {
        update_msg(out, "phone must be a string");
        update_msg(out, "phone must be a valid phone number");
    } else if (json_object_get_string_len(v) == 0) {
        update_msg(out, "phone should not be empty");
        update_msg(out, "phone must be a valid phone number");
    } else if (strlen(json_object_get_string(v)) !=
                   (size_t)json_object_get_string_len(v) ||
               phone_normalize(json_object_get_string(v), out->phone,
                               sizeof(out->phone)) != 0) {
        update_msg(out, "phone must be a valid phone number");
    }
    for (i = 0; i < sizeof(update_forbidden) / sizeof(update_forbidden[0]);
         i++) {
        if (json_has(body, update_forbidden[i][0])) {
            update_msg(out, update_forbidden[i][1]);
        }
    }
    if (json_has(body, "cancelAppt") && json_has(body, "blockId")) {
        update_msg(out, "cancelAppt and blockId cannot both be supplied");
    }
    out->books = json_has(body, "cancelAppt") || json_has(body, "blockId");
    return out->nmsgs == 0 ? 0 : -1;
}
