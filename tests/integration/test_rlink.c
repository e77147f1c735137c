/*
 * test_rlink.c - the Redis link (src/rlink.h) against real redis-servers
 * that tests/integration/rlink.sh starts: round trips over TCP, a unix
 * socket and TLS, AUTH with a password and with an ACL user, refusals
 * (wrong password, no password, wrong CA, wrong host name, closed port),
 * pub/sub, a command deadline against DEBUG SLEEP, CLIENT KILL, one
 * write per loop turn, and freeing from inside a callback.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <criterion/criterion.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <hiredis/hiredis.h>

#include "rlink.h"

#define MAX_REPLIES 64

/* One test's loop, DNS base and what its links reported. */
struct t {
    struct event_base *base;
    struct evdns_base *dns;
    int                ups;
    int                fails;       /* RLINK_FAILED events */
    int                losts;       /* RLINK_LOST events */
    enum rlink_reason  reason;      /* of the last FAILED/LOST */
    enum rerr_kind     kind;
    char               detail[256];
    int                nreplies;    /* reply callbacks run, NULL included */
    int                nnull;       /* of which NULL */
    redisReply        *replies[MAX_REPLIES]; /* copies: type, str, int */
    char               msgs[8][64]; /* "kind channel payload" */
    int                nmsgs;
    double             null_at;     /* ms since epoch of the last NULL */
};

static struct t T;

static double
now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

static void
setup(void)
{
    memset(&T, 0, sizeof(T));
    T.base = event_base_new();
    cr_assert_not_null(T.base);
    T.dns = evdns_base_new(T.base, EVDNS_BASE_INITIALIZE_NAMESERVERS |
                                       EVDNS_BASE_DISABLE_WHEN_INACTIVE);
    if (T.dns == NULL) {            /* no resolv.conf: /etc/hosts only */
        T.dns = evdns_base_new(T.base, 0);
    }
    cr_assert_not_null(T.dns);
}

/* Frees the reply copies kept so far and counts from 0 again. */
static void
reset_replies(void)
{
    int i;

    for (i = 0; i < T.nreplies && i < MAX_REPLIES; i++) {
        if (T.replies[i] != NULL) {
            free(T.replies[i]->str);
            free(T.replies[i]);
            T.replies[i] = NULL;
        }
    }
    T.nreplies = 0;
    T.nnull = 0;
}

static void
teardown(void)
{
    reset_replies();
    evdns_base_free(T.dns, 0);
    event_base_free(T.base);
}

TestSuite(rlink, .init = setup, .fini = teardown, .timeout = 20);

static const char *
env(const char *name)
{
    const char *v = getenv(name);

    cr_assert_not_null(v, "%s unset: run me through rlink.sh", name);
    return v;
}

static void
on_event(struct rlink *link, enum rlink_event ev, enum rlink_reason reason,
         enum rerr_kind kind, const char *detail, void *arg)
{
    switch (ev) {
    case RLINK_UP:
        T.ups++;
        break;
    case RLINK_FAILED:
    case RLINK_LOST:
        if (ev == RLINK_FAILED) {
            T.fails++;
        } else {
            T.losts++;
        }
        T.reason = reason;
        T.kind = kind;
        snprintf(T.detail, sizeof(T.detail), "%s", detail);
        break;
    }
}

static void
on_message(struct rlink *link, struct redisReply *msg, void *arg)
{
    size_t i;
    int    n = 0;

    if (T.nmsgs >= 8) {
        return;
    }
    for (i = 0; i < msg->elements; i++) {
        const redisReply *e = msg->element[i];

        if (e->type == REDIS_REPLY_STRING) {
            n += snprintf(T.msgs[T.nmsgs] + n, sizeof(T.msgs[0]) - (size_t)n,
                          "%s%.*s", i > 0 ? " " : "", (int)e->len, e->str);
        } else if (e->type == REDIS_REPLY_INTEGER) {
            n += snprintf(T.msgs[T.nmsgs] + n, sizeof(T.msgs[0]) - (size_t)n,
                          " %lld", e->integer);
        } else if (e->type == REDIS_REPLY_ARRAY && e->elements > 0 &&
                   e->element[0]->type == REDIS_REPLY_STRING) {
            n += snprintf(T.msgs[T.nmsgs] + n, sizeof(T.msgs[0]) - (size_t)n,
                          " [%.*s]", (int)e->element[0]->len,
                          e->element[0]->str);
        }
    }
    T.nmsgs++;
}

/* Keeps a copy of REPLY's type, string and integer, in arrival order. */
static void
on_reply(struct rlink *link, struct redisReply *reply, void *arg)
{
    redisReply *copy = NULL;

    if (reply == NULL) {
        T.nnull++;
        T.null_at = now_ms();
    } else {
        copy = calloc(1, sizeof(*copy));
        copy->type = reply->type;
        copy->integer = reply->integer;
        copy->len = reply->len;
        copy->str = reply->str != NULL ? strndup(reply->str, reply->len)
                                       : NULL;
        copy->elements = reply->elements;
    }
    if (T.nreplies < MAX_REPLIES) {
        T.replies[T.nreplies] = copy;
    } else {
        free(copy);
    }
    T.nreplies++;
}

static void
on_wake(evutil_socket_t fd, short what, void *arg)
{
    *(int *)arg = 1;
}

/* Runs the loop until *COUNTER >= WANT or MS pass; whether it got there. */
static int
wait_for(const int *counter, int want, int ms)
{
    struct event  *ev;
    struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };
    int            expired = 0;

    ev = evtimer_new(T.base, on_wake, &expired);
    evtimer_add(ev, &tv);
    while (*counter < want && !expired) {
        event_base_loop(T.base, EVLOOP_ONCE);
    }
    event_free(ev);
    return *counter >= want;
}

/* Runs the loop for MS. */
static void
run_for(int ms)
{
    int never = 0;

    wait_for(&never, 1, ms);
}

static struct rlink_conf
conf_plain(void)
{
    struct rlink_conf c = {
        .transport = RLINK_TCP,
        .host = "127.0.0.1",
        .port = (uint16_t)atoi(env("HSP_RL_PORT")),
        .password = env("HSP_RL_PASS"),
        .timeout_ms = 2000,
        .backoff_min_ms = 20,
        .backoff_max_ms = 200,
        .autostart = true,
    };

    return c;
}

static struct rlink_conf
conf_tls(const char *port_var, const char *ca_var)
{
    struct rlink_conf c = {
        .transport = RLINK_TLS,
        .host = "localhost",
        .port = (uint16_t)atoi(env(port_var)),
        .ca_file = env(ca_var),
        .timeout_ms = 2000,
        .backoff_min_ms = 20,
        .backoff_max_ms = 200,
        .autostart = true,
    };

    return c;
}

static struct rlink *
new_link(const struct rlink_conf *c)
{
    char          err[256] = "";
    struct rlink *link;

    link = rlink_new(T.base, c->transport == RLINK_UNIX ? NULL : T.dns, c,
                     on_event, on_message, NULL, err, sizeof(err));
    cr_assert_not_null(link, "rlink_new: %s", err);
    return link;
}

/* Sends a command of up to 4 words (NULL-terminated) with on_reply. */
static void
cmd(struct rlink *link, const char *a0, const char *a1, const char *a2,
    const char *a3)
{
    const char *argv[4] = { a0, a1, a2, a3 };
    int         argc = 0;

    while (argc < 4 && argv[argc] != NULL) {
        argc++;
    }
    cr_assert_eq(rlink_command(link, argc, argv, NULL, on_reply, NULL), 0,
                 "rlink_command(%s) refused", a0);
}

static void
expect_str(int i, int type, const char *want)
{
    cr_assert_lt(i, T.nreplies);
    cr_assert_not_null(T.replies[i], "reply %d is NULL", i);
    cr_expect_eq(T.replies[i]->type, type, "reply %d: type %d, want %d", i,
                 T.replies[i]->type, type);
    cr_expect_str_eq(T.replies[i]->str, want, "reply %d", i);
}

Test(rlink, tcp_password_select_set_get_eval)
{
    struct rlink_conf c = conf_plain();
    struct rlink     *link;

    c.db = 3;
    link = new_link(&c);
    cr_assert(wait_for(&T.ups, 1, 3000), "not up: %s", T.detail);
    cr_assert(rlink_up(link));
    cmd(link, "SET", "rl:k", "v1", NULL);
    cmd(link, "GET", "rl:k", NULL, NULL);
    cmd(link, "EVAL", "return redis.call('GET', KEYS[1]) .. '!'", "1",
        "rl:k");
    cmd(link, "CLIENT", "INFO", NULL, NULL);
    cr_assert(wait_for(&T.nreplies, 4, 3000));
    expect_str(0, REDIS_REPLY_STATUS, "OK");
    expect_str(1, REDIS_REPLY_STRING, "v1");
    expect_str(2, REDIS_REPLY_STRING, "v1!");
    cr_expect(strstr(T.replies[3]->str, " db=3 ") != NULL, "%s",
              T.replies[3]->str);
    cr_expect_eq(T.fails + T.losts, 0);
    rlink_free(link);
}

/* A host name goes through evdns (/etc/hosts); AUTH user password. */
Test(rlink, acl_user_by_host_name)
{
    struct rlink_conf c = conf_plain();
    struct rlink     *link;

    c.host = "localhost";
    c.user = "app";
    c.password = "secret";
    link = new_link(&c);
    cr_assert(wait_for(&T.ups, 1, 3000), "not up: %s", T.detail);
    cmd(link, "ACL", "WHOAMI", NULL, NULL);
    cr_assert(wait_for(&T.nreplies, 1, 3000));
    expect_str(0, REDIS_REPLY_STRING, "app");
    rlink_free(link);
}

struct refusal {
    const char       *user;
    const char       *password;     /* NULL: none */
    enum rlink_reason reason;
    enum rerr_kind    kind;
    const char       *detail;       /* a part of the event's detail */
};

static const struct refusal refusals[] = {
    { NULL, "wrong", RLINK_REASON_AUTH, RERR_AUTH, "WRONGPASS" },
    { "app", "wrong", RLINK_REASON_AUTH, RERR_AUTH, "WRONGPASS" },
    { "nobody", "secret", RLINK_REASON_AUTH, RERR_AUTH, "WRONGPASS" },
    { NULL, NULL, RLINK_REASON_AUTH, RERR_AUTH, "NOAUTH" },
};

/* A refused AUTH is a failure that is retried, never "up". */
Test(rlink, refused_auth_is_never_up)
{
    size_t i;

    for (i = 0; i < sizeof(refusals) / sizeof(refusals[0]); i++) {
        const struct refusal *r = &refusals[i];
        struct rlink_conf     c = conf_plain();
        struct rlink         *link;
        struct rlink_counters n;

        c.user = r->user;
        c.password = r->password;
        T.fails = T.ups = 0;
        link = new_link(&c);
        /* Two failures: the first, then a retry after the backoff. */
        cr_assert(wait_for(&T.fails, 2, 3000), "row %zu: %d failures", i,
                  T.fails);
        cr_expect_eq(T.ups, 0, "row %zu came up", i);
        cr_expect(!rlink_up(link));
        cr_expect_eq(T.reason, r->reason, "row %zu: reason %s", i,
                     rlink_reason_name(T.reason));
        cr_expect_eq(T.kind, r->kind, "row %zu: kind %s", i,
                     rerr_name(T.kind));
        cr_expect(strstr(T.detail, r->detail) != NULL, "row %zu: %s", i,
                  T.detail);
        cr_expect_eq(rlink_command(link, 1, (const char *[]){ "PING" },
                                   NULL, on_reply, NULL),
                     -1, "row %zu: a command was accepted", i);
        rlink_counters(link, &n);
        cr_expect_eq(n.connects, 0);
        rlink_free(link);
    }
}

Test(rlink, unix_socket)
{
    struct rlink_conf c = conf_plain();
    struct rlink     *link;

    c.transport = RLINK_UNIX;
    c.path = env("HSP_RL_SOCK");
    c.host = NULL;
    c.port = 0;
    link = new_link(&c);
    cr_assert(wait_for(&T.ups, 1, 3000), "not up: %s", T.detail);
    cmd(link, "PING", NULL, NULL, NULL);
    cr_assert(wait_for(&T.nreplies, 1, 3000));
    expect_str(0, REDIS_REPLY_STATUS, "PONG");
    rlink_free(link);
}

Test(rlink, closed_port_fails_and_retries)
{
    struct rlink_conf c = conf_plain();
    struct rlink     *link;

    c.port = (uint16_t)atoi(env("HSP_RL_CLOSED_PORT"));
    link = new_link(&c);
    cr_assert(wait_for(&T.fails, 3, 3000), "%d failures", T.fails);
    cr_expect_eq(T.ups, 0);
    cr_expect_eq(T.reason, RLINK_REASON_CONNECT, "reason %s: %s",
                 rlink_reason_name(T.reason), T.detail);
    rlink_free(link);
}

Test(rlink, tls_round_trip)
{
    struct rlink_conf c = conf_tls("HSP_RL_TLS_PORT", "HSP_RL_CA");
    struct rlink     *link;

    link = new_link(&c);
    cr_assert(wait_for(&T.ups, 1, 3000), "not up: %s", T.detail);
    cmd(link, "SET", "rl:tls", "over tls", NULL);
    cmd(link, "GET", "rl:tls", NULL, NULL);
    cr_assert(wait_for(&T.nreplies, 2, 3000));
    expect_str(0, REDIS_REPLY_STATUS, "OK");
    expect_str(1, REDIS_REPLY_STRING, "over tls");
    rlink_free(link);
}

struct tls_case {
    const char *port_var;
    const char *ca_var;
    const char *tls_name;           /* NULL: the host, localhost */
    int         up;                 /* whether it must come up */
    const char *detail;             /* a part of the failure's detail */
};

static const struct tls_case tls_cases[] = {
    /* The right CA, the right name. */
    { "HSP_RL_TLS_PORT", "HSP_RL_CA", NULL, 1, NULL },
    /* A CA that signed nothing of the server's. */
    { "HSP_RL_TLS_PORT", "HSP_RL_OTHER_CA", NULL, 0,
      "certificate verify failed" },
    /* A valid chain for wrong.example, asked for localhost. */
    { "HSP_RL_WRONG_PORT", "HSP_RL_CA", NULL, 0, "hostname mismatch" },
    /* The same server, asked for the name it has: the name was why. */
    { "HSP_RL_WRONG_PORT", "HSP_RL_CA", "wrong.example", 1, NULL },
    /* localhost's certificate, asked for another name. */
    { "HSP_RL_TLS_PORT", "HSP_RL_CA", "wrong.example", 0,
      "hostname mismatch" },
};

Test(rlink, tls_verifies_chain_and_name)
{
    size_t i;

    for (i = 0; i < sizeof(tls_cases) / sizeof(tls_cases[0]); i++) {
        const struct tls_case *tc = &tls_cases[i];
        struct rlink_conf      c = conf_tls(tc->port_var, tc->ca_var);
        struct rlink          *link;

        c.tls_name = tc->tls_name;
        T.ups = T.fails = 0;
        T.detail[0] = '\0';
        link = new_link(&c);
        if (tc->up) {
            cr_expect(wait_for(&T.ups, 1, 3000), "row %zu not up: %s", i,
                      T.detail);
        } else {
            cr_expect(wait_for(&T.fails, 1, 3000), "row %zu: no failure",
                      i);
            cr_expect_eq(T.ups, 0, "row %zu came up", i);
            cr_expect_eq(T.reason, RLINK_REASON_TLS, "row %zu: %s: %s", i,
                         rlink_reason_name(T.reason), T.detail);
            cr_expect(strstr(T.detail, tc->detail) != NULL, "row %zu: %s",
                      i, T.detail);
        }
        rlink_free(link);
    }
}

/* A server that wants a client certificate: with ours, and without. */
Test(rlink, tls_client_certificate)
{
    struct rlink_conf c = conf_tls("HSP_RL_MTLS_PORT", "HSP_RL_CA");
    struct rlink     *link;

    c.cert_file = env("HSP_RL_CLIENT_CERT");
    c.key_file = env("HSP_RL_CLIENT_KEY");
    link = new_link(&c);
    cr_assert(wait_for(&T.ups, 1, 3000), "not up: %s", T.detail);
    cmd(link, "PING", NULL, NULL, NULL);
    cr_assert(wait_for(&T.nreplies, 1, 3000));
    expect_str(0, REDIS_REPLY_STATUS, "PONG");
    rlink_free(link);

    /* Without: TLS 1.3 finishes the client's side first, so the refusal
     * shows at the handshake's PING. Never up, either way. */
    c.cert_file = c.key_file = NULL;
    T.ups = T.fails = 0;
    link = new_link(&c);
    cr_assert(wait_for(&T.fails, 1, 3000), "no failure");
    cr_expect_eq(T.ups, 0);
    cr_log_info("no client certificate: %s: %s",
                rlink_reason_name(T.reason), T.detail);
    cr_expect(T.reason == RLINK_REASON_TLS || T.reason == RLINK_REASON_CLOSED,
              "%s: %s", rlink_reason_name(T.reason), T.detail);
    rlink_free(link);
}

Test(rlink, subscribe_and_publish)
{
    struct rlink_conf c = conf_plain();
    struct rlink     *sub;
    struct rlink     *pub;
    const char       *argv[] = { "SUBSCRIBE", "rl:wake" };

    c.subscriber = true;
    sub = new_link(&c);
    c.subscriber = false;
    pub = new_link(&c);
    cr_assert(wait_for(&T.ups, 2, 3000), "not up: %s", T.detail);
    /* In subscriber mode a command still gets its reply in order. */
    cr_assert_eq(rlink_command(sub, 2, (const char *[]){ "CLIENT", "ID" },
                               NULL, on_reply, NULL), 0);
    cr_assert_eq(rlink_command(sub, 2, argv, NULL, NULL, NULL), 0);
    cr_assert(wait_for(&T.nmsgs, 1, 3000));
    cr_expect_str_eq(T.msgs[0], "subscribe rl:wake 1");
    cr_assert(wait_for(&T.nreplies, 1, 3000));
    cr_expect_eq(T.replies[0]->type, REDIS_REPLY_INTEGER);
    cmd(pub, "PUBLISH", "rl:wake", "hello", NULL);
    cr_assert(wait_for(&T.nmsgs, 2, 3000));
    cr_expect_str_eq(T.msgs[1], "message rl:wake hello");
    cr_assert(wait_for(&T.nreplies, 2, 3000));
    cr_expect_eq(T.replies[1]->integer, 1, "PUBLISH reached %lld",
                 T.replies[1]->integer);
    rlink_free(pub);
    rlink_free(sub);
}

/* CLIENT TRACKING's REDIRECT invalidations reach the subscriber. */
Test(rlink, tracking_redirect_invalidations)
{
    struct rlink_conf c = conf_plain();
    struct rlink     *sub;
    struct rlink     *data;
    char              id[32];

    c.subscriber = true;
    sub = new_link(&c);
    c.subscriber = false;
    data = new_link(&c);
    cr_assert(wait_for(&T.ups, 2, 3000), "not up: %s", T.detail);
    cr_assert_eq(rlink_command(sub, 2, (const char *[]){ "CLIENT", "ID" },
                               NULL, on_reply, NULL), 0);
    cr_assert_eq(rlink_command(sub, 2,
                               (const char *[]){ "SUBSCRIBE",
                                                 "__redis__:invalidate" },
                               NULL, NULL, NULL), 0);
    cr_assert(wait_for(&T.nreplies, 1, 3000));
    snprintf(id, sizeof(id), "%lld", T.replies[0]->integer);
    cr_assert_eq(rlink_command(data, 5,
                               (const char *[]){ "CLIENT", "TRACKING", "on",
                                                 "REDIRECT", id },
                               NULL, on_reply, NULL), 0);
    cmd(data, "GET", "rl:tracked", NULL, NULL);
    cmd(data, "SET", "rl:tracked", "new", NULL);
    cr_assert(wait_for(&T.nreplies, 4, 3000));
    expect_str(1, REDIS_REPLY_STATUS, "OK");
    cr_assert(wait_for(&T.nmsgs, 2, 3000), "%d messages", T.nmsgs);
    cr_expect_str_eq(T.msgs[1], "message __redis__:invalidate [rl:tracked]");
    rlink_free(data);
    rlink_free(sub);
}

/*
 * A Redis that stops answering: commands past their 100 ms deadline get
 * NULL after about 100 ms, the link is dropped and comes back once Redis
 * answers again.
 */
Test(rlink, deadline_drops_and_reconnects)
{
    struct rlink_conf     c = conf_plain();
    struct rlink         *link;
    struct rlink_counters n;
    double                sent;

    c.timeout_ms = 100;
    link = new_link(&c);
    cr_assert(wait_for(&T.ups, 1, 3000), "not up: %s", T.detail);
    sent = now_ms();
    cmd(link, "DEBUG", "SLEEP", "1", NULL);
    cmd(link, "GET", "rl:k", NULL, NULL);
    cr_assert(wait_for(&T.nnull, 2, 3000), "%d NULLs", T.nnull);
    cr_log_info("deadline: NULL after %.0f ms", T.null_at - sent);
    cr_expect_geq(T.null_at - sent, 95.0, "NULL after %.0f ms",
                  T.null_at - sent);
    cr_expect_leq(T.null_at - sent, 400.0, "NULL after %.0f ms",
                  T.null_at - sent);
    cr_expect_eq(T.losts, 1);
    cr_expect_eq(T.reason, RLINK_REASON_TIMEOUT, "%s",
                 rlink_reason_name(T.reason));
    cr_expect(!rlink_up(link));
    rlink_counters(link, &n);
    cr_expect_eq(n.timeouts, 1);
    /* Back once the sleep is over (a second at most from now). */
    cr_assert(wait_for(&T.ups, 2, 4000), "not back: %s", T.detail);
    cmd(link, "PING", NULL, NULL, NULL);
    cr_assert(wait_for(&T.nreplies, 3, 3000));
    expect_str(2, REDIS_REPLY_STATUS, "PONG");
    rlink_free(link);
}

/* CLIENT KILL of the link's connection: pending get NULL, it comes back. */
Test(rlink, client_kill_fails_pending_and_reconnects)
{
    struct rlink_conf c = conf_plain();
    struct rlink     *link;
    struct rlink     *ctl;
    char              id[32];

    c.timeout_ms = 5000;
    link = new_link(&c);
    ctl = new_link(&c);
    cr_assert(wait_for(&T.ups, 2, 3000), "not up: %s", T.detail);
    cmd(link, "CLIENT", "ID", NULL, NULL);
    cr_assert(wait_for(&T.nreplies, 1, 3000));
    snprintf(id, sizeof(id), "%lld", T.replies[0]->integer);
    cmd(link, "BLPOP", "rl:never", "4", NULL);
    cmd(link, "PING", NULL, NULL, NULL);
    run_for(50);                    /* BLPOP is blocking in Redis now */
    cmd(ctl, "CLIENT", "KILL", "ID", id);
    cr_assert(wait_for(&T.nnull, 2, 3000), "%d NULLs", T.nnull);
    cr_assert(wait_for(&T.nreplies, 4, 3000));
    cr_expect_eq(T.losts, 1);
    cr_expect_eq(T.reason, RLINK_REASON_CLOSED, "%s: %s",
                 rlink_reason_name(T.reason), T.detail);
    cr_assert(wait_for(&T.ups, 3, 3000), "not back: %s", T.detail);
    cmd(link, "PING", NULL, NULL, NULL);
    cr_assert(wait_for(&T.nreplies, 5, 3000));
    expect_str(4, REDIS_REPLY_STATUS, "PONG");
    rlink_free(ctl);
    rlink_free(link);
}

struct turn_case {
    enum rlink_transport transport;
    int                  commands;
};

static const struct turn_case turn_cases[] = {
    { RLINK_TCP, 1 }, { RLINK_TCP, 3 }, { RLINK_TCP, 100 },
    { RLINK_UNIX, 50 }, { RLINK_TLS, 50 },
};

/* Commands of one loop turn leave in one write, replies come in order. */
Test(rlink, one_write_per_turn)
{
    size_t i;

    for (i = 0; i < sizeof(turn_cases) / sizeof(turn_cases[0]); i++) {
        const struct turn_case *tc = &turn_cases[i];
        struct rlink_conf       c = conf_plain();
        struct rlink           *link;
        struct rlink_counters   before;
        struct rlink_counters   after;
        int                     k;

        if (tc->transport == RLINK_TLS) {
            c = conf_tls("HSP_RL_TLS_PORT", "HSP_RL_CA");
        } else if (tc->transport == RLINK_UNIX) {
            c.transport = RLINK_UNIX;
            c.path = env("HSP_RL_SOCK");
        }
        T.ups = 0;
        reset_replies();
        link = new_link(&c);
        cr_assert(wait_for(&T.ups, 1, 3000), "row %zu not up: %s", i,
                  T.detail);
        cmd(link, "DEL", "rl:n", NULL, NULL);
        cr_assert(wait_for(&T.nreplies, 1, 3000));
        rlink_counters(link, &before);
        reset_replies();
        for (k = 0; k < tc->commands; k++) {
            cr_assert_eq(rlink_command(link, 2,
                                       (const char *[]){ "INCR", "rl:n" },
                                       NULL, on_reply, NULL), 0);
        }
        cr_assert(wait_for(&T.nreplies, tc->commands, 3000));
        rlink_counters(link, &after);
        cr_expect_eq(after.writes - before.writes, 1,
                     "row %zu: %d commands took %llu writes", i,
                     tc->commands,
                     (unsigned long long)(after.writes - before.writes));
        cr_expect_eq(after.commands - before.commands,
                     (uint64_t)tc->commands);
        for (k = 0; k < tc->commands && k < MAX_REPLIES; k++) {
            cr_expect_eq(T.replies[k]->integer, k + 1, "row %zu reply %d", i,
                         k);
        }
        reset_replies();
        rlink_free(link);
    }
}

static int freed_in_cb;

static void
on_reply_free(struct rlink *link, struct redisReply *reply, void *arg)
{
    on_reply(link, reply, arg);
    rlink_free(link);
    freed_in_cb++;
}

/* rlink_free from a reply callback: the rest get NULL, nothing leaks. */
Test(rlink, free_inside_a_callback)
{
    struct rlink_conf c = conf_plain();
    struct rlink     *link;

    link = new_link(&c);
    cr_assert(wait_for(&T.ups, 1, 3000), "not up: %s", T.detail);
    cr_assert_eq(rlink_command(link, 1, (const char *[]){ "PING" }, NULL,
                               on_reply_free, NULL), 0);
    cmd(link, "PING", NULL, NULL, NULL);
    cmd(link, "PING", NULL, NULL, NULL);
    cr_assert(wait_for(&T.nreplies, 3, 3000));
    cr_expect_eq(freed_in_cb, 1);
    cr_expect_not_null(T.replies[0]);
    cr_expect_eq(T.nnull, 2);
    run_for(50);                    /* no event, no retry after the free */
    cr_expect_eq(T.losts + T.fails, 0);
}

/* rlink_free while commands are pending: each gets NULL, once. */
Test(rlink, free_fails_pending)
{
    struct rlink_conf c = conf_plain();
    struct rlink     *link;

    link = new_link(&c);
    cr_assert(wait_for(&T.ups, 1, 3000), "not up: %s", T.detail);
    cmd(link, "PING", NULL, NULL, NULL);
    cmd(link, "PING", NULL, NULL, NULL);
    rlink_free(link);
    cr_expect_eq(T.nnull, 2);
    cr_expect_eq(T.nreplies, 2);
    run_for(50);
    cr_expect_eq(T.nreplies, 2);
}

/* Unusable configurations are refused by rlink_new, with a reason. */
Test(rlink, new_refuses_bad_conf)
{
    struct rlink_conf c = conf_tls("HSP_RL_TLS_PORT", "HSP_RL_CA");
    char              err[256] = "";

    c.ca_file = "/nonexistent/ca.pem";
    cr_expect_null(rlink_new(T.base, T.dns, &c, on_event, NULL, NULL, err,
                             sizeof(err)));
    cr_expect(strstr(err, "/nonexistent/ca.pem") != NULL, "%s", err);
    c = conf_plain();
    cr_expect_null(rlink_new(T.base, NULL, &c, on_event, NULL, NULL, err,
                             sizeof(err)));
    c.subscriber = true;
    cr_expect_null(rlink_new(T.base, T.dns, &c, on_event, NULL, NULL, err,
                             sizeof(err)));
    cr_expect(strstr(err, "message callback") != NULL, "%s", err);
}

/* rlink_drop while up: pending get NULL, LOST says why, it comes back. */
Test(rlink, drop_fails_pending_and_reconnects)
{
    struct rlink_conf c = conf_plain();
    struct rlink     *link;

    link = new_link(&c);
    cr_assert(wait_for(&T.ups, 1, 3000), "not up: %s", T.detail);
    cmd(link, "PING", NULL, NULL, NULL);
    rlink_drop(link);
    cr_expect_eq(T.nnull, 1);
    cr_expect_eq(T.losts, 1);
    cr_expect_eq(T.reason, RLINK_REASON_DROPPED);
    cr_expect(!rlink_up(link));
    rlink_drop(link);               /* idle: nothing more */
    cr_expect_eq(T.losts, 1);
    cr_assert(wait_for(&T.ups, 2, 3000), "not back: %s", T.detail);
    rlink_free(link);
}

/* No event runs inside rlink_new, even for a failure known at once. */
Test(rlink, no_event_inside_new)
{
    struct rlink_conf c = conf_plain();
    struct rlink     *link;

    c.transport = RLINK_UNIX;
    c.path = "/nonexistent/redis.sock";
    link = new_link(&c);
    cr_expect_eq(T.fails, 0);
    cr_assert(wait_for(&T.fails, 1, 3000));
    cr_expect_eq(T.reason, RLINK_REASON_CONNECT, "%s: %s",
                 rlink_reason_name(T.reason), T.detail);
    cr_expect(strstr(T.detail, "No such file") != NULL, "%s", T.detail);
    rlink_free(link);
}
