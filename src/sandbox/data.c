/*
 * data.c - tenants, leads and blocks of the sandbox: finding them,
 * booking a lead on a block, and the three read-only lookups of the S2S
 * API (query, blocks, dispositions) plus the inspect view. The seed
 * loader (and with it the store's lifetime) lives in data_seed.c, PATCH
 * /phone/update in data_update.c; the three share the private
 * definitions of data_int.h. Owns nothing itself: every lead and block
 * belongs to the store data_seed.c builds and frees.
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

/* ---- errors ---- */

void
data_errs_reset(struct data_errors *errs)
{
    errs->status = 0;
    errs->count = 0;
}

void
data_errs_add(struct data_errors *errs, int status, const char *fmt, ...)
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

/* ---- tenants ---- */

size_t
data_tenant_count(const struct data *d)
{
    return d->ntenants;
}

size_t
data_lead_count(const struct data *d)
{
    size_t i, n = 0;

    for (i = 0; i < d->ntenants; i++) {
        n += d->tenants[i].nleads;
    }
    return n;
}

struct data_tenant *
data_tenant_find(struct data *d, const char *token)
{
    size_t i;

    for (i = 0; i < d->ntenants; i++) {
        if (strcmp(d->tenants[i].token, token) == 0) {
            return &d->tenants[i];
        }
    }
    return NULL;
}

const char *
data_tenant_name(const struct data_tenant *t)
{
    return t->name;
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
        data_errs_add(errs, 400, "phone should not be empty");
        data_errs_add(errs, 400, "phone must be a valid phone number");
        return -1;
    }
    if (phone_normalize(phone, out, PHONE_E164_MAX) != 0) {
        data_errs_add(errs, 400, "phone must be a valid phone number");
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

    data_errs_reset(errs);
    if (data_check_phone(phone, norm, errs) != 0) {
        return NULL;
    }
    if (crm_id != NULL && t->crm_id != NULL && strcmp(crm_id, t->crm_id)) {
        data_errs_add(errs, 404, "crmSettingsId not found");
        return NULL;
    }
    l = data_lead_find(t, norm);
    if (l == NULL) {
        data_errs_add(errs, 404, "Lead not found");
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
            data_errs_add(errs, 400, "limitDays must be an integer number");
            return;
        }
        v = v * 10 + (s[i] - '0');
    }
    if (i == 0) {
        data_errs_add(errs, 400, "limitDays must be an integer number");
    } else if (v < 1) {
        data_errs_add(errs, 400, "limitDays must not be less than 1");
    } else if (v > DATA_LIMIT_DAYS_MAX) {
        data_errs_add(errs, 400, "limitDays must not be greater than %d",
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

    data_errs_reset(errs);
    data_check_phone(phone, norm, errs);
    if (simple_block_id != NULL &&
        data_parse_query_bool(simple_block_id, &simple) != 0) {
        data_errs_add(errs, 400, "simpleBlockId must be a boolean value");
    }
    if (limit_days != NULL) {
        data_check_limit_days(limit_days, &limit, errs);
    }
    if (errs->count > 0) {
        return NULL;
    }
    if (data_lead_find(t, norm) == NULL) {
        data_errs_add(errs, 404, "Lead not found");
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
    data_errs_add(errs, 500, "out of memory");
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

    data_errs_reset(errs);
    if (data_check_phone(phone, norm, errs) != 0) {
        return NULL;
    }
    l = data_lead_find(t, norm);
    if (l == NULL) {
        data_errs_add(errs, 404, "Lead not found");
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
