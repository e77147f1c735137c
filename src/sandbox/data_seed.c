/*
 * data_seed.c - loads the sandbox seed strictly (schema in data.h) into
 * tenants, and restores it on reset. Owns the store's lifetime: struct
 * data, its tenants and the parsed seed are allocated here and released
 * by data_free(); data.c and data_update.c only look up and edit.
 */
#include "config.h"

#include "sandbox/data.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "json.h"
#include "phone.h"
#include "sandbox/cal.h"
#include "sandbox/data_int.h"

#define SEED_FILE_MAX    (16 * 1024 * 1024)
#define SEED_TOKEN_MAX   255
#define SEED_ID_MAX      255
#define SEED_CAPACITY_MAX 1000
#define SEED_WHERE_LEN   96

static const char *const seed_root_keys[] = { "tenants" };
static const char *const seed_tenant_keys[] = {
    "token", "name", "crmSettingsId", "timeZone", "dispositions", "blocks",
    "leads",
};
static const char *const seed_block_keys[] = {
    "id", "day", "start", "end", "capacity",
};

static int seed_fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
seed_fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

/* Refuses any member of OBJ whose name is not one of KEYS. */
static int
seed_check_keys(struct json_object *obj, const char *const *keys, size_t n,
                const char *where, char *err, size_t errlen)
{
    struct json_object_iterator it = json_object_iter_begin(obj);
    struct json_object_iterator end = json_object_iter_end(obj);
    size_t                      i;

    for (; !json_object_iter_equal(&it, &end); json_object_iter_next(&it)) {
        const char *name = json_object_iter_peek_name(&it);

        for (i = 0; i < n && strcmp(name, keys[i]) != 0; i++) {
        }
        if (i == n) {
            return seed_fail(err, errlen, "%s: unknown key \"%s\"", where,
                             name);
        }
    }
    return 0;
}

/*
 * Fetches member KEY of OBJ into *OUT, which must have TYPE. An absent or
 * null member is an error when REQUIRED, else *OUT is NULL.
 */
static int
seed_get(struct json_object *obj, const char *key, json_type type,
         bool required, struct json_object **out, const char *where,
         char *err, size_t errlen)
{
    *out = NULL;
    if (!json_object_object_get_ex(obj, key, out) || *out == NULL) {
        *out = NULL;
        return required ? seed_fail(err, errlen, "%s.%s: missing", where, key)
                        : 0;
    }
    if (!json_object_is_type(*out, type)) {
        return seed_fail(err, errlen, "%s.%s: must be %s", where, key,
                         type == json_type_string  ? "a string"
                         : type == json_type_int   ? "an integer"
                         : type == json_type_array ? "an array"
                                                   : "an object");
    }
    return 0;
}

/* A non-empty string member of at most MAX bytes without NUL. */
static const char *
seed_string(struct json_object *obj, const char *key, bool required,
            size_t max, const char *where, char *err, size_t errlen)
{
    struct json_object *v;
    size_t              len;

    if (seed_get(obj, key, json_type_string, required, &v, where, err,
                 errlen) != 0) {
        return NULL;
    }
    if (v == NULL) {
        err[0] = '\0';              /* absent: no error */
        return NULL;
    }
    len = (size_t)json_object_get_string_len(v);
    if (len == 0 || len > max || strlen(json_object_get_string(v)) != len) {
        seed_fail(err, errlen, "%s.%s: must be 1 to %zu characters", where,
                  key, max);
        return NULL;
    }
    return json_object_get_string(v);
}

static int
seed_int(struct json_object *obj, const char *key, int min, int max,
         int *out, const char *where, char *err, size_t errlen)
{
    struct json_object *v;
    int64_t             n;

    if (seed_get(obj, key, json_type_int, true, &v, where, err, errlen) != 0) {
        return -1;
    }
    n = json_object_get_int64(v);
    if (n < min || n > max) {
        return seed_fail(err, errlen, "%s.%s: must be %d to %d", where, key,
                         min, max);
    }
    *out = (int)n;
    return 0;
}

static void
seed_tenant_clear(struct data_tenant *t)
{
    size_t i;

    for (i = 0; i < t->nleads; i++) {
        json_object_put(t->leads[i].obj);
        json_object_put(t->leads[i].comments);
        free(t->leads[i].first);
        free(t->leads[i].last);
        free(t->leads[i].taker_id);
    }
    for (i = 0; i < t->nblocks; i++) {
        free(t->blocks[i].id);
    }
    free(t->leads);
    free(t->blocks);
    json_object_put(t->dispositions);
    free(t->token);
    free(t->name);
    free(t->crm_id);
    memset(t, 0, sizeof(*t));
}

static int
seed_block(struct data_tenant *t, struct json_object *src, const char *where,
           char *err, size_t errlen)
{
    struct data_block *b = &t->blocks[t->nblocks];
    const char        *id, *start, *end;
    size_t             i;

    if (!json_object_is_type(src, json_type_object)) {
        return seed_fail(err, errlen, "%s: must be an object", where);
    }
    if (seed_check_keys(src, seed_block_keys,
                        sizeof(seed_block_keys) / sizeof(seed_block_keys[0]),
                        where, err, errlen) != 0 ||
        (id = seed_string(src, "id", true, SEED_ID_MAX, where, err,
                          errlen)) == NULL ||
        (start = seed_string(src, "start", true, 5, where, err, errlen)) ==
            NULL ||
        (end = seed_string(src, "end", true, 5, where, err, errlen)) == NULL ||
        seed_int(src, "day", 1, DATA_LIMIT_DAYS_MAX, &b->day, where, err,
                 errlen) != 0 ||
        seed_int(src, "capacity", 0, SEED_CAPACITY_MAX, &b->capacity, where,
                 err, errlen) != 0) {
        return -1;
    }
    if (cal_parse_clock(start, &b->start_min) != 0 ||
        cal_parse_clock(end, &b->end_min) != 0 || b->end_min <= b->start_min) {
        return seed_fail(err, errlen,
                         "%s: start and end must be HH:MM with start < end",
                         where);
    }
    for (i = 0; i < t->nblocks; i++) {
        if (strcmp(t->blocks[i].id, id) == 0) {
            return seed_fail(err, errlen, "%s.id: duplicate \"%s\"", where,
                             id);
        }
    }
    b->id = strdup(id);
    if (b->id == NULL) {
        return seed_fail(err, errlen, "out of memory");
    }
    t->nblocks++;
    return 0;
}

/* Splits NAME at its last space into L's first and last names. */
static int
seed_split_name(struct data_lead *l, const char *name)
{
    const char *sp = name == NULL ? NULL : strrchr(name, ' ');

    if (name == NULL) {
        l->first = strdup("");
        l->last = strdup("");
    } else if (sp == NULL) {
        l->first = strdup(name);
        l->last = strdup("");
    } else {
        l->first = strndup(name, (size_t)(sp - name));
        l->last = strdup(sp + 1);
    }
    return l->first == NULL || l->last == NULL ? -1 : 0;
}

static int
seed_lead_fields(struct data_lead *l, struct json_object *src,
                 const char *where, char *err, size_t errlen)
{
    struct json_object_iterator it = json_object_iter_begin(src);
    struct json_object_iterator end = json_object_iter_end(src);
    struct json_object         *v;
    size_t                      i;

    for (; !json_object_iter_equal(&it, &end); json_object_iter_next(&it)) {
        const char *name = json_object_iter_peek_name(&it);

        for (i = 0; i < data_lead_nfields &&
                    strcmp(name, data_lead_fields[i].name) != 0;
             i++) {
        }
        if (i == data_lead_nfields) {
            return seed_fail(err, errlen, "%s: unknown key \"%s\"", where,
                             name);
        }
        v = json_object_iter_peek_value(&it);
        if (v != NULL &&
            !json_object_is_type(v, data_lead_fields[i].boolean
                                        ? json_type_boolean
                                        : json_type_string)) {
            return seed_fail(err, errlen, "%s.%s: must be %s or null", where,
                             name,
                             data_lead_fields[i].boolean ? "a boolean"
                                                         : "a string");
        }
    }
    for (i = 0; i < data_lead_nfields; i++) {
        v = NULL;
        json_object_object_get_ex(src, data_lead_fields[i].name, &v);
        /* Shares the seed's values: neither side mutates them. */
        if (json_object_object_add(l->obj, data_lead_fields[i].name,
                                   json_object_get(v)) != 0) {
            json_object_put(v);
            return seed_fail(err, errlen, "out of memory");
        }
    }
    return 0;
}

static int
seed_lead(struct data_tenant *t, struct json_object *src, int64_t now,
          const char *where, char *err, size_t errlen)
{
    struct data_lead    *l = &t->leads[t->nleads];
    struct data_zip_info zi;
    const char          *phone, *zip, *block_id;
    size_t               i;

    if (!json_object_is_type(src, json_type_object)) {
        return seed_fail(err, errlen, "%s: must be an object", where);
    }
    l->block = -1;
    l->zone = t->zone->name;
    l->obj = json_object_new_object();
    l->comments = json_object_new_array();
    if (l->obj == NULL || l->comments == NULL) {
        json_object_put(l->obj);
        json_object_put(l->comments);
        memset(l, 0, sizeof(*l));
        goto oom;
    }
    t->nleads++;                    /* from here seed_tenant_clear frees L */
    if (seed_lead_fields(l, src, where, err, errlen) != 0) {
        return -1;
    }
    phone = seed_string(src, "phone", true, PHONE_INPUT_MAX, where, err,
                        errlen);
    if (phone == NULL) {
        return -1;
    }
    if (phone_normalize(phone, l->phone, sizeof(l->phone)) != 0) {
        return seed_fail(err, errlen, "%s.phone: not a valid phone", where);
    }
    for (i = 0; i + 1 < t->nleads; i++) {
        if (strcmp(t->leads[i].phone, l->phone) == 0) {
            return seed_fail(err, errlen, "%s.phone: duplicate %s", where,
                             l->phone);
        }
    }
    data_lead_set(l, "phone", l->phone);
    if (seed_split_name(l, json_get_string(l->obj, "name")) != 0) {
        goto oom;
    }
    zip = json_get_string(l->obj, "zip");
    if (zip != NULL && data_zip_find(zip, &zi) != NULL) {
        l->zone = zi.zone;
    }
    block_id = json_get_string(l->obj, "blockId");
    if (block_id != NULL) {
        for (i = 0; i < t->nblocks && strcmp(t->blocks[i].id, block_id) != 0;
             i++) {
        }
        if (i == t->nblocks) {
            return seed_fail(err, errlen, "%s.blockId: no block \"%s\"",
                             where, block_id);
        }
        if (t->blocks[i].booked >= t->blocks[i].capacity) {
            return seed_fail(err, errlen, "%s.blockId: block \"%s\" is full",
                             where, block_id);
        }
        data_lead_book(t, l, i, now);
    }
    return 0;

oom:
    return seed_fail(err, errlen, "out of memory");
}

static int
seed_dispositions(struct data_tenant *t, struct json_object *src,
                  const char *where, char *err, size_t errlen)
{
    struct json_object *arr, *v;
    size_t              i;

    if (seed_get(src, "dispositions", json_type_array, true, &arr, where, err,
                 errlen) != 0) {
        return -1;
    }
    for (i = 0; i < json_object_array_length(arr); i++) {
        v = json_object_array_get_idx(arr, i);
        if (!json_object_is_type(v, json_type_string) ||
            json_object_get_string_len(v) == 0) {
            return seed_fail(err, errlen,
                             "%s.dispositions[%zu]: must be a non-empty "
                             "string",
                             where, i);
        }
    }
    t->dispositions = json_object_get(arr);
    return 0;
}

static int
seed_tenant(struct data_tenant *t, struct json_object *src, size_t ti,
            int64_t now, char *err, size_t errlen)
{
    char                where[SEED_WHERE_LEN], sub[SEED_WHERE_LEN * 2];
    struct json_object *blocks, *leads;
    const char         *token, *name, *crm, *zone;
    size_t              i;

    snprintf(where, sizeof(where), "tenants[%zu]", ti);
    if (!json_object_is_type(src, json_type_object)) {
        return seed_fail(err, errlen, "%s: must be an object", where);
    }
    if (seed_check_keys(src, seed_tenant_keys,
                        sizeof(seed_tenant_keys) / sizeof(seed_tenant_keys[0]),
                        where, err, errlen) != 0 ||
        (token = seed_string(src, "token", true, SEED_TOKEN_MAX, where, err,
                             errlen)) == NULL ||
        (name = seed_string(src, "name", true, SEED_ID_MAX, where, err,
                            errlen)) == NULL ||
        (zone = seed_string(src, "timeZone", true, SEED_ID_MAX, where, err,
                            errlen)) == NULL) {
        return -1;
    }
    crm = seed_string(src, "crmSettingsId", false, SEED_ID_MAX, where, err,
                      errlen);
    if (crm == NULL && err[0] != '\0') {
        return -1;
    }
    for (i = 0; token[i] != '\0'; i++) {
        if (token[i] <= 0x20 || token[i] >= 0x7f) {
            return seed_fail(err, errlen,
                             "%s.token: must be visible ASCII characters",
                             where);
        }
    }
    t->zone = cal_zone_find(zone);
    if (t->zone == NULL) {
        return seed_fail(err, errlen, "%s.timeZone: unknown zone \"%s\"",
                         where, zone);
    }
    t->token = strdup(token);
    t->name = strdup(name);
    t->crm_id = crm == NULL ? NULL : strdup(crm);
    if (t->token == NULL || t->name == NULL || (crm != NULL && !t->crm_id)) {
        return seed_fail(err, errlen, "out of memory");
    }
    if (seed_dispositions(t, src, where, err, errlen) != 0 ||
        seed_get(src, "blocks", json_type_array, true, &blocks, where, err,
                 errlen) != 0 ||
        seed_get(src, "leads", json_type_array, true, &leads, where, err,
                 errlen) != 0) {
        return -1;
    }
    t->blocks = calloc(json_object_array_length(blocks) + 1,
                       sizeof(*t->blocks));
    t->leads = calloc(json_object_array_length(leads) + 1, sizeof(*t->leads));
    if (t->blocks == NULL || t->leads == NULL) {
        return seed_fail(err, errlen, "out of memory");
    }
    for (i = 0; i < json_object_array_length(blocks); i++) {
        snprintf(sub, sizeof(sub), "%s.blocks[%zu]", where, i);
        if (seed_block(t, json_object_array_get_idx(blocks, i), sub, err,
                       errlen) != 0) {
            return -1;
        }
    }
    for (i = 0; i < json_object_array_length(leads); i++) {
        snprintf(sub, sizeof(sub), "%s.leads[%zu]", where, i);
        if (seed_lead(t, json_object_array_get_idx(leads, i), now, sub, err,
                      errlen) != 0) {
            return -1;
        }
    }
    return 0;
}

static void
seed_tenants_free(struct data_tenant *tenants, size_t n)
{
    size_t i;

    for (i = 0; tenants != NULL && i < n; i++) {
        seed_tenant_clear(&tenants[i]);
    }
    free(tenants);
}

/* Builds the tenants of the parsed SEED into a new array of *N. */
static struct data_tenant *
seed_build(struct json_object *seed, int64_t now, size_t *n, char *err,
           size_t errlen)
{
    struct json_object *arr;
    struct data_tenant *tenants;
    size_t              i, j, count;

    if (!json_object_is_type(seed, json_type_object)) {
        seed_fail(err, errlen, "seed: must be a JSON object");
        return NULL;
    }
    if (seed_check_keys(seed, seed_root_keys, 1, "seed", err, errlen) != 0 ||
        seed_get(seed, "tenants", json_type_array, true, &arr, "seed", err,
                 errlen) != 0) {
        return NULL;
    }
    count = json_object_array_length(arr);
    if (count == 0) {
        seed_fail(err, errlen, "seed.tenants: must not be empty");
        return NULL;
    }
    tenants = calloc(count, sizeof(*tenants));
    if (tenants == NULL) {
        seed_fail(err, errlen, "out of memory");
        return NULL;
    }
    for (i = 0; i < count; i++) {
        if (seed_tenant(&tenants[i], json_object_array_get_idx(arr, i), i,
                        now, err, errlen) != 0) {
            goto fail;
        }
        for (j = 0; j < i; j++) {
            if (strcmp(tenants[j].token, tenants[i].token) == 0) {
                seed_fail(err, errlen,
                          "tenants[%zu].token: same token as tenants[%zu]", i,
                          j);
                goto fail;
            }
        }
    }
    *n = count;
    return tenants;

fail:
    seed_tenants_free(tenants, count);
    return NULL;
}

struct data *
data_load_buf(const char *buf, size_t len, int64_t now, char *err,
              size_t errlen)
{
    struct data *d;

    d = calloc(1, sizeof(*d));
    if (d == NULL) {
        seed_fail(err, errlen, "out of memory");
        return NULL;
    }
    d->seed = json_parse_strict(buf, len, err, errlen);
    if (d->seed == NULL) {
        goto fail;
    }
    d->tenants = seed_build(d->seed, now, &d->ntenants, err, errlen);
    if (d->tenants == NULL) {
        goto fail;
    }
    return d;

fail:
    data_free(d);
    return NULL;
}

struct data *
data_load_file(const char *path, int64_t now, char *err, size_t errlen)
{
    struct data *d;
    FILE        *f;
    char        *buf;
    size_t       len;

    f = fopen(path, "rb");
    if (f == NULL) {
        seed_fail(err, errlen, "%s: %s", path, strerror(errno));
        return NULL;
    }
    buf = malloc(SEED_FILE_MAX + 1);
    if (buf == NULL) {
        fclose(f);
        seed_fail(err, errlen, "out of memory");
        return NULL;
    }
    len = fread(buf, 1, SEED_FILE_MAX + 1, f);
    if (ferror(f) || len > SEED_FILE_MAX) {
        seed_fail(err, errlen, "%s: %s", path,
                  ferror(f) ? "read error" : "larger than 16 MiB");
        fclose(f);
        free(buf);
        return NULL;
    }
    fclose(f);
    d = data_load_buf(buf, len, now, err, errlen);
    free(buf);
    return d;
}

int
data_reset(struct data *d, int64_t now, char *err, size_t errlen)
{
    struct data_tenant *fresh;
    size_t              i, n;

    fresh = seed_build(d->seed, now, &n, err, errlen);
    if (fresh == NULL) {
        return -1;
    }
    /* Same seed, same tenants in the same order: move the fresh contents
     * into the old slots so borrowed tenant pointers stay valid. */
    for (i = 0; i < d->ntenants; i++) {
        seed_tenant_clear(&d->tenants[i]);
        d->tenants[i] = fresh[i];
    }
    free(fresh);
    return 0;
}

void
data_free(struct data *d)
{
    if (d == NULL) {
        return;
    }
    seed_tenants_free(d->tenants, d->ntenants);
    json_object_put(d->seed);
    free(d);
}
