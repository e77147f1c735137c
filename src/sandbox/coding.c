/* coding.c - Accept-Encoding negotiation and the gzip/deflate/br encoders. */
#include "config.h"

#include "sandbox/coding.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <zlib.h>

#define CODING_BR_BLOCK 32768       /* bytes per stored meta-block */

/* What one Accept-Encoding value says about the codings we care for. */
struct coding_q {
    double q[4];                    /* by enum coding_kind */
    bool   seen[4];
    double star;                    /* the "*" entry's q */
    bool   seen_star;
    double min_q;                   /* smallest non-zero q listed, or 1 */
};

static const char *const coding_names[] = {
    "identity", "gzip", "deflate", "br",
};

const char *
coding_name(enum coding_kind c)
{
    return coding_names[c];
}

static bool
coding_is_ows(char c)
{
    return c == ' ' || c == '\t';
}

/*
 * Parses the qvalue of RFC 9110 ("0", "0.5", "1", "1.000") in the N bytes
 * at S. Returns -1 when malformed.
 */
static double
coding_parse_q(const char *s, size_t n)
{
    double v, scale = 0.1;
    size_t i;

    if (n == 0 || (s[0] != '0' && s[0] != '1')) {
        return -1.0;
    }
    v = s[0] - '0';
    if (n == 1) {
        return v;
    }
    if (s[1] != '.' || n > 5) {
        return -1.0;
    }
    for (i = 2; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return -1.0;
        }
        v += (s[i] - '0') * scale;
        scale /= 10;
    }
    return v > 1.0 ? -1.0 : v;
}

/*
 * Reads one list element, the N bytes at S ("gzip;q=0.5"), into OUT.
 * Unknown codings only count for min_q.
 */
static void
coding_element(const char *s, size_t n, struct coding_q *out)
{
    const char *semi = memchr(s, ';', n), *p, *end = s + n;
    size_t      tlen;
    double      q = 1.0;
    size_t      i;

    tlen = semi != NULL ? (size_t)(semi - s) : n;
    while (tlen > 0 && coding_is_ows(s[tlen - 1])) {
        tlen--;
    }
    if (tlen == 0) {
        return;
    }
    /* parameters: only q counts; a malformed one voids the element */
    for (p = semi; p != NULL && p < end;) {
        const char *next = memchr(p + 1, ';', (size_t)(end - p - 1));
        const char *v = p + 1, *vend = next != NULL ? next : end;

        while (v < vend && coding_is_ows(*v)) {
            v++;
        }
        while (vend > v && coding_is_ows(vend[-1])) {
            vend--;
        }
        if (vend - v >= 2 && (v[0] == 'q' || v[0] == 'Q') && v[1] == '=') {
            q = coding_parse_q(v + 2, (size_t)(vend - v - 2));
            if (q < 0.0) {
                return;
            }
        }
        p = next;
    }
    if (q > 0.0 && q < out->min_q) {
        out->min_q = q;
    }
    if (tlen == 1 && s[0] == '*') {
        out->star = q;
        out->seen_star = true;
        return;
    }
    for (i = 0; i < sizeof(coding_names) / sizeof(coding_names[0]); i++) {
        if (strlen(coding_names[i]) == tlen &&
            strncasecmp(coding_names[i], s, tlen) == 0) {
            out->q[i] = q;
            out->seen[i] = true;
            return;
        }
    }
}

static void
coding_parse(const char *ae, struct coding_q *out)
{
    const char *p = ae;

    memset(out, 0, sizeof(*out));
    out->min_q = 1.0;
    if (ae == NULL) {
        return;
    }
    for (;;) {
        size_t n = strcspn(p, ",");

        while (n > 0 && coding_is_ows(*p)) {
            p++;
            n--;
        }
        coding_element(p, n, out);
        if (p[n] == '\0') {
            break;
        }
        p += n + 1;
    }
}

/* The q that the parsed value AQ gives C. */
static double
coding_q_of(const struct coding_q *aq, enum coding_kind c)
{
    if (aq->seen[c]) {
        return aq->q[c];
    }
    if (c == CODING_IDENTITY) {
        return aq->min_q;
    }
    return aq->seen_star ? aq->star : 0.0;
}

bool
coding_accepts(const char *ae, enum coding_kind c)
{
    struct coding_q aq;

    coding_parse(ae, &aq);
    return coding_q_of(&aq, c) > 0.0;
}

enum coding_kind
coding_negotiate(const char *ae)
{
    struct coding_q aq;
    double          g, d, i;

    if (ae == NULL) {
        return CODING_IDENTITY;
    }
    coding_parse(ae, &aq);
    g = coding_q_of(&aq, CODING_GZIP);
    d = coding_q_of(&aq, CODING_DEFLATE);
    i = coding_q_of(&aq, CODING_IDENTITY);
    if (g > 0.0 && g >= d && g >= i) {
        return CODING_GZIP;
    }
    if (d > 0.0 && d >= i) {
        /* compression(): deflate only when gzip is out of the question */
        if (g > 0.0) {
            return g >= i ? CODING_GZIP : CODING_IDENTITY;
        }
        return CODING_DEFLATE;
    }
    return CODING_IDENTITY;
}

/* gzip (WINDOW_BITS 31) or zlib (15) with zlib's default level. */
static int
coding_zlib(int window_bits, const void *in, size_t len, unsigned char **out,
            size_t *outlen)
{
    z_stream zs;
    uLong    cap;
    int      rc;

    memset(&zs, 0, sizeof(zs));
    if (len > UINT32_MAX ||
        deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, window_bits, 8,
                     Z_DEFAULT_STRATEGY) != Z_OK) {
        return -1;
    }
    cap = deflateBound(&zs, (uLong)len);
    *out = malloc(cap);
    if (*out == NULL) {
        deflateEnd(&zs);
        return -1;
    }
    zs.next_in = (Bytef *)(uintptr_t)in;    /* zlib does not write it */
    zs.avail_in = (uInt)len;
    zs.next_out = *out;
    zs.avail_out = (uInt)cap;
    rc = deflate(&zs, Z_FINISH);
    *outlen = zs.total_out;
    deflateEnd(&zs);
    if (rc != Z_STREAM_END) {
        free(*out);
        *out = NULL;
        return -1;
    }
    return 0;
}

/* An LSB-first bit writer, for the brotli stream. */
struct coding_bits {
    unsigned char *p;
    size_t         len;
    unsigned       acc;
    unsigned       n;               /* bits in ACC */
};

static void
coding_put(struct coding_bits *b, unsigned v, unsigned nbits)
{
    unsigned i;

    for (i = 0; i < nbits; i++) {
        b->acc |= ((v >> i) & 1u) << b->n;
        if (++b->n == 8) {
            b->p[b->len++] = (unsigned char)b->acc;
            b->acc = 0;
            b->n = 0;
        }
    }
}

static void
coding_pad(struct coding_bits *b)
{
    if (b->n > 0) {
        b->p[b->len++] = (unsigned char)b->acc;
        b->acc = 0;
        b->n = 0;
    }
}

/*
 * A valid brotli stream (RFC 7932) without compression: WBITS 16, the
 * body in uncompressed meta-blocks (ISLAST 0, MNIBBLES 4, MLEN-1,
 * ISUNCOMPRESSED 1, padding to a byte), then an empty last meta-block.
 * Enough to send "Content-Encoding: br" honestly without libbrotli.
 */
static int
coding_br(const unsigned char *in, size_t len, unsigned char **out,
          size_t *outlen)
{
    struct coding_bits b = { NULL, 0, 0, 0 };
    size_t             blocks = (len + CODING_BR_BLOCK - 1) / CODING_BR_BLOCK;

    b.p = malloc(len + 3 * blocks + 2);
    if (b.p == NULL) {
        return -1;
    }
    coding_put(&b, 0, 1);           /* WBITS = 16 */
    while (len > 0) {
        size_t n = len < CODING_BR_BLOCK ? len : CODING_BR_BLOCK;

        coding_put(&b, 0, 1);       /* ISLAST */
        coding_put(&b, 0, 2);       /* MNIBBLES = 4 */
        coding_put(&b, (unsigned)(n - 1), 16);
        coding_put(&b, 1, 1);       /* ISUNCOMPRESSED */
        coding_pad(&b);
        memcpy(b.p + b.len, in, n);
        b.len += n;
        in += n;
        len -= n;
    }
    coding_put(&b, 1, 1);           /* ISLAST */
    coding_put(&b, 1, 1);           /* ISLASTEMPTY */
    coding_pad(&b);
    *out = b.p;
    *outlen = b.len;
    return 0;
}

int
coding_encode(enum coding_kind c, const void *in, size_t len,
              unsigned char **out, size_t *outlen)
{
    *out = NULL;
    *outlen = 0;
    switch (c) {
    case CODING_GZIP:
        return coding_zlib(MAX_WBITS + 16, in, len, out, outlen);
    case CODING_DEFLATE:
        return coding_zlib(MAX_WBITS, in, len, out, outlen);
    case CODING_BR:
        return coding_br(in, len, out, outlen);
    case CODING_IDENTITY:
        break;
    }
    *out = malloc(len > 0 ? len : 1);
    if (*out == NULL) {
        return -1;
    }
    if (len > 0) {
        memcpy(*out, in, len);
    }
    *outlen = len;
    return 0;
}
