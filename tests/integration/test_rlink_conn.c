/*
 * test_rlink_conn.c - the Redis link (src/rlink.h) connecting to the
 * real redis-servers tests/integration/rlink.sh starts: TCP (an address
 * and a host name through evdns), a unix socket and TLS; AUTH with a
 * password and with an ACL user, SELECT; and what must never come up: a
 * refused AUTH or a missing password, a wrong CA, a wrong host name, a
 * missing client certificate, a closed port.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <hiredis/hiredis.h>

#include "hrlink.h"
#include "rlink.h"

TestSuite(rlink_conn, .init = hrlink_setup, .fini = hrlink_teardown,
          .timeout = 20);

Test(rlink_conn, tcp_password_select_set_get_eval)
{
    struct rlink_conf c = hrlink_conf_plain();
    struct rlink     *link;

    c.db = 3;
    link = hrlink_new(&c);
    cr_assert(hrlink_wait(&hrl.ups, 1, 3000), "not up: %s", hrl.detail);
    cr_assert(rlink_up(link));
    hrlink_cmd(link, "SET", "rl:k", "v1", NULL);
    hrlink_cmd(link, "GET", "rl:k", NULL, NULL);
    hrlink_cmd(link, "EVAL", "return redis.call('GET', KEYS[1]) .. '!'", "1",
        "rl:k");
    hrlink_cmd(link, "CLIENT", "INFO", NULL, NULL);
    cr_assert(hrlink_wait(&hrl.nreplies, 4, 3000));
    hrlink_expect_str(0, REDIS_REPLY_STATUS, "OK");
    hrlink_expect_str(1, REDIS_REPLY_STRING, "v1");
    hrlink_expect_str(2, REDIS_REPLY_STRING, "v1!");
    cr_expect(strstr(hrl.replies[3]->str, " db=3 ") != NULL, "%s",
              hrl.replies[3]->str);
    cr_expect_eq(hrl.fails + hrl.losts, 0);
    rlink_free(link);
}

/* HELLO's reply describes the server; the link names itself. */
Test(rlink_conn, hello_describes_the_server)
{
    struct rlink_conf   c = hrlink_conf_plain();
    struct rlink_server sv;
    struct rlink       *link;

    link = hrlink_new(&c);
    rlink_server(link, &sv);
    cr_expect_not(sv.hello, "described before it is up");
    cr_assert(hrlink_wait(&hrl.ups, 1, 3000), "not up: %s", hrl.detail);
    rlink_server(link, &sv);
    cr_expect(sv.hello);
    cr_expect_eq(sv.mode, RLINK_MODE_STANDALONE);
    cr_expect_eq(sv.role, RLINK_ROLE_MASTER);
    cr_expect(sv.version[0] >= '6' && sv.version[0] <= '9', "%s",
              sv.version);
    cr_expect_gt(sv.id, 0);
    hrlink_cmd(link, "CLIENT", "GETNAME", NULL, NULL);
    cr_assert(hrlink_wait(&hrl.nreplies, 1, 3000));
    hrlink_expect_str(0, REDIS_REPLY_STRING, "heavyset-proxy");
    rlink_free(link);
}

/*
 * A Redis without HELLO (older than 6; here renamed away) gets AUTH on
 * the same connection, SELECT after it; a wrong password is still
 * refused as AUTH.
 */
Test(rlink_conn, no_hello_falls_back_to_auth)
{
    struct rlink_conf   c = hrlink_conf_plain();
    struct rlink_server sv;
    struct rlink       *link;
    struct rlink_counters n;

    c.port = (uint16_t)atoi(hrlink_env("HSP_RL_NOHELLO_PORT"));
    c.db = 2;
    link = hrlink_new(&c);
    cr_assert(hrlink_wait(&hrl.ups, 1, 3000), "not up: %s", hrl.detail);
    cr_expect_eq(hrl.fails, 0, "%s", hrl.detail);
    rlink_server(link, &sv);
    cr_expect_not(sv.hello);
    cr_expect_eq(sv.mode, RLINK_MODE_UNKNOWN);
    hrlink_cmd(link, "CLIENT", "INFO", NULL, NULL);
    cr_assert(hrlink_wait(&hrl.nreplies, 1, 3000));
    cr_expect(strstr(hrl.replies[0]->str, " db=2 ") != NULL, "%s",
              hrl.replies[0]->str);
    rlink_counters(link, &n);
    cr_expect_eq(n.connects, 1);
    rlink_free(link);

    c.password = "wrong";
    hrl.ups = hrl.fails = 0;
    link = hrlink_new(&c);
    cr_assert(hrlink_wait(&hrl.fails, 1, 3000), "no failure");
    cr_expect_eq(hrl.ups, 0);
    cr_expect_eq(hrl.reason, RLINK_REASON_AUTH, "%s: %s",
                 rlink_reason_name(hrl.reason), hrl.detail);
    cr_expect_eq(hrl.kind, RERR_AUTH, "%s", rerr_name(hrl.kind));
    cr_expect(strstr(hrl.detail, "AUTH: WRONGPASS") != NULL, "%s",
              hrl.detail);
    rlink_free(link);
}

/* A host name goes through evdns (/etc/hosts); AUTH user password. */
Test(rlink_conn, acl_user_by_host_name)
{
    struct rlink_conf c = hrlink_conf_plain();
    struct rlink     *link;

    c.host = "localhost";
    c.user = "app";
    c.password = "secret";
    link = hrlink_new(&c);
    cr_assert(hrlink_wait(&hrl.ups, 1, 3000), "not up: %s", hrl.detail);
    hrlink_cmd(link, "ACL", "WHOAMI", NULL, NULL);
    cr_assert(hrlink_wait(&hrl.nreplies, 1, 3000));
    hrlink_expect_str(0, REDIS_REPLY_STRING, "app");
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
Test(rlink_conn, refused_auth_is_never_up)
{
    size_t i;

    for (i = 0; i < sizeof(refusals) / sizeof(refusals[0]); i++) {
        const struct refusal *r = &refusals[i];
        struct rlink_conf     c = hrlink_conf_plain();
        struct rlink         *link;
        struct rlink_counters n;

        c.user = r->user;
        c.password = r->password;
        hrl.fails = hrl.ups = 0;
        link = hrlink_new(&c);
        /* Two failures: the first, then a retry after the backoff. */
        cr_assert(hrlink_wait(&hrl.fails, 2, 3000), "row %zu: %d failures", i,
                  hrl.fails);
        cr_expect_eq(hrl.ups, 0, "row %zu came up", i);
        cr_expect(!rlink_up(link));
        cr_expect_eq(hrl.reason, r->reason, "row %zu: reason %s", i,
                     rlink_reason_name(hrl.reason));
        cr_expect_eq(hrl.kind, r->kind, "row %zu: kind %s", i,
                     rerr_name(hrl.kind));
        cr_expect(strstr(hrl.detail, r->detail) != NULL, "row %zu: %s", i,
                  hrl.detail);
        cr_expect_eq(rlink_command(link, 1, (const char *[]){ "PING" },
                                   NULL, hrlink_on_reply, NULL),
                     -1, "row %zu: a command was accepted", i);
        rlink_counters(link, &n);
        cr_expect_eq(n.connects, 0);
        rlink_free(link);
    }
}

Test(rlink_conn, unix_socket)
{
    struct rlink_conf c = hrlink_conf_plain();
    struct rlink     *link;

    c.transport = RLINK_UNIX;
    c.path = hrlink_env("HSP_RL_SOCK");
    c.host = NULL;
    c.port = 0;
    link = hrlink_new(&c);
    cr_assert(hrlink_wait(&hrl.ups, 1, 3000), "not up: %s", hrl.detail);
    hrlink_cmd(link, "PING", NULL, NULL, NULL);
    cr_assert(hrlink_wait(&hrl.nreplies, 1, 3000));
    hrlink_expect_str(0, REDIS_REPLY_STATUS, "PONG");
    rlink_free(link);
}

Test(rlink_conn, closed_port_fails_and_retries)
{
    struct rlink_conf c = hrlink_conf_plain();
    struct rlink     *link;

    c.port = (uint16_t)atoi(hrlink_env("HSP_RL_CLOSED_PORT"));
    link = hrlink_new(&c);
    cr_assert(hrlink_wait(&hrl.fails, 3, 3000), "%d failures", hrl.fails);
    cr_expect_eq(hrl.ups, 0);
    cr_expect_eq(hrl.reason, RLINK_REASON_CONNECT, "reason %s: %s",
                 rlink_reason_name(hrl.reason), hrl.detail);
    rlink_free(link);
}

/* Over TLS too, nothing listening is a refused connection, not a TLS
 * failure: a TLS Redis that is down (restarted, failed over) must not be
 * logged as a handshake problem (seen in scripts/chaos, tls-kill). */
Test(rlink_conn, tls_closed_port_fails_as_connect)
{
    struct rlink_conf c = hrlink_conf_tls("HSP_RL_TLS_PORT", "HSP_RL_CA");
    struct rlink     *link;

    c.port = (uint16_t)atoi(hrlink_env("HSP_RL_CLOSED_PORT"));
    link = hrlink_new(&c);
    cr_assert(hrlink_wait(&hrl.fails, 3, 3000), "%d failures", hrl.fails);
    cr_expect_eq(hrl.ups, 0);
    cr_expect_eq(hrl.reason, RLINK_REASON_CONNECT, "reason %s: %s",
                 rlink_reason_name(hrl.reason), hrl.detail);
    cr_expect(strstr(hrl.detail, "refused") != NULL, "%s", hrl.detail);
    rlink_free(link);
}

Test(rlink_conn, tls_round_trip)
{
    struct rlink_conf c = hrlink_conf_tls("HSP_RL_TLS_PORT", "HSP_RL_CA");
    struct rlink     *link;

    link = hrlink_new(&c);
    cr_assert(hrlink_wait(&hrl.ups, 1, 3000), "not up: %s", hrl.detail);
    hrlink_cmd(link, "SET", "rl:tls", "over tls", NULL);
    hrlink_cmd(link, "GET", "rl:tls", NULL, NULL);
    cr_assert(hrlink_wait(&hrl.nreplies, 2, 3000));
    hrlink_expect_str(0, REDIS_REPLY_STATUS, "OK");
    hrlink_expect_str(1, REDIS_REPLY_STRING, "over tls");
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

Test(rlink_conn, tls_verifies_chain_and_name)
{
    size_t i;

    for (i = 0; i < sizeof(tls_cases) / sizeof(tls_cases[0]); i++) {
        const struct tls_case *tc = &tls_cases[i];
        struct rlink_conf      c = hrlink_conf_tls(tc->port_var, tc->ca_var);
        struct rlink          *link;

        c.tls_name = tc->tls_name;
        hrl.ups = hrl.fails = 0;
        hrl.detail[0] = '\0';
        link = hrlink_new(&c);
        if (tc->up) {
            cr_expect(hrlink_wait(&hrl.ups, 1, 3000), "row %zu not up: %s", i,
                      hrl.detail);
        } else {
            cr_expect(hrlink_wait(&hrl.fails, 1, 3000), "row %zu: no failure",
                      i);
            cr_expect_eq(hrl.ups, 0, "row %zu came up", i);
            cr_expect_eq(hrl.reason, RLINK_REASON_TLS, "row %zu: %s: %s", i,
                         rlink_reason_name(hrl.reason), hrl.detail);
            cr_expect(strstr(hrl.detail, tc->detail) != NULL, "row %zu: %s",
                      i, hrl.detail);
        }
        rlink_free(link);
    }
}

/* A server that wants a client certificate: with ours, and without. */
Test(rlink_conn, tls_client_certificate)
{
    struct rlink_conf c = hrlink_conf_tls("HSP_RL_MTLS_PORT", "HSP_RL_CA");
    struct rlink     *link;

    c.cert_file = hrlink_env("HSP_RL_CLIENT_CERT");
    c.key_file = hrlink_env("HSP_RL_CLIENT_KEY");
    link = hrlink_new(&c);
    cr_assert(hrlink_wait(&hrl.ups, 1, 3000), "not up: %s", hrl.detail);
    hrlink_cmd(link, "PING", NULL, NULL, NULL);
    cr_assert(hrlink_wait(&hrl.nreplies, 1, 3000));
    hrlink_expect_str(0, REDIS_REPLY_STATUS, "PONG");
    rlink_free(link);

    /* Without: TLS 1.3 finishes the client's side first, so the refusal
     * shows at the handshake's HELLO. Never up, either way. */
    c.cert_file = c.key_file = NULL;
    hrl.ups = hrl.fails = 0;
    link = hrlink_new(&c);
    cr_assert(hrlink_wait(&hrl.fails, 1, 3000), "no failure");
    cr_expect_eq(hrl.ups, 0);
    cr_log_info("no client certificate: %s: %s",
                rlink_reason_name(hrl.reason), hrl.detail);
    cr_expect(hrl.reason == RLINK_REASON_TLS ||
                  hrl.reason == RLINK_REASON_CLOSED,
              "%s: %s", rlink_reason_name(hrl.reason), hrl.detail);
    rlink_free(link);
}

/* Unusable configurations are refused by rlink_new, with a reason. */
Test(rlink_conn, new_refuses_bad_conf)
{
    struct rlink_conf c = hrlink_conf_tls("HSP_RL_TLS_PORT", "HSP_RL_CA");
    char              err[256] = "";

    c.ca_file = "/nonexistent/ca.pem";
    cr_expect_null(rlink_new(hrl.base, hrl.dns, &c, hrlink_on_event, NULL,
                             NULL, err, sizeof(err)));
    cr_expect(strstr(err, "/nonexistent/ca.pem") != NULL, "%s", err);
    c = hrlink_conf_plain();
    cr_expect_null(rlink_new(hrl.base, NULL, &c, hrlink_on_event, NULL,
                             NULL, err, sizeof(err)));
    c.subscriber = true;
    cr_expect_null(rlink_new(hrl.base, hrl.dns, &c, hrlink_on_event, NULL,
                             NULL, err, sizeof(err)));
    cr_expect(strstr(err, "message callback") != NULL, "%s", err);
}

/* No event runs inside rlink_new, even for a failure known at once. */
Test(rlink_conn, no_event_inside_new)
{
    struct rlink_conf c = hrlink_conf_plain();
    struct rlink     *link;

    c.transport = RLINK_UNIX;
    c.path = "/nonexistent/redis.sock";
    link = hrlink_new(&c);
    cr_expect_eq(hrl.fails, 0);
    cr_assert(hrlink_wait(&hrl.fails, 1, 3000));
    cr_expect_eq(hrl.reason, RLINK_REASON_CONNECT, "%s: %s",
                 rlink_reason_name(hrl.reason), hrl.detail);
    cr_expect(strstr(hrl.detail, "No such file") != NULL, "%s", hrl.detail);
    rlink_free(link);
}
