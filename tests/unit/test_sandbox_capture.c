/* test_sandbox_capture.c - the UTF-8 scrubber behind /__sandbox/last. */
#include <criterion/criterion.h>

#include <stdlib.h>
#include <string.h>

#include "sandbox/capture.h"

#define R "\xef\xbf\xbd"            /* U+FFFD */

struct utf8_case {
    const char *in;
    size_t      len;
    const char *want;
};

#define CASE(in, want) { in, sizeof(in) - 1, want }

static const struct utf8_case utf8_cases[] = {
    CASE("", ""),
    CASE("{\"phone\":\"8015551234\"}", "{\"phone\":\"8015551234\"}"),
    CASE("caf\xc3\xa9", "caf\xc3\xa9"),                 /* 2 bytes */
    CASE("\xe2\x82\xac", "\xe2\x82\xac"),               /* euro, 3 */
    CASE("\xf0\x9f\x98\x80", "\xf0\x9f\x98\x80"),       /* emoji, 4 */
    CASE("\xf4\x8f\xbf\xbf", "\xf4\x8f\xbf\xbf"),       /* U+10FFFF */
    CASE("a\0b", "a\0b"),                               /* NUL kept */
    CASE("\xff", R),
    CASE("\x80", R),                                    /* stray tail */
    CASE("\xc0\xaf", R R),                              /* overlong */
    CASE("\xe0\x80\xaf", R R R),                        /* overlong */
    CASE("\xed\xa0\x80", R R R),                        /* surrogate */
    CASE("\xf4\x90\x80\x80", R R R R),                  /* > U+10FFFF */
    CASE("\xf5\x80\x80\x80", R R R R),
    CASE("\xe2\x82", R R),                              /* truncated */
    CASE("x\xc3", "x" R),
    CASE("\xc3(", R "("),                               /* bad tail */
};

Test(sandbox_capture, utf8_copy_table)
{
    size_t i, len;
    char  *out;

    for (i = 0; i < sizeof(utf8_cases) / sizeof(utf8_cases[0]); i++) {
        const struct utf8_case *c = &utf8_cases[i];
        size_t                  want_len = strlen(c->want);

        if (c->len > 0 && memchr(c->in, '\0', c->len) != NULL) {
            want_len = c->len;      /* the NUL case: same bytes */
        }
        out = capture_utf8_copy((const unsigned char *)c->in, c->len, &len);
        cr_assert_not_null(out);
        cr_expect_eq(len, want_len, "case %zu: length %zu", i, len);
        cr_expect(memcmp(out, c->want, want_len) == 0, "case %zu", i);
        cr_expect_eq(out[len], '\0', "case %zu: not terminated", i);
        free(out);
    }
}
