/*
 * cache.h - what is cached and for how long (SPEC §2, §7), request
 * directives, and the stored entry format. Pure: no libevent, no hiredis.
 */
#ifndef HSP_CACHE_H
#define HSP_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "route.h"

struct conf;

#define CACHE_CTYPE_MAX   128
#define CACHE_HEADER_MAX  (CACHE_CTYPE_MAX + 80)

/* The request's Cache-Control (and Pragma) directives that we honour. */
struct cache_directives {
    bool    no_cache;               /* or max-age=0 or Pragma: no-cache */
    bool    no_store;
    bool    only_if_cached;
    int64_t max_age_s;              /* -1 when absent */
};

/* Parses CACHE_CONTROL and PRAGMA (either may be NULL) into OUT. */
void cache_parse_directives(const char *cache_control, const char *pragma,
                            struct cache_directives *out);

/*
 * How long an answer of route ID with STATUS stays fresh, in ms; 0 when it
 * is not stored at all (SPEC §2: only 200 and 404, only cacheable routes,
 * and blocks only when ttl_blocks > 0).
 */
int64_t cache_ttl_ms(const struct conf *cf, enum route_id id, int status);

/*
 * Whether an upstream answer's CACHE_CONTROL (may be NULL) forbids a
 * shared cache to store it: no-store or private (RFC 9111 §5.2.2.5,
 * §5.2.2.7). upstream_cache_control decides whether that is obeyed.
 */
bool cache_upstream_forbids(const char *cache_control);

/* Whether route ID is looked up in the cache at all under CF. */
bool cache_route_enabled(const struct conf *cf, enum route_id id);

/*
 * How long Redis keeps an entry of TTL_MS: its freshness plus the longest
 * stale window, so stale serving (SPEC §6) has something to serve.
 */
int64_t cache_expire_ms(const struct conf *cf, int64_t ttl_ms);

/*
 * How long Redis keeps a guard (a phone's write epoch, a tenant's blocks
 * generation): twice the longest a lead entry is kept, and at least a
 * day, so a guard outlives every entry whose fill it must vouch for.
 */
int64_t cache_guard_ms(const struct conf *cf);

/* A stored answer. Decoded entries borrow CTYPE and BODY from the input. */
struct cache_entry {
    int         status;
    int64_t     stored_ms;          /* Unix time of storage, ms */
    int64_t     ttl_ms;             /* freshness lifetime */
    const char *ctype;              /* content type, may be "" */
    size_t      ctype_len;
    const char *body;
    size_t      body_len;
};

/*
 * Writes the header of E ("hsp1 <status> <stored_ms> <ttl_ms> <ctype>\n")
 * into BUF of CAP bytes; the stored value is the header then the body.
 * Returns the header's length, or -1 if it does not fit or the content
 * type holds a control character.
 */
int cache_entry_header(const struct cache_entry *e, char *buf, size_t cap);

/* Decodes the LEN bytes at BUF into E. Returns 0 or -1 (not an entry). */
int cache_entry_decode(const char *buf, size_t len, struct cache_entry *e);

/* Age of E at NOW_MS in whole seconds (never negative). */
int64_t cache_entry_age_s(const struct cache_entry *e, int64_t now_ms);

/* Remaining freshness of E at NOW_MS in ms; <= 0 when expired. */
int64_t cache_entry_fresh_ms(const struct cache_entry *e, int64_t now_ms);

#endif /* HSP_CACHE_H */
