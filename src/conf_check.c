/*
 * conf_check.c - checks on a whole loaded configuration: the cross-key
 * rules that -t runs (conf_validate) and, on SIGHUP, what a reload
 * changes and which changes must wait for a restart (conf_diff, SPEC
 * §10).
 *
 * Pure and stateless: it reads the key table (conf_key.c), formats with
 * conf_value.c and appends to the loader's error sink (conf_load.c);
 * nothing calls back into it. The only memory it touches is the strings
 * conf_diff copies back into NEXT, which NEXT owns.
 */
#include "config.h"

#include "conf.h"

#include <stdlib.h>
#include <string.h>

#include "conf_key.h"
#include "conf_load.h"
#include "conf_value.h"
#include "url.h"

/* Whether rate A allows more events per millisecond than rate B. */
static bool
conf_rate_exceeds(const struct conf_rate *a, const struct conf_rate *b)
{
    return a->count * b->period_ms > b->count * a->period_ms;
}

int
conf_validate(const struct conf *cf, struct conf_errors *errs)
{
    struct url_upstream up, low;
    char                a[32], b[32];
    size_t              i;
    int                 rc = 0;

    /* With rate_limit off there is no shared budget to carve up. A value
     * that follows rate_limit cannot exceed it; one that was set names
     * its line. The check stays for both, for a struct filled by hand. */
    for (i = 0; conf_key_derived_row(i) != NULL; i++) {
        const struct conf_derived *d = conf_key_derived_row(i);
        const struct conf_rate    *r =
            (const struct conf_rate *)((const char *)cf + d->offset);
        const char *from = (const char *)cf + d->from;

        if (cf->rate_limit.count > 0 &&
            conf_rate_exceeds(r, &cf->rate_limit)) {
            conf_load_error(errs, "%s%s%s: %s exceeds rate_limit %s (%s)",
                            from, from[0] != '\0' ? ": " : "", d->name,
                            conf_value_rate_format(r, a, sizeof(a)),
                            conf_value_rate_format(&cf->rate_limit, b,
                                                   sizeof(b)),
                            d->why);
            rc = -1;
        }
    }
    if (cf->idempotency_required && cf->idempotency_ttl_ms == 0) {
        conf_load_error(errs, "idempotency_required: yes needs "
                        "idempotency_ttl above 0 (responses are kept for "
                        "replay that long)");
        rc = -1;
    }
    /* Tokens travel in headers: never send them in clear to the
     * low-latency host when the main upstream is reached over TLS. */
    if (cf->upstream != NULL && cf->upstream_lowlatency != NULL &&
        cf->upstream_lowlatency[0] != '\0' &&
        url_parse_upstream(cf->upstream, &up, NULL, 0) == 0 &&
        url_parse_upstream(cf->upstream_lowlatency, &low, NULL, 0) == 0 &&
        up.tls && !low.tls) {
        conf_load_error(errs, "upstream_lowlatency: plain http:// while "
                        "upstream uses https:// would send tokens "
                        "unencrypted (use https://)");
        rc = -1;
    }
    /* A client certificate is nothing without its key, and the reverse. */
    if (cf->redis_cert_file != NULL && cf->redis_key_file != NULL &&
        (cf->redis_cert_file[0] == '\0') != (cf->redis_key_file[0] == '\0')) {
        conf_load_error(errs, "redis_cert_file and redis_key_file go "
                        "together (a client certificate and its key)");
        rc = -1;
    }
    return rc;
}

/* Whether key K holds the same value in A and B. */
static bool
conf_same(const struct conf_key *k, const struct conf *a, const struct conf *b)
{
    const char *pa = (const char *)a + k->offset;
    const char *pb = (const char *)b + k->offset;

    if (CONF_IS_STRING(k->type)) {
        return strcmp(*(char *const *)pa, *(char *const *)pb) == 0;
    }
    switch (k->type) {
    case CONF_RATE: {
        const struct conf_rate *ra = (const struct conf_rate *)pa;
        const struct conf_rate *rb = (const struct conf_rate *)pb;

        return ra->count == rb->count && ra->period_ms == rb->period_ms;
    }
    case CONF_BOOL:
        return *(const bool *)pa == *(const bool *)pb;
    case CONF_ENUM:
        return *(const int *)pa == *(const int *)pb;
    default:
        return *(const int64_t *)pa == *(const int64_t *)pb;
    }
}

/* Sets key K of DST to its value in SRC. Returns 0, or -1 out of memory. */
static int
conf_copy_key(const struct conf_key *k, struct conf *dst,
              const struct conf *src)
{
    char       *pd = (char *)dst + k->offset;
    const char *ps = (const char *)src + k->offset;
    char       *s;

    if (CONF_IS_STRING(k->type)) {
        s = strdup(*(char *const *)ps);
        if (s == NULL) {
            return -1;
        }
        free(*(char **)pd);
        *(char **)pd = s;
        return 0;
    }
    switch (k->type) {
    case CONF_RATE:
        memcpy(pd, ps, sizeof(struct conf_rate));
        break;
    case CONF_BOOL:
        memcpy(pd, ps, sizeof(bool));
        break;
    case CONF_ENUM:
        memcpy(pd, ps, sizeof(int));
        break;
    default:
        memcpy(pd, ps, sizeof(int64_t));
        break;
    }
    return 0;
}

int
conf_diff(const struct conf *old, struct conf *next, struct conf_diff *d)
{
    size_t i;

    memset(d, 0, sizeof(*d));
    for (i = 0; i < conf_key_count(); i++) {
        const struct conf_key *k = conf_key_at(i);

        if (conf_same(k, old, next)) {
            continue;
        }
        if (conf_key_needs_restart(k->name)) {
            if (conf_copy_key(k, next, old) != 0) {
                return -1;
            }
            d->restart[d->nrestart++] = k->name;
        } else {
            d->changed[d->nchanged++] = k->name;
        }
    }
    return 0;
}
