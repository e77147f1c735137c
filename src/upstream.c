/*
 * upstream.c - the keep-alive connection pool for one upstream (see
 * upstream.h): calls, their deadlines and queue, which connection a call
 * goes on, when a connection is kept idle or closed, the one resend of an
 * idempotent call, and the count of protocol errors. A connection's own
 * I/O is uconn's, the request's bytes upstream_wire's, and the
 * process-wide cap upstream_share's; none of them calls back in here by
 * name: a connection reports through the uconn_cbs the pool gives it.
 *
 * Ownership: the pool owns its connections and its queued calls; a call
 * in flight is owned by the pool too and is handed to nobody: it is freed
 * right after its callback, or by upstream_cancel. A connection is never
 * freed from inside its own callbacks: a connection that must go is
 * "buried" (uconn_stop, onto the graveyard) and the deferred "kick" event
 * frees it and starts queued calls.
 *
 * Why each rule (SPEC §11, PITFALLS §4.7):
 *   - back to the idle list only when the answer ended exactly where its
 *     framing said, with nothing left in the input buffer and the whole
 *     request written (uconn says so: "reusable"): any other byte would
 *     be read as the next request's answer, maybe another tenant's;
 *   - an idle connection keeps reading, and any byte or EOF on it closes
 *     it: it is never handed to the next request;
 *   - idle connections are dropped before the upstream drops them: see
 *     idle_ms() for the margins;
 *   - a GET that fails on a reused connection before any answer byte is
 *     sent again once on a fresh connection (the upstream closed it as we
 *     wrote: it never saw the request); a PATCH never is (PITFALLS 4.1.7).
 */
#include "config.h"

#include "upstream.h"

#include <assert.h>
#include <stdlib.h>
#include <sys/queue.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/util.h>

#include "log.h"
#include "lograte.h"
#include "stats.h"
#include "uconn.h"
#include "uparse.h"
#include "upstream_share.h"
#include "upstream_wire.h"

/*
 * Idle connections: without an advertised Keep-Alive timeout, 4 s. The
 * shortest common server defaults are 5 s (Node's keepAliveTimeout,
 * Apache's KeepAliveTimeout), and 1 s below that leaves room for the
 * request's own transit; a longer-lived upstream costs us one connect
 * per 4 idle seconds, which is nothing.
 */
#define UPSTREAM_IDLE_DEFAULT_MS    4000
#define UPSTREAM_IDLE_MARGIN_MIN_MS 1000

_Static_assert(STATS_UPROTO_BAD_CODING - STATS_UPROTO_FIRST + 1 ==
                   UPARSE_ERROR_COUNT - 1,
               "one protocol-error counter per uparse kind");

/* The pool's hold on one connection: what it is used for. */
struct upstream_conn {
    TAILQ_ENTRY(upstream_conn) next;    /* in idle or graveyard */
    struct upstream          *up;       /* borrowed: the owning pool */
    struct uconn             *uc;       /* owned: the connection itself */
    struct event             *idle_timer; /* owned: end of idle life */
    struct upstream_call     *call;     /* in flight, or NULL */
    bool                      dead;     /* buried: never used again */
    bool                      listed;   /* on idle or graveyard list */
};

TAILQ_HEAD(upstream_conn_list, upstream_conn);

struct upstream_call {
    TAILQ_ENTRY(upstream_call) next;    /* in the pool's wait queue */
    struct upstream          *up;       /* borrowed */
    struct upstream_conn     *conn;     /* while in flight */
    struct event             *timer;    /* owned: deadline, or deferral */
    struct evbuffer          *wire;     /* owned: the request's bytes */
    bool                      head;     /* a HEAD: the answer has no body */
    bool                      idempotent;
    bool                      queued;   /* on the wait queue */
    bool                      retried;  /* resent once already */
    bool                      fresh;    /* must go on a new connection */
    enum upstream_error       deferred; /* error to report from the timer */
    upstream_done_cb          cb;
    void                     *arg;
};

TAILQ_HEAD(upstream_call_list, upstream_call);

struct upstream {
    struct event_base        *base;     /* borrowed */
    struct evdns_base        *dns;      /* borrowed, may be NULL */
    SSL_CTX                  *ctx;      /* borrowed, NULL for http */
    struct url_upstream       url;
    char                      host_header[UPSTREAM_WIRE_HOST_MAX];
    struct upstream_share    *share;    /* borrowed: the process's cap */
    struct upstream_share_member member;/* our place in SHARE */
    unsigned                  nconns;   /* live (not buried) connections,
                                           each holding a slot of SHARE */
    int64_t                   timeout_ms;
    struct upstream_conn_list idle;     /* open, no request */
    struct upstream_conn_list graveyard;/* buried, to free */
    struct upstream_call_list waiting;  /* calls without a connection */
    struct event             *kick;     /* owned: deferred housekeeping */
};

static void call_dispatch(struct upstream_call *call, bool front);
static void on_kick(evutil_socket_t fd, short what, void *arg);
static void on_call_timer(evutil_socket_t fd, short what, void *arg);
static void on_idle_timer(evutil_socket_t fd, short what, void *arg);
static void on_conn_answered(void *arg, const struct upstream_response *resp,
                             bool reusable, int64_t ka);
static void on_conn_failed(void *arg, enum upstream_error err,
                           enum uparse_error kind, const char *why,
                           bool resend);
static void on_conn_lost(void *arg);

struct upstream *
upstream_new(struct event_base *base, struct evdns_base *dns, SSL_CTX *ctx,
             const struct url_upstream *url, struct upstream_share *share,
             int64_t timeout_ms)
{
    struct upstream *up;

    assert(share != NULL);
    assert(!url->tls || ctx != NULL);
    up = calloc(1, sizeof(*up));
    if (up == NULL) {
        log_err("upstream: out of memory");
        return NULL;
    }
    up->base = base;
    up->dns = dns;
    up->ctx = ctx;
    up->url = *url;
    up->share = share;
    up->timeout_ms = timeout_ms;
    TAILQ_INIT(&up->idle);
    TAILQ_INIT(&up->graveyard);
    TAILQ_INIT(&up->waiting);
    upstream_wire_host(up->host_header, sizeof(up->host_header), url);
    up->kick = event_new(base, -1, 0, on_kick, up);
    if (up->kick == NULL) {
        log_err("upstream: out of memory");
        free(up);
        return NULL;
    }
    upstream_share_join(share, &up->member, up->kick);
    return up;
}

/* Frees CONN and its connection (closing the socket). Never from inside
 * the connection's own callbacks. */
static void
conn_free(struct upstream_conn *conn)
{
    struct upstream *up = conn->up;

    assert(conn->call == NULL);
    if (conn->listed) {
        TAILQ_REMOVE(conn->dead ? &up->graveyard : &up->idle, conn, next);
        conn->listed = false;
    }
    if (!conn->dead) {
        assert(up->nconns > 0);
        up->nconns--;
        upstream_share_give(up->share);
    }
    uconn_free(conn->uc);
    if (conn->idle_timer != NULL) {
        event_free(conn->idle_timer);
    }
    free(conn);
}

void
upstream_set_timeout(struct upstream *up, int64_t timeout_ms)
{
    up->timeout_ms = timeout_ms;
}

void
upstream_free(struct upstream *up)
{
    struct upstream_conn *conn;

    if (up == NULL) {
        return;
    }
    assert(TAILQ_EMPTY(&up->waiting));
    while ((conn = TAILQ_FIRST(&up->idle)) != NULL) {
        conn_free(conn);
    }
    while ((conn = TAILQ_FIRST(&up->graveyard)) != NULL) {
        conn_free(conn);
    }
    assert(up->nconns == 0);
    upstream_share_leave(up->share, &up->member);
    event_free(up->kick);
    free(up);
}

const char *
upstream_host(const struct upstream *up)
{
    return up->url.host;
}

static void
upstream_kick(struct upstream *up)
{
    event_active(up->kick, 0, 0);
}

/* Takes CONN out of use: no callbacks, no reads or writes, never reused;
 * the kick frees it (its socket closes then). It no longer counts
 * against the share. */
static void
conn_bury(struct upstream_conn *conn)
{
    struct upstream *up = conn->up;

    assert(conn->call == NULL);
    if (conn->dead) {
        return;
    }
    if (conn->listed) {
        TAILQ_REMOVE(&up->idle, conn, next);
    }
    uconn_stop(conn->uc);
    evtimer_del(conn->idle_timer);
    conn->dead = true;
    conn->listed = true;
    TAILQ_INSERT_TAIL(&up->graveyard, conn, next);
    assert(up->nconns > 0);
    up->nconns--;
    upstream_share_give(up->share);
    upstream_kick(up);
}

/*
 * How long a connection may stay idle after an answer that advertised
 * `Keep-Alive: timeout=KA` seconds (-1: none). The margin is a quarter
 * of the timeout, at least 1 s: the upstream's clock started when it
 * sent its last byte, ours when we read it, and our next request must
 * also arrive before it gives up (timeout=5 → 3.75 s, 60 → 45 s, 1 → 0:
 * not pooled at all).
 */
static int64_t
idle_ms(int64_t ka)
{
    int64_t ms, margin;

    if (ka < 0) {
        return UPSTREAM_IDLE_DEFAULT_MS;
    }
    ms = ka * 1000;
    margin = ms / 4 > UPSTREAM_IDLE_MARGIN_MIN_MS ? ms / 4
                                                  : UPSTREAM_IDLE_MARGIN_MIN_MS;
    return ms > margin ? ms - margin : 0;
}

static struct upstream_conn *
conn_new(struct upstream *up)
{
    static const struct uconn_cbs cbs = { on_conn_answered, on_conn_failed,
                                          on_conn_lost };
    struct upstream_conn *conn;

    conn = calloc(1, sizeof(*conn));
    if (conn == NULL) {
        upstream_share_give(up->share); /* the slot taken for it */
        return NULL;
    }
    conn->up = up;
    up->nconns++;                   /* holds the slot its caller took */
    conn->idle_timer = evtimer_new(up->base, on_idle_timer, conn);
    if (conn->idle_timer == NULL) {
        goto fail;
    }
    conn->uc = uconn_new(up->base, up->dns, up->ctx, &up->url, &cbs, conn);
    if (conn->uc == NULL) {
        goto fail;
    }
    return conn;

fail:
    conn_free(conn);
    return NULL;
}

struct upstream_call *
upstream_send(struct upstream *up, const struct upstream_request *rq,
              upstream_done_cb cb, void *arg)
{
    struct upstream_call *call;
    struct timeval        tv;

    call = calloc(1, sizeof(*call));
    if (call == NULL) {
        return NULL;
    }
    call->up = up;
    call->head = rq->method == EVHTTP_REQ_HEAD;
    call->idempotent = rq->idempotent;
    call->cb = cb;
    call->arg = arg;
    call->wire = evbuffer_new();
    call->timer = evtimer_new(up->base, on_call_timer, call);
    if (call->wire == NULL || call->timer == NULL ||
        upstream_wire_build(call->wire, rq, up->host_header) != 0) {
        goto fail;
    }
    tv.tv_sec = (time_t)(up->timeout_ms / 1000);
    tv.tv_usec = (suseconds_t)(up->timeout_ms % 1000) * 1000;
    evtimer_add(call->timer, &tv);
    call_dispatch(call, false);
    return call;

fail:
    if (call->wire != NULL) {
        evbuffer_free(call->wire);
    }
    if (call->timer != NULL) {
        event_free(call->timer);
    }
    free(call);
    return NULL;
}

/* Reports ERR from the timer on the next loop turn, so that the callback
 * never runs inside upstream_send. */
static void
call_defer_error(struct upstream_call *call, enum upstream_error err)
{
    struct timeval zero = { 0, 0 };

    call->deferred = err;
    evtimer_add(call->timer, &zero);
}

/* Puts CALL on CONN: written now if CONN is connected, else once it is. */
static void
call_start(struct upstream_call *call, struct upstream_conn *conn)
{
    assert(conn->call == NULL && !conn->dead && !conn->listed);
    evtimer_del(conn->idle_timer);
    conn->call = call;
    call->conn = conn;
    if (uconn_start(conn->uc, call->wire, call->head) != 0) {
        conn->call = NULL;
        call->conn = NULL;
        conn_bury(conn);
        call_defer_error(call, UPSTREAM_EUNREACHABLE);
    }
}

/* Finds CALL a connection: an idle one, a new one, or a place in line
 * (at its head when FRONT: it was in line already). A call being retried
 * needs a new one, made room for if need be. */
static void
call_dispatch(struct upstream_call *call, bool front)
{
    struct upstream      *up = call->up;
    struct upstream_conn *conn;
    bool                  slot;

    conn = TAILQ_FIRST(&up->idle);
    if (conn != NULL && !call->fresh) {
        TAILQ_REMOVE(&up->idle, conn, next);
        conn->listed = false;
        call_start(call, conn);
        return;
    }
    slot = upstream_share_take(up->share, &up->member);
    if (!slot && conn != NULL) {
        /* The oldest idle one: as likely stale as the one that failed. */
        conn_bury(TAILQ_LAST(&up->idle, upstream_conn_list));
        slot = upstream_share_take(up->share, &up->member);
    }
    if (slot) {
        conn = conn_new(up);
        if (conn == NULL) {
            log_err("upstream: cannot create a connection to %s",
                    up->url.host);
            call_defer_error(call, UPSTREAM_EUNREACHABLE);
            return;
        }
        call_start(call, conn);
        return;
    }
    call->queued = true;
    if (front || call->fresh) {
        TAILQ_INSERT_HEAD(&up->waiting, call, next);
    } else {
        TAILQ_INSERT_TAIL(&up->waiting, call, next);
    }
}

static void
call_free(struct upstream_call *call)
{
    assert(!call->queued && call->conn == NULL);
    event_free(call->timer);
    evbuffer_free(call->wire);
    free(call);
}

static void
call_finish(struct upstream_call *call, enum upstream_error err,
            const struct upstream_response *resp, const char *why)
{
    call->cb(err, resp, why, call->arg);
    call_free(call);
}

/* Takes CALL off its connection or queue; a request on the wire is cut
 * off with its connection. */
static void
call_detach(struct upstream_call *call)
{
    struct upstream_conn *conn = call->conn;

    if (call->queued) {
        TAILQ_REMOVE(&call->up->waiting, call, next);
        call->queued = false;
    }
    if (conn != NULL) {
        conn->call = NULL;
        call->conn = NULL;
        conn_bury(conn);            /* the kick starts a queued call */
    }
}

void
upstream_cancel(struct upstream_call *call)
{
    call_detach(call);
    call_free(call);
}

/* A failed call's line, one per kind per period: a down upstream fails
 * every call, and each is counted and in the access log already. */
static struct lograte upstream_logs[UPSTREAM_EPROTO + 1];

static void
on_call_timer(evutil_socket_t fd, short what, void *arg)
{
    struct upstream_call *call = arg;

    if (call->deferred != UPSTREAM_OK) {
        call_finish(call, call->deferred, NULL, "cannot connect");
        return;
    }
    call_detach(call);
    log_rated(&upstream_logs[UPSTREAM_ETIMEOUT], LOG_WARN,
              "upstream: %s: timeout", call->up->url.host);
    call_finish(call, UPSTREAM_ETIMEOUT, NULL, "upstream timeout");
}

/* Ends CONN's call with ERR and closes CONN. KIND, when not UPARSE_OK,
 * is the protocol error to count. */
static void
conn_fail(struct upstream_conn *conn, enum upstream_error err,
          enum uparse_error kind, const char *why)
{
    struct upstream_call *call = conn->call;

    assert(call != NULL);
    conn->call = NULL;
    call->conn = NULL;
    conn_bury(conn);
    if (kind != UPARSE_OK) {
        stats_add((enum stats_counter)(STATS_UPROTO_FIRST + kind - 1), 1);
    }
    evtimer_del(call->timer);
    assert((unsigned)err < sizeof(upstream_logs) / sizeof(upstream_logs[0]));
    log_rated(&upstream_logs[err], LOG_WARN, "upstream: %s: %s",
              conn->up->url.host, why);
    call_finish(call, err, NULL, why);
}

/* CONN's call failed. An idempotent call that got nothing of an answer on
 * a reused connection (RESEND) goes out again, once, on a new one. */
static void
on_conn_failed(void *arg, enum upstream_error err, enum uparse_error kind,
               const char *why, bool resend)
{
    struct upstream_conn *conn = arg;
    struct upstream_call *call = conn->call;

    assert(call != NULL);
    if (resend && call->idempotent && !call->retried) {
        log_info("upstream: %s: %s on a reused connection, resending",
                 conn->up->url.host, why);
        conn->call = NULL;
        call->conn = NULL;
        conn_bury(conn);
        call->retried = true;
        call->fresh = true;
        call_dispatch(call, false);
        return;
    }
    conn_fail(conn, err, kind, why);
}

/* CONN's answer arrived: hand it over, then pool or close CONN. */
static void
on_conn_answered(void *arg, const struct upstream_response *resp,
                 bool reusable, int64_t ka)
{
    struct upstream_conn *conn = arg;
    struct upstream_call *call = conn->call;
    struct upstream      *up = conn->up;
    int64_t               idle;
    bool                  reuse;

    assert(call != NULL);
    conn->call = NULL;
    call->conn = NULL;
    evtimer_del(call->timer);
    idle = idle_ms(ka);
    reuse = reusable && idle > 0;
    call_finish(call, UPSTREAM_OK, resp, NULL);

    /* Back to the pool only after the callback, so that a call it starts
     * never lands on this connection from inside its own callback. */
    /* A slot another worker's pool waits for goes back rather than idle
     * here, unless this pool has calls in line for it itself. */
    if (reuse && upstream_share_wanted(up->share, &up->member) &&
        TAILQ_EMPTY(&up->waiting)) {
        reuse = false;
    }
    if (reuse && !conn->dead) {
        struct timeval tv = { (time_t)(idle / 1000),
                              (suseconds_t)(idle % 1000) * 1000 };

        conn->listed = true;
        TAILQ_INSERT_HEAD(&up->idle, conn, next);
        evtimer_add(conn->idle_timer, &tv);
    } else {
        conn_bury(conn);
    }
    upstream_kick(up);
}

/* CONN, idle, closed or spoke out of turn. */
static void
on_conn_lost(void *arg)
{
    struct upstream_conn *conn = arg;

    conn_bury(conn);
}

static void
on_idle_timer(evutil_socket_t fd, short what, void *arg)
{
    struct upstream_conn *conn = arg;

    /* Close to the upstream's own idle timeout: drop it before it does. */
    conn_bury(conn);
}

static void
on_kick(evutil_socket_t fd, short what, void *arg)
{
    struct upstream      *up = arg;
    struct upstream_conn *conn;
    struct upstream_call *call;

    while ((conn = TAILQ_FIRST(&up->graveyard)) != NULL) {
        conn_free(conn);
    }
    while ((call = TAILQ_FIRST(&up->waiting)) != NULL) {
        TAILQ_REMOVE(&up->waiting, call, next);
        call->queued = false;
        call_dispatch(call, true);
        if (call->queued) {
            break;                  /* no slot: woken when one is free */
        }
    }
    if (!TAILQ_EMPTY(&up->waiting)) {
        return;
    }
    /* Served meanwhile: stop asking. */
    upstream_share_unwant(up->share, &up->member);
    /* Another worker's pool waits for a slot that an idle connection
     * here holds: give it back (one per kick; it asks again if need be). */
    conn = TAILQ_LAST(&up->idle, upstream_conn_list);
    if (conn != NULL && upstream_share_wanted(up->share, &up->member)) {
        conn_bury(conn);
    }
}
