/*
 * seal.h - keys derived from a tenant's token, names that cannot be
 * reversed, and values sealed with AES-256-GCM (SPEC §13, issue 15).
 * Pure: OpenSSL 3 only; no libevent, no hiredis, no Redis.
 *
 * Derivation (HKDF-SHA256, RFC 5869; OpenSSL's EVP_KDF "HKDF"):
 *
 *   IKM  = the token, as sent
 *   salt = "heavyset-proxy seal v1"        (names the scheme and version)
 *   names key = HKDF(IKM, salt, info "heavyset-proxy names", 32 bytes)
 *   seal key  = HKDF(IKM, salt, info "heavyset-proxy values", 32 bytes)
 *
 * One info label per purpose, so that no key is ever used for two
 * algorithms. The tenant id stays what key_tenant() makes today (SHA-256
 * of the token, 128 bits): issue 15 asks for "an id for the tenant (as
 * today)". It is a label, not a secret: the token's own entropy is what
 * keeps it from being reversed, and an HKDF label would rest on that very
 * entropy too (HKDF is as fast to try as SHA-256), so a third label would
 * change every key name and the ids in the logs for no gain.
 *
 * Names: seal_name() is HMAC-SHA256 under the names key of a domain label,
 * a NUL and the input (domains cannot hold a NUL, so the encoding is
 * injective, and a phone and an Idempotency-Key with the same bytes give
 * two unrelated names). Without the token a dictionary of the 10^10 phone
 * numbers reverses nothing.
 *
 * Values: a sealed blob is
 *
 *   version (1 byte, SEAL_VERSION) | nonce (12) | ciphertext (n) | tag (16)
 *
 * AES-256-GCM under the seal key, a fresh random nonce per seal, and as
 * associated data the version byte then the caller's AAD, which must name
 * where the value lives (the Redis key name, and the hash field for a
 * hash entry): a blob copied under another name does not open.
 *
 * Threads: a struct seal_keys is immutable once made, so one copy per
 * tenant may be shared by every worker. A struct seal_ctx holds the
 * algorithms fetched once and the OpenSSL contexts reused from call to
 * call; it is mutable and belongs to one thread (one per worker loop).
 */
#ifndef HSP_SEAL_H
#define HSP_SEAL_H

#include <stddef.h>

#define SEAL_VERSION    1
#define SEAL_KEY_LEN    32              /* bytes of each derived key */
#define SEAL_NONCE_LEN  12              /* 96 bits: GCM's native IV */
#define SEAL_TAG_LEN    16              /* full 128-bit GCM tag */
#define SEAL_OVERHEAD   (1 + SEAL_NONCE_LEN + SEAL_TAG_LEN)     /* 29 */
#define SEAL_MAX_PLAIN  (1u << 30)      /* OpenSSL counts lengths in int */
#define SEAL_NAME_HEX   32              /* hex digits of a name */

struct seal_ctx;                        /* opaque, one per thread */
struct seal_keys;                       /* opaque, one per tenant */

/* What a call did. Every failure leaves no plaintext in the output. */
enum seal_status {
    SEAL_OK = 0,
    SEAL_ESHORT,                        /* blob shorter than SEAL_OVERHEAD */
    SEAL_EVERSION,                      /* blob of another version */
    SEAL_EAUTH,                         /* tag mismatch: tampered, another
                                           AAD, another tenant's keys */
    SEAL_ESPACE,                        /* output buffer too small */
    SEAL_EINVAL,                        /* input over SEAL_MAX_PLAIN */
    SEAL_EINTERNAL                      /* OpenSSL failed (no RNG, ...) */
};

/* The inputs seal_name() turns into names; each is its own domain. */
enum seal_domain {
    SEAL_DOMAIN_PHONE,                  /* an E.164 phone number */
    SEAL_DOMAIN_IDEM,                   /* an Idempotency-Key */
    SEAL_DOMAIN_FP,                     /* a request's fingerprint (the hex
                                           SHA-256 of its canonical body) */
    SEAL_DOMAIN_COUNT
};

/* A constant name for ST ("ok", "short", "version", "auth", ...). */
const char *seal_status_name(enum seal_status st);

/*
 * Fetches HKDF, HMAC and AES-256-GCM and makes the contexts one thread
 * reuses. Returns NULL if OpenSSL cannot (no such algorithm, no memory).
 * The caller owns the result and frees it with seal_ctx_free.
 */
struct seal_ctx *seal_ctx_new(void);

/* Frees C (may be NULL). */
void seal_ctx_free(struct seal_ctx *c);

/*
 * Derives the keys of the tenant whose token is TOKEN (LEN > 0 bytes).
 * Returns NULL if LEN is 0 or OpenSSL fails. The caller owns the result,
 * keeps it in memory only (never writes it anywhere) and frees it with
 * seal_keys_free, which wipes it. No copy of the token is kept, in the
 * keys or in C.
 */
struct seal_keys *seal_keys_new(struct seal_ctx *c, const void *token,
                                size_t len);

/* Wipes (OPENSSL_cleanse) and frees K (may be NULL). */
void seal_keys_free(struct seal_keys *k);

/*
 * Writes the name of IN (LEN bytes) in domain DOM under K's names key into
 * OUT (SEAL_NAME_HEX + 1 bytes): lowercase hex of the first 128 bits of
 * the HMAC. 128 bits, as the tenant ids: it keeps key names as long as
 * today's, a collision inside one tenant needs ~2^64 names (there are
 * ~2^33 phone numbers), half the output is what RFC 2104 (5) allows, and
 * a reader without the key cannot test a guess at all, however short the
 * name. Returns SEAL_OK or SEAL_EINTERNAL.
 */
enum seal_status seal_name(struct seal_ctx *c, const struct seal_keys *k,
                           enum seal_domain dom, const void *in, size_t len,
                           char *out);

/*
 * Seals IN (LEN bytes, up to SEAL_MAX_PLAIN; 0 is fine) under K with AAD
 * (AAD_LEN bytes; NULL if 0) into OUT, which holds CAP bytes; LEN +
 * SEAL_OVERHEAD are needed, and written into *OUT_LEN. OUT must not
 * overlap IN. Returns SEAL_OK, SEAL_ESPACE, SEAL_EINVAL or SEAL_EINTERNAL
 * (the RNG failed: then nothing is sealed, never with a reused nonce).
 *
 * Random nonces: with 96 random bits, q seals under one key collide with
 * probability about q^2 / 2^97, which stays under 2^-32 up to q = 2^32
 * (NIST SP 800-38D, 8.3). Every seal of a tenant stores an answer the
 * upstream gave that tenant (lead, blocks, dispositions, an Idempotency-Key
 * answer, a coalescing hand-over), so the upstream's per-token rate limit
 * bounds the seals per key: 2^32 of them take 136 years at one a second,
 * 50 days at a thousand a second. A token rotated starts new keys.
 */
enum seal_status seal_seal(struct seal_ctx *c, const struct seal_keys *k,
                           const void *aad, size_t aad_len, const void *in,
                           size_t len, unsigned char *out, size_t cap,
                           size_t *out_len);

/*
 * Opens the blob IN (LEN bytes) sealed under K with AAD (as seal_seal)
 * into OUT (CAP bytes; LEN - SEAL_OVERHEAD are needed), the plaintext's
 * length into *OUT_LEN. OUT must not overlap IN. Any failure (a blob too
 * short, of another version, another AAD, another tenant's keys, a
 * changed byte) returns an error and wipes OUT: nothing of an
 * unauthenticated plaintext is ever handed back.
 */
enum seal_status seal_open(struct seal_ctx *c, const struct seal_keys *k,
                           const void *aad, size_t aad_len,
                           const unsigned char *in, size_t len, void *out,
                           size_t cap, size_t *out_len);

#endif /* HSP_SEAL_H */
