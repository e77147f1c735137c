/*
 * fuzz_route.c - libFuzzer harness for what the proxy does with a request
 * line before any I/O: libevent's parse of the target (as evhttp does it
 * for a server request), the route table (src/route.c), the query
 * parameters and cache keys (src/key.c), the phone check of the GET
 * routes (src/phone.c) and the Cache-Control directives (src/cache.c).
 *
 * Input: "METHOD TARGET", then optionally '\n' and a Cache-Control value.
 *
 * Properties:
 *   - the route id is in range, ROUTE_NONE exactly on ROUTE_NOT_FOUND,
 *     and a match names its route and allows the method;
 *   - only /phone/query/{crmSettingsId} carries a crmSettingsId, which is
 *     one non-empty path segment that ends the path;
 *   - the Allow header lists whole method names and fits any buffer;
 *   - the query flags are consistent (limitDays is -1 or 1..365);
 *   - a cache key never holds the E.164 number in the clear (SPEC §3)
 *     and every key string is NUL-terminated inside its buffer.
 */
#include "config.h"

#include "fuzz.h"

#include <stdbool.h>

#include <event2/http.h>

#include "cache.h"
#include "key.h"
#include "phone.h"
#include "route.h"

#define FUZZ_PREFIX "hsp"

static void
check_allow(unsigned allowed)
{
    static const char *const names[] = { "GET", "HEAD", "POST", "PUT",
                                         "DELETE", "OPTIONS", "PATCH",
                                         "PURGE" };
    char   full[128], *small, *p;
    size_t cap, i;

    route_allow_header(allowed, full, sizeof(full));
    for (p = full; *p != '\0';) {
        size_t n = strcspn(p, ",");
        bool   known = false;

        for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
            known = known || (strlen(names[i]) == n &&
                              strncmp(p, names[i], n) == 0);
        }
        FUZZ_CHECK(known, "Allow lists whole method names");
        p += n;
        p += strspn(p, ", ");
    }
    for (cap = 0; cap <= strlen(full) + 1; cap++) {
        small = malloc(cap);        /* exactly CAP bytes, for ASan */
        FUZZ_CHECK(small != NULL || cap == 0, "malloc");
        route_allow_header(allowed, small, cap);
        if (cap > 0) {
            FUZZ_CHECK(strncmp(full, small, strlen(small)) == 0,
                       "a short Allow is a prefix of the full one");
        }
        free(small);
    }
}

static void
check_route(const char *path, enum route_method method, enum route_result rr,
            const struct route_match *m)
{
    size_t plen = strlen(path), clen;

    FUZZ_CHECK((unsigned)m->id < ROUTE_COUNT, "route id in range");
    FUZZ_CHECK((rr == ROUTE_NOT_FOUND) == (m->id == ROUTE_NONE),
               "ROUTE_NONE exactly when not found");
    FUZZ_CHECK(rr == ROUTE_OK || rr == ROUTE_NOT_FOUND ||
               rr == ROUTE_BAD_METHOD, "result in range");
    FUZZ_CHECK(m->name != NULL && strcmp(m->name, route_name(m->id)) == 0,
               "the name is the route's");
    FUZZ_CHECK(rr != ROUTE_OK || (m->allowed & (unsigned)method) != 0,
               "a match allows the method");
    FUZZ_CHECK(rr != ROUTE_BAD_METHOD || (m->allowed & (unsigned)method) == 0,
               "405 only for a method not allowed");
    FUZZ_CHECK(m->upstream_api ==
               (m->id != ROUTE_NONE && m->id != ROUTE_HEALTHZ &&
                m->id != ROUTE_READYZ && m->id != ROUTE_METRICS),
               "upstream routes are the API's");
    clen = strnlen(m->crm, sizeof(m->crm));
    FUZZ_CHECK(clen < sizeof(m->crm), "crm is NUL-terminated");
    if (m->id == ROUTE_QUERY_CRM) {
        FUZZ_CHECK(clen > 0 && strchr(m->crm, '/') == NULL && clen < plen &&
                   strcmp(path + plen - clen, m->crm) == 0 &&
                   path[plen - clen - 1] == '/',
                   "crm is the last path segment");
        FUZZ_CHECK(strcmp(m->crm, "blocks") != 0 &&
                   strcmp(m->crm, "dispositions") != 0,
                   "reserved words are their own routes");
    } else {
        FUZZ_CHECK(clen == 0, "only the crm route has a crm");
    }
    check_allow(m->allowed);
}

static void
check_key(const char *key, size_t cap, const char *e164)
{
    FUZZ_CHECK(strnlen(key, cap) < cap, "a key is NUL-terminated");
    FUZZ_CHECK(e164 == NULL || e164[0] == '\0' ||
               strstr(key, e164 + 1) == NULL,
               "no phone number in a key");
}

static void
check_query(const struct route_match *m, const char *query,
            const char *token)
{
    struct key_query q;
    struct key_entry e;
    char             tenant[KEY_TENANT_HEX + 1], e164[PHONE_E164_MAX] = "";
    char             ph[KEY_NAME_HEX + 1];
    /* one token per run (the caller's), so its keys are derived once */
    static struct seal_ctx  *ctx;
    static struct seal_keys *keys;
    bool             phone_ok = false;

    key_parse_query(query, &q);
    FUZZ_CHECK(strnlen(q.phone_raw, sizeof(q.phone_raw)) <
               sizeof(q.phone_raw), "phone_raw is NUL-terminated");
    FUZZ_CHECK(q.limit_days == -1 ||
               (q.limit_days >= 1 && q.limit_days <= 365),
               "limitDays is -1 or 1..365");
    FUZZ_CHECK(q.has_phone || (!q.phone_repeated && q.phone_raw[0] == '\0'),
               "no phone flags without a phone");
    FUZZ_CHECK(q.simple_block_id_set ||
               (!q.simple_block_id && !q.simple_block_id_bad),
               "no simpleBlockId flags without one");
    if (!m->upstream_api) {
        return;
    }
    /* As lookup_check_phone() decides it. */
    if (q.has_phone && q.phone_raw[0] != '\0' && !q.phone_repeated &&
        !q.phone_too_long &&
        phone_normalize(q.phone_raw, e164, sizeof(e164)) == 0) {
        phone_ok = true;
    }
    if (m->id != ROUTE_DISPOSITIONS && !phone_ok) {
        return;                     /* a 400 */
    }
    key_tenant(token, strlen(token), tenant);
    if (ctx == NULL) {
        ctx = seal_ctx_new();
        keys = seal_keys_new(ctx, token, strlen(token));
        FUZZ_CHECK(ctx != NULL && keys != NULL, "keys are derived");
    }
    FUZZ_CHECK(key_phone(ctx, keys, e164, ph) == 0, "a phone is named");
    if (key_entry(FUZZ_PREFIX, tenant, m->id, ph, m->crm, &q, &e) != 0) {
        FUZZ_CHECK(m->id == ROUTE_QUERY_CRM || m->id == ROUTE_UPDATE,
                   "only a crm or a PATCH is never keyed");
        return;
    }
    check_key(e.hash, sizeof(e.hash), e164);
    check_key(e.epoch, sizeof(e.epoch), e164);
    check_key(e.bgen, sizeof(e.bgen), e164);
    FUZZ_CHECK(strnlen(e.field, sizeof(e.field)) < sizeof(e.field),
               "a field is NUL-terminated");
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct cache_directives dir;
    struct route_match      m;
    struct evhttp_uri      *uri;
    enum route_method       method;
    enum route_result       rr;
    char                   *s, *sp, *nl, *cc = NULL;
    const char             *path;

    s = fuzz_strndup(data, size);
    nl = strchr(s, '\n');
    if (nl != NULL) {
        *nl = '\0';
        cc = nl + 1;
    }
    cache_parse_directives(cc, cc, &dir);
    FUZZ_CHECK(dir.max_age_s >= -1, "max-age is -1 or a number");
    FUZZ_CHECK(dir.max_age_s != 0 || dir.no_cache, "max-age=0 is no-cache");

    sp = strchr(s, ' ');
    if (sp == NULL) {
        free(s);
        return 0;
    }
    *sp = '\0';
    method = route_method_from_name(s);
    /* What evhttp does with the target of a server request. */
    uri = evhttp_uri_parse_with_flags(sp + 1, EVHTTP_URI_NONCONFORMANT);
    path = uri != NULL ? evhttp_uri_get_path(uri) : NULL;
    if (path != NULL && path[0] != '\0') {
        rr = route_match(path, method, &m);
        check_route(path, method, rr, &m);
        if (rr == ROUTE_OK) {
            check_query(&m, evhttp_uri_get_query(uri), "fuzz-token");
        }
    }
    if (uri != NULL) {
        evhttp_uri_free(uri);       /* not NULL-safe in libevent 2.1 */
    }
    free(s);
    return 0;
}
