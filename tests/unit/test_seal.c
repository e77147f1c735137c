/*
 * test_seal.c - derivation, names and sealed values (SPEC §13): the
 * primitives against their published known answers (RFC 5869, RFC 4231,
 * NIST CAVP gcmEncryptExtIV256), then the scheme built on them.
 */
#include "config.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "seal.h"
#include "seal_kat.h"

/* The scheme, restated from seal.h: a change there must be seen here. */
#define SALT        "heavyset-proxy seal v1"
#define INFO_NAMES  "heavyset-proxy names"
#define INFO_VALUES "heavyset-proxy values"
#define TOKEN_A     "hs_test_tenant_alpha_0001"
#define TOKEN_B     "hs_test_tenant_beta_0002"

#define N(a)        (sizeof(a) / sizeof((a)[0]))

/*
 * Decodes S into OUT (CAP bytes) and returns the length. S is hex, or
 * "hh*N": N copies of byte hh (the RFCs' repeated keys and data).
 */
static size_t
unhex(const char *s, unsigned char *out, size_t cap)
{
    const char *star = strchr(s, '*');
    size_t      i, n;

    if (star != NULL) {
        n = strtoul(star + 1, NULL, 10);
        cr_assert_leq(n, cap);
        memset(out, (int)strtoul((char[3]){ s[0], s[1], '\0' }, NULL, 16),
               n);
        return n;
    }
    n = strlen(s) / 2;
    cr_assert_leq(n, cap);
    for (i = 0; i < n; i++) {
        out[i] = (unsigned char)strtoul((char[3]){ s[2 * i], s[2 * i + 1],
                                                   '\0' }, NULL, 16);
    }
    return n;
}

static struct seal_ctx *ctx;
static struct seal_keys *keys_a, *keys_b;

static void
setup(void)
{
    ctx = seal_ctx_new();
    cr_assert_not_null(ctx);
    keys_a = seal_keys_new(ctx, TOKEN_A, strlen(TOKEN_A));
    keys_b = seal_keys_new(ctx, TOKEN_B, strlen(TOKEN_B));
    cr_assert_not_null(keys_a);
    cr_assert_not_null(keys_b);
}

static void
teardown(void)
{
    seal_keys_free(keys_a);
    seal_keys_free(keys_b);
    seal_ctx_free(ctx);
}

TestSuite(seal, .init = setup, .fini = teardown);

/* ---- the primitives, against published known answers */

struct hkdf_case {
    const char *name, *ikm, *salt, *info, *okm;
};

/* RFC 5869, appendix A.1 to A.3 (SHA-256). */
static const struct hkdf_case hkdf_cases[] = {
    { "A.1", "0b*22", "000102030405060708090a0b0c", "f0f1f2f3f4f5f6f7f8f9",
      "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf"
      "34007208d5b887185865" },
    { "A.2",
      "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
      "202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f"
      "404142434445464748494a4b4c4d4e4f",
      "606162636465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f"
      "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f"
      "a0a1a2a3a4a5a6a7a8a9aaabacadaeaf",
      "b0b1b2b3b4b5b6b7b8b9babbbcbdbebfc0c1c2c3c4c5c6c7c8c9cacbcccdcecf"
      "d0d1d2d3d4d5d6d7d8d9dadbdcdddedfe0e1e2e3e4e5e6e7e8e9eaebecedeeef"
      "f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff",
      "b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c"
      "59045a99cac7827271cb41c65e590e09da3275600c2f09b8367793a9aca3db71"
      "cc30c58179ec3e87c14c01d5c1f3434f1d87" },
    { "A.3", "0b*22", "", "",
      "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d"
      "9d201395faa4b61a96c8" },
};

Test(seal, hkdf_rfc5869)
{
    size_t i;

    for (i = 0; i < N(hkdf_cases); i++) {
        const struct hkdf_case *t = &hkdf_cases[i];
        unsigned char ikm[128], salt[128], info[128], want[128], got[128];
        size_t ikm_len = unhex(t->ikm, ikm, sizeof(ikm));
        size_t salt_len = unhex(t->salt, salt, sizeof(salt));
        size_t info_len = unhex(t->info, info, sizeof(info));
        size_t len = unhex(t->okm, want, sizeof(want));

        cr_assert_eq(seal_kat_hkdf(ctx, ikm, ikm_len, salt, salt_len, info,
                                   info_len, got, len), SEAL_OK, "%s",
                     t->name);
        cr_expect_arr_eq(got, want, len, "RFC 5869 %s", t->name);
    }
}

struct hmac_case {
    const char *name, *key, *data, *mac;
};

/* RFC 4231, test cases 1-4, 6 and 7 (5 truncates: not our use). */
static const struct hmac_case hmac_cases[] = {
    { "1", "0b*20", "4869205468657265",
      "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7" },
    { "2", "4a656665",
      "7768617420646f2079612077616e7420666f72206e6f7468696e673f",
      "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843" },
    { "3", "aa*20", "dd*50",
      "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe" },
    { "4", "0102030405060708090a0b0c0d0e0f10111213141516171819", "cd*50",
      "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b" },
    { "6", "aa*131",
      "54657374205573696e67204c6172676572205468616e20426c6f636b2d53697a"
      "65204b6579202d2048617368204b6579204669727374",
      "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54" },
    { "7", "aa*131",
      "5468697320697320612074657374207573696e672061206c6172676572207468"
      "616e20626c6f636b2d73697a65206b657920616e642061206c61726765722074"
      "68616e20626c6f636b2d73697a6520646174612e20546865206b6579206e6565"
      "647320746f20626520686173686564206265666f7265206265696e6720757365"
      "642062792074686520484d414320616c676f726974686d2e",
      "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2" },
};

Test(seal, hmac_rfc4231)
{
    size_t i;

    for (i = 0; i < N(hmac_cases); i++) {
        const struct hmac_case *t = &hmac_cases[i];
        unsigned char key[160], data[160], want[32], got[32];
        size_t key_len = unhex(t->key, key, sizeof(key));
        size_t len = unhex(t->data, data, sizeof(data));

        unhex(t->mac, want, sizeof(want));
        cr_assert_eq(seal_kat_hmac(ctx, key, key_len, data, len, got),
                     SEAL_OK);
        cr_expect_arr_eq(got, want, 32, "RFC 4231 case %s", t->name);
    }
}

struct gcm_case {
    const char *key, *iv, *pt, *aad, *ct, *tag;
};

/* NIST CAVP gcmEncryptExtIV256.rsp: Keylen 256, IVlen 96, Taglen 128,
 * Count 0 of the groups PTlen 0/104/128/256/408 by AADlen 0/128/160/384. */
static const struct gcm_case gcm_cases[] = {
    { "b52c505a37d78eda5dd34f20c22540ea1b58963cf8e5bf8ffa85f9f2492505b4",
      "516c33929df5a3284ff463d7", "", "", "",
      "bdc1ac884d332457a1d2664f168c76f0" },
    { "78dc4e0aaf52d935c3c01eea57428f00ca1fd475f5da86a49c8dd73d68c8e223",
      "d79cf22d504cc793c3fb6c8a", "", "b96baa8c1c75a671bfb2d08d06be5f36", "",
      "3e5d486aa2e30b22e040b85723a06e76" },
    { "886cff5f3e6b8d0e1ad0a38fcdb26de97e8acbe79f6bed66959a598fa5047d65",
      "3a8efa1cd74bbab5448f9945", "",
      "519fee519d25c7a304d6c6aa1897ee1eb8c59655", "",
      "f6d47505ec96c98a42dc3ae719877b87" },
    { "31bdadd96698c204aa9ce1448ea94ae1fb4a9a0b3c9d773b51bb1822666b8f22",
      "0d18e06c7c725ac9e362e1ce", "2db5168e932556f8089a0622981d017d", "",
      "fa4362189661d163fcd6a56d8bf0405a",
      "d636ac1bbedd5cc3ee727dc2ab4a9489" },
    { "92e11dcdaa866f5ce790fd24501f92509aacf4cb8b1339d50c9c1240935dd08b",
      "ac93a1a6145299bde902f21a", "2d71bcfa914e4ac045b2aa60955fad24",
      "1e0889016f67601c8ebea4943bc23ad6", "8995ae2e6df3dbf96fac7b7137bae67f",
      "eca5aa77d51d4a0a14d9c51e1da474ab" },
    { "82c4f12eeec3b2d3d157b0f992d292b237478d2cecc1d5f161389b97f999057a",
      "7b40b20f5f397177990ef2d1", "982a296ee1cd7086afad976945", "",
      "ec8e05a0471d6b43a59ca5335f", "113ddeafc62373cac2f5951bb9165249" },
    { "dad89d9be9bba138cdcf8752c45b579d7e27c3dbb40f53e771dd8cfd500aa2d5",
      "cfb2aec82cfa6c7d89ee72ff", "b526ba1050177d05b0f72f8d67",
      "6e43784a91851a77667a02198e28dc32", "8b29e66e924ecae84f6d8f7d68",
      "1e365805c8f28b2ed8a5cadfd9079158" },
    { "5853c020946b35f2c58ec427152b840420c40029636adcbb027471378cfdde0f",
      "eec313dd07cc1b3e6b068a47",
      "ce7458e56aef9061cb0c42ec2315565e6168f5a6249ffd31610b6d17ab64935e",
      "1389b522c24a774181700553f0246bbabdd38d6f",
      "eadc3b8766a77ded1a58cb727eca2a9790496c298654cda78febf0da16b6903b",
      "3d49a5b32fde7eafcce90079217ffb57" },
    { "463b412911767d57a0b33969e674ffe7845d313b88c6fe312f3d724be68e1fca",
      "611ce6f9a6880750de7da6cb",
      "e7d1dcf668e2876861940e012fe52a98dacbd78ab63c08842cc9801ea581682a"
      "d54af0c34d0d7f6f59e8ee0bf4900e0fd85042",
      "0a682fbc6192e1b47a5e0868787ffdafe5a50cead3575849990cdd2ea9b35977"
      "49403efb4a56684f0c6bde352d4aeec5",
      "8886e196010cb3849d9c1a182abe1eeab0a5f3ca423c3669a4a8703c0f146e8e"
      "956fb122e0d721b869d2b6fcd4216d7d4d3758",
      "2469cecd70fd98fec9264f71df1aee9a" },
};

Test(seal, gcm_nist_cavp)
{
    size_t i;

    for (i = 0; i < N(gcm_cases); i++) {
        const struct gcm_case *t = &gcm_cases[i];
        unsigned char key[32], iv[12], pt[64], aad[64], ct[64], tag[16];
        unsigned char out[64], got_tag[16];
        size_t len, aad_len;

        cr_assert_eq(unhex(t->key, key, sizeof(key)), 32);
        cr_assert_eq(unhex(t->iv, iv, sizeof(iv)), 12);
        len = unhex(t->pt, pt, sizeof(pt));
        aad_len = unhex(t->aad, aad, sizeof(aad));
        cr_assert_eq(unhex(t->ct, ct, sizeof(ct)), len);
        unhex(t->tag, tag, sizeof(tag));

        cr_assert_eq(seal_kat_gcm(ctx, 1, key, iv, aad, aad_len, pt, len,
                                  out, got_tag), SEAL_OK, "case %zu", i);
        cr_expect_arr_eq(out, ct, len, "ciphertext, case %zu", i);
        cr_expect_arr_eq(got_tag, tag, 16, "tag, case %zu", i);

        /* And back; then with one bit of the tag flipped: refused. */
        memset(out, 0, sizeof(out));
        cr_assert_eq(seal_kat_gcm(ctx, 0, key, iv, aad, aad_len, ct, len,
                                  out, tag), SEAL_OK, "case %zu", i);
        cr_expect_arr_eq(out, pt, len, "plaintext, case %zu", i);
        tag[15] ^= 0x01;
        cr_expect_eq(seal_kat_gcm(ctx, 0, key, iv, aad, aad_len, ct, len,
                                  out, tag), SEAL_EAUTH, "case %zu", i);
    }
}

/* ---- the scheme */

Test(seal, keys_follow_the_labels)
{
    unsigned char names[32], values[32], want[32];

    seal_kat_keys(keys_a, names, values);
    cr_assert_eq(seal_kat_hkdf(ctx, TOKEN_A, strlen(TOKEN_A), SALT,
                               strlen(SALT), INFO_NAMES, strlen(INFO_NAMES),
                               want, 32), SEAL_OK);
    cr_expect_arr_eq(names, want, 32);
    cr_assert_eq(seal_kat_hkdf(ctx, TOKEN_A, strlen(TOKEN_A), SALT,
                               strlen(SALT), INFO_VALUES,
                               strlen(INFO_VALUES), want, 32), SEAL_OK);
    cr_expect_arr_eq(values, want, 32);
    cr_expect_arr_neq(names, values, 32);
    cr_expect_null(seal_keys_new(ctx, "", 0));
}

Test(seal, name_is_hmac_of_domain_and_input)
{
    static const char     msg[] = "phone\0+18015551234";
    static const char     hex[] = "0123456789abcdef";
    unsigned char names[32], values[32], mac[32];
    char          want[SEAL_NAME_HEX + 1], got[SEAL_NAME_HEX + 1];
    size_t        i;

    seal_kat_keys(keys_a, names, values);
    cr_assert_eq(seal_kat_hmac(ctx, names, 32, msg, sizeof(msg) - 1, mac),
                 SEAL_OK);
    for (i = 0; i < SEAL_NAME_HEX / 2; i++) {
        want[2 * i] = hex[mac[i] >> 4];
        want[2 * i + 1] = hex[mac[i] & 0xf];
    }
    want[SEAL_NAME_HEX] = '\0';
    cr_assert_eq(seal_name(ctx, keys_a, SEAL_DOMAIN_PHONE, "+18015551234",
                           12, got), SEAL_OK);
    cr_expect_str_eq(got, want);
    /* Pinned: a change of salt, labels or encoding shows here. Computed
     * apart from OpenSSL too, with Python's hmac and hashlib: HKDF by
     * RFC 5869's two steps, then HMAC(names key, "phone\0+18015551234"). */
    cr_expect_str_eq(got, "c56dba613f282a362a5a0d5e3a068ce9");
}

Test(seal, names_differ_by_tenant_domain_and_input)
{
    char a[SEAL_NAME_HEX + 1], b[SEAL_NAME_HEX + 1];
    char c[SEAL_NAME_HEX + 1], d[SEAL_NAME_HEX + 1];
    char e[SEAL_NAME_HEX + 1];
    size_t i;

    seal_name(ctx, keys_a, SEAL_DOMAIN_PHONE, "+18015551234", 12, a);
    seal_name(ctx, keys_a, SEAL_DOMAIN_PHONE, "+18015551234", 12, e);
    seal_name(ctx, keys_b, SEAL_DOMAIN_PHONE, "+18015551234", 12, b);
    seal_name(ctx, keys_a, SEAL_DOMAIN_IDEM, "+18015551234", 12, c);
    seal_name(ctx, keys_a, SEAL_DOMAIN_PHONE, "+18015551235", 12, d);
    cr_expect_str_eq(a, e, "a name is stable");
    cr_expect_str_neq(a, b, "another tenant");
    cr_expect_str_neq(a, c, "another domain");
    cr_expect_str_neq(a, d, "another phone");
    cr_expect_eq(strlen(a), SEAL_NAME_HEX);
    for (i = 0; i < SEAL_NAME_HEX; i++) {
        cr_expect(strchr("0123456789abcdef", a[i]) != NULL, "%s", a);
    }
}

/* A blob is version | nonce | GCM(seal key, nonce, AAD = version | aad). */
Test(seal, blob_layout)
{
    static const unsigned char nonce[12] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10,
                                             11, 12 };
    static const char pt[] = "{\"firstName\":\"Ada\"}";
    static const char aad[] = "hsp:v2:{t}:lead:x";
    unsigned char names[32], values[32], blob[128], ct[64], tag[16];
    unsigned char full_aad[64];
    size_t        len = sizeof(pt) - 1, n;

    cr_assert_eq(seal_kat_seal(ctx, keys_a, nonce, aad, strlen(aad), pt, len,
                               blob, sizeof(blob), &n), SEAL_OK);
    cr_assert_eq(n, len + SEAL_OVERHEAD);
    cr_expect_eq(blob[0], SEAL_VERSION);
    cr_expect_arr_eq(blob + 1, nonce, 12);

    seal_kat_keys(keys_a, names, values);
    full_aad[0] = SEAL_VERSION;
    memcpy(full_aad + 1, aad, strlen(aad));
    cr_assert_eq(seal_kat_gcm(ctx, 1, values, nonce, full_aad,
                              strlen(aad) + 1, pt, len, ct, tag), SEAL_OK);
    cr_expect_arr_eq(blob + 13, ct, len);
    cr_expect_arr_eq(blob + 13 + len, tag, 16);
}

/* seal then open, for sizes around the AES block and a 1 MB body. */
Test(seal, round_trips)
{
    static const size_t sizes[] = { 0, 1, 15, 16, 17, 1024, 1 << 20 };
    static const char  *aads[] = { "", "hsp:v2:{t}:lead:abc\0q" };
    size_t              i, j;

    for (i = 0; i < N(sizes); i++) {
        for (j = 0; j < N(aads); j++) {
            size_t         len = sizes[i], n, m, k;
            size_t         aad_len = j == 0 ? 0 : 21;
            unsigned char *pt = malloc(len + 1), *blob, *out;

            blob = malloc(len + SEAL_OVERHEAD);
            out = malloc(len + 1);
            cr_assert(pt != NULL && blob != NULL && out != NULL);
            for (k = 0; k < len; k++) {
                pt[k] = (unsigned char)(k * 31 + 7);
            }
            cr_assert_eq(seal_seal(ctx, keys_a, aads[j], aad_len, pt, len,
                                   blob, len + SEAL_OVERHEAD, &n), SEAL_OK);
            cr_assert_eq(n, len + SEAL_OVERHEAD);
            cr_expect(len < 16 || memcmp(blob + 13, pt, 16) != 0,
                      "the body is not in the blob in the clear");
            cr_assert_eq(seal_open(ctx, keys_a, aads[j], aad_len, blob, n,
                                   out, len, &m), SEAL_OK, "len %zu", len);
            cr_assert_eq(m, len);
            cr_expect(len == 0 || memcmp(out, pt, len) == 0, "len %zu", len);
            free(pt);
            free(blob);
            free(out);
        }
    }
}

Test(seal, fresh_nonce_per_seal)
{
    unsigned char a[64], b[64];
    size_t        n, m;

    seal_seal(ctx, keys_a, "k", 1, "same", 4, a, sizeof(a), &n);
    seal_seal(ctx, keys_a, "k", 1, "same", 4, b, sizeof(b), &m);
    cr_assert_eq(n, m);
    cr_expect_arr_neq(a + 1, b + 1, 12, "nonces");
    cr_expect_arr_neq(a + 13, b + 13, n - 13, "ciphertexts and tags");
}

/* Whether OUT (LEN bytes) holds nothing but zeros: no plaintext left. */
static bool
wiped(const unsigned char *out, size_t len)
{
    size_t i;

    for (i = 0; i < len; i++) {
        if (out[i] != 0) {
            return false;
        }
    }
    return true;
}

/* Every byte of every region changed in turn: version, nonce, ciphertext,
 * tag. None opens, and the output buffer holds no plaintext after. */
Test(seal, tamper_every_byte)
{
    static const char pt[] = "{\"phone\":\"+18015551234\",\"name\":\"Ada\"}";
    static const char aad[] = "hsp:v2:{t}:lead:abc";
    unsigned char     blob[128], out[128];
    size_t            len = sizeof(pt) - 1, n, m, i;

    cr_assert_eq(seal_seal(ctx, keys_a, aad, strlen(aad), pt, len, blob,
                           sizeof(blob), &n), SEAL_OK);
    for (i = 0; i < n; i++) {
        enum seal_status want = i == 0 ? SEAL_EVERSION : SEAL_EAUTH;

        blob[i] ^= 0x80;
        memset(out, 0, sizeof(out));
        m = 99;
        cr_expect_eq(seal_open(ctx, keys_a, aad, strlen(aad), blob, n, out,
                               sizeof(out), &m), want, "byte %zu", i);
        cr_expect_eq(m, 0, "byte %zu", i);
        cr_expect(wiped(out, sizeof(out)), "plaintext left, byte %zu", i);
        blob[i] ^= 0x80;
    }
    /* The context is fine after all those failures. */
    cr_assert_eq(seal_open(ctx, keys_a, aad, strlen(aad), blob, n, out,
                           sizeof(out), &m), SEAL_OK);
    cr_expect_arr_eq(out, pt, len);
}

/* Copied under another key name, opened with another tenant's keys. */
Test(seal, another_name_or_tenant_does_not_open)
{
    static const char *others[] = { "hsp:v2:{t}:lead:abd",
                                    "hsp:v2:{t}:lead:ab",
                                    "hsp:v2:{t}:lead:abcd", "" };
    static const char  aad[] = "hsp:v2:{t}:lead:abc";
    static const char  pt[] = "{\"name\":\"Ada\"}";
    unsigned char      blob[64], out[64];
    size_t             n, m, i;

    cr_assert_eq(seal_seal(ctx, keys_a, aad, strlen(aad), pt, strlen(pt),
                           blob, sizeof(blob), &n), SEAL_OK);
    for (i = 0; i < N(others); i++) {
        memset(out, 0, sizeof(out));
        cr_expect_eq(seal_open(ctx, keys_a, others[i], strlen(others[i]),
                               blob, n, out, sizeof(out), &m), SEAL_EAUTH,
                     "aad '%s'", others[i]);
        cr_expect(wiped(out, sizeof(out)));
    }
    memset(out, 0, sizeof(out));
    cr_expect_eq(seal_open(ctx, keys_b, aad, strlen(aad), blob, n, out,
                           sizeof(out), &m), SEAL_EAUTH);
    cr_expect(wiped(out, sizeof(out)));
}

Test(seal, truncated_blobs)
{
    static const char aad[] = "k";
    unsigned char     blob[64], out[64];
    size_t            n, m, len;

    cr_assert_eq(seal_seal(ctx, keys_a, aad, 1, "sixteen bytes...", 16,
                           blob, sizeof(blob), &n), SEAL_OK);
    for (len = 0; len < n; len++) {
        enum seal_status want = len < SEAL_OVERHEAD ? SEAL_ESHORT :
                                                      SEAL_EAUTH;

        memset(out, 0, sizeof(out));
        cr_expect_eq(seal_open(ctx, keys_a, aad, 1, blob, len, out,
                               sizeof(out), &m), want, "length %zu", len);
        cr_expect(wiped(out, sizeof(out)), "length %zu", len);
    }
}

Test(seal, empty_plaintext)
{
    unsigned char blob[SEAL_OVERHEAD], out[1] = { 0 };
    size_t        n, m = 99;

    cr_assert_eq(seal_seal(ctx, keys_a, "k", 1, NULL, 0, blob, sizeof(blob),
                           &n), SEAL_OK);
    cr_expect_eq(n, SEAL_OVERHEAD);
    cr_expect_eq(seal_open(ctx, keys_a, "k", 1, blob, n, out, 0, &m),
                 SEAL_OK);
    cr_expect_eq(m, 0);
    blob[SEAL_OVERHEAD - 1] ^= 1;
    cr_expect_eq(seal_open(ctx, keys_a, "k", 1, blob, n, out, 0, &m),
                 SEAL_EAUTH);
}

Test(seal, buffers_too_small)
{
    unsigned char blob[64], out[64];
    size_t        n = 1, m = 1;

    cr_expect_eq(seal_seal(ctx, keys_a, "k", 1, "abcd", 4, blob,
                           4 + SEAL_OVERHEAD - 1, &n), SEAL_ESPACE);
    cr_expect_eq(n, 0);
    cr_assert_eq(seal_seal(ctx, keys_a, "k", 1, "abcd", 4, blob,
                           4 + SEAL_OVERHEAD, &n), SEAL_OK);
    cr_expect_eq(seal_open(ctx, keys_a, "k", 1, blob, n, out, 3, &m),
                 SEAL_ESPACE);
    cr_expect_eq(m, 0);
    cr_expect_eq(seal_open(ctx, keys_a, "k", 1, blob, n, out, 4, &m),
                 SEAL_OK);
}

Test(seal, status_names)
{
    cr_expect_str_eq(seal_status_name(SEAL_OK), "ok");
    cr_expect_str_eq(seal_status_name(SEAL_EAUTH), "auth");
    cr_expect_str_eq(seal_status_name(SEAL_EINTERNAL), "internal");
    cr_expect_str_eq(seal_status_name((enum seal_status)99), "?");
}
