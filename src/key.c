/* key.c - tenant ids, query parameters and Redis key names (SPEC §3). */
#include "config.h"

#include "key.h"

#include <assert.h>
#include <ctype.h>
#include <stdarg.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/sha.h>

/* Percent-decodes S[0..LEN) into OUT (CAP bytes) with '+' as a space, the
 * way form-encoded query values decode. Returns false if it did not fit,
 * or held a %00: a C string would end there, and a phone key made of what
 * came before would file the upstream's answer for another value. */
static bool
key_decode(const char *s, size_t len, char *out, size_t cap)
{
    size_t i, o = 0;

    for (i = 0; i < len; i++) {
        char c = s[i];

        if (o + 1 >= cap) {
            out[o] = '\0';
            return false;
        }
        if (c == '+') {
            c = ' ';
        } else if (c == '%' && i + 2 < len &&
                   isxdigit((unsigned char)s[i + 1]) &&
                   isxdigit((unsigned char)s[i + 2])) {
            char hex[3] = { s[i + 1], s[i + 2], '\0' };

            c = (char)strtol(hex, NULL, 16);
            i += 2;
            if (c == '\0') {
                out[o] = '\0';
                return false;
            }
        }
        out[o++] = c;
    }
    out[o] = '\0';
    return true;
}

/* Whether the raw name P (LEN bytes) is NAME (WANT bytes) once decoded. */
static bool
key_name_is(const char *p, size_t len, const char *name, size_t want)
{
    char buf[32];

    if (len == want && memcmp(p, name, len) == 0) {
        return true;
    }
    return memchr(p, '%', len) != NULL && len < 3 * sizeof(buf) &&
           key_decode(p, len, buf, sizeof(buf)) && strcmp(buf, name) == 0;
}

void
key_parse_query(const char *query, struct key_query *out)
{
    const char *p = query;

    memset(out, 0, sizeof(*out));
    out->limit_days = -1;
    if (query == NULL) {
        return;
    }
    while (*p != '\0') {
        const char *amp = p + strcspn(p, "&");
        const char *eq = memchr(p, '=', (size_t)(amp - p));
        const char *val = eq != NULL ? eq + 1 : amp;
        size_t      nlen = (size_t)((eq != NULL ? eq : amp) - p);
        size_t      vlen = (size_t)(amp - val);
        char        name[32], v[PHONE_INPUT_MAX + 1];
        bool        fits;

        if (!key_decode(p, nlen, name, sizeof(name))) {
            name[0] = '\0';         /* a long name is no name we know */
        }
        fits = key_decode(val, vlen, v, sizeof(v));
        if (strcmp(name, "phone") == 0) {
            out->phone_repeated = out->has_phone;
            out->has_phone = true;
            out->phone_too_long = !fits;
            memcpy(out->phone_raw, v, sizeof(out->phone_raw));
        } else if (strcmp(name, "simpleBlockId") == 0) {
            out->simple_block_id_set = true;
            if (strcmp(v, "true") == 0) {
                out->simple_block_id = true;
            } else if (strcmp(v, "false") == 0) {
                out->simple_block_id = false;
            } else {
                out->simple_block_id_bad = true;
            }
        } else if (strcmp(name, "limitDays") == 0) {
            char *end;
            long  n;

            errno = 0;
            n = strtol(v, &end, 10);
            if (!fits || v[0] == '\0' || *end != '\0' || errno != 0 ||
                n < 1 || n > 365 || !isdigit((unsigned char)v[0])) {
                out->limit_days_bad = true;
            } else {
                out->limit_days = n;
            }
        } else if (strcmp(name, "token") == 0 && vlen > 0) {
            out->has_token = true;
        }
        p = *amp == '&' ? amp + 1 : amp;
    }
}

enum key_param
key_query_value(const char *query, const char *name, char *out, size_t cap,
                size_t *len)
{
    const char    *p = query;
    size_t         want = strlen(name);
    enum key_param found = KEY_PARAM_ABSENT;

    assert(cap > 0);
    *len = 0;
    out[0] = '\0';
    while (p != NULL && *p != '\0') {
        const char *amp = p + strcspn(p, "&");
        const char *eq = memchr(p, '=', (size_t)(amp - p));
        size_t      vlen = eq != NULL ? (size_t)(amp - eq - 1) : 0;
        char       *v;

        /* Names are decoded and matched case-sensitively, as the
         * upstream's query parser does: `%74oken` is `token`, `TOKEN`
         * is another name. */
        if (vlen == 0 || !key_name_is(p, (size_t)(eq - p), name, want)) {
            p = *amp == '&' ? amp + 1 : amp;
            continue;
        }
        if (found == KEY_PARAM_ABSENT) {
            if (!key_decode(eq + 1, vlen, out, cap)) {
                return KEY_PARAM_BAD;
            }
            *len = strlen(out);
            found = *len > 0 ? KEY_PARAM_FOUND : KEY_PARAM_ABSENT;
        } else {
            /* Another value: the upstream may take either, so the two
             * must agree. */
            v = malloc(vlen + 1);
            if (v == NULL || !key_decode(eq + 1, vlen, v, vlen + 1)) {
                free(v);
                return KEY_PARAM_BAD;
            }
            if (v[0] != '\0' && strcmp(v, out) != 0) {
                free(v);
                return KEY_PARAM_CONFLICT;
            }
            free(v);
        }
        p = *amp == '&' ? amp + 1 : amp;
    }
    return found;
}

int
key_query_set_phone(const char *query, const char *e164, char *out,
                    size_t cap)
{
    const char *p = query;
    size_t      o = 0;

    assert(e164[0] == '+');
    if (cap == 0) {
        return -1;
    }
    out[0] = '\0';
    while (p != NULL && *p != '\0') {
        const char *amp = p + strcspn(p, "&");
        const char *eq = memchr(p, '=', (size_t)(amp - p));
        int         n;

        if (eq != NULL && key_name_is(p, (size_t)(eq - p), "phone", 5)) {
            n = snprintf(out + o, cap - o, "phone=%%2B%s%s", e164 + 1,
                         *amp == '&' ? "&" : "");
        } else {
            n = snprintf(out + o, cap - o, "%.*s%s", (int)(amp - p), p,
                         *amp == '&' ? "&" : "");
        }
        if (n < 0 || (size_t)n >= cap - o) {
            out[0] = '\0';
            return -1;
        }
        o += (size_t)n;
        p = *amp == '&' ? amp + 1 : amp;
    }
    return (int)o;
}

/* Writes the first KEY_TENANT_HEX hex digits of SHA-256(S) into OUT. */
static void
key_hash(const char *s, size_t len, char *out)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char     md[SHA256_DIGEST_LENGTH];
    size_t            i;

    SHA256((const unsigned char *)s, len, md);
    for (i = 0; i < KEY_TENANT_HEX / 2; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 0xf];
    }
    out[KEY_TENANT_HEX] = '\0';
}

void
key_tenant(const char *token, size_t len, char *out)
{
    key_hash(token, len, out);
}

int
key_phone(struct seal_ctx *c, const struct seal_keys *k, const char *phone,
          char *out)
{
    return seal_name(c, k, SEAL_DOMAIN_PHONE, phone, strlen(phone), out) ==
                   SEAL_OK ? 0 : -1;
}

int
key_idem_name(struct seal_ctx *c, const struct seal_keys *k, const char *idem,
              char *out)
{
    return seal_name(c, k, SEAL_DOMAIN_IDEM, idem, strlen(idem), out) ==
                   SEAL_OK ? 0 : -1;
}

static bool
key_crm_ok(const char *crm)
{
    size_t i;

    for (i = 0; crm[i] != '\0'; i++) {
        if (!isalnum((unsigned char)crm[i]) && strchr("._~-", crm[i]) == NULL) {
            return false;
        }
    }
    return i > 0;
}

int
key_entry(const char *prefix, const char *tenant, enum route_id id,
          const char *phone, const char *crm, const struct key_query *q,
          struct key_entry *out)
{
    memset(out, 0, sizeof(*out));
    if (phone == NULL) {
        phone = "";                 /* dispositions: no phone in a name */
    }
    switch (id) {
    case ROUTE_QUERY:
        snprintf(out->hash, sizeof(out->hash), "%s:" KEY_SCHEMA ":{%s}:lead:%s",
                 prefix, tenant, phone);
        snprintf(out->field, sizeof(out->field), "q");
        break;
    case ROUTE_QUERY_CRM:
        if (crm == NULL || !key_crm_ok(crm)) {
            return -1;
        }
        snprintf(out->hash, sizeof(out->hash), "%s:" KEY_SCHEMA ":{%s}:lead:%s",
                 prefix, tenant, phone);
        snprintf(out->field, sizeof(out->field), "c:%s", crm);
        break;
    case ROUTE_BLOCKS:
        snprintf(out->hash, sizeof(out->hash),
                 "%s:" KEY_SCHEMA ":{%s}:blocks:%s", prefix, tenant, phone);
        if (q->limit_days > 0) {
            snprintf(out->field, sizeof(out->field), "s%d:d%ld",
                     q->simple_block_id ? 1 : 0, q->limit_days);
        } else {
            snprintf(out->field, sizeof(out->field), "s%d:d-",
                     q->simple_block_id ? 1 : 0);
        }
        snprintf(out->bgen, sizeof(out->bgen), "%s:" KEY_SCHEMA ":{%s}:bgen",
                 prefix, tenant);
        break;
    case ROUTE_DISPOSITIONS:
        snprintf(out->hash, sizeof(out->hash), "%s:" KEY_SCHEMA ":{%s}:disp",
                 prefix, tenant);
        snprintf(out->field, sizeof(out->field), "d");
        snprintf(out->epoch, sizeof(out->epoch), "%s:" KEY_SCHEMA ":{%s}:ep",
                 prefix, tenant);
        return 0;
    default:
        return -1;
    }
    snprintf(out->epoch, sizeof(out->epoch), "%s:" KEY_SCHEMA ":{%s}:ep:%s",
             prefix, tenant, phone);
    return 0;
}

void
key_update(const char *prefix, const char *tenant, const char *phone,
           struct key_entry *lead, char *blocks_hash, size_t cap)
{
    struct key_query q;

    memset(&q, 0, sizeof(q));
    q.limit_days = -1;

    key_entry(prefix, tenant, ROUTE_QUERY, phone, NULL, &q, lead);
    snprintf(lead->bgen, sizeof(lead->bgen), "%s:" KEY_SCHEMA ":{%s}:bgen",
             prefix, tenant);
    snprintf(blocks_hash, cap, "%s:" KEY_SCHEMA ":{%s}:blocks:%s", prefix,
             tenant, phone);
}

void
key_idem(const char *prefix, const char *tenant, const char *idem, char *out)
{
    snprintf(out, KEY_MAX, "%s:" KEY_SCHEMA ":{%s}:idem:%s", prefix, tenant,
             idem);
}

/*
 * The answers to a missing, repeated or invalid phone, in the upstream's
 * words (class-validator's, several messages for one field).
 */
static const char *const key_phone_empty[] = {
    "phone should not be empty", "phone must be a valid phone number" };
static const char *const key_phone_repeated[] = {
    "phone must be a string", "phone must be a valid phone number" };
static const char *const key_phone_invalid[] = {
    "phone must be a valid phone number" };

size_t
key_query_phone(const struct key_query *q, char *e164, size_t cap,
                const char *const **msgs)
{
    if (!q->has_phone || q->phone_raw[0] == '\0') {
        *msgs = key_phone_empty;
        return sizeof(key_phone_empty) / sizeof(key_phone_empty[0]);
    }
    if (q->phone_repeated) {
        *msgs = key_phone_repeated;
        return sizeof(key_phone_repeated) / sizeof(key_phone_repeated[0]);
    }
    if (q->phone_too_long || phone_normalize(q->phone_raw, e164, cap) != 0) {
        *msgs = key_phone_invalid;
        return sizeof(key_phone_invalid) / sizeof(key_phone_invalid[0]);
    }
    *msgs = NULL;
    return 0;
}

/* Writes S into OUT at *O (of CAP bytes) with every glob metacharacter
 * of Redis's MATCH (stringmatchlen: * ? [ ] \) escaped by a backslash. */
static bool
key_glob_escape(const char *s, char *out, size_t cap, size_t *o)
{
    for (; *s != '\0'; s++) {
        if (strchr("*?[]\\", *s) != NULL) {
            if (*o + 1 >= cap) {
                return false;
            }
            out[(*o)++] = '\\';
        }
        if (*o + 1 >= cap) {
            return false;
        }
        out[(*o)++] = *s;
    }
    out[*o] = '\0';
    return true;
}

/* snprintf into OUT (KEY_MAX bytes): false when it did not fit. */
static bool __attribute__((format(printf, 2, 3)))
key_name(char *out, const char *fmt, ...)
{
    va_list ap;
    int     n;

    va_start(ap, fmt);
    n = vsnprintf(out, KEY_MAX, fmt, ap);
    va_end(ap);
    return n >= 0 && n < KEY_MAX;
}

int
key_purge(const char *prefix, const char *tenant, enum key_purge_scope scope,
          const char *phone, struct key_purge *out)
{
    size_t o = 0;
    bool   ok;

    memset(out, 0, sizeof(*out));
    if (!key_name(out->base, "%s:" KEY_SCHEMA ":{%s}:", prefix, tenant)) {
        return -1;
    }
    switch (scope) {
    case KEY_PURGE_PHONE:
        out->nhashes = 2;
        ok = phone != NULL && phone[0] != '\0' &&
             key_name(out->hashes[0], "%slead:%s", out->base, phone) &&
             key_name(out->hashes[1], "%sblocks:%s", out->base, phone) &&
             key_name(out->epoch, "%sep:%s", out->base, phone);
        break;
    case KEY_PURGE_DISPOSITIONS:
        out->nhashes = 1;
        ok = key_name(out->hashes[0], "%sdisp", out->base) &&
             key_name(out->epoch, "%sep", out->base);
        break;
    case KEY_PURGE_TENANT:
        ok = key_name(out->epoch, "%sep", out->base) &&
             key_glob_escape(out->base, out->match, sizeof(out->match), &o) &&
             o + 2 <= sizeof(out->match);
        if (ok) {
            out->match[o++] = '*';
            out->match[o] = '\0';
        }
        break;
    default:
        ok = false;
        break;
    }
    return ok ? 0 : -1;
}
