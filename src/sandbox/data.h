/*
 * data.h - the sandbox's tenants, leads and appointment blocks: seed
 * loading, the four lookups and the PATCH /phone/update semantics of the
 * S2S API. Pure: json-c only, no libevent; "now" is always a parameter.
 *
 * Seed file (JSON, parsed strictly; any unknown key or wrong type is an
 * error that names where it is):
 *
 * {
 *   "tenants": [                          one or more
 *     {
 *       "token": "hs_test_tenant_alpha_0001",   required, unique, 1-255
 *                                               visible ASCII characters
 *       "name": "alpha",                  required: names the tenant in
 *                                         logs instead of the token
 *       "crmSettingsId": "a0C8X000001",   optional: when set, /phone/query/
 *                                         {id} with another id is a 404
 *       "timeZone": "America/Denver",     required: a zone of cal.c; the
 *                                         blocks' times are local to it
 *       "dispositions": ["Not homeowner"],  required: the Not Qualified
 *                                         reasons (non-empty strings)
 *       "blocks": [                       required, may be empty
 *         { "id": "a0p8X00000AL01",      unique in the tenant
 *           "day": 1,                     the Nth business day after
 *                                         today (1..365), so dates move
 *                                         with the clock
 *           "start": "09:00", "end": "10:30",   local 24-hour times
 *           "capacity": 3 }               slots in the block (0..1000)
 *       ],
 *       "leads": [                        required, may be empty
 *         { "phone": "+18015551234",      required: any spelling that
 *                                         phone_normalize accepts; unique
 *                                         in the tenant after normalising
 *           ...any other ExistingLead field, string or null (booleans:
 *           optOutText, optOutEmail, tcpa, optIn); absent fields are null.
 *           "blockId" books that block of the tenant at load: it takes a
 *           slot, and appointmentStatus/Start/End/StartAMPM/EndAMPM are
 *           computed (a value given for them is replaced). }
 *       ]
 *     }
 *   ]
 * }
 *
 * Lead state that the ExistingLead does not show is kept beside it:
 * first and last name (a seeded name splits at its last space), the
 * comments appended by PATCH, takerId, and the lead's time zone (from its
 * zip when the zip is in the built-in table, else the tenant's).
 */
#ifndef HSP_DATA_H
#define HSP_DATA_H

#include <stddef.h>
#include <stdint.h>

#define DATA_ERRORS_MAX    16
#define DATA_ERROR_LEN     200
#define DATA_SIMPLE_ID_BASE 20      /* first simpleBlockId alias */
#define DATA_LIMIT_DAYS_MAX 365

struct json_object;
struct data;                        /* opaque: every tenant */
struct data_tenant;                 /* opaque: one token's world */

/*
 * Why a request was refused: STATUS (400, 404) and the messages of the
 * error payload, in order. Filled by the functions below when they
 * return NULL. Messages past DATA_ERRORS_MAX are dropped.
 */
struct data_errors {
    int    status;
    size_t count;
    char   msg[DATA_ERRORS_MAX][DATA_ERROR_LEN];
};

/*
 * Loads the seed from the LEN bytes at BUF (or from the file PATH),
 * placing relative days against NOW (seconds since the epoch). Returns a
 * new store the caller frees with data_free(), or NULL with the reason in
 * ERR (ERRLEN bytes), e.g. "tenants[1].leads[3].phone: not a valid phone".
 */
struct data *data_load_buf(const char *buf, size_t len, int64_t now,
                           char *err, size_t errlen);
struct data *data_load_file(const char *path, int64_t now, char *err,
                            size_t errlen);

/*
 * Restores every tenant to the seed as if loaded at NOW: leads, bookings,
 * comments. Tenant pointers stay valid. Returns 0, or -1 (out of memory)
 * with ERR set and the data unchanged.
 */
int data_reset(struct data *d, int64_t now, char *err, size_t errlen);

/* Frees D and everything in it. NULL-safe. */
void data_free(struct data *d);

/* Number of tenants and leads, for the startup log line. */
size_t data_tenant_count(const struct data *d);
size_t data_lead_count(const struct data *d);

/*
 * The tenant whose token is TOKEN, or NULL. Borrowed: valid until
 * data_free() (data_reset() keeps it).
 */
struct data_tenant *data_tenant_find(struct data *d, const char *token);

/* The tenant's seed name, for logs. Borrowed. */
const char *data_tenant_name(const struct data_tenant *t);

/*
 * GET /phone/query[/{CRM_ID}]?phone=PHONE. CRM_ID is NULL for the plain
 * route; PHONE is NULL when absent. Returns a new reference to the
 * ExistingLead (all 35 documented fields, null where unknown) that the
 * caller puts, or NULL with ERRS: 400 for a missing or invalid phone, 404
 * for an unknown crmSettingsId or lead.
 */
struct json_object *data_query(struct data_tenant *t, const char *crm_id,
                               const char *phone, struct data_errors *errs);

/*
 * GET /phone/query/blocks?phone=&simpleBlockId=&limitDays=, with the raw
 * query values (NULL when absent). simpleBlockId takes true/false/1/0;
 * limitDays an integer 1..DATA_LIMIT_DAYS_MAX. Returns a new TimeSlotsDto
 * reference (blocks with availableSlots > 0, by date and time; with
 * simpleBlockId the blockIds are the strings "20", "21", ... after the
 * block's place in the seed), or NULL with ERRS (400, 404).
 */
struct json_object *data_blocks(struct data_tenant *t, const char *phone,
                                const char *simple_block_id,
                                const char *limit_days, int64_t now,
                                struct data_errors *errs);

/* GET /phone/query/dispositions: a new {"notQualifiedReasons":[...]}. */
struct json_object *data_dispositions(struct data_tenant *t);

/*
 * PATCH /phone/update with the parsed BODY (any JSON value; only an
 * object can pass). Validates every field first and reports all failing
 * messages (400) without changing anything; then the lead (404); then the
 * block to book (400 "blockId not found" / "block is full"). Applies the
 * update at NOW and returns a new reference to the refreshed ExistingLead,
 * or NULL with ERRS.
 */
struct json_object *data_update(struct data_tenant *t,
                                const struct json_object *body, int64_t now,
                                struct data_errors *errs);

/*
 * The lead's hidden state for tests: a new
 * {"lead":{...},"firstName":..,"lastName":..,"takerId":..,"timeZone":..,
 *  "comments":[...]} reference, or NULL with ERRS (400, 404).
 */
struct json_object *data_inspect(struct data_tenant *t, const char *phone,
                                 struct data_errors *errs);

#endif /* HSP_DATA_H */
