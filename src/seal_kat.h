/*
 * seal_kat.h - TEST-ONLY entry points of seal.c, for known-answer tests
 * (tests/unit/test_seal.c) and the benchmark (tests/bench/seal.c). The
 * proxy never includes this header: a fixed nonce is only safe in a test.
 *
 * Each runs the very code path seal.h's functions use, on raw keys.
 * Return SEAL_OK, SEAL_EAUTH (a decryption whose tag does not match; OUT
 * is wiped), SEAL_EINVAL (a length over SEAL_MAX_PLAIN) or SEAL_EINTERNAL.
 */
#ifndef HSP_SEAL_KAT_H
#define HSP_SEAL_KAT_H

#include <stddef.h>

#include "seal.h"

/* HKDF-SHA256 (RFC 5869): OUT_LEN bytes of IKM, SALT and INFO (each may
 * be empty; an empty salt means HashLen zeros, as the RFC says). */
enum seal_status seal_kat_hkdf(struct seal_ctx *c, const void *ikm,
                               size_t ikm_len, const void *salt,
                               size_t salt_len, const void *info,
                               size_t info_len, unsigned char *out,
                               size_t out_len);

/* HMAC-SHA256 (RFC 2104) of MSG under KEY (any length) into OUT (32). */
enum seal_status seal_kat_hmac(struct seal_ctx *c, const void *key,
                               size_t key_len, const void *msg, size_t len,
                               unsigned char *out);

/*
 * AES-256-GCM with KEY (32 bytes) and the fixed NONCE (12): encrypts
 * (ENC 1) IN into OUT and writes TAG (16), or decrypts (ENC 0) and checks
 * TAG. AAD as given, nothing prepended.
 */
enum seal_status seal_kat_gcm(struct seal_ctx *c, int enc,
                              const unsigned char *key,
                              const unsigned char *nonce, const void *aad,
                              size_t aad_len, const void *in, size_t len,
                              unsigned char *out, unsigned char *tag);

/* seal_seal with the fixed NONCE (12 bytes) instead of a random one. */
enum seal_status seal_kat_seal(struct seal_ctx *c, const struct seal_keys *k,
                               const unsigned char *nonce, const void *aad,
                               size_t aad_len, const void *in, size_t len,
                               unsigned char *out, size_t cap,
                               size_t *out_len);

/* Copies K's names key and seal key (SEAL_KEY_LEN each), to check the
 * derivation against seal_kat_hkdf with the labels of seal.h. */
void seal_kat_keys(const struct seal_keys *k, unsigned char *names,
                   unsigned char *values);

#endif /* HSP_SEAL_KAT_H */
