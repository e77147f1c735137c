/*
 * req/purge.c - the erasure path (req/purge.h): PURGE, SPEC §13.
 */
#include "config.h"

#include "req/purge.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <event2/http.h>

#include "cache.h"
#include "conf.h"
#include "log.h"
#include "req/reply.h"
#include "req/tracking.h"
#include "script.h"
#include "stats.h"

/* Keys one SCAN step looks at: a step stays well under a millisecond of
 * Redis's time, and a tenant's whole purge of a Redis holding a million
 * keys takes a thousand round trips. */
#define PURGE_SCAN_COUNT 1000

static struct purge_state *
purge_state(struct req *r)
{
    return (struct purge_state *)(void *)r->ps.bytes;
}

/* What each scope is called in logs, and counted as. */
static const struct {
    const char        *what;
    enum stats_counter counter;
} purge_scopes[] = {
    [KEY_PURGE_PHONE] = { "the entries of phone", STATS_PURGES_PHONE },
    [KEY_PURGE_DISPOSITIONS] = { "the dispositions",
                                 STATS_PURGES_DISPOSITIONS },
    [KEY_PURGE_TENANT] = { "the whole cache", STATS_PURGES_TENANT },
};

/* Sends the next script of R's purge. Returns the next state. */
static enum req_state
purge_send(struct req *r)
{
    struct purge_state *ps = purge_state(r);
    const struct conf  *cf = r->env->cf;

    if (ps->scope == KEY_PURGE_TENANT) {
        struct script_purge_scan_args a = {
            .epoch_key = ps->keys.epoch, .cursor = ps->cursor,
            .match = ps->keys.match, .count = PURGE_SCAN_COUNT,
            .base = ps->keys.base, .epoch_expire_ms = cache_guard_ms(cf) };

        r->op = script_purge_scan(r->env->store, &a, req_on_store_reply, r);
    } else {
        struct script_purge_args a = {
            .hashes = { ps->keys.hashes[0], ps->keys.hashes[1] },
            .nhashes = ps->keys.nhashes, .epoch_key = ps->keys.epoch,
            .epoch_expire_ms = cache_guard_ms(cf) };

        r->op = script_purge(r->env->store, &a, req_on_store_reply, r);
    }
    if (r->op == NULL) {
        return purge_on_reply(r, NULL);
    }
    ps->steps++;
    return REQ_PURGE;
}

enum req_state
purge_recv(struct req *r)
{
    struct purge_state      *ps = purge_state(r);
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(r->client);
    const char              *query = uri != NULL ? evhttp_uri_get_query(uri)
                                                 : NULL;
    const char *const       *msgs;
    char                     ph[KEY_NAME_HEX + 1] = "";
    struct key_query         q;
    size_t                   n;

    memset(ps, 0, sizeof(*ps));
    snprintf(ps->cursor, sizeof(ps->cursor), "0");
    key_parse_query(query, &q);
    if (r->route.id == ROUTE_DISPOSITIONS) {
        ps->scope = KEY_PURGE_DISPOSITIONS;
    } else if (r->route.id == ROUTE_QUERY && !q.has_phone) {
        /* Only a query naming no phone at all: "phone=" with nothing
         * after it is a mistake answered 400, never the whole cache. */
        ps->scope = KEY_PURGE_TENANT;
    } else {
        ps->scope = KEY_PURGE_PHONE;
        n = key_query_phone(&q, r->phone, sizeof(r->phone), &msgs);
        if (n > 0) {
            reply_error_n(r, 400, msgs, n);
            return REQ_DONE;
        }
        (void)phone_mask(r->phone, ps->masked, sizeof(ps->masked));
        if (!req_phone_name(r, ph)) {
            reply_error(r, 500, "internal server error");
            return REQ_DONE;
        }
    }
    if (key_purge(r->env->cf->redis_prefix, r->tenant, ps->scope, ph,
                  &ps->keys) != 0) {
        reply_error(r, 500, "internal server error");
        return REQ_DONE;
    }
    return purge_send(r);
}

/* The purge is done: answers once the near caches heard of it. */
static enum req_state
purge_done(struct req *r)
{
    struct purge_state *ps = purge_state(r);
    char                json[48];

    if (!ps->barrier) {
        stats_add(purge_scopes[ps->scope].counter, 1);
        stats_add(STATS_PURGED_ENTRIES, (uint64_t)ps->purged);
        log_info("proxy: request %s: purged %s%s%s: %" PRId64 " entries "
                 "in %u step%s", r->request_id, purge_scopes[ps->scope].what,
                 ps->masked[0] != '\0' ? " " : "", ps->masked, ps->purged,
                 ps->steps, ps->steps == 1 ? "" : "s");
        ps->barrier = true;
        r->op = tracking_barrier(r->env->tracking, r->env->store,
                                 ps->keys.epoch, req_on_store_reply, r);
        if (r->op != NULL) {
            return REQ_PURGE;
        }
    }
    snprintf(json, sizeof(json), "{\"purged\":%" PRId64 "}", ps->purged);
    reply_json(r, 200, json);
    return REQ_DONE;
}

enum req_state
purge_on_reply(struct req *r, const void *data)
{
    struct purge_state      *ps = purge_state(r);
    const struct redisReply *reply = data;
    int64_t                  n = 0;
    int                      rc;

    if (ps->barrier) {
        /* A failed barrier only loses its ordering, with Redis failing
         * anyway; the entries are gone. */
        return purge_done(r);
    }
    if (ps->scope == KEY_PURGE_TENANT) {
        rc = script_purge_scan_reply(reply, ps->cursor, sizeof(ps->cursor),
                                     &n);
    } else {
        rc = script_count_reply(reply, &n);
    }
    if (rc != 0) {
        /* Nothing is claimed erased that may not be: the client is told
         * to try again (a PURGE is idempotent). */
        stats_add(STATS_PURGES_FAILED, 1);
        log_warn("proxy: request %s: purge of %s%s%s failed after %" PRId64
                 " entries (Redis %s)", r->request_id,
                 purge_scopes[ps->scope].what,
                 ps->masked[0] != '\0' ? " " : "", ps->masked, ps->purged,
                 reply == NULL ? "unavailable" : "refused the script");
        reply_error(r, 503, "cache unavailable: nothing purged for certain; "
                            "try again");
        return REQ_DONE;
    }
    ps->purged += n;
    if (ps->scope == KEY_PURGE_TENANT && strcmp(ps->cursor, "0") != 0) {
        return purge_send(r);
    }
    return purge_done(r);
}
