/*
 * key.h - tenants and cache keys (SPEC §3). Pure: no libevent, no hiredis.
 *
 * Layout, all under "<prefix>:v3:{<tenant>}:" so that every key one Lua
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
 * <tenant> is the hex SHA-256 of the token, truncated to 128 bits (seal.h
 * says why it stays a plain hash); <ph> is the name of the E.164 phone and
 * <ik> that of the Idempotency-Key: HMAC-SHA256 under the names key the
 * token derives (seal_name, domains PHONE and IDEM, 128 bits in hex).
 * Neither a token nor a phone number (nor a caller's key) reaches a key in
 * the clear, and without the token no name can be tested against a
 * dictionary of phone numbers (SPEC §3, §13).
 *
 * Schema v2: v1 named phones and keys by a plain SHA-256 of
 * "<tenant>:<input>", which a dictionary of the ~10^10 phone numbers
 * reverses. No v1 entry is ever read again; they expire by their TTLs.
 *
 * Schema v3: values are sealed (req_entry_value, SPEC §13). A v2 value
 * read by a v3 proxy would only fail to open (a miss, but counted and
 * logged as if tampered with); a v3 value read by a v2 proxy still in
 * service during a rolling deploy would parse (its header is plain) and
 * serve ciphertext as the body. Disjoint key names rule both out.
 *
 * The builders (key_entry, key_update, key_idem) only format: they take
 * names already made by key_phone and key_idem_name.
 */
#ifndef HSP_KEY_H
#define HSP_KEY_H

#include <stdbool.h>
#include <stddef.h>

#include "phone.h"
#include "route.h"
#include "seal.h"

#define KEY_TENANT_HEX 32               /* hex digits of the tenant id */
#define KEY_MAX        256
#define KEY_FIELD_MAX  (ROUTE_CRM_MAX + 16)
#define KEY_SCHEMA     "v3"
#define KEY_NAME_HEX   SEAL_NAME_HEX   /* hex digits of <ph> and <ik> */

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

/*
 * Writes <ph>, the name of the E.164 PHONE under K's names key, into OUT
 * (KEY_NAME_HEX + 1 bytes). C and K as seal_name. Returns 0, or -1 when
 * OpenSSL failed (OUT is then "").
 */
int key_phone(struct seal_ctx *c, const struct seal_keys *k, const char *phone,
              char *out);

/* The same for <ik>, the name of the Idempotency-Key IDEM. */
int key_idem_name(struct seal_ctx *c, const struct seal_keys *k,
                  const char *idem, char *out);

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
 * Builds the keys of route ID for TENANT and PHONE, the name key_phone
 * made of the normalised phone (unused for dispositions: may be NULL),
 * CRM (for ROUTE_QUERY_CRM) and Q. Returns 0, or -1
 * when the answer must not be cached (a crmSettingsId with characters
 * outside [A-Za-z0-9._~-], or a route that is never cached).
 */
int key_entry(const char *prefix, const char *tenant, enum route_id id,
              const char *phone, const char *crm, const struct key_query *q,
              struct key_entry *out);

/*
 * The keys a PATCH of the phone named PHONE (key_phone) touches: the lead
 * hash, the blocks hash of the phone, the phone's epoch and the tenant's
 * blocks generation.
 */
void key_update(const char *prefix, const char *tenant, const char *phone,
                struct key_entry *lead, char *blocks_hash, size_t cap);

/*
 * Writes the key of the record of the Idempotency-Key named IDEM
 * (key_idem_name of the checked key) of TENANT into OUT (KEY_MAX bytes).
 * The scope is (tenant, key): the same key under two tokens is two
 * records, since two tokens derive two names keys.
 */
void key_idem(const char *prefix, const char *tenant, const char *idem,
              char *out);

/*
 * Checks the phone of Q as the upstream would: 0 when it is one, with its
 * E.164 form in E164 (CAP bytes); otherwise the number of messages the
 * 400 answer lists, and *MSGS set to them (static strings), in the
 * upstream's words.
 */
size_t key_query_phone(const struct key_query *q, char *e164, size_t cap,
                       const char *const **msgs);

/* What one PURGE drops (SPEC §13). */
enum key_purge_scope {
    KEY_PURGE_PHONE,                /* every entry of one phone */
    KEY_PURGE_DISPOSITIONS,         /* the tenant's dispositions */
    KEY_PURGE_TENANT                /* the tenant's whole cache */
};

/* The keys of one PURGE. */
struct key_purge {
    int  nhashes;                   /* PHONE: 2, DISPOSITIONS: 1, TENANT: 0 */
    char hashes[2][KEY_MAX];        /* the hashes of entries dropped */
    char epoch[KEY_MAX];            /* the epoch raised, so that no fill
                                       begun before stores after; for
                                       TENANT the tenant's, which routes
                                       the scan to its slot */
    char base[KEY_MAX];             /* "<prefix>:v3:{<tenant>}:", as is */
    char match[2 * KEY_MAX];        /* TENANT: BASE for SCAN's MATCH, its
                                       glob characters escaped, then "*" */
};

/*
 * Builds the keys of a PURGE of SCOPE for TENANT (and, for PHONE, the
 * name key_phone made of the phone). Returns 0, or -1 when a name would
 * not fit (a redis_prefix far too long) or PHONE is missing for
 * KEY_PURGE_PHONE.
 */
int key_purge(const char *prefix, const char *tenant,
              enum key_purge_scope scope, const char *phone,
              struct key_purge *out);

#endif /* HSP_KEY_H */
