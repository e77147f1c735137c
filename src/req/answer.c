/*
 * req/answer.c - a read's answers, to it and to its waiters
 * (req/answer.h).
 */
#include "config.h"

#include "req/answer.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/http.h>

#include "cache.h"
#include "req/flight.h"
#include "req/forward.h"
#include "req/read_state.h"
#include "req/tracking.h"
#include "stats.h"

#define ANSWER_STATUS_MAX 128

/* Answers the client of R (if it still has one) with A; COLLAPSED: it
 * came of another request's fetch. */
static void
answer_one(struct req *r, const struct flight_answer *a, bool collapsed)
{
    char        status[ANSWER_STATUS_MAX];
    const char *s = a->status;

    if (r->client == NULL) {
        return;
    }
    if (a->e == NULL) {
        if (a->hname != NULL) {
            reply_error_with(r, a->err_status, a->msg, a->hname, a->hvalue);
        } else {
            reply_error(r, a->err_status, a->msg);
        }
        return;
    }
    if (collapsed && s != NULL) {
        snprintf(status, sizeof(status), "%s; collapsed", s);
        s = status;
    }
    if (a->stale >= 0) {
        stats_add((enum stats_counter)a->stale, 1);  /* each stale answer */
    }
    reply_entry(r, a->e, a->x_cache, s, a->age_s, false);
}

/* Answers R and its waiters with A. */
static enum req_state
answer_all(struct req *r, const struct flight_answer *a)
{
    struct read_state *rs = read_state(r);

    if (rs->waited && r->client != NULL) {
        stats_add(STATS_COALESCED, 1);  /* woken by another's fetch */
    }
    flight_release(&rs->fl, a);
    answer_one(r, a, rs->waited && a->forwarded);
    return REQ_DONE;
}

/* An error answer: STATUS, MSG and one header (HNAME, HVALUE) or none. */
static enum req_state
answer_err(struct req *r, bool forwarded, int status, const char *msg,
           const char *hname, const char *hvalue)
{
    struct flight_answer a = { .e = NULL, .forwarded = forwarded,
                               .stale = -1, .err_status = status,
                               .msg = msg, .hname = hname,
                               .hvalue = hvalue };

    return answer_all(r, &a);
}

enum req_state
answer_error(struct req *r, int status, const char *msg)
{
    return answer_err(r, false, status, msg, NULL, NULL);
}

enum req_state
answer_upstream_error(struct req *r)
{
    const char *msg;
    int         status;

    reply_upstream_status(r->uerr, &status, &msg);
    return answer_err(r, true, status, msg, NULL, NULL);
}

enum req_state
answer_denied(struct req *r, int64_t wait_ms)
{
    char after[24];

    forward_retry_after(wait_ms, after);
    stats_add(STATS_LOCAL_429, 1);
    return answer_err(r, false, 429, "rate limit exceeded", "Retry-After",
                      after);
}

enum req_state
answer_forwarded(struct req *r, bool stored)
{
    struct read_state   *rs = read_state(r);
    struct reply_cache   rc = { .x_cache = rs->x_cache, .fwd = rs->fwd,
                                .detail = rs->detail, .stored = stored,
                                .collapsed = rs->waited };
    struct cache_entry   e;
    struct flight_answer a = { .e = &e, .x_cache = rs->x_cache,
                               .age_s = -1, .forwarded = true,
                               .stale = -1 };
    const char          *ctype = evhttp_find_header(&r->headers,
                                                    "Content-Type");
    char                 status[ANSWER_STATUS_MAX];

    if (flight_has_waiters(&rs->fl)) {
        /* The waiters' own "collapsed" is added by each (answer_one),
         * not inherited from a leader that itself waited. */
        struct reply_cache wc = rc;

        wc.collapsed = false;
        memset(&e, 0, sizeof(e));
        e.status = r->status;
        e.ctype = ctype != NULL ? ctype : "";
        e.ctype_len = strlen(e.ctype);
        e.body = (const char *)evbuffer_pullup(r->body, -1);
        e.body_len = evbuffer_get_length(r->body);
        a.status = reply_cache_status(&wc, status, sizeof(status));
    }
    flight_release(&rs->fl, &a);    /* no waiters: just ends the flight */
    reply_relay(r, &rc);
    return REQ_DONE;
}

enum req_state
answer_hit(struct req *r, const struct cache_entry *e, int64_t now)
{
    struct read_state   *rs = read_state(r);
    struct reply_cache   rc = { .x_cache = STATS_CACHE_HIT,
                                .collapsed = rs->waited,
                                .ttl_s = (cache_entry_fresh_ms(e, now) +
                                          999) / 1000 };
    struct flight_answer a = { .e = e, .x_cache = STATS_CACHE_HIT,
                               .age_s = cache_entry_age_s(e, now),
                               .stale = -1 };
    char                 status[ANSWER_STATUS_MAX];

    a.status = reply_cache_status(&rc, status, sizeof(status));
    return answer_all(r, &a);
}

enum req_state
answer_handed(struct req *r, const struct cache_entry *e)
{
    struct read_state   *rs = read_state(r);
    struct reply_cache   rc = { .x_cache = rs->x_cache, .fwd = rs->fwd };
    struct flight_answer a = { .e = e, .x_cache = rs->x_cache, .age_s = -1,
                               .forwarded = true, .stale = -1 };
    char                 status[ANSWER_STATUS_MAX];

    a.status = reply_cache_status(&rc, status, sizeof(status));
    return answer_all(r, &a);
}

bool
answer_near(struct req *r)
{
    struct read_state *rs = read_state(r);
    struct cache_entry e;
    int64_t            now;

    if (!tracking_get(r->env->tracking, rs->key.hash, rs->key.field, &e)) {
        return false;
    }
    now = req_now_ms();
    if (cache_entry_fresh_ms(&e, now) <= 0 ||
        (rs->dir.max_age_s >= 0 &&
         cache_entry_age_s(&e, now) > rs->dir.max_age_s)) {
        return false;
    }
    stats_add(STATS_NEAR_HITS, 1);
    answer_hit(r, &e, now);
    return true;
}

bool
answer_stale(struct req *r, enum reply_detail detail, int fwd_status)
{
    struct read_state   *rs = read_state(r);
    struct cache_entry   e;
    int64_t              now = req_now_ms();
    struct reply_cache   rc = { .x_cache = STATS_CACHE_STALE,
                                .detail = detail,
                                .fwd_status = fwd_status };
    struct flight_answer a = { .e = &e, .x_cache = STATS_CACHE_STALE };
    char                 status[ANSWER_STATUS_MAX];

    if (rs->stale == NULL ||
        cache_entry_decode(rs->stale, rs->stale_len, &e) != 0) {
        return false;
    }
    if (r->client == NULL && rs->fl.flight == NULL) {
        return true;                /* a refresh: nobody to answer */
    }
    rc.ttl_s = cache_entry_fresh_ms(&e, now) / 1000;
    a.status = reply_cache_status(&rc, status, sizeof(status));
    a.stale = detail == REPLY_DETAIL_SWR            ? STATS_STALE_SWR
              : detail == REPLY_DETAIL_RATE_LIMITED ? STATS_STALE_RATE
                                                    : STATS_STALE_ERROR;
    a.age_s = cache_entry_age_s(&e, now);
    answer_all(r, &a);
    return true;
}

enum req_state
answer_waiter(struct req *r, const struct flight_answer *a)
{
    stats_add(STATS_COALESCED, 1);
    answer_one(r, a, a->forwarded);
    return REQ_DONE;
}
