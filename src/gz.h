/*
 * gz.h - gzip bodies in memory (zlib), for the upstream's coded answers
 * (SPEC §11 "Content coding") and, later, for coding answers to clients.
 * Pure: no libevent, no I/O.
 *
 * Inflating is bounded: a few kilobytes of gzip can inflate to
 * gigabytes, so the caller names the most output it accepts and a body
 * past it is refused before more is allocated.
 */
#ifndef HSP_GZ_H
#define HSP_GZ_H

#include <stddef.h>

enum gz_result {
    GZ_OK = 0,
    GZ_BAD,                         /* not gzip/zlib, corrupt, truncated,
                                       bad CRC, or trailing garbage */
    GZ_TOO_LARGE,                   /* the output would pass the cap */
    GZ_NOMEM                        /* out of memory */
};

/*
 * Inflates the LEN bytes at IN, a gzip stream (RFC 1952; several
 * members one after the other, as `gzip -c a b` makes, are one body) or
 * a zlib-wrapped deflate stream (RFC 1950, what Content-Encoding:
 * deflate is in practice). The whole input must be the stream: an empty
 * input, a truncated one or bytes after its end are GZ_BAD.
 *
 * On GZ_OK, *OUT is a malloc'ed buffer of *OUTLEN bytes that the caller
 * frees (never NULL, even when *OUTLEN is 0). On any other result *OUT is
 * NULL and nothing needs freeing. More than CAP bytes of output is
 * GZ_TOO_LARGE.
 */
enum gz_result gz_inflate(const void *in, size_t len, size_t cap,
                          unsigned char **out, size_t *outlen);

/*
 * Compresses the LEN bytes at IN into one gzip member at level LEVEL
 * (1..9; GZ_LEVEL_DEFAULT is the house choice). On GZ_OK, *OUT is a
 * malloc'ed buffer of *OUTLEN bytes that the caller frees; otherwise
 * *OUT is NULL.
 */
enum gz_result gz_deflate(const void *in, size_t len, int level,
                          unsigned char **out, size_t *outlen);

/*
 * Level 5: for JSON answers of a few kilobytes it is within a few percent
 * of level 9's size at well under half its CPU, and a proxy pays for
 * compression on every answer it codes.
 */
#define GZ_LEVEL_DEFAULT 5

/* A short name of RESULT, for logs. */
const char *gz_result_name(enum gz_result result);

#endif /* HSP_GZ_H */
