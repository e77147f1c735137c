/*
 * data.c - tenants, leads and blocks of the sandbox, and the S2S API's
 * lookup and update semantics on them. The seed loader lives in
 * data_seed.c; both share the private definitions of data_int.h.
 */
#include "config.h"

#include "sandbox/data.h"

#include <assert.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "json.h"
#include "phone.h"
#include "sandbox/cal.h"
#include "sandbox/data_int.h"

#define DATA_HOME_YEAR_MIN 1800
#define DATA_HOME_YEAR_MAX 2100

/*
 * The ExistingLead of the API doc, in its order. Every lead object holds
 * exactly these members; BOOL members are booleans or null, the others
 * strings or null.
 */
const struct data_field data_lead_fields[] = {
    { "name", false },          { "address1", false },
    { "address2", false },      { "city", false },
    { "state", false },         { "stateAlpha2", false },
    { "zip", false },           { "country", false },
    { "countryAlpha2", false }, { "countryAlpha3", false },
    { "phone", false },         { "leadId", false },
    { "prospectId", false },    { "createdDate", false },
    { "appointmentStatus", false },
    { "appointmentStart", false },
    { "appointmentEnd", false },
    { "appointmentStartAMPM", false },
    { "appointmentEndAMPM", false },
    { "source", false },        { "sourceType", false },
    { "optOutText", true },     { "optOutEmail", true },
    { "tcpa", true },           { "email", false },
    { "marketSegment", false }, { "blockId", false },
    { "optIn", true },          { "product", false },
    { "disposition", false },   { "hearAbout", false },
    { "homeYear", false },      { "salesRepName", false },
    { "salesRepEmail", false }, { "salesRepAvatarUrl", false },
};
const size_t data_lead_nfields =
    sizeof(data_lead_fields) / sizeof(data_lead_fields[0]);

/* ZIPs that PATCH auto-fills from (city, state, stateAlpha2, timeZone). */
static const struct data_zip {
    const char *zip, *city, *state, *alpha2, *zone;
} data_zips[] = {
    { "02108", "Boston",         "Massachusetts", "MA", "America/New_York" },
    { "10001", "New York",       "New York",      "NY", "America/New_York" },
    { "33602", "Tampa",          "Florida",       "FL", "America/New_York" },
    { "39201", "Jackson",        "Mississippi",   "MS", "America/Chicago" },
    { "60601", "Chicago",        "Illinois",      "IL", "America/Chicago" },
    { "78701", "Austin",         "Texas",         "TX", "America/Chicago" },
    { "80202", "Denver",         "Colorado",      "CO", "America/Denver" },
    { "84101", "Salt Lake City", "Utah",          "UT", "America/Denver" },
    { "85004", "Phoenix",        "Arizona",       "AZ", "America/Phoenix" },
    { "90012", "Los Angeles",    "California",    "CA",
      "America/Los_Angeles" },
    { "97204", "Portland",       "Oregon",        "OR",
      "America/Los_Angeles" },
    { "98101", "Seattle",        "Washington",    "WA",
      "America/Los_Angeles" },
    { "96813", "Honolulu",       "Hawaii",        "HI", "Pacific/Honolulu" },
    { "99501", "Anchorage",      "Alaska",        "AK", "America/Anchorage" },
};

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

/* ---- errors ---- */

static void
errs_reset(struct data_errors *errs)
{
    errs->status = 0;
    errs->count = 0;
}

static void errs_add(struct data_errors *errs, int status, const char *fmt,
                     ...) __attribute__((format(printf, 3, 4)));

static void
errs_add(struct data_errors *errs, int status, const char *fmt, ...)
{
    va_list ap;

    errs->status = status;
    if (errs->count == DATA_ERRORS_MAX) {
        return;
    }
    va_start(ap, fmt);
    vsnprintf(errs->msg[errs->count], DATA_ERROR_LEN, fmt, ap);
    va_end(ap);
    errs->count++;
}

/* ---- leads and blocks ---- */

const struct data_zip_info *
data_zip_find(const char *zip, struct data_zip_info *out)
{
    size_t i;

    /* ZIP+4 ("80202-1234") is looked up by its first five digits. */
    for (i = 0; i < sizeof(data_zips) / sizeof(data_zips[0]); i++) {
        if (strncmp(zip, data_zips[i].zip, 5) == 0 &&
            (zip[5] == '\0' || zip[5] == '-')) {
            out->city = data_zips[i].city;
            out->state = data_zips[i].state;
            out->alpha2 = data_zips[i].alpha2;
            out->zone = data_zips[i].zone;
            return out;
        }
    }
    return NULL;
}

struct data_lead *
data_lead_find(struct data_tenant *t, const char *phone)
{
    size_t i;

    for (i = 0; i < t->nleads; i++) {
        if (strcmp(t->leads[i].phone, phone) == 0) {
            return &t->leads[i];
        }
    }
    return NULL;
}

void
data_lead_set(struct data_lead *l, const char *key, const char *val)
{
    /* json-c keeps the member's place when it replaces a value. A failed
     * allocation leaves null, which the API allows for every field. */
    json_object_object_add(l->obj, key,
                           val == NULL ? NULL : json_object_new_string(val));
}

static void
data_lead_set_bool(struct data_lead *l, const char *key, bool val)
{
    json_object_object_add(l->obj, key, json_object_new_boolean(val));
}

/* The local date of block B, placed against NOW. */
static int64_t
data_block_day(const struct data_tenant *t, const struct data_block *b,
               int64_t now)
{
    return cal_business_day(cal_local_day(t->zone, now), b->day);
}

void
data_lead_book(struct data_tenant *t, struct data_lead *l, size_t bi,
               int64_t now)
{
    const struct data_block *b = &t->blocks[bi];
    char                     buf[40];
    int64_t                  day = data_block_day(t, b, now);

    if (l->block >= 0 && (size_t)l->block != bi) {
        assert(t->blocks[l->block].booked > 0);
        t->blocks[l->block].booked--;       /* frees the old slot */
    }
    if (l->block < 0 || (size_t)l->block != bi) {
        t->blocks[bi].booked++;
    }
    l->block = (int)bi;
    assert(t->blocks[bi].booked <= t->blocks[bi].capacity);
    data_lead_set(l, "appointmentStatus", "Confirmed");
    cal_format_iso(cal_to_utc(t->zone, day, b->start_min), buf, sizeof(buf));
    data_lead_set(l, "appointmentStart", buf);
    cal_format_iso(cal_to_utc(t->zone, day, b->end_min), buf, sizeof(buf));
    data_lead_set(l, "appointmentEnd", buf);
    cal_format_clock(b->start_min, false, buf, sizeof(buf));
    data_lead_set(l, "appointmentStartAMPM", buf);
    cal_format_clock(b->end_min, false, buf, sizeof(buf));
    data_lead_set(l, "appointmentEndAMPM", buf);
    data_lead_set(l, "blockId", b->id);
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

/* ---- lookups ---- */

/*
 * Validates and normalises the query parameter PHONE into OUT. On failure
 * adds the class-validator style messages to ERRS and returns -1.
 */
static int
data_check_phone(const char *phone, char *out, struct data_errors *errs)
{
    if (phone == NULL || phone[0] == '\0') {
        errs_add(errs, 400, "phone should not be empty");
        errs_add(errs, 400, "phone must be a valid phone number");
        return -1;
    }
    if (phone_normalize(phone, out, PHONE_E164_MAX) != 0) {
        errs_add(errs, 400, "phone must be a valid phone number");
        return -1;
    }
    return 0;
}

struct json_object *
data_query(struct data_tenant *t, const char *crm_id, const char *phone,
           struct data_errors *errs)
{
    char              norm[PHONE_E164_MAX];
    struct data_lead *l;

    errs_reset(errs);
    if (data_check_phone(phone, norm, errs) != 0) {
        return NULL;
    }
    if (crm_id != NULL && t->crm_id != NULL && strcmp(crm_id, t->crm_id)) {
        errs_add(errs, 404, "crmSettingsId not found");
        return NULL;
    }
    l = data_lead_find(t, norm);
    if (l == NULL) {
        errs_add(errs, 404, "Lead not found");
        return NULL;
    }
    return json_object_get(l->obj);
}

/* Parses a boolean query value as NestJS's transform does. */
static int
data_parse_query_bool(const char *s, bool *out)
{
    if (strcmp(s, "true") == 0 || strcmp(s, "1") == 0) {
        *out = true;
    } else if (strcmp(s, "false") == 0 || strcmp(s, "0") == 0) {
        *out = false;
    } else {
        return -1;
    }
    return 0;
}

static void
data_check_limit_days(const char *s, int *out, struct data_errors *errs)
{
    long   v = 0;
    size_t i;

    for (i = 0; s[i] != '\0'; i++) {
        if (s[i] < '0' || s[i] > '9' || i > 6) {
            errs_add(errs, 400, "limitDays must be an integer number");
            return;
        }
        v = v * 10 + (s[i] - '0');
    }
    if (i == 0) {
        errs_add(errs, 400, "limitDays must be an integer number");
    } else if (v < 1) {
        errs_add(errs, 400, "limitDays must not be less than 1");
    } else if (v > DATA_LIMIT_DAYS_MAX) {
        errs_add(errs, 400, "limitDays must not be greater than %d",
                 DATA_LIMIT_DAYS_MAX);
    } else {
        *out = (int)v;
    }
}

static bool
data_block_before(const struct data_block *a, const struct data_block *b)
{
    return a->day != b->day ? a->day < b->day : a->start_min < b->start_min;
}

struct json_object *
data_blocks(struct data_tenant *t, const char *phone,
            const char *simple_block_id, const char *limit_days, int64_t now,
            struct data_errors *errs)
{
    struct json_object *res = NULL, *slots, *slot;
    char                norm[PHONE_E164_MAX], buf[40];
    bool                simple = false;
    int                 limit = DATA_LIMIT_DAYS_MAX;
    size_t             *order = NULL, i, j, n = 0;

    errs_reset(errs);
    data_check_phone(phone, norm, errs);
    if (simple_block_id != NULL &&
        data_parse_query_bool(simple_block_id, &simple) != 0) {
        errs_add(errs, 400, "simpleBlockId must be a boolean value");
    }
    if (limit_days != NULL) {
        data_check_limit_days(limit_days, &limit, errs);
    }
    if (errs->count > 0) {
        return NULL;
    }
    if (data_lead_find(t, norm) == NULL) {
        errs_add(errs, 404, "Lead not found");
        return NULL;
    }

    /* Insertion sort by date and start: a tenant has a handful of blocks,
     * and the seed order (which fixes the aliases) stays untouched. */
    order = calloc(t->nblocks + 1, sizeof(*order));
    res = json_object_new_object();
    slots = json_object_new_array();
    if (order == NULL || res == NULL || slots == NULL) {
        json_object_put(slots);
        goto fail;
    }
    for (i = 0; i < t->nblocks; i++) {
        const struct data_block *b = &t->blocks[i];

        if (b->capacity - b->booked <= 0 || b->day > limit) {
            continue;
        }
        for (j = n; j > 0 && data_block_before(b, &t->blocks[order[j - 1]]);
             j--) {
            order[j] = order[j - 1];
        }
        order[j] = i;
        n++;
    }
    json_object_object_add(res, "timeZone",
                           json_object_new_string(t->zone->name));
    json_object_object_add(res, "slots", slots);
    for (i = 0; i < n; i++) {
        const struct data_block *b = &t->blocks[order[i]];

        slot = json_object_new_object();
        if (slot == NULL || json_object_array_add(slots, slot) != 0) {
            json_object_put(slot);
            goto fail;
        }
        cal_format_date(data_block_day(t, b, now), buf, sizeof(buf));
        json_object_object_add(slot, "appointmentDate",
                               json_object_new_string(buf));
        cal_format_clock(b->start_min, true, buf, sizeof(buf));
        json_object_object_add(slot, "startTime", json_object_new_string(buf));
        cal_format_clock(b->end_min, true, buf, sizeof(buf));
        json_object_object_add(slot, "endTime", json_object_new_string(buf));
        json_object_object_add(slot, "availableSlots",
                               json_object_new_int(b->capacity - b->booked));
        if (simple) {
            snprintf(buf, sizeof(buf), "%zu", DATA_SIMPLE_ID_BASE + order[i]);
        }
        json_object_object_add(slot, "blockId",
                               json_object_new_string(simple ? buf : b->id));
        json_object_object_add(slot, "timeZone",
                               json_object_new_string(t->zone->name));
    }
    free(order);
    return res;

fail:
    free(order);
    json_object_put(res);
    errs_add(errs, 500, "out of memory");
    return NULL;
}

struct json_object *
data_dispositions(struct data_tenant *t)
{
    struct json_object *res = json_object_new_object();

    if (res == NULL) {
        return NULL;
    }
    /* Shared, never mutated: the tenant's array is read-only after load. */
    json_object_object_add(res, "notQualifiedReasons",
                           json_object_get(t->dispositions));
    return res;
}

struct json_object *
data_inspect(struct data_tenant *t, const char *phone,
             struct data_errors *errs)
{
    char                norm[PHONE_E164_MAX];
    struct data_lead   *l;
    struct json_object *res;

    errs_reset(errs);
    if (data_check_phone(phone, norm, errs) != 0) {
        return NULL;
    }
    l = data_lead_find(t, norm);
    if (l == NULL) {
        errs_add(errs, 404, "Lead not found");
        return NULL;
    }
    res = json_object_new_object();
    if (res == NULL) {
        return NULL;
    }
    json_object_object_add(res, "lead", json_object_get(l->obj));
    json_object_object_add(res, "firstName", json_object_new_string(l->first));
    json_object_object_add(res, "lastName", json_object_new_string(l->last));
    json_object_object_add(res, "takerId",
                           l->taker_id == NULL
                               ? NULL
                               : json_object_new_string(l->taker_id));
    json_object_object_add(res, "timeZone", json_object_new_string(l->zone));
    json_object_object_add(res, "comments", json_object_get(l->comments));
    return res;
}

/* ---- PATCH /phone/update ---- */

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
            errs_add(errs, 400, "%s must be a string", f->name);
            return;
        }
        len = (size_t)json_object_get_string_len(v);
        if (strlen(json_object_get_string(v)) != len) {
            errs_add(errs, 400, "%s must not contain NUL characters",
                     f->name);
        } else if (f->nonempty && len == 0) {
            errs_add(errs, 400, "%s should not be empty", f->name);
        } else if (len > f->max) {
            errs_add(errs, 400,
                     "%s must be shorter than or equal to %zu characters",
                     f->name, f->max);
        }
        return;
    case UPD_BOOL:
        if (!json_object_is_type(v, json_type_boolean)) {
            errs_add(errs, 400, "%s must be a boolean value", f->name);
        }
        return;
    case UPD_NUMBER:
        if (json_object_is_type(v, json_type_int)) {
            int64_t n = json_object_get_int64(v);

            if (n < DATA_HOME_YEAR_MIN) {
                errs_add(errs, 400, "%s must not be less than %d", f->name,
                         DATA_HOME_YEAR_MIN);
            } else if (n > DATA_HOME_YEAR_MAX) {
                errs_add(errs, 400, "%s must not be greater than %d",
                         f->name, DATA_HOME_YEAR_MAX);
            }
        } else if (json_object_is_type(v, json_type_double)) {
            errs_add(errs, 400, "%s must be an integer number", f->name);
        } else {
            errs_add(errs, 400,
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
        errs_add(errs, 400, "phone should not be empty");
        errs_add(errs, 400, "phone must be a valid phone number");
    } else if (!json_object_is_type(v, json_type_string)) {
        errs_add(errs, 400, "phone must be a string");
        errs_add(errs, 400, "phone must be a valid phone number");
    } else if (json_object_get_string_len(v) == 0) {
        errs_add(errs, 400, "phone should not be empty");
        errs_add(errs, 400, "phone must be a valid phone number");
    } else if (phone_normalize_n(json_object_get_string(v),
                                 (size_t)json_object_get_string_len(v), norm,
                                 PHONE_E164_MAX) != 0) {
        errs_add(errs, 400, "phone must be a valid phone number");
    }
    for (i = 0; i < sizeof(data_forbidden) / sizeof(data_forbidden[0]); i++) {
        if (json_has(body, data_forbidden[i])) {
            errs_add(errs, 400, "property %s should not exist",
                     data_forbidden[i]);
        }
    }
    for (i = 0; i < sizeof(data_upd_fields) / sizeof(data_upd_fields[0]);
         i++) {
        data_check_field(body, &data_upd_fields[i], errs);
    }
    if (data_body_set(body, "cancelAppt") && data_body_set(body, "blockId")) {
        errs_add(errs, 400, "cancelAppt and blockId cannot both be supplied");
    }
    s = data_body_str(body, "email");
    if (s != NULL && s[0] != '\0' && !data_email_valid(s)) {
        errs_add(errs, 400, "email must be an email");
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
            errs_add(errs, 400,
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

    errs_reset(errs);
    if (!json_object_is_type(body, json_type_object)) {
        errs_add(errs, 400, "body must be a JSON object");
        return NULL;
    }
    data_check_update(t, body, norm, errs);
    if (errs->count > 0) {
        return NULL;
    }
    l = data_lead_find(t, norm);
    if (l == NULL) {
        errs_add(errs, 404, "Lead not found");
        return NULL;
    }
    block_id = data_body_str(body, "blockId");
    if (block_id != NULL) {
        json_get_bool(body, "simpleBlockId", &simple);
        bi = data_block_resolve(t, block_id, simple);
        if (bi < 0) {
            errs_add(errs, 400, "blockId not found");
            return NULL;
        }
        /* A lead already on the block keeps its slot: no double count. */
        if (l->block != bi &&
            t->blocks[bi].booked >= t->blocks[bi].capacity) {
            errs_add(errs, 400, "block is full");
            return NULL;
        }
    }
    data_apply_update(t, l, body, bi, now);
    return json_object_get(l->obj);
}
