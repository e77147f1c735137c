/*
 * key.h - tenants and cache keys (SPEC §3). Pure: no libevent, no hiredis.
 *
 * Layout, all under "<prefix>:v1:{<tenant>}:" so that every key one Lua
 * script touches shares the tenant's Redis Cluster hash tag:
 *
 *   lead:<ph>     hash: field "q" (/phone/query), "c:<crm>" (variants)
 *   blocks:<ph>   hash: field "g<gen>:s<0|1>:d<days|->" (blocks answers)
 *   disp          hash: field "d" (dispositions of the tenant)
 *   ep:<ph>       the phone's write epoch, bumped by every PATCH
 *   ep            the tenant's epoch for dispositions (never bumped)
 *   bgen          the tenant's blocks generation, bumped on bookings
 *   idem:<ik>     hash: one Idempotency-Key record (SPEC §5)
 *
 * <tenant> is the hex SHA-256 of the token, truncated to 128 bits; <ph> is
 * the same of "<tenant>:<E.164 phone>", <ik> of "<tenant>:<Idempotency-Key>".
 * Neither a token nor a phone number (nor a caller's key) reaches a key in
 * the clear (SPEC §3).
 */
#ifndef HSP_KEY_H
#define HSP_KEY_H

#include <stdbool.h>
#include <stddef.h>

#include "phone.h"
#include "route.h"

#define KEY_TENANT_HEX 32               /* hex digits of the tenant id */
#define KEY_MAX        256
#define KEY_FIELD_MAX  (ROUTE_CRM_MAX + 16)
#define KEY_SCHEMA     "v1"

/* The query parameters that matter to the cache, parsed and checked. */
struct key_query {
    bool    has_phone;
    bool    phone_repeated;         /* phone= given twice: refused */
    char    phone_raw[PHONE_INPUT_MAX + 1]; /* decoded, as sent (truncated) */
    bool    phone_too_long;
    bool    simple_block_id;        /* simpleBlockId=true */
    bool    simple_block_id_set;    /* present at all */
    bool    simple_block_id_bad;    /* present, neither true nor false */
    long    limit_days;             /* -1 when absent */
    bool    limit_days_bad;         /* present, not an integer 1..365 */
    bool    has_token;              /* a non-empty token= */
};

/*
 * Parses the raw (percent-encoded) query string QUERY, which may be NULL.
 * Never fails: problems are flags in OUT for the caller to answer.
 */
void key_parse_query(const char *query, struct key_query *out);

/* What key_query_value found. */
enum key_param {
    KEY_PARAM_ABSENT,               /* no pair, or only empty values */
    KEY_PARAM_FOUND,                /* one value (repeats agree) */
    KEY_PARAM_CONFLICT,             /* two different non-empty values */
    KEY_PARAM_BAD                   /* a value with %00 in it */
};

/*
 * Finds query parameter NAME in the raw QUERY (may be NULL), as the
 * upstream does: names are case-sensitive, and empty pairs (`&&`, a
 * leading `&`, a bare `flag`) are skipped, never fatal. Writes the first
 * non-empty value, percent-decoded ('+' a space), into OUT of CAP bytes
 * (CAP > strlen(QUERY) always fits) and its length into *LEN.
 */
enum key_param key_query_value(const char *query, const char *name,
                               char *out, size_t cap, size_t *len);

/*
 * Writes QUERY (may be NULL) into OUT of CAP bytes with the value of
 * every `phone` pair replaced by the E.164 number E164 (its '+' as %2B),
 * and every other byte as it came: the upstream fetches exactly what the
 * cache key names (SPEC §3). Returns the length, or -1 if it does not fit.
 */
int key_query_set_phone(const char *query, const char *e164, char *out,
                        size_t cap);

/* Writes the tenant id of TOKEN (LEN bytes) into OUT (KEY_TENANT_HEX + 1). */
void key_tenant(const char *token, size_t len, char *out);

/* Writes the key form of the E.164 PHONE of TENANT into OUT (same size). */
void key_phone(const char *tenant, const char *phone, char *out);

/* The keys and field of one cacheable answer. */
struct key_entry {
    char hash[KEY_MAX];             /* the Redis hash holding the entry */
    char field[KEY_FIELD_MAX];      /* the entry's field in it; for blocks
                                       without the "g<gen>:" part */
    char epoch[KEY_MAX];            /* write epoch of the phone, or the
                                       tenant's for dispositions */
    char bgen[KEY_MAX];             /* blocks generation; "" unless blocks */
};

/*
 * Builds the keys of route ID for TENANT and the normalised E164 (unused
 * for dispositions), CRM (for ROUTE_QUERY_CRM) and Q. Returns 0, or -1
 * when the answer must not be cached (a crmSettingsId with characters
 * outside [A-Za-z0-9._~-], or a route that is never cached).
 */
int key_entry(const char *prefix, const char *tenant, enum route_id id,
              const char *e164, const char *crm, const struct key_query *q,
              struct key_entry *out);

/*
 * The keys a PATCH of PHONE touches: the lead hash, the blocks hash of the
 * phone, the phone's epoch and the tenant's blocks generation.
 */
void key_update(const char *prefix, const char *tenant, const char *phone,
                struct key_entry *lead, char *blocks_hash, size_t cap);

/*
 * Writes the key of the record of Idempotency-Key IDEM (already checked,
 * NUL-terminated) of TENANT into OUT (KEY_MAX bytes). The scope is
 * (tenant, key): the same key under two tokens is two records.
 */
void key_idem(const char *prefix, const char *tenant, const char *idem,
              char *out);

#endif /* HSP_KEY_H */
