/* test_sandbox_coding.c - Accept-Encoding negotiation and the encoders. */
#include <criterion/criterion.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "sandbox/coding.h"

struct negotiate_case {
    const char      *ae;            /* NULL: no header */
    enum coding_kind want;
};

static const struct negotiate_case negotiate_cases[] = {
    { NULL,                            CODING_IDENTITY },
    { "",                              CODING_IDENTITY },
    { "gzip",                          CODING_GZIP },
    { "GZip",                          CODING_GZIP },
    { "gzip, deflate",                 CODING_GZIP },
    { "gzip, deflate, br",             CODING_GZIP },
    { "deflate, gzip",                 CODING_GZIP },   /* not deflate */
    { "deflate",                       CODING_DEFLATE },
    { " deflate ;q=0.5",               CODING_DEFLATE },
    { "gzip;q=0, deflate",             CODING_DEFLATE },
    { "gzip;q=0",                      CODING_IDENTITY },
    { "gzip; q=0.000",                 CODING_IDENTITY },
    { "gzip;q=0.001",                  CODING_GZIP },
    { "*",                             CODING_GZIP },
    { "*;q=0",                         CODING_IDENTITY },
    { "*, gzip;q=0",                   CODING_DEFLATE },
    { "br",                            CODING_IDENTITY },
    { "identity",                      CODING_IDENTITY },
    { "compress, gzip;q=0.8",          CODING_GZIP },
    /* identity, listed, outranks a lower q */
    { "gzip;q=0.5, identity",          CODING_IDENTITY },
    { "deflate;q=0.5, identity;q=1",   CODING_IDENTITY },
    /* unlisted identity gets the smallest q listed: a tie, gzip wins */
    { "gzip;q=0.5",                    CODING_GZIP },
    /* deflate ranks first, but gzip is acceptable: gzip vs identity */
    { "gzip;q=0.1, deflate",           CODING_GZIP },
    { "gzip;q=0.1, deflate, identity", CODING_IDENTITY },
    /* malformed q: the element is ignored */
    { "gzip;q=2",                      CODING_IDENTITY },
    { "gzip;q=abc, deflate",           CODING_DEFLATE },
    { "gzip;q=0.12345",                CODING_IDENTITY },
    { ",,gzip,,",                      CODING_GZIP },
    { "gzip;level=9",                  CODING_GZIP },
    { "x-gzip",                        CODING_IDENTITY },
};

Test(sandbox_coding, negotiate_table)
{
    size_t i;

    for (i = 0; i < sizeof(negotiate_cases) / sizeof(negotiate_cases[0]);
         i++) {
        const struct negotiate_case *c = &negotiate_cases[i];

        cr_expect_eq(coding_negotiate(c->ae), c->want,
                     "\"%s\": got %s, want %s",
                     c->ae == NULL ? "(none)" : c->ae,
                     coding_name(coding_negotiate(c->ae)),
                     coding_name(c->want));
    }
}

Test(sandbox_coding, accepts)
{
    cr_expect(coding_accepts("gzip, deflate, br", CODING_BR));
    cr_expect_not(coding_accepts("gzip, deflate", CODING_BR));
    cr_expect_not(coding_accepts(NULL, CODING_GZIP));
    cr_expect(coding_accepts(NULL, CODING_IDENTITY));
    cr_expect(coding_accepts("*", CODING_BR));
    cr_expect_not(coding_accepts("*, br;q=0", CODING_BR));
    cr_expect_not(coding_accepts("identity;q=0", CODING_IDENTITY));
}

/* Inflates IN with WINDOW_BITS into OUT (CAP bytes); returns the length. */
static size_t
inflate_all(int window_bits, const unsigned char *in, size_t len,
            unsigned char *out, size_t cap)
{
    z_stream zs;
    int      rc;

    memset(&zs, 0, sizeof(zs));
    cr_assert_eq(inflateInit2(&zs, window_bits), Z_OK);
    zs.next_in = (Bytef *)(uintptr_t)in;
    zs.avail_in = (uInt)len;
    zs.next_out = out;
    zs.avail_out = (uInt)cap;
    rc = inflate(&zs, Z_FINISH);
    cr_assert_eq(rc, Z_STREAM_END, "inflate: %d", rc);
    cr_assert_eq(zs.avail_in, 0, "bytes after the stream");
    inflateEnd(&zs);
    return zs.total_out;
}

/* A JSON-like body of N bytes. */
static char *
make_body(size_t n)
{
    static const char pattern[] =
        "{\"phone\":\"+18015551234\",\"firstName\":\"Zo\xc3\xab\"},";
    char  *s = malloc(n + 1);
    size_t i;

    cr_assert_not_null(s);
    for (i = 0; i < n; i++) {
        s[i] = pattern[i % (sizeof(pattern) - 1)];
    }
    s[n] = '\0';
    return s;
}

Test(sandbox_coding, gzip_and_deflate_round_trip)
{
    static const size_t sizes[] = { 0, 1, 1023, 1024, 5000, 200000 };
    size_t              i, n, outlen;
    unsigned char      *out, *back;

    for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        char *body = make_body(sizes[i]);

        back = malloc(sizes[i] + 16);
        cr_assert_not_null(back);

        cr_assert_eq(coding_encode(CODING_GZIP, body, sizes[i], &out,
                                   &outlen), 0);
        cr_expect(outlen >= 18 && out[0] == 0x1f && out[1] == 0x8b,
                  "gzip magic, size %zu", sizes[i]);
        /* 16 + MAX_WBITS: gzip only, as a strict client decodes it */
        n = inflate_all(16 + MAX_WBITS, out, outlen, back, sizes[i] + 16);
        cr_expect_eq(n, sizes[i]);
        cr_expect(memcmp(back, body, n) == 0, "gzip size %zu", sizes[i]);
        if (sizes[i] >= 1024) {
            cr_expect_lt(outlen, sizes[i] / 2, "gzip compresses");
        }
        free(out);

        cr_assert_eq(coding_encode(CODING_DEFLATE, body, sizes[i], &out,
                                   &outlen), 0);
        /* zlib-wrapped (RFC 1950), as Node's deflate: CMF 0x78, and the
         * header's check bits */
        cr_expect(out[0] == 0x78 && ((out[0] << 8) | out[1]) % 31 == 0,
                  "zlib header, size %zu", sizes[i]);
        n = inflate_all(MAX_WBITS, out, outlen, back, sizes[i] + 16);
        cr_expect_eq(n, sizes[i]);
        cr_expect(memcmp(back, body, n) == 0, "deflate size %zu", sizes[i]);
        free(out);

        cr_assert_eq(coding_encode(CODING_IDENTITY, body, sizes[i], &out,
                                   &outlen), 0);
        cr_expect_eq(outlen, sizes[i]);
        cr_expect(memcmp(out, body, outlen) == 0);
        free(out);
        free(back);
        free(body);
    }
}

/*
 * Brotli with stored meta-blocks: the exact bytes. "ab" gives
 * WBITS=0 | ISLAST=0 | MNIBBLES=00 | MLEN-1=1 (16 bits) | ISUNCOMPRESSED=1,
 * padded: bits 0..20 -> 0x10 0x00 0x10; "ab"; then ISLAST=1, ISLASTEMPTY=1
 * -> 0x03. The empty body is WBITS=0, ISLAST=1, ISLASTEMPTY=1: 0x06.
 */
Test(sandbox_coding, brotli_stored_bytes)
{
    static const unsigned char want_ab[] = { 0x10, 0x00, 0x10, 'a', 'b',
                                             0x03 };
    unsigned char *out;
    size_t         outlen;
    char          *big;

    cr_assert_eq(coding_encode(CODING_BR, "ab", 2, &out, &outlen), 0);
    cr_expect_eq(outlen, sizeof(want_ab));
    cr_expect(memcmp(out, want_ab, sizeof(want_ab)) == 0);
    free(out);

    cr_assert_eq(coding_encode(CODING_BR, "", 0, &out, &outlen), 0);
    cr_expect_eq(outlen, 1);
    cr_expect_eq(out[0], 0x06);
    free(out);

    /* 70000 bytes: blocks of 32768, 32768, 4464; each starts at a byte */
    big = make_body(70000);
    cr_assert_eq(coding_encode(CODING_BR, big, 70000, &out, &outlen), 0);
    cr_expect_eq(outlen, 70000 + 3 * 3 + 1);
    cr_expect(memcmp(out + 3, big, 32768) == 0);
    /* the second header: ISLAST 0, MNIBBLES 00, MLEN-1 = 32767 from bit
     * 3, ISUNCOMPRESSED at bit 19 */
    cr_expect_eq(out[3 + 32768], (unsigned char)((32767 << 3) & 0xff));
    cr_expect(memcmp(out + 3 + 32768 + 3, big + 32768, 32768) == 0);
    cr_expect(memcmp(out + 3 + 2 * (32768 + 3), big + 65536, 4464) == 0);
    cr_expect_eq(out[outlen - 1], 0x03);
    free(out);
    free(big);
}

Test(sandbox_coding, names)
{
    cr_expect_str_eq(coding_name(CODING_IDENTITY), "identity");
    cr_expect_str_eq(coding_name(CODING_GZIP), "gzip");
    cr_expect_str_eq(coding_name(CODING_DEFLATE), "deflate");
    cr_expect_str_eq(coding_name(CODING_BR), "br");
}
