/*
 * coding.h - content codings of the sandbox's answers, as a Node/Express
 * application behind compression() does them: which coding a request's
 * Accept-Encoding gets, and the encoders (gzip and zlib-wrapped deflate
 * with zlib, brotli as stored meta-blocks). Pure: no libevent.
 *
 * Negotiation (coding_negotiate) follows compression() with its default
 * options: each coding's q is its own entry's, else the "*" entry's
 * (identity: else the smallest non-zero q listed, 1 when none, as the
 * negotiator package does); the highest q among gzip, deflate and
 * identity wins, ties going to gzip, then deflate; a q of 0 refuses. And
 * like compression(), deflate is only chosen when gzip is not acceptable
 * at all ("we really don't prefer deflate"). No header, or an empty one:
 * identity. Entries with a malformed q are ignored; names are
 * case-insensitive.
 */
#ifndef HSP_CODING_H
#define HSP_CODING_H

#include <stdbool.h>
#include <stddef.h>

/* compression()'s default threshold: smaller bodies go uncompressed. */
#define CODING_MIN_SIZE 1024

enum coding_kind {
    CODING_IDENTITY,
    CODING_GZIP,                    /* RFC 1952 */
    CODING_DEFLATE,                 /* RFC 1950 zlib stream, as Node sends */
    CODING_BR                       /* RFC 7932, uncompressed meta-blocks */
};

/*
 * The coding an answer gets for the Accept-Encoding value AE (NULL when
 * absent): CODING_GZIP, CODING_DEFLATE or CODING_IDENTITY, as above.
 */
enum coding_kind coding_negotiate(const char *ae);

/* Whether AE (NULL when absent) accepts C with a q above 0. */
bool coding_accepts(const char *ae, enum coding_kind c);

/* The Content-Encoding token of C ("identity", "gzip", "deflate", "br"). */
const char *coding_name(enum coding_kind c);

/*
 * Encodes the LEN bytes at IN with C into a new buffer *OUT (the caller
 * frees it) of *OUTLEN bytes; CODING_IDENTITY copies. gzip and deflate use
 * zlib's default level, as Node does. Returns 0, or -1 when out of memory
 * or zlib fails (*OUT is then NULL).
 */
int coding_encode(enum coding_kind c, const void *in, size_t len,
                  unsigned char **out, size_t *outlen);

#endif /* HSP_CODING_H */
