/*
 * test_slot.c - Redis Cluster's hash slot (slot.h): the CRC table against
 * the polynomial, and keys whose slots redis-server 7.0's CLUSTER
 * KEYSLOT gave (hash tags, empty tags, binary keys, the proxy's own key
 * shape).
 */
#include "config.h"

#include <stdint.h>
#include <string.h>

#include <criterion/criterion.h>

#include "slot.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))
#define KEY(s) s, sizeof(s) - 1     /* a literal, NULs included */

struct slot_case {
    const char *key;
    size_t      len;
    unsigned    slot;               /* CLUSTER KEYSLOT's answer */
};

static const struct slot_case slot_cases[] = {
    { KEY("123456789"), 12739 },    /* CRC16/XMODEM check value 0x31C3 */
    { KEY("foo"), 12182 },
    { KEY("bar"), 5061 },
    { KEY("{user1000}.following"), 3443 },
    { KEY("{user1000}.followers"), 3443 },
    { KEY("foo{}{bar}"), 8363 },    /* "{}": the whole key */
    { KEY("foo{{bar}}zap"), 4015 }, /* the tag is "{bar" */
    { KEY("{bar"), 4015 },
    { KEY("foo{bar}{zap}"), 5061 }, /* the first tag only: "bar" */
    { KEY(""), 0 },
    { KEY("a{"), 14311 },           /* no '}' after the '{' */
    { KEY("a}{b"), 11640 },         /* a '}' before the '{' is no close */
    { KEY("{}"), 15257 },
    { KEY("{a}"), 15495 },
    { KEY("foo{"), 7673 },
    { KEY("a\0b"), 8383 },          /* binary-safe */
    { KEY("{\0}x"), 0 },            /* the tag is one NUL */
    { KEY("hsp:v1:{0123456789abcdef0123456789abcdef0123456789abcdef"
          "0123456789abcdef}:lead:x"), 11696 },
};

Test(slot, keyslot_table)
{
    size_t i;

    for (i = 0; i < N(slot_cases); i++) {
        const struct slot_case *c = &slot_cases[i];
        unsigned                got = slot_of(c->key, c->len);

        cr_expect_eq(got, c->slot, "case %zu (%zu bytes): slot %u, want %u",
                     i, c->len, got, c->slot);
    }
}

/* The CRC of the whole key, bit by bit from the definition. */
static uint16_t
crc16_bitwise(const unsigned char *p, size_t len)
{
    uint16_t crc = 0;
    size_t   i;
    int      b;

    for (i = 0; i < len; i++) {
        crc ^= (uint16_t)(p[i] << 8);
        for (b = 0; b < 8; b++) {
            crc = crc & 0x8000 ? (uint16_t)(crc << 1) ^ 0x1021
                               : (uint16_t)(crc << 1);
        }
    }
    return crc;
}

/*
 * Every table entry is reached by some one-byte key, and two-byte keys
 * mix two entries: all 65536 two-byte keys without braces against the
 * bitwise CRC check the whole table and the register update.
 */
Test(slot, table_matches_the_polynomial)
{
    unsigned char k[2];
    unsigned      a, b;

    for (a = 0; a < 256; a++) {
        k[0] = (unsigned char)a;
        if (a != '{') {
            cr_assert_eq(slot_of((const char *)k, 1),
                         crc16_bitwise(k, 1) % SLOT_COUNT, "byte %u", a);
        }
        for (b = 0; b < 256; b++) {
            k[1] = (unsigned char)b;
            if (a == '{' || b == '{') {
                continue;
            }
            cr_assert_eq(slot_of((const char *)k, 2),
                         crc16_bitwise(k, 2) % SLOT_COUNT, "bytes %u %u", a,
                         b);
        }
    }
}

/* A tenant's keys (key.h: "{<tenant hash>}" inside) share one slot
 * whatever follows the tag. */
Test(slot, tag_decides)
{
    static const char *const keys[] = {
        "hsp:v1:{t1}:lead:a", "hsp:v1:{t1}:lock:b", "{t1}", "x{t1}{t2}",
        "hsp:v1:{t1}:idem:\xff\xfe",
    };
    size_t i;

    for (i = 0; i < N(keys); i++) {
        cr_expect_eq(slot_of(keys[i], strlen(keys[i])), slot_of("t1", 2),
                     "'%s'", keys[i]);
    }
}
