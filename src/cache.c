/*
 * cache.c - the caching policy (SPEC §2, §6, §7).
 *
 * What is stored: answers of the lead routes (/phone/query and its
 * crmSettingsId variant), dispositions, and blocks when ttl_blocks > 0.
 * Of those, only 200 (for its route's TTL) and 404 (ttl_not_found, a
 * negative entry) are stored; 401, 429 and 5xx never are, because they
 * describe the token or the moment, not the lead. Dispositions are only
 * stored as 200: a tenant without them is not a fact worth remembering.
 *
 * Freshness is judged here, from the storage time kept in the entry, not
 * by Redis expiry: Redis keeps an entry for its TTL plus the longest stale
 * window, so that a just-expired entry can still be served while it is
 * revalidated or while the upstream fails (SPEC §6).
 *
 * Request directives: no-cache and max-age=0 skip the lookup but store
 * the answer; no-store skips both; only-if-cached never goes upstream;
 * max-age=N takes an entry only if its age is at most N seconds.
 */
#include "config.h"

#include "cache.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "conf.h"

#define CACHE_MAGIC "hsp1 "

/* Matches the directive at P (LEN bytes, no value) against NAME. */
static bool
cache_is(const char *p, size_t len, const char *name)
{
    return strlen(name) == len && strncasecmp(p, name, len) == 0;
}

/*
 * Steps *P past the next directive of the Cache-Control list at *P: its
 * name at *NAME (*NLEN bytes, blanks trimmed), its value after the '='
 * at *VALUE (NULL when it has none). Returns false at the end.
 */
static bool
cache_next(const char **p, const char **name, size_t *nlen,
           const char **value)
{
    const char *end, *eq;

    *p += strspn(*p, " \t,");
    if (**p == '\0') {
        return false;
    }
    end = *p + strcspn(*p, ",");
    eq = memchr(*p, '=', (size_t)(end - *p));
    *name = *p;
    *nlen = (size_t)((eq != NULL ? eq : end) - *p);
    while (*nlen > 0 && ((*p)[*nlen - 1] == ' ' || (*p)[*nlen - 1] == '\t')) {
        (*nlen)--;
    }
    *value = eq != NULL ? eq + 1 : NULL;
    *p = end;
    return true;
}

void
cache_parse_directives(const char *cache_control, const char *pragma,
                       struct cache_directives *out)
{
    const char *p = cache_control != NULL ? cache_control : "";
    const char *name, *v;
    size_t      nlen;

    memset(out, 0, sizeof(*out));
    out->max_age_s = -1;
    while (cache_next(&p, &name, &nlen, &v)) {
        if (cache_is(name, nlen, "no-cache")) {
            out->no_cache = true;
        } else if (cache_is(name, nlen, "no-store")) {
            out->no_store = true;
        } else if (cache_is(name, nlen, "only-if-cached")) {
            out->only_if_cached = true;
        } else if (cache_is(name, nlen, "max-age") && v != NULL) {
            char      *vend;
            long long  n;

            v += strspn(v, " \t\"");
            errno = 0;
            n = strtoll(v, &vend, 10);
            if (vend != v && errno == 0 && n >= 0 &&
                isdigit((unsigned char)*v)) {
                out->max_age_s = n;
                if (n == 0) {
                    out->no_cache = true;
                }
            }
        }
    }
    if (cache_control == NULL && pragma != NULL &&
        strcasestr(pragma, "no-cache") != NULL) {
        out->no_cache = true;       /* RFC 9111 §5.4, HTTP/1.0 clients */
    }
}

bool
cache_upstream_forbids(const char *cache_control)
{
    const char *p = cache_control != NULL ? cache_control : "";
    const char *name, *v;
    size_t      nlen;

    while (cache_next(&p, &name, &nlen, &v)) {
        /* private="field" keeps some fields out of shared caches: the
         * proxy stores whole answers, so any private keeps it out. */
        if (cache_is(name, nlen, "no-store") ||
            cache_is(name, nlen, "private")) {
            return true;
        }
    }
    return false;
}

bool
cache_route_enabled(const struct conf *cf, enum route_id id)
{
    switch (id) {
    case ROUTE_QUERY:
    case ROUTE_QUERY_CRM:
        return cf->ttl_lead_ms > 0 || cf->ttl_not_found_ms > 0;
    case ROUTE_DISPOSITIONS:
        return cf->ttl_dispositions_ms > 0;
    case ROUTE_BLOCKS:
        return cf->ttl_blocks_ms > 0;
    default:
        return false;
    }
}

int64_t
cache_ttl_ms(const struct conf *cf, enum route_id id, int status)
{
    switch (id) {
    case ROUTE_QUERY:
    case ROUTE_QUERY_CRM:
        return status == 200 ? cf->ttl_lead_ms
               : status == 404 ? cf->ttl_not_found_ms
                               : 0;
    case ROUTE_BLOCKS:
        if (cf->ttl_blocks_ms == 0) {
            return 0;
        }
        return status == 200 ? cf->ttl_blocks_ms
               : status == 404 ? (cf->ttl_not_found_ms < cf->ttl_blocks_ms
                                      ? cf->ttl_not_found_ms
                                      : cf->ttl_blocks_ms)
                               : 0;
    case ROUTE_DISPOSITIONS:
        return status == 200 ? cf->ttl_dispositions_ms : 0;
    default:
        return 0;
    }
}

int64_t
cache_expire_ms(const struct conf *cf, int64_t ttl_ms)
{
    int64_t stale = cf->stale_while_revalidate_ms > cf->stale_if_error_ms
                        ? cf->stale_while_revalidate_ms
                        : cf->stale_if_error_ms;

    return ttl_ms + stale;
}

int64_t
cache_guard_ms(const struct conf *cf)
{
    static const int64_t day_ms = (int64_t)24 * 3600 * 1000;
    int64_t              twice = 2 * cache_expire_ms(cf, cf->ttl_lead_ms);

    return twice > day_ms ? twice : day_ms;
}

int
cache_entry_header(const struct cache_entry *e, char *buf, size_t cap)
{
    size_t i;
    int    n;

    if (e->ctype_len > CACHE_CTYPE_MAX) {
        return -1;
    }
    for (i = 0; i < e->ctype_len; i++) {
        if ((unsigned char)e->ctype[i] < 0x20 || e->ctype[i] == 0x7f) {
            return -1;
        }
    }
    n = snprintf(buf, cap, CACHE_MAGIC "%d %" PRId64 " %" PRId64 " %.*s\n",
                 e->status, e->stored_ms, e->ttl_ms, (int)e->ctype_len,
                 e->ctype);
    if (n < 0 || (size_t)n >= cap) {
        return -1;
    }
    return n;
}

int
cache_entry_decode(const char *buf, size_t len, struct cache_entry *e)
{
    const char *nl, *p, *end;
    long long   status, stored, ttl;
    char       *q;

    memset(e, 0, sizeof(*e));
    if (len < sizeof(CACHE_MAGIC) - 1 ||
        memcmp(buf, CACHE_MAGIC, sizeof(CACHE_MAGIC) - 1) != 0) {
        return -1;
    }
    nl = memchr(buf, '\n', len < CACHE_HEADER_MAX ? len : CACHE_HEADER_MAX);
    if (nl == NULL) {
        return -1;
    }
    p = buf + sizeof(CACHE_MAGIC) - 1;
    end = nl;
    /* strtoll stops at the spaces; the header is bounded by NL. */
    errno = 0;
    status = strtoll(p, &q, 10);
    if (q == p || *q != ' ' || q >= end) {
        return -1;
    }
    p = q + 1;
    stored = strtoll(p, &q, 10);
    if (q == p || *q != ' ' || q >= end) {
        return -1;
    }
    p = q + 1;
    ttl = strtoll(p, &q, 10);
    if (q == p || *q != ' ' || q >= end || errno != 0) {
        return -1;
    }
    if (status < 100 || status > 599 || stored < 0 || ttl < 0) {
        return -1;
    }
    e->status = (int)status;
    e->stored_ms = stored;
    e->ttl_ms = ttl;
    e->ctype = q + 1;
    e->ctype_len = (size_t)(end - (q + 1));
    e->body = nl + 1;
    e->body_len = len - (size_t)(nl + 1 - buf);
    return 0;
}

int64_t
cache_entry_age_s(const struct cache_entry *e, int64_t now_ms)
{
    return now_ms > e->stored_ms ? (now_ms - e->stored_ms) / 1000 : 0;
}

int64_t
cache_entry_fresh_ms(const struct cache_entry *e, int64_t now_ms)
{
    return e->stored_ms + e->ttl_ms - now_ms;
}
