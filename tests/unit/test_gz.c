/* test_gz.c - bounded gzip inflate and gzip deflate. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "gz.h"

/* `printf 'hello, world\n' | gzip -c -n` */
static const unsigned char hello_gzip[] = {
    0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0xcb,
    0x48, 0xcd, 0xc9, 0xc9, 0xd7, 0x51, 0x28, 0xcf, 0x2f, 0xca, 0x49,
    0xe1, 0x02, 0x00, 0x53, 0x74, 0x24, 0xf4, 0x0d, 0x00, 0x00, 0x00,
};

/* python3: zlib.compress(b'hello, world\n') (Content-Encoding: deflate
 * as servers send it) */
static const unsigned char hello_zlib[] = {
    0x78, 0x9c, 0xcb, 0x48, 0xcd, 0xc9, 0xc9, 0xd7, 0x51, 0x28, 0xcf,
    0x2f, 0xca, 0x49, 0xe1, 0x02, 0x00, 0x21, 0xe7, 0x04, 0x93,
};

/* python3: gzip.compress(b'', mtime=0) */
static const unsigned char empty_gzip[] = {
    0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x03,
    0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
};

static const char hello[] = "hello, world\n";

static enum gz_result
inflate_into(const unsigned char *in, size_t len, size_t cap, char **text)
{
    unsigned char *out;
    size_t         outlen;
    enum gz_result r = gz_inflate(in, len, cap, &out, &outlen);

    *text = NULL;
    if (r == GZ_OK) {
        cr_assert_not_null(out);
        *text = calloc(1, outlen + 1);
        cr_assert_not_null(*text);
        memcpy(*text, out, outlen);
        free(out);
    } else {
        cr_expect_null(out, "nothing to free after %s", gz_result_name(r));
    }
    return r;
}

Test(gz, inflates_known_gzip_and_zlib)
{
    char *text;

    cr_assert_eq(inflate_into(hello_gzip, sizeof(hello_gzip), 1024, &text),
                 GZ_OK);
    cr_expect_str_eq(text, hello);
    free(text);
    cr_assert_eq(inflate_into(hello_zlib, sizeof(hello_zlib), 1024, &text),
                 GZ_OK);
    cr_expect_str_eq(text, hello);
    free(text);
}

Test(gz, two_members_are_one_body)
{
    unsigned char two[2 * sizeof(hello_gzip)];
    char         *text;

    memcpy(two, hello_gzip, sizeof(hello_gzip));
    memcpy(two + sizeof(hello_gzip), hello_gzip, sizeof(hello_gzip));
    cr_assert_eq(inflate_into(two, sizeof(two), 1024, &text), GZ_OK);
    cr_expect_str_eq(text, "hello, world\nhello, world\n");
    free(text);
}

Test(gz, empty_body)
{
    char          *text;
    unsigned char *out;
    size_t         outlen;

    /* The gzip of nothing inflates to nothing... */
    cr_assert_eq(inflate_into(empty_gzip, sizeof(empty_gzip), 1024, &text),
                 GZ_OK);
    cr_expect_str_eq(text, "");
    free(text);
    /* ... but no bytes at all are not a gzip stream. */
    cr_expect_eq(gz_inflate("", 0, 1024, &out, &outlen), GZ_BAD);
    cr_expect_null(out);
    /* And nothing deflates to a valid stream of nothing. */
    cr_assert_eq(gz_deflate("", 0, GZ_LEVEL_DEFAULT, &out, &outlen), GZ_OK);
    cr_assert_eq(inflate_into(out, outlen, 1024, &text), GZ_OK);
    cr_expect_str_eq(text, "");
    free(text);
    free(out);
}

Test(gz, truncated_input_is_bad)
{
    char  *text;
    size_t n;

    for (n = 1; n < sizeof(hello_gzip); n++) {
        cr_expect_eq(inflate_into(hello_gzip, n, 1024, &text), GZ_BAD,
                     "cut at %zu", n);
    }
}

Test(gz, corrupted_crc_is_bad)
{
    unsigned char bad[sizeof(hello_gzip)];
    char         *text;

    memcpy(bad, hello_gzip, sizeof(bad));
    bad[sizeof(bad) - 6] ^= 0x01;   /* in the CRC32 */
    cr_expect_eq(inflate_into(bad, sizeof(bad), 1024, &text), GZ_BAD);
    memcpy(bad, hello_gzip, sizeof(bad));
    bad[sizeof(bad) - 2] ^= 0x01;   /* in ISIZE */
    cr_expect_eq(inflate_into(bad, sizeof(bad), 1024, &text), GZ_BAD);
    memcpy(bad, hello_gzip, sizeof(bad));
    bad[12] ^= 0xff;                /* in the deflate data */
    cr_expect_eq(inflate_into(bad, sizeof(bad), 1024, &text), GZ_BAD);
}

Test(gz, trailing_garbage_is_bad)
{
    unsigned char more[sizeof(hello_gzip) + 3];
    char         *text;

    memcpy(more, hello_gzip, sizeof(hello_gzip));
    memcpy(more + sizeof(hello_gzip), "xyz", 3);
    cr_expect_eq(inflate_into(more, sizeof(more), 1024, &text), GZ_BAD);
    cr_expect_eq(inflate_into((const unsigned char *)"not gzip", 8, 1024,
                              &text),
                 GZ_BAD);
}

Test(gz, the_cap_holds)
{
    size_t         big = 4 * 1024 * 1024;
    unsigned char *zeros = calloc(1, big), *z, *out;
    size_t         zlen, outlen;

    cr_assert_not_null(zeros);
    cr_assert_eq(gz_deflate(zeros, big, GZ_LEVEL_DEFAULT, &z, &zlen), GZ_OK);
    cr_expect_lt(zlen, 8192, "a bomb: %zu bytes for 4 MiB", zlen);
    cr_expect_eq(gz_inflate(z, zlen, big - 1, &out, &outlen), GZ_TOO_LARGE);
    cr_expect_null(out);
    cr_expect_eq(gz_inflate(z, zlen, 1000, &out, &outlen), GZ_TOO_LARGE);
    cr_assert_eq(gz_inflate(z, zlen, big, &out, &outlen), GZ_OK, "at the cap");
    cr_expect_eq(outlen, big);
    cr_expect_eq(memcmp(out, zeros, big), 0);
    free(out);
    free(z);
    free(zeros);
    /* Exactly the size of a small body is at its cap, one less is not. */
    cr_expect_eq(gz_inflate(hello_gzip, sizeof(hello_gzip), strlen(hello),
                            &out, &outlen), GZ_OK);
    free(out);
    cr_expect_eq(gz_inflate(hello_gzip, sizeof(hello_gzip),
                            strlen(hello) - 1, &out, &outlen),
                 GZ_TOO_LARGE);
}

Test(gz, round_trip)
{
    static const size_t sizes[] = { 1, 100, 20000, 300000 };
    size_t              i, j;

    for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        unsigned char *in = malloc(sizes[i]), *z, *out;
        size_t         zlen, outlen;

        cr_assert_not_null(in);
        for (j = 0; j < sizes[i]; j++) {
            in[j] = (unsigned char)("{\"phone\":\"+18015551234\"}"[j % 24] ^
                                    (j / 977));
        }
        cr_assert_eq(gz_deflate(in, sizes[i], GZ_LEVEL_DEFAULT, &z, &zlen),
                     GZ_OK);
        cr_expect_eq(z[0], 0x1f);
        cr_expect_eq(z[1], 0x8b, "a gzip member");
        cr_assert_eq(gz_inflate(z, zlen, sizes[i], &out, &outlen), GZ_OK);
        cr_expect_eq(outlen, sizes[i]);
        cr_expect_eq(memcmp(out, in, sizes[i]), 0);
        free(out);
        free(z);
        free(in);
    }
}
