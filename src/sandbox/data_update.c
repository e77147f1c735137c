/*
 * data_update.c - PATCH /phone/update of the S2S API: checks a body the
 * way the upstream's class-validator DTO does (every failing message at
 * once, nothing changed), then applies it to the lead: names, address
 * and the zip's city/state/zone, flags, comments, disposition, homeYear,
 * takerId, a cancellation or a booking. Owns nothing: it edits leads and
 * blocks in place, which stay the store's (data_seed.c frees them).
 */
#include "config.h"

#include "sandbox/data.h"

#include <assert.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "json.h"
#include "phone.h"
#include "sandbox/data_int.h"

#define DATA_HOME_YEAR_MIN 1800
#define DATA_HOME_YEAR_MAX 2100

/* The PhoneUpdateDto fields that are checked; others are ignored. */
enum data_upd_type { UPD_STRING, UPD_BOOL, UPD_NUMBER };

static const struct data_upd_field {
    const char        *name;
    enum data_upd_type type;
    size_t             max;         /* UPD_STRING: longest value, bytes */
    bool               nonempty;    /* UPD_STRING: "" is refused */
} data_upd_fields[] = {
    { "token",              UPD_STRING, 4096, false },
    { "firstName",          UPD_STRING, 255,  false },
    { "lastName",           UPD_STRING, 255,  false },
    { "streetAddress",      UPD_STRING, 255,  false },
    { "city",               UPD_STRING, 255,  false },
    { "zip",                UPD_STRING, 16,   true },
    { "email",              UPD_STRING, 255,  true },
    { "optOutPhone",        UPD_BOOL,   0,    false },
    { "tcpaFlag",           UPD_BOOL,   0,    false },
    { "appendComment",      UPD_STRING, 4000, true },
    { "cancelAppt",         UPD_BOOL,   0,    false },
    { "blockId",            UPD_STRING, 255,  true },
    { "simpleBlockId",      UPD_BOOL,   0,    false },
    { "notQualifiedReason", UPD_STRING, 255,  true },
    { "homeYear",           UPD_NUMBER, 0,    false },
    { "takerId",            UPD_STRING, 255,  true },
};

static const char *const data_forbidden[] = { "primaryPhone", "textPhone" };

/* ---- the lead ---- */

static void
data_lead_set_bool(struct data_lead *l, const char *key, bool val)
{
    json_object_object_add(l->obj, key, json_object_new_boolean(val));
}

/*
 * Cancelling frees the booked slot and marks the appointment Cancelled.
 * The start and end stay, so the lead still says what was cancelled;
 * blockId goes, since the lead no longer holds that block. A lead with
 * no appointment at all is left as it is.
 */
static void
data_lead_cancel(struct data_tenant *t, struct data_lead *l)
{
    struct json_object *status;

    if (l->block >= 0) {
        assert(t->blocks[l->block].booked > 0);
        t->blocks[l->block].booked--;
        l->block = -1;
        data_lead_set(l, "blockId", NULL);
        data_lead_set(l, "appointmentStatus", "Cancelled");
        return;
    }
    if (json_object_object_get_ex(l->obj, "appointmentStatus", &status) &&
        json_object_is_type(status, json_type_string)) {
        data_lead_set(l, "appointmentStatus", "Cancelled");
    }
}

/* Rebuilds "name" from the first and last names. */
static void
data_lead_set_name(struct data_lead *l)
{
    char buf[2 * 256 + 2];

    if (l->first[0] != '\0' && l->last[0] != '\0') {
        snprintf(buf, sizeof(buf), "%s %s", l->first, l->last);
    } else {
        snprintf(buf, sizeof(buf), "%s", l->first[0] != '\0' ? l->first
                                                             : l->last);
    }
    data_lead_set(l, "name", buf[0] == '\0' ? NULL : buf);
}

/* ---- the body ---- */

/* A loose email check in the spirit of class-validator's IsEmail. */
static bool
data_email_valid(const char *s)
{
    const char *at = strchr(s, '@'), *dot;

    if (at == NULL || at == s || strchr(at + 1, '@') != NULL ||
        strpbrk(s, " \t\r\n<>()[],;:\"\\") != NULL) {
        return false;
    }
    dot = strrchr(at + 1, '.');
    return dot != NULL && dot > at + 1 && dot[1] != '\0';
}

/* Checks one typed field of BODY; absent and null pass (IsOptional). */
static void
data_check_field(const struct json_object *body,
                 const struct data_upd_field *f, struct data_errors *errs)
{
    struct json_object *v;
    size_t              len;

    if (!json_object_object_get_ex(body, f->name, &v) || v == NULL) {
        return;
    }
    switch (f->type) {
    case UPD_STRING:
        if (!json_object_is_type(v, json_type_string)) {
            data_errs_add(errs, 400, "%s must be a string", f->name);
            return;
        }
        len = (size_t)json_object_get_string_len(v);
        if (strlen(json_object_get_string(v)) != len) {
            data_errs_add(errs, 400, "%s must not contain NUL characters",
                          f->name);
        } else if (f->nonempty && len == 0) {
            data_errs_add(errs, 400, "%s should not be empty", f->name);
        } else if (len > f->max) {
            data_errs_add(errs, 400,
                          "%s must be shorter than or equal to %zu characters",
                          f->name, f->max);
        }
        return;
    case UPD_BOOL:
        if (!json_object_is_type(v, json_type_boolean)) {
            data_errs_add(errs, 400, "%s must be a boolean value", f->name);
        }
        return;
    case UPD_NUMBER:
        if (json_object_is_type(v, json_type_int)) {
            int64_t n = json_object_get_int64(v);

            if (n < DATA_HOME_YEAR_MIN) {
                data_errs_add(errs, 400, "%s must not be less than %d",
                              f->name, DATA_HOME_YEAR_MIN);
            } else if (n > DATA_HOME_YEAR_MAX) {
                data_errs_add(errs, 400, "%s must not be greater than %d",
                              f->name, DATA_HOME_YEAR_MAX);
            }
        } else if (json_object_is_type(v, json_type_double)) {
            data_errs_add(errs, 400, "%s must be an integer number", f->name);
        } else {
            data_errs_add(errs, 400,
                          "%s must be a number conforming to the specified "
                          "constraints",
                          f->name);
        }
        return;
    }
}

/* The string member KEY of BODY, or NULL when absent, null or not one. */
static const char *
data_body_str(const struct json_object *body, const char *key)
{
    return json_get_string(body, key);
}

/* Whether member KEY is present and not null. */
static bool
data_body_set(const struct json_object *body, const char *key)
{
    struct json_object *v;

    return json_object_object_get_ex(body, key, &v) && v != NULL;
}

static void
data_check_update(struct data_tenant *t, const struct json_object *body,
                  char *norm, struct data_errors *errs)
{
    struct json_object *v;
    const char         *s;
    size_t              i;

    if (!json_object_object_get_ex(body, "phone", &v) || v == NULL) {
        data_errs_add(errs, 400, "phone should not be empty");
        data_errs_add(errs, 400, "phone must be a valid phone number");
    } else if (!json_object_is_type(v, json_type_string)) {
        data_errs_add(errs, 400, "phone must be a string");
        data_errs_add(errs, 400, "phone must be a valid phone number");
    } else if (json_object_get_string_len(v) == 0) {
        data_errs_add(errs, 400, "phone should not be empty");
        data_errs_add(errs, 400, "phone must be a valid phone number");
    } else if (phone_normalize_n(json_object_get_string(v),
                                 (size_t)json_object_get_string_len(v), norm,
                                 PHONE_E164_MAX) != 0) {
        data_errs_add(errs, 400, "phone must be a valid phone number");
    }
    for (i = 0; i < sizeof(data_forbidden) / sizeof(data_forbidden[0]); i++) {
        if (json_has(body, data_forbidden[i])) {
            data_errs_add(errs, 400, "property %s should not exist",
                          data_forbidden[i]);
        }
    }
    for (i = 0; i < sizeof(data_upd_fields) / sizeof(data_upd_fields[0]);
         i++) {
        data_check_field(body, &data_upd_fields[i], errs);
    }
    if (data_body_set(body, "cancelAppt") && data_body_set(body, "blockId")) {
        data_errs_add(errs, 400,
                      "cancelAppt and blockId cannot both be supplied");
    }
    s = data_body_str(body, "email");
    if (s != NULL && s[0] != '\0' && !data_email_valid(s)) {
        data_errs_add(errs, 400, "email must be an email");
    }
    s = data_body_str(body, "notQualifiedReason");
    if (s != NULL && s[0] != '\0') {
        char   list[DATA_ERROR_LEN] = "";
        size_t n = json_object_array_length(t->dispositions), pos = 0;
        bool   found = false;

        for (i = 0; i < n && !found; i++) {
            const char *r = json_object_get_string(
                json_object_array_get_idx(t->dispositions, i));

            found = strcmp(r, s) == 0;
            if (pos < sizeof(list)) {
                pos += (size_t)snprintf(list + pos, sizeof(list) - pos,
                                        "%s%s", i > 0 ? ", " : "", r);
            }
        }
        if (!found) {
            data_errs_add(errs, 400,
                          "notQualifiedReason must be one of the following "
                          "values: %s",
                          list);
        }
    }
}

/*
 * Finds the block BLOCK_ID names: a seed id, or with SIMPLE an alias
 * "20", "21", ... (DATA_SIMPLE_ID_BASE + the block's seed index).
 * Returns the index or -1.
 */
static long
data_block_resolve(const struct data_tenant *t, const char *block_id,
                   bool simple)
{
    size_t i;

    if (simple) {
        char         *end;
        unsigned long v;

        if (block_id[0] < '0' || block_id[0] > '9') {
            return -1;
        }
        v = strtoul(block_id, &end, 10);
        if (*end != '\0' || v < DATA_SIMPLE_ID_BASE ||
            v - DATA_SIMPLE_ID_BASE >= t->nblocks) {
            return -1;
        }
        return (long)(v - DATA_SIMPLE_ID_BASE);
    }
    for (i = 0; i < t->nblocks; i++) {
        if (strcmp(t->blocks[i].id, block_id) == 0) {
            return (long)i;
        }
    }
    return -1;
}

/* Replaces the owned string *DST with a copy of SRC; keeps it on OOM. */
static void
data_replace(char **dst, const char *src)
{
    char *copy = strdup(src);

    if (copy != NULL) {
        free(*dst);
        *dst = copy;
    }
}

static void
data_apply_update(struct data_tenant *t, struct data_lead *l,
                  const struct json_object *body, long bi, int64_t now)
{
    struct data_zip_info zi;
    const char          *s, *city;
    bool                 b;
    int64_t              year;
    char                 buf[24];

    if ((s = data_body_str(body, "firstName")) != NULL) {
        data_replace(&l->first, s);
    }
    if ((s = data_body_str(body, "lastName")) != NULL) {
        data_replace(&l->last, s);
    }
    if (data_body_set(body, "firstName") || data_body_set(body, "lastName")) {
        data_lead_set_name(l);
    }
    if ((s = data_body_str(body, "streetAddress")) != NULL) {
        data_lead_set(l, "address1", s);
    }
    city = data_body_str(body, "city");
    if ((s = data_body_str(body, "zip")) != NULL) {
        data_lead_set(l, "zip", s);
        if (data_zip_find(s, &zi) != NULL) {
            data_lead_set(l, "city", city != NULL ? city : zi.city);
            data_lead_set(l, "state", zi.state);
            data_lead_set(l, "stateAlpha2", zi.alpha2);
            data_lead_set(l, "country", "United States");
            data_lead_set(l, "countryAlpha2", "US");
            data_lead_set(l, "countryAlpha3", "USA");
            l->zone = zi.zone;
        }
    }
    if (city != NULL) {
        data_lead_set(l, "city", city);
    }
    if ((s = data_body_str(body, "email")) != NULL) {
        data_lead_set(l, "email", s);
    }
    if (json_get_bool(body, "optOutPhone", &b)) {
        data_lead_set_bool(l, "optOutText", b);
    }
    if (json_get_bool(body, "tcpaFlag", &b)) {
        data_lead_set_bool(l, "tcpa", b);
    }
    if ((s = data_body_str(body, "appendComment")) != NULL) {
        json_object_array_add(l->comments, json_object_new_string(s));
    }
    if ((s = data_body_str(body, "notQualifiedReason")) != NULL) {
        data_lead_set(l, "disposition", s);
    }
    if (json_get_int(body, "homeYear", &year)) {
        snprintf(buf, sizeof(buf), "%lld", (long long)year);
        data_lead_set(l, "homeYear", buf);
    }
    if ((s = data_body_str(body, "takerId")) != NULL) {
        data_replace(&l->taker_id, s);
    }
    if (json_get_bool(body, "cancelAppt", &b) && b) {
        data_lead_cancel(t, l);
    }
    if (bi >= 0) {
        data_lead_book(t, l, (size_t)bi, now);
    }
}

struct json_object *
data_update(struct data_tenant *t, const struct json_object *body,
            int64_t now, struct data_errors *errs)
{
    char              norm[PHONE_E164_MAX];
    struct data_lead *l;
    const char       *block_id;
    bool              simple = false;
    long              bi = -1;

    data_errs_reset(errs);
    if (!json_object_is_type(body, json_type_object)) {
        data_errs_add(errs, 400, "body must be a JSON object");
        return NULL;
    }
    data_check_update(t, body, norm, errs);
    if (errs->count > 0) {
        return NULL;
    }
    l = data_lead_find(t, norm);
    if (l == NULL) {
        data_errs_add(errs, 404, "Lead not found");
        return NULL;
    }
    block_id = data_body_str(body, "blockId");
    if (block_id != NULL) {
        json_get_bool(body, "simpleBlockId", &simple);
        bi = data_block_resolve(t, block_id, simple);
        if (bi < 0) {
            data_errs_add(errs, 400, "blockId not found");
            return NULL;
        }
        /* A lead already on the block keeps its slot: no double count. */
        if (l->block != bi &&
            t->blocks[bi].booked >= t->blocks[bi].capacity) {
            data_errs_add(errs, 400, "block is full");
            return NULL;
        }
    }
    data_apply_update(t, l, body, bi, now);
    return json_object_get(l->obj);
}
