/* gz.c - bounded gzip inflate and gzip deflate over zlib (see gz.h). */
#include "config.h"

#include "gz.h"

#include <assert.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define ZLIB_CONST                  /* next_in is const */
#include <zlib.h>

#define GZ_CHUNK 16384              /* first output allocation */

static const char *const gz_names[] = {
    [GZ_OK] = "ok",
    [GZ_BAD] = "bad",
    [GZ_TOO_LARGE] = "too_large",
    [GZ_NOMEM] = "nomem",
};

const char *
gz_result_name(enum gz_result result)
{
    assert((size_t)result < sizeof(gz_names) / sizeof(gz_names[0]));
    return gz_names[result];
}

/* Grows *BUF (of *SIZE bytes) to at least WANT bytes, doubling, but never
 * past LIMIT + 1 (one byte more than allowed is how a cap is detected).
 * Returns 0, or -1 when out of memory. */
static int
grow(unsigned char **buf, size_t *size, size_t want, size_t limit)
{
    size_t         n = *size == 0 ? GZ_CHUNK : *size;
    unsigned char *p;

    while (n < want) {
        n = n > SIZE_MAX / 2 ? SIZE_MAX : n * 2;
    }
    if (limit < SIZE_MAX && n > limit + 1) {
        n = limit + 1;
    }
    if (n <= *size) {
        return 0;
    }
    p = realloc(*buf, n);
    if (p == NULL) {
        return -1;
    }
    *buf = p;
    *size = n;
    return 0;
}

enum gz_result
gz_inflate(const void *in, size_t len, size_t cap, unsigned char **out,
           size_t *outlen)
{
    z_stream       zs;
    unsigned char *buf = NULL;
    size_t         size = 0, used = 0;
    enum gz_result res = GZ_BAD;
    int            rc;

    *out = NULL;
    *outlen = 0;
    if (len == 0 || len > UINT_MAX) {
        return GZ_BAD;
    }
    memset(&zs, 0, sizeof(zs));
    /* 32 + MAX_WBITS: detect gzip or zlib from the header. */
    if (inflateInit2(&zs, 32 + MAX_WBITS) != Z_OK) {
        return GZ_NOMEM;
    }
    zs.next_in = in;
    zs.avail_in = (uInt)len;
    for (;;) {
        if (used == size) {
            if (size > cap) {
                res = GZ_TOO_LARGE;
                goto done;
            }
            if (grow(&buf, &size, size + 1, cap) != 0) {
                res = GZ_NOMEM;
                goto done;
            }
        }
        zs.next_out = buf + used;
        zs.avail_out = (uInt)(size - used > UINT_MAX ? UINT_MAX : size - used);
        rc = inflate(&zs, Z_NO_FLUSH);
        used = (size_t)(zs.next_out - buf);
        if (used > cap) {
            res = GZ_TOO_LARGE;
            goto done;
        }
        if (rc == Z_STREAM_END) {
            const unsigned char *rest = zs.next_in;

            if (zs.avail_in == 0) {
                break;
            }
            /* Another gzip member follows: RFC 1952 makes them one
             * body. Anything else after the end is garbage. */
            if (zs.avail_in >= 2 && rest[0] == 0x1f && rest[1] == 0x8b &&
                inflateReset(&zs) == Z_OK) {
                continue;
            }
            goto done;
        }
        if (rc == Z_BUF_ERROR && zs.avail_in == 0) {
            goto done;              /* input ended inside the stream */
        }
        if (rc != Z_OK && rc != Z_BUF_ERROR) {
            res = rc == Z_MEM_ERROR ? GZ_NOMEM : GZ_BAD;
            goto done;
        }
        if (zs.avail_in == 0 && zs.avail_out != 0) {
            goto done;              /* all fed, no end: truncated */
        }
    }
    inflateEnd(&zs);
    if (buf == NULL) {
        buf = malloc(1);
        if (buf == NULL) {
            return GZ_NOMEM;
        }
    }
    *out = buf;
    *outlen = used;
    return GZ_OK;

done:
    inflateEnd(&zs);
    free(buf);
    return res;
}

#define GZ_DEFLATE_WBITS    13
#define GZ_DEFLATE_MEMLEVEL 5

enum gz_result
gz_deflate(const void *in, size_t len, int level, unsigned char **out,
           size_t *outlen)
{
    z_stream       zs;
    unsigned char *buf;
    uLong          bound;
    int            rc;

    assert(level >= 1 && level <= 9);
    *out = NULL;
    *outlen = 0;
    if (len > UINT_MAX) {
        return GZ_TOO_LARGE;
    }
    memset(&zs, 0, sizeof(zs));
    /* 16 +: a gzip wrapper. An 8 KB window (13) and memLevel 5, not
     * zlib's 32 KB and 8: the answers a proxy codes are a few KB, which
     * such a window sees whole (a 1 KB lead codes to the same 473
     * bytes), and zlib's default state, a quarter of a megabyte set up
     * on every call, cost five times the compression itself (62 us
     * against 11 us for that lead, measured here). */
    if (deflateInit2(&zs, level, Z_DEFLATED, 16 + GZ_DEFLATE_WBITS,
                     GZ_DEFLATE_MEMLEVEL, Z_DEFAULT_STRATEGY) != Z_OK) {
        return GZ_NOMEM;
    }
    bound = deflateBound(&zs, (uLong)len);
    buf = malloc(bound);
    if (buf == NULL) {
        deflateEnd(&zs);
        return GZ_NOMEM;
    }
    zs.next_in = in;
    zs.avail_in = (uInt)len;
    zs.next_out = buf;
    zs.avail_out = (uInt)bound;
    /* deflateBound is enough for one Z_FINISH call. */
    rc = deflate(&zs, Z_FINISH);
    deflateEnd(&zs);
    if (rc != Z_STREAM_END) {
        free(buf);
        return GZ_NOMEM;
    }
    *out = buf;
    *outlen = (size_t)zs.total_out;
    return GZ_OK;
}
