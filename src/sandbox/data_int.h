/*
 * data_int.h - private to data.c, data_seed.c and data_update.c: the
 * structures behind struct data, and the error and lead helpers they
 * share. Nothing else includes this header.
 */
#ifndef HSP_DATA_INT_H
#define HSP_DATA_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "phone.h"

struct cal_zone;
struct data_errors;
struct json_object;

/* One member of the ExistingLead: BOOLEAN or string, both nullable. */
struct data_field {
    const char *name;
    bool        boolean;
};

extern const struct data_field data_lead_fields[];
extern const size_t            data_lead_nfields;

struct data_zip_info {
    const char *city, *state, *alpha2;
    const char *zone;               /* IANA name, a zone of cal.c */
};

struct data_block {
    char *id;                       /* owned: the seed's block id */
    int   day;                      /* business days after today, >= 1 */
    int   start_min, end_min;       /* local minutes after midnight */
    int   capacity;                 /* slots in the block */
    int   booked;                   /* leads holding a slot, <= capacity */
};

struct data_lead {
    char                phone[PHONE_E164_MAX];  /* normalised key */
    struct json_object *obj;        /* owned: the ExistingLead */
    struct json_object *comments;   /* owned: array of appended strings */
    char               *first;      /* owned, "" when unknown */
    char               *last;       /* owned, "" when unknown */
    char               *taker_id;   /* owned, NULL until PATCHed */
    const char         *zone;       /* static: the lead's IANA zone */
    int                 block;      /* booked block index, -1 for none */
};

struct data_tenant {
    char                  *token;   /* owned */
    char                  *name;    /* owned: for logs */
    char                  *crm_id;  /* owned, NULL: any id is accepted */
    const struct cal_zone *zone;    /* static */
    struct json_object    *dispositions;  /* owned, read-only array */
    struct data_block     *blocks;  /* owned, seed order (fixes aliases) */
    size_t                 nblocks;
    struct data_lead      *leads;   /* owned */
    size_t                 nleads;
};

struct data {
    struct json_object *seed;       /* owned: parsed seed, for reset */
    struct data_tenant *tenants;    /* owned; the array never moves */
    size_t              ntenants;
};

/* Empties ERRS, before a lookup or an update fills it. */
void data_errs_reset(struct data_errors *errs);

/*
 * Adds the printf-style message FMT to ERRS and makes STATUS the answer's
 * status; messages past DATA_ERRORS_MAX are dropped (the status still
 * changes).
 */
void data_errs_add(struct data_errors *errs, int status, const char *fmt,
                   ...) __attribute__((format(printf, 3, 4)));

/*
 * Finds ZIP (5 digits, or ZIP+4) in the built-in table and fills OUT.
 * Returns OUT, or NULL when the zip is not in the table.
 */
const struct data_zip_info *data_zip_find(const char *zip,
                                          struct data_zip_info *out);

/* The lead of T with the normalised PHONE, or NULL. Borrowed. */
struct data_lead *data_lead_find(struct data_tenant *t, const char *phone);

/* Sets the string member KEY of L's ExistingLead to a copy of VAL (NULL:
 * null). */
void data_lead_set(struct data_lead *l, const char *key, const char *val);

/*
 * Books block BI of T for L at NOW: takes a slot (freeing L's previous
 * one), and fills the appointment fields and blockId. The caller has
 * checked that the block has room or already holds L.
 */
void data_lead_book(struct data_tenant *t, struct data_lead *l, size_t bi,
                    int64_t now);

#endif /* HSP_DATA_INT_H */
