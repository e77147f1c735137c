/*
 * client.c - one worker's client connections: the count against the
 * worker's share of max_connections, and each one's request deadline
 * (client.h explains both, and how connections are found).
 */
#include "config.h"

#include "client.h"

#include <assert.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>

#include "http.h"
#include "lex.h"
#include "log.h"
#include "stats.h"

/* A method evhttp reads as another of the same length (client_disguise). */
struct client_disguise {
    const char          *sent;      /* the method as the client sent it */
    const char          *as;        /* the word evhttp reads instead */
    enum evhttp_cmd_type as_cmd;    /* ... as evhttp reports it */
    enum client_sent     kind;
};

struct client {
    struct client_set        *set;      /* the worker's set */
    struct bufferevent       *bev;      /* evhttp's: made by on_new_bev */
    struct evhttp_connection *evcon;    /* NULL until adopted */
    struct evbuffer_cb_entry *watch;    /* on BEV's input; NULL if none */
    struct event             *deadline; /* owned: client_timeout */
    evutil_socket_t           fd;       /* -1 until adopted */
    bool                      started;  /* bytes of a request came */
    bool                      refused;  /* answered by us: input dropped */
    bool                      method_seen; /* this request's method was
                                           looked at (client_disguise) */
    const struct client_disguise *disguise; /* ... and what evhttp reads
                                           it as instead, or NULL */
    struct lex                lex;      /* the raw request being read */
    struct lex_limits         lim;      /* evhttp's, as this connection
                                           got them (a reload changes them
                                           for new connections only) */
    TAILQ_ENTRY(client)       next;     /* in the set's PENDING */
};

TAILQ_HEAD(client_list, client);

struct client_set {
    struct event_base     *base;        /* borrowed */
    struct evconnlistener *lev;         /* borrowed; NULL when stopped */
    size_t                 cap;         /* max connections of the worker */
    size_t                 n;           /* open connections */
    bool                   paused;      /* LEV disabled at the cap */
    const struct timeval  *timeout;     /* client_timeout, as a common
                                           timeout of BASE */
    struct timeval         timeout_tv;  /* the same, when that fails */
    struct lex_limits      lim;         /* evhttp's, for the lexer */
    struct event          *adopt;       /* owned: takes PENDING over */
    struct client_list     pending;     /* made, not yet adopted */
    struct client        **byfd;        /* owned: adopted ones by fd */
    size_t                 nbyfd;       /* entries of BYFD */
};

static void on_adopt(evutil_socket_t fd, short what, void *arg);

/* ---- the count and the listener ----------------------------------------- */

static void
client_pause_check(struct client_set *cs)
{
    if (cs->lev == NULL) {
        return;
    }
    if (!cs->paused && cs->n >= cs->cap) {
        if (evconnlistener_disable(cs->lev) == 0) {
            cs->paused = true;
            stats_add(STATS_ACCEPT_PAUSES, 1);
            log_warn("proxy: %zu client connections, this worker's share "
                     "of max_connections: not accepting until one closes",
                     cs->n);
        }
    } else if (cs->paused && cs->n < cs->cap) {
        if (evconnlistener_enable(cs->lev) == 0) {
            cs->paused = false;
        }
    }
}

static void
client_free(struct client *c)
{
    struct client_set *cs = c->set;

    if (c->fd >= 0 && (size_t)c->fd < cs->nbyfd && cs->byfd[c->fd] == c) {
        cs->byfd[c->fd] = NULL;
    }
    if (c->watch != NULL) {
        evbuffer_remove_cb_entry(bufferevent_get_input(c->bev), c->watch);
    }
    if (c->deadline != NULL) {
        event_free(c->deadline);
    }
    free(c);
    cs->n--;
    client_pause_check(cs);
}

/* ---- evhttp's side ------------------------------------------------------ */

/*
 * evhttp_set_bevcb: a new connection, inside evhttp's accept. Makes the
 * bufferevent as evhttp would (no BEV_OPT_CLOSE_ON_FREE: evhttp closes the
 * socket itself) and queues it for on_adopt. NULL lets evhttp make its
 * own: the connection then goes uncounted.
 */
static struct bufferevent *
on_new_bev(struct event_base *base, void *arg)
{
    struct client_set *cs = arg;
    struct client     *c = calloc(1, sizeof(*c));

    if (c == NULL) {
        return NULL;
    }
    c->bev = bufferevent_socket_new(base, -1, 0);
    if (c->bev == NULL) {
        free(c);
        return NULL;
    }
    c->set = cs;
    c->fd = -1;
    c->lim = cs->lim;               /* evhttp copies its limits now too */
    TAILQ_INSERT_TAIL(&cs->pending, c, next);
    cs->n++;
    event_active(cs->adopt, EV_READ, 1);
    /* At the cap now: the listener stops before accepting another. */
    client_pause_check(cs);
    return c->bev;
}

/* evhttp frees the connection: the last we hear of it. */
static void
on_close(struct evhttp_connection *evcon, void *arg)
{
    client_free(arg);
}

/*
 * Writes STATUS with MSG in the upstream's format straight to C's socket,
 * and has evhttp close the connection at once. evhttp writes nothing
 * while it reads a request, and the lexer judges only the request being
 * read; the one thing it may have queued, an interim "100 Continue", is
 * flushed first. Best effort, once.
 */
static void
client_answer_and_close(struct client *c, int status, const char *msg)
{
    static const struct timeval now = { 0, 1 };
    char                        body[192], out[448];
    int                         blen, n;

    blen = http_error_body(body, sizeof(body), status, &msg, 1);
    n = snprintf(out, sizeof(out),
                 "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\n"
                 "Content-Length: %d\r\nConnection: close\r\n\r\n%s",
                 status, http_reason(status), blen > 0 ? blen : 0,
                 blen > 0 ? body : "");
    /* Whatever evhttp queued (a "100 Continue") goes first. */
    if (evbuffer_get_length(bufferevent_get_output(c->bev)) > 0) {
        (void)evbuffer_write(bufferevent_get_output(c->bev), c->fd);
    }
    if (n > 0 && (size_t)n < sizeof(out)) {
        (void)send(c->fd, out, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
    }
    /* Let evhttp close it its own way: a read timeout, right now. */
    evhttp_connection_set_timeout_tv(c->evcon, &now);
}

/*
 * The lexer refused what C is sending, before evhttp read it: drop the
 * input (evhttp finds nothing to parse, then or later), answer, close.
 */
static void
client_refuse(struct client *c, struct evbuffer *in)
{
    const char *why = NULL;
    int         status = lex_fatal(&c->lex, &why);

    c->refused = true;
    evtimer_del(c->deadline);
    evbuffer_drain(in, evbuffer_get_length(in));
    stats_add(STATS_CLIENT_REFUSED, 1);
    log_debug("proxy: client connection %d: %d %s, closing", (int)c->fd,
              status, why);
    client_answer_and_close(c, status, why);
}

/*
 * Drops the empty lines at the front of BUF (at most LEN bytes), which
 * RFC 9112 §2.2 says to ignore before a request line and evhttp 2.1
 * refuses with its 400 page. Returns how many bytes it dropped.
 */
static size_t
client_skip_empty_lines(struct evbuffer *buf, size_t len)
{
    struct evbuffer_iovec v[4];
    size_t                skip = 0, k;
    int                   n, i;
    bool                  more = true;

    n = evbuffer_peek(buf, (ev_ssize_t)len, NULL, v, 4);
    for (i = 0; i < n && i < 4 && more; i++) {
        const char *p = v[i].iov_base;

        for (k = 0; k < v[i].iov_len && skip < len; k++, skip++) {
            if (p[k] != '\r' && p[k] != '\n') {
                more = false;
                break;
            }
        }
    }
    if (skip > 0) {
        evbuffer_drain(buf, skip);
    }
    return skip;
}

/*
 * The methods evhttp must read as others, by a word of the same length
 * written over the method's bytes:
 *
 *   - GET as PUT, so that evhttp reads the body it would drop for a GET
 *     (evhttp_method_may_have_body) and that would then be taken for the
 *     next request. evhttp reads a PUT without framing fields as
 *     bodiless, exactly as the GET it was.
 *   - PURGE (SPEC §13), a word evhttp 2.1 does not know, as TRACE, which
 *     it reads without a body (the lexer refuses a PURGE with one, as a
 *     DELETE with one) and which reaches the proxy from nowhere else: the
 *     lexer refuses a TRACE sent as such.
 *
 * The request is what it came as again when it arrives
 * (client_request_arrived).
 */
static const struct client_disguise client_disguises[] = {
    { "GET", "PUT", EVHTTP_REQ_PUT, CLIENT_SENT_GET },
    { "PURGE", "TRACE", EVHTTP_REQ_TRACE, CLIENT_SENT_PURGE },
};

/*
 * Once the lexer is past the method of C's request: writes the word
 * evhttp must read instead over the method's bytes, still at the front of
 * BUF (evhttp reads the request line only after this callback, and never
 * a partial one).
 */
static void
client_disguise(struct client *c, struct evbuffer *buf)
{
    unsigned char *p;
    size_t         i, len;

    if (c->method_seen || c->lex.state <= LEX_METHOD ||
        lex_fatal(&c->lex, NULL) != 0) {
        return;
    }
    c->method_seen = true;
    for (i = 0; i < sizeof(client_disguises) / sizeof(client_disguises[0]);
         i++) {
        if (strcmp(c->lex.method, client_disguises[i].sent) == 0) {
            break;
        }
    }
    if (i == sizeof(client_disguises) / sizeof(client_disguises[0])) {
        return;
    }
    len = strlen(client_disguises[i].sent);
    assert(strlen(client_disguises[i].as) == len);
    p = evbuffer_pullup(buf, (ev_ssize_t)len);
    if (p == NULL || memcmp(p, client_disguises[i].sent, len) != 0) {
        return;                     /* not where it must be: leave it */
    }
    memcpy(p, client_disguises[i].as, len);
    c->disguise = &client_disguises[i];
}

/* Feeds LEN bytes of BUF from offset FROM to C's lexer. */
static void
client_lex(struct client *c, struct evbuffer *buf, size_t from, size_t len)
{
    struct evbuffer_ptr   pos;
    struct evbuffer_iovec v[8];
    int                   n, i;

    if (c->lex.state == LEX_START && from == 0) {
        len -= client_skip_empty_lines(buf, len);
    }
    while (len > 0 && c->lex.state != LEX_DONE &&
           evbuffer_ptr_set(buf, &pos, from, EVBUFFER_PTR_SET) == 0) {
        n = evbuffer_peek(buf, (ev_ssize_t)len, &pos, v, 8);
        for (i = 0; i < n && i < 8 && len > 0; i++) {
            size_t k = v[i].iov_len < len ? v[i].iov_len : len;

            lex_feed(&c->lex, v[i].iov_base, k);
            from += k;
            len -= k;
        }
        if (n <= 0) {
            break;
        }
    }
    if (lex_fatal(&c->lex, NULL) != 0) {
        client_refuse(c, buf);
        return;
    }
    client_disguise(c, buf);
}

/*
 * Bytes came in, before evhttp parses them: a request has started, and
 * its raw bytes go through the lexer (the new bytes are at the end).
 * Runs inside the bufferevent's read, before evhttp's read callback.
 */
static void
on_input(struct evbuffer *buf, const struct evbuffer_cb_info *info,
         void *arg)
{
    struct client *c = arg;

    if (info->n_added == 0) {
        return;                     /* evhttp (or we) took bytes out */
    }
    if (c->refused) {
        evbuffer_drain(buf, evbuffer_get_length(buf));
        return;
    }
    c->started = true;
    if (info->n_deleted == 0) {
        client_lex(c, buf, info->orig_size, info->n_added);
    }
}

/* The deadline passed with no complete request. */
static void
on_deadline(evutil_socket_t fd, short what, void *arg)
{
    static const struct timeval now = { 0, 1 };
    struct client *c = arg;

    log_debug("proxy: client connection %d: no whole request within "
              "client_timeout, closing", (int)c->fd);
    if (c->started) {
        stats_add(STATS_CLIENT_TIMEOUTS, 1);
        client_answer_and_close(c, 408, "request timeout");
        return;
    }
    evhttp_connection_set_timeout_tv(c->evcon, &now);
}

/* The answer was written: the deadline restarts for the next request. */
static void
on_complete(struct evhttp_request *req, void *arg)
{
    struct client   *c = arg;
    struct evbuffer *in = bufferevent_get_input(c->bev);

    /* What is left in the input is the start of the next request. */
    c->started = evbuffer_get_length(in) > 0;
    c->method_seen = false;
    c->disguise = NULL;
    lex_reset(&c->lex, &c->lim);
    evtimer_add(c->deadline, c->set->timeout);
    client_lex(c, in, 0, evbuffer_get_length(in));
}

/* Records C in the set's table by its socket. Returns 0 or -1 (OOM). */
static int
client_index(struct client_set *cs, struct client *c)
{
    if ((size_t)c->fd >= cs->nbyfd) {
        size_t          n = cs->nbyfd > 0 ? cs->nbyfd : 64;
        struct client **t;

        while (n <= (size_t)c->fd) {
            n *= 2;
        }
        t = realloc(cs->byfd, n * sizeof(*t));
        if (t == NULL) {
            return -1;
        }
        memset(t + cs->nbyfd, 0, (n - cs->nbyfd) * sizeof(*t));
        cs->byfd = t;
        cs->nbyfd = n;
    }
    cs->byfd[c->fd] = c;
    return 0;
}

/*
 * Takes over the connections on_new_bev made: they are evhttp's now, and
 * none has seen any I/O yet (this runs before the loop polls again).
 */
static void
on_adopt(evutil_socket_t fd, short what, void *arg)
{
    struct client_set *cs = arg;
    struct client     *c;
    void              *evcon;

    while ((c = TAILQ_FIRST(&cs->pending)) != NULL) {
        TAILQ_REMOVE(&cs->pending, c, next);
        evcon = NULL;
        bufferevent_getcb(c->bev, NULL, NULL, NULL, &evcon);
        if (evcon == NULL) {
            /* evhttp failed to make a connection of it (out of memory). */
            cs->n--;
            free(c);
            continue;
        }
        c->evcon = evcon;
        c->fd = bufferevent_getfd(c->bev);
        evhttp_connection_set_closecb(c->evcon, on_close, c);
        c->deadline = evtimer_new(cs->base, on_deadline, c);
        if (c->fd < 0 || c->deadline == NULL || client_index(cs, c) != 0) {
            /* Counted, without a deadline: evhttp's idle timeout only. */
            log_warn("proxy: out of memory: a client connection without "
                     "its request deadline");
            if (c->deadline != NULL) {
                event_free(c->deadline);
                c->deadline = NULL;
            }
            continue;
        }
        lex_reset(&c->lex, &c->lim);
        c->watch = evbuffer_add_cb(bufferevent_get_input(c->bev), on_input,
                                   c);
        evtimer_add(c->deadline, cs->timeout);
    }
    client_pause_check(cs);
}

/* ---- API ---------------------------------------------------------------- */

struct client_set *
client_set_new(struct event_base *base, struct evhttp *http, size_t cap,
               int64_t timeout_ms)
{
    struct client_set *cs = calloc(1, sizeof(*cs));

    if (cs == NULL) {
        return NULL;
    }
    cs->base = base;
    cs->cap = cap > 0 ? cap : 1;
    TAILQ_INIT(&cs->pending);
    cs->timeout_tv.tv_sec = (time_t)(timeout_ms / 1000);
    cs->timeout_tv.tv_usec = (suseconds_t)(timeout_ms % 1000) * 1000;
    /* Every deadline has the same length: one queue instead of a heap. */
    cs->timeout = event_base_init_common_timeout(base, &cs->timeout_tv);
    if (cs->timeout == NULL) {
        cs->timeout = &cs->timeout_tv;
    }
    cs->adopt = event_new(base, -1, 0, on_adopt, cs);
    if (cs->adopt == NULL) {
        free(cs);
        return NULL;
    }
    evhttp_set_bevcb(http, on_new_bev, cs);
    return cs;
}

void
client_set_listener(struct client_set *cs, struct evconnlistener *lev)
{
    cs->lev = lev;
    cs->paused = false;
    client_pause_check(cs);
}

const char *
client_request_arrived(struct client_set *cs, struct evhttp_request *req,
                       enum client_sent *sent)
{
    struct evhttp_connection *evcon = evhttp_request_get_connection(req);
    struct client            *c;
    evutil_socket_t           fd;

    *sent = CLIENT_SENT_AS_READ;
    if (evcon == NULL) {
        return NULL;
    }
    fd = bufferevent_getfd(evhttp_connection_get_bufferevent(evcon));
    if (fd < 0 || (size_t)fd >= cs->nbyfd) {
        return NULL;
    }
    c = cs->byfd[fd];
    if (c == NULL || c->evcon != evcon) {
        return NULL;
    }
    evtimer_del(c->deadline);
    evhttp_request_set_on_complete_cb(req, on_complete, c);
    if (c->disguise != NULL &&
        evhttp_request_get_command(req) == c->disguise->as_cmd) {
        *sent = c->disguise->kind;
    }
    return lex_verdict(&c->lex);
}

void
client_set_limits(struct client_set *cs, size_t head_max, int64_t body_max,
                  int64_t body_refuse)
{
    cs->lim.head_max = head_max;
    cs->lim.body_max = body_max;
    cs->lim.body_refuse = body_refuse;
}

size_t
client_count(const struct client_set *cs)
{
    return cs->n;
}

void
client_set_free(struct client_set *cs)
{
    struct client *c;

    if (cs == NULL) {
        return;
    }
    while ((c = TAILQ_FIRST(&cs->pending)) != NULL) {
        TAILQ_REMOVE(&cs->pending, c, next);
        free(c);
    }
    event_free(cs->adopt);
    free(cs->byfd);
    free(cs);
}
