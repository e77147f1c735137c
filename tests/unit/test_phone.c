/* test_phone.c - table-driven tests of phone normalisation and masking. */
#include <criterion/criterion.h>

#include <string.h>

#include "phone.h"

struct phone_case {
    const char *in;
    const char *want;               /* NULL: must be rejected */
};

static const struct phone_case phone_cases[] = {
    /* SPEC §3: the six spellings of one NANP number */
    { "+18015551234",               "+18015551234" },
    { "18015551234",                "+18015551234" },
    { "8015551234",                 "+18015551234" },
    { "(801) 555-1234",             "+18015551234" },
    { "801-555-1234",               "+18015551234" },
    { "801.555.1234",               "+18015551234" },
    /* more NANP spellings */
    { "+1 (801) 555-1234",          "+18015551234" },
    { "+1-801-555-1234",            "+18015551234" },
    { "1 (801) 555 1234",           "+18015551234" },
    { "1-801-555-1234",             "+18015551234" },
    { "801 555 1234",               "+18015551234" },
    { "  8015551234  ",             "+18015551234" },
    { " +18015551234",              "+18015551234" },
    { "(801)5551234",               "+18015551234" },
    { "801..555--1234",             "+18015551234" },
    /* the query-string '+' that decoded to a space still works for NANP */
    { " 18015551234",               "+18015551234" },
    /* other E.164 numbers are their own */
    { "+447700900123",              "+447700900123" },
    { "+44 7700 900123",            "+447700900123" },
    { "+44 (0) 7700 900123",        "+4407700900123" },
    { "+33 1 23 45 67 89",          "+33123456789" },
    { "+12025550123",               "+12025550123" },
    /* edge lengths after '+': 8 and 15 are valid, 7 and 16 are not */
    { "+12345678",                  "+12345678" },
    { "+123456789012345",           "+123456789012345" },
    { "+1234567",                   NULL },
    { "+1234567890123456",          NULL },
    /* NANP lengths without '+' */
    { "5551234",                    NULL },
    { "801555123",                  NULL },
    { "28015551234",                NULL },     /* 11 digits, not 1... */
    { "118015551234",               NULL },     /* 12 digits */
    { "447700900123",               NULL },     /* intl without '+' */
    { " 447700900123",              NULL },     /* decoded '+' */
    /* not phones */
    { "",                           NULL },
    { " ",                          NULL },
    { "     ",                      NULL },
    { "+",                          NULL },
    { "()",                         NULL },
    { "-.-",                        NULL },
    { "call me",                    NULL },
    { "801-555-CALL",               NULL },
    { "8015551234x12",              NULL },
    { "80I5551234",                 NULL },
    { "++18015551234",              NULL },
    { "1+8015551234",               NULL },
    { "801+555+1234",               NULL },
    { "18015551234+",               NULL },
    { "+ +18015551234",             NULL },
    { "801\t555\t1234",             NULL },
    { "801\n5551234",               NULL },
    { "801/555/1234",               NULL },
    { "801_555_1234",               NULL },
    { "801) 555-1234",              NULL },     /* unpaired ')' */
    { "(801 555-1234",              NULL },     /* unclosed '(' */
    { "((801)) 555-1234",           NULL },     /* nested */
    { "\xef\xbc\x98" "015551234",   NULL },     /* fullwidth digit 8 */
    { "+18015551234 ",              "+18015551234" },
    /* 64 bytes is the limit: 54 spaces + 10 digits fits, 55 does not */
    { "                                                      8015551234",
      "+18015551234" },
    { "                                                       8015551234",
      NULL },
    { "8015551234801555123480155512348015551234801555123480155512348015551234",
      NULL },
};

Test(phone, normalize_table)
{
    char   out[PHONE_E164_MAX];
    size_t i;

    cr_assert_geq(sizeof(phone_cases) / sizeof(phone_cases[0]), 40);
    for (i = 0; i < sizeof(phone_cases) / sizeof(phone_cases[0]); i++) {
        const struct phone_case *c = &phone_cases[i];
        int                      rc = phone_normalize(c->in, out, sizeof(out));

        if (c->want == NULL) {
            cr_expect_eq(rc, -1, "accepted \"%s\" as %s", c->in, out);
            cr_expect_str_empty(out, "output left for \"%s\"", c->in);
        } else {
            cr_expect_eq(rc, 0, "rejected \"%s\"", c->in);
            cr_expect_str_eq(out, c->want, "for \"%s\"", c->in);
        }
    }
}

Test(phone, null_and_embedded_nul)
{
    char out[PHONE_E164_MAX];

    cr_expect_eq(phone_normalize(NULL, out, sizeof(out)), -1);
    cr_expect_eq(phone_normalize_n("801555\0" "1234", 11, out, sizeof(out)),
                 -1);
    cr_expect_eq(phone_normalize_n("8015551234\0", 11, out, sizeof(out)), -1);
    cr_expect_eq(phone_normalize_n("8015551234", 10, out, sizeof(out)), 0);
    cr_expect_str_eq(out, "+18015551234");
    /* LEN bounds the read: the bytes after it are not looked at */
    cr_expect_eq(phone_normalize_n("8015551234junk", 10, out, sizeof(out)),
                 0);
    cr_expect_str_eq(out, "+18015551234");
}

Test(phone, output_buffer_size)
{
    char out[PHONE_E164_MAX];

    /* a 15-digit number needs all 17 bytes */
    cr_expect_eq(phone_normalize("+123456789012345", out, 16), -1);
    cr_expect_eq(phone_normalize("+123456789012345", out, 17), 0);
    cr_expect_eq(phone_normalize("8015551234", out, 12), -1);
    cr_expect_eq(phone_normalize("8015551234", out, 13), 0);
    cr_expect_eq(phone_normalize("8015551234", out, 0), -1);
}

Test(phone, normalize_is_idempotent)
{
    char   once[PHONE_E164_MAX], twice[PHONE_E164_MAX];
    size_t i;

    for (i = 0; i < sizeof(phone_cases) / sizeof(phone_cases[0]); i++) {
        if (phone_cases[i].want == NULL) {
            continue;
        }
        cr_assert_eq(phone_normalize(phone_cases[i].in, once, sizeof(once)),
                     0);
        cr_expect_eq(phone_normalize(once, twice, sizeof(twice)), 0);
        cr_expect_str_eq(once, twice);
    }
}

struct mask_case {
    const char *in;
    const char *want;
    int         rc;
};

static const struct mask_case mask_cases[] = {
    { "+18015551234",   "***1234", 0 },
    { "+447700900123",  "***0123", 0 },
    { "(801) 555-1234", "***1234", 0 },
    { "1234",           "***1234", 0 },
    { "12-34",          "***1234", 0 },
    { "123",            "***",     -1 },
    { "",               "***",     -1 },
    { "no digits",      "***",     -1 },
    { NULL,             "***",     -1 },
};

Test(phone, mask_table)
{
    char   out[PHONE_MASK_MAX];
    size_t i;

    for (i = 0; i < sizeof(mask_cases) / sizeof(mask_cases[0]); i++) {
        const struct mask_case *c = &mask_cases[i];

        cr_expect_eq(phone_mask(c->in, out, sizeof(out)), c->rc, "for %s",
                     c->in == NULL ? "NULL" : c->in);
        cr_expect_str_eq(out, c->want, "for %s",
                         c->in == NULL ? "NULL" : c->in);
    }
}

Test(phone, mask_small_buffer)
{
    char out[PHONE_MASK_MAX];

    cr_expect_eq(phone_mask("+18015551234", out, PHONE_MASK_MAX - 1), -1);
    cr_expect_str_empty(out);
}
