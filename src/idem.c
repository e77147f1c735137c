/* idem.c - Idempotency-Key syntax and request fingerprints (SPEC §5). */
#include "config.h"

#include "idem.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>
#include <openssl/evp.h>

#include "json.h"

/* A growing output buffer; FAILED once an allocation failed. */
struct idem_buf {
    char   *s;
    size_t  len;
    size_t  cap;
    bool    failed;
};

static bool
idem_is_ows(char c)
{
    return c == ' ' || c == '\t';
}

int
idem_key_parse(const char *header, char *out, size_t cap)
{
    const char *s, *e;
    size_t      o = 0;

    if (cap == 0) {
        return -1;
    }
    out[0] = '\0';
    if (header == NULL) {
        return -1;
    }
    s = header;
    e = header + strlen(header);
    while (s < e && idem_is_ows(*s)) {
        s++;
    }
    while (e > s && idem_is_ows(e[-1])) {
        e--;
    }
    if (s < e && *s == '"') {
        /* sf-string: the closing quote must be the last character. */
        if (e - s < 2 || e[-1] != '"') {
            return -1;
        }
        for (s++, e--; s < e; s++) {
            char c = *s;

            if (c == '\\') {
                if (s + 1 == e || (s[1] != '"' && s[1] != '\\')) {
                    out[0] = '\0';
                    return -1;
                }
                c = *++s;
            } else if (c == '"') {
                out[0] = '\0';     /* an unescaped quote inside */
                return -1;
            }
            /* The unescaped key must be visible ASCII, whatever the
             * sf-string allows. */
            if (c < 0x21 || c > 0x7e || o + 1 >= cap || o >= IDEM_KEY_MAX) {
                out[0] = '\0';
                return -1;
            }
            out[o++] = c;
        }
    } else {
        for (; s < e; s++) {
            if (*s < 0x21 || *s > 0x7e || *s == '"' || o + 1 >= cap ||
                o >= IDEM_KEY_MAX) {
                out[0] = '\0';
                return -1;
            }
            out[o++] = *s;
        }
    }
    out[o] = '\0';
    return o == 0 ? -1 : 0;
}

static void
idem_put(struct idem_buf *b, const char *s, size_t n)
{
    if (b->failed) {
        return;
    }
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap == 0 ? 256 : b->cap;
        char  *p;

        while (b->len + n + 1 > cap) {
            cap *= 2;
        }
        p = realloc(b->s, cap);
        if (p == NULL) {
            b->failed = true;
            return;
        }
        b->s = p;
        b->cap = cap;
    }
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = '\0';
}

static void
idem_put_str(struct idem_buf *b, const char *s, size_t n)
{
    size_t i, run = 0;

    idem_put(b, "\"", 1);
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        const char   *esc = NULL;
        char          hex[7];

        switch (c) {
        case '"':
            esc = "\\\"";
            break;
        case '\\':
            esc = "\\\\";
            break;
        case '\b':
            esc = "\\b";
            break;
        case '\f':
            esc = "\\f";
            break;
        case '\n':
            esc = "\\n";
            break;
        case '\r':
            esc = "\\r";
            break;
        case '\t':
            esc = "\\t";
            break;
        default:
            if (c < 0x20) {
                snprintf(hex, sizeof(hex), "\\u%04x", c);
                esc = hex;
            }
            break;
        }
        if (esc != NULL) {
            idem_put(b, s + i - run, run);
            idem_put(b, esc, strlen(esc));
            run = 0;
        } else {
            run++;
        }
    }
    idem_put(b, s + n - run, run);
    idem_put(b, "\"", 1);
}

static int
idem_cmp_keys(const void *a, const void *b)
{
    /* strcmp compares as unsigned char: bytewise on the UTF-8. */
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Appends the canonical form of OBJ to B. Returns -1 with a reason in ERR
 * for an integer json-c clamped. json-c limits nesting, so the recursion
 * is bounded. */
static int
idem_put_value(struct idem_buf *b, struct json_object *obj, char *err,
               size_t errlen)
{
    const char  **keys;
    const char   *s;
    size_t        i, n;
    int           rc = 0;

    switch (json_object_get_type(obj)) {
    case json_type_null:
        idem_put(b, "null", 4);
        break;
    case json_type_boolean:
        s = json_object_get_boolean(obj) ? "true" : "false";
        idem_put(b, s, strlen(s));
        break;
    case json_type_int:
        /* json-c clamps what does not fit to INT64_MIN or UINT64_MAX:
         * two different numbers would share a fingerprint. */
        if (json_object_get_int64(obj) == INT64_MIN ||
            json_object_get_uint64(obj) == UINT64_MAX) {
            snprintf(err, errlen, "integer out of range");
            return -1;
        }
        /* FALLTHROUGH */
    case json_type_double:
        /* A double parsed from text serialises as that text. */
        s = json_object_to_json_string_ext(obj, JSON_C_TO_STRING_PLAIN);
        idem_put(b, s, strlen(s));
        break;
    case json_type_string:
        idem_put_str(b, json_object_get_string(obj),
                     (size_t)json_object_get_string_len(obj));
        break;
    case json_type_array:
        idem_put(b, "[", 1);
        n = json_object_array_length(obj);
        for (i = 0; i < n && rc == 0; i++) {
            if (i > 0) {
                idem_put(b, ",", 1);
            }
            rc = idem_put_value(b, json_object_array_get_idx(obj, i), err,
                                errlen);
        }
        idem_put(b, "]", 1);
        break;
    case json_type_object:
        n = (size_t)json_object_object_length(obj);
        keys = calloc(n == 0 ? 1 : n, sizeof(*keys));
        if (keys == NULL) {
            b->failed = true;
            break;
        }
        i = 0;
        {
            json_object_object_foreach(obj, k, v)
            {
                (void)v;
                keys[i++] = k;
            }
        }
        qsort(keys, n, sizeof(*keys), idem_cmp_keys);
        idem_put(b, "{", 1);
        for (i = 0; i < n && rc == 0; i++) {
            if (i > 0) {
                idem_put(b, ",", 1);
            }
            idem_put_str(b, keys[i], strlen(keys[i]));
            idem_put(b, ":", 1);
            rc = idem_put_value(b, json_object_object_get(obj, keys[i]), err,
                                errlen);
        }
        idem_put(b, "}", 1);
        free(keys);
        break;
    }
    return rc;
}

/*
 * Whether the JSON text S (LEN bytes) has an object key holding the
 * escape \u0000. json-c keeps keys as C strings and so cuts them there:
 * {"a\u0000x":1} and {"a\u0000y":1} would canonicalise alike, and a
 * different request would replay the first one's answer. Values are kept
 * whole (with their length), so only keys are refused.
 */
static bool
idem_key_has_nul(const char *s, size_t len)
{
    bool   in_string = false, nul = false;
    size_t i, j;

    for (i = 0; i < len; i++) {
        if (!in_string) {
            in_string = s[i] == '"';
            nul = false;
        } else if (s[i] == '\\' && i + 1 < len) {
            if (s[i + 1] == 'u' && i + 5 < len &&
                memcmp(s + i + 2, "0000", 4) == 0) {
                nul = true;
            }
            i++;                    /* the escaped character */
        } else if (s[i] == '"') {
            in_string = false;
            j = i + 1;
            while (j < len && memchr(" \t\r\n", s[j], 4) != NULL) {
                j++;
            }
            if (nul && j < len && s[j] == ':') {
                return true;
            }
        }
    }
    return false;
}

int
idem_canonical(const char *body, size_t len, char **out, size_t *outlen,
               char *err, size_t errlen)
{
    struct idem_buf     b = { NULL, 0, 0, false };
    struct json_object *obj;
    int                 rc;

    *out = NULL;
    *outlen = 0;
    if (len == 0) {
        *out = calloc(1, 1);        /* "" */
        if (*out == NULL) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        return 0;
    }
    obj = json_parse_strict(body, len, err, errlen);
    if (obj == NULL) {
        return -1;
    }
    if (idem_key_has_nul(body, len)) {
        json_object_put(obj);
        snprintf(err, errlen, "object keys must not contain \\u0000");
        return -1;
    }
    rc = idem_put_value(&b, obj, err, errlen);
    json_object_put(obj);
    if (rc == 0 && (b.failed || b.s == NULL)) {
        snprintf(err, errlen, "out of memory");
        rc = -1;
    }
    if (rc != 0) {
        free(b.s);
        return -1;
    }
    *out = b.s;
    *outlen = b.len;
    return 0;
}

void
idem_fingerprint(const char *method, const char *path, const char *canon,
                 size_t len, char out[IDEM_FP_HEX + 1])
{
    static const char hexd[] = "0123456789abcdef";
    unsigned char     md[EVP_MAX_MD_SIZE];
    unsigned int      mdlen = 0, i;
    EVP_MD_CTX       *ctx;

    out[0] = '\0';
    ctx = EVP_MD_CTX_new();
    if (ctx == NULL) {
        return;
    }
    if (EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1 ||
        EVP_DigestUpdate(ctx, method, strlen(method)) != 1 ||
        EVP_DigestUpdate(ctx, "\n", 1) != 1 ||
        EVP_DigestUpdate(ctx, path, strlen(path)) != 1 ||
        EVP_DigestUpdate(ctx, "\n", 1) != 1 ||
        (len > 0 && EVP_DigestUpdate(ctx, canon, len) != 1) ||
        EVP_DigestFinal_ex(ctx, md, &mdlen) != 1) {
        EVP_MD_CTX_free(ctx);
        return;
    }
    EVP_MD_CTX_free(ctx);
    for (i = 0; i < mdlen && i * 2 < IDEM_FP_HEX; i++) {
        out[2 * i] = hexd[md[i] >> 4];
        out[2 * i + 1] = hexd[md[i] & 0x0f];
    }
    out[2 * i] = '\0';
}
