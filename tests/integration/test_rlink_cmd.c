/*
 * test_rlink_cmd.c - the Redis link (src/rlink.h) carrying commands to
 * the real redis-servers tests/integration/rlink.sh starts: pub/sub and
 * CLIENT TRACKING's REDIRECT invalidations, a command deadline against
 * DEBUG SLEEP, CLIENT KILL and rlink_drop (pending get NULL, the link
 * comes back), one write per loop turn, and freeing from callbacks.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <hiredis/hiredis.h>

#include "hrlink.h"
#include "rlink.h"

TestSuite(rlink_cmd, .init = hrlink_setup, .fini = hrlink_teardown,
          .timeout = 20);

Test(rlink_cmd, subscribe_and_publish)
{
    struct rlink_conf c = hrlink_conf_plain();
    struct rlink     *sub;
    struct rlink     *pub;
    const char       *argv[] = { "SUBSCRIBE", "rl:wake" };

    c.subscriber = true;
    sub = hrlink_new(&c);
    c.subscriber = false;
    pub = hrlink_new(&c);
    cr_assert(hrlink_wait(&hrl.ups, 2, 3000), "not up: %s", hrl.detail);
    /* In subscriber mode a command still gets its reply in order. */
    cr_assert_eq(rlink_command(sub, 2, (const char *[]){ "CLIENT", "ID" },
                               NULL, hrlink_on_reply, NULL), 0);
    cr_assert_eq(rlink_command(sub, 2, argv, NULL, NULL, NULL), 0);
    cr_assert(hrlink_wait(&hrl.nmsgs, 1, 3000));
    cr_expect_str_eq(hrl.msgs[0], "subscribe rl:wake 1");
    cr_assert(hrlink_wait(&hrl.nreplies, 1, 3000));
    cr_expect_eq(hrl.replies[0]->type, REDIS_REPLY_INTEGER);
    hrlink_cmd(pub, "PUBLISH", "rl:wake", "hello", NULL);
    cr_assert(hrlink_wait(&hrl.nmsgs, 2, 3000));
    cr_expect_str_eq(hrl.msgs[1], "message rl:wake hello");
    cr_assert(hrlink_wait(&hrl.nreplies, 2, 3000));
    cr_expect_eq(hrl.replies[1]->integer, 1, "PUBLISH reached %lld",
                 hrl.replies[1]->integer);
    /* A subscriber's PING is answered ["pong", ""], to its callback. */
    hrlink_cmd(sub, "PING", NULL, NULL, NULL);
    cr_assert(hrlink_wait(&hrl.nreplies, 3, 3000));
    cr_expect_eq(hrl.replies[2]->type, REDIS_REPLY_ARRAY);
    cr_expect_eq(hrl.replies[2]->elements, 2);
    cr_expect_eq(hrl.nmsgs, 2);
    rlink_free(pub);
    rlink_free(sub);
}

/*
 * A SUBSCRIBE Redis refuses (NOPERM: a channel the ACL user may not use)
 * answers its callback with the error and keeps the link up; a channel
 * it may use is confirmed to both callbacks, in order.
 */
Test(rlink_cmd, a_refused_subscribe_keeps_the_link)
{
    struct rlink_conf     c = hrlink_conf_plain();
    struct rlink         *admin, *sub;
    struct rlink_counters n;

    admin = hrlink_new(&c);
    cr_assert(hrlink_wait(&hrl.ups, 1, 3000), "not up: %s", hrl.detail);
    cr_assert_eq(rlink_command(admin, 8,
                               (const char *[]){ "ACL", "SETUSER", "chan",
                                                 "on", ">pw", "+@all",
                                                 "resetchannels", "&ok:*" },
                               NULL, hrlink_on_reply, NULL), 0);
    cr_assert(hrlink_wait(&hrl.nreplies, 1, 3000));
    hrlink_expect_str(0, REDIS_REPLY_STATUS, "OK");
    c.subscriber = true;
    c.user = "chan";
    c.password = "pw";
    sub = hrlink_new(&c);
    cr_assert(hrlink_wait(&hrl.ups, 2, 3000), "not up: %s", hrl.detail);
    cr_assert_eq(rlink_command(sub, 2, (const char *[]){ "SUBSCRIBE", "no:x" },
                               NULL, hrlink_on_reply, NULL), 0);
    cr_assert_eq(rlink_command(sub, 2, (const char *[]){ "SUBSCRIBE", "ok:x" },
                               NULL, hrlink_on_reply, NULL), 0);
    cr_assert(hrlink_wait(&hrl.nreplies, 3, 3000));
    cr_expect_eq(hrl.replies[1]->type, REDIS_REPLY_ERROR);
    cr_expect(strncmp(hrl.replies[1]->str, "NOPERM", 6) == 0, "%s",
              hrl.replies[1]->str);
    cr_expect_eq(hrl.replies[2]->type, REDIS_REPLY_ARRAY);
    cr_expect_eq(hrl.nmsgs, 1);
    cr_expect_str_eq(hrl.msgs[0], "subscribe ok:x 1");
    hrlink_run(200);
    cr_expect(rlink_up(sub), "a refused SUBSCRIBE dropped the link");
    cr_expect_eq(hrl.fails + hrl.losts, 0, "%s", hrl.detail);
    rlink_counters(sub, &n);
    cr_expect_eq(n.connects, 1);
    rlink_free(sub);
    rlink_free(admin);
}

/* CLIENT TRACKING's REDIRECT invalidations reach the subscriber. */
Test(rlink_cmd, tracking_redirect_invalidations)
{
    struct rlink_conf c = hrlink_conf_plain();
    struct rlink     *sub;
    struct rlink     *data;
    char              id[32];

    c.subscriber = true;
    sub = hrlink_new(&c);
    c.subscriber = false;
    data = hrlink_new(&c);
    cr_assert(hrlink_wait(&hrl.ups, 2, 3000), "not up: %s", hrl.detail);
    cr_assert_eq(rlink_command(sub, 2, (const char *[]){ "CLIENT", "ID" },
                               NULL, hrlink_on_reply, NULL), 0);
    cr_assert_eq(rlink_command(sub, 2,
                               (const char *[]){ "SUBSCRIBE",
                                                 "__redis__:invalidate" },
                               NULL, NULL, NULL), 0);
    cr_assert(hrlink_wait(&hrl.nreplies, 1, 3000));
    snprintf(id, sizeof(id), "%lld", hrl.replies[0]->integer);
    cr_assert_eq(rlink_command(data, 5,
                               (const char *[]){ "CLIENT", "TRACKING", "on",
                                                 "REDIRECT", id },
                               NULL, hrlink_on_reply, NULL), 0);
    hrlink_cmd(data, "GET", "rl:tracked", NULL, NULL);
    hrlink_cmd(data, "SET", "rl:tracked", "new", NULL);
    cr_assert(hrlink_wait(&hrl.nreplies, 4, 3000));
    hrlink_expect_str(1, REDIS_REPLY_STATUS, "OK");
    cr_assert(hrlink_wait(&hrl.nmsgs, 2, 3000), "%d messages", hrl.nmsgs);
    cr_expect_str_eq(hrl.msgs[1], "message __redis__:invalidate [rl:tracked]");
    rlink_free(data);
    rlink_free(sub);
}

/*
 * A Redis that stops answering: commands past their 100 ms deadline get
 * NULL after about 100 ms, the link is dropped and comes back once Redis
 * answers again.
 */
Test(rlink_cmd, deadline_drops_and_reconnects)
{
    struct rlink_conf     c = hrlink_conf_plain();
    struct rlink         *link;
    struct rlink_counters n;
    double                sent;

    c.timeout_ms = 100;
    link = hrlink_new(&c);
    cr_assert(hrlink_wait(&hrl.ups, 1, 3000), "not up: %s", hrl.detail);
    sent = hrlink_now_ms();
    hrlink_cmd(link, "DEBUG", "SLEEP", "1", NULL);
    hrlink_cmd(link, "GET", "rl:k", NULL, NULL);
    cr_assert(hrlink_wait(&hrl.nnull, 2, 3000), "%d NULLs", hrl.nnull);
    cr_log_info("deadline: NULL after %.0f ms", hrl.null_at - sent);
    cr_expect_geq(hrl.null_at - sent, 95.0, "NULL after %.0f ms",
                  hrl.null_at - sent);
    cr_expect_leq(hrl.null_at - sent, 400.0, "NULL after %.0f ms",
                  hrl.null_at - sent);
    cr_expect_eq(hrl.losts, 1);
    cr_expect_eq(hrl.reason, RLINK_REASON_TIMEOUT, "%s",
                 rlink_reason_name(hrl.reason));
    cr_expect(!rlink_up(link));
    rlink_counters(link, &n);
    cr_expect_eq(n.timeouts, 1);
    /* Back once the sleep is over (a second at most from now). */
    cr_assert(hrlink_wait(&hrl.ups, 2, 4000), "not back: %s", hrl.detail);
    hrlink_cmd(link, "PING", NULL, NULL, NULL);
    cr_assert(hrlink_wait(&hrl.nreplies, 3, 3000));
    hrlink_expect_str(2, REDIS_REPLY_STATUS, "PONG");
    rlink_free(link);
}

/* CLIENT KILL of the link's connection: pending get NULL, it comes back. */
Test(rlink_cmd, client_kill_fails_pending_and_reconnects)
{
    struct rlink_conf c = hrlink_conf_plain();
    struct rlink     *link;
    struct rlink     *ctl;
    char              id[32];

    c.timeout_ms = 5000;
    link = hrlink_new(&c);
    ctl = hrlink_new(&c);
    cr_assert(hrlink_wait(&hrl.ups, 2, 3000), "not up: %s", hrl.detail);
    hrlink_cmd(link, "CLIENT", "ID", NULL, NULL);
    cr_assert(hrlink_wait(&hrl.nreplies, 1, 3000));
    snprintf(id, sizeof(id), "%lld", hrl.replies[0]->integer);
    hrlink_cmd(link, "BLPOP", "rl:never", "4", NULL);
    hrlink_cmd(link, "PING", NULL, NULL, NULL);
    hrlink_run(50);                    /* BLPOP is blocking in Redis now */
    hrlink_cmd(ctl, "CLIENT", "KILL", "ID", id);
    cr_assert(hrlink_wait(&hrl.nnull, 2, 3000), "%d NULLs", hrl.nnull);
    cr_assert(hrlink_wait(&hrl.nreplies, 4, 3000));
    cr_expect_eq(hrl.losts, 1);
    cr_expect_eq(hrl.reason, RLINK_REASON_CLOSED, "%s: %s",
                 rlink_reason_name(hrl.reason), hrl.detail);
    cr_assert(hrlink_wait(&hrl.ups, 3, 3000), "not back: %s", hrl.detail);
    hrlink_cmd(link, "PING", NULL, NULL, NULL);
    cr_assert(hrlink_wait(&hrl.nreplies, 5, 3000));
    hrlink_expect_str(4, REDIS_REPLY_STATUS, "PONG");
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
Test(rlink_cmd, one_write_per_turn)
{
    size_t i;

    for (i = 0; i < sizeof(turn_cases) / sizeof(turn_cases[0]); i++) {
        const struct turn_case *tc = &turn_cases[i];
        struct rlink_conf       c = hrlink_conf_plain();
        struct rlink           *link;
        struct rlink_counters   before;
        struct rlink_counters   after;
        int                     k;

        if (tc->transport == RLINK_TLS) {
            c = hrlink_conf_tls("HSP_RL_TLS_PORT", "HSP_RL_CA");
        } else if (tc->transport == RLINK_UNIX) {
            c.transport = RLINK_UNIX;
            c.path = hrlink_env("HSP_RL_SOCK");
        }
        hrl.ups = 0;
        hrlink_reset();
        link = hrlink_new(&c);
        cr_assert(hrlink_wait(&hrl.ups, 1, 3000), "row %zu not up: %s", i,
                  hrl.detail);
        hrlink_cmd(link, "DEL", "rl:n", NULL, NULL);
        cr_assert(hrlink_wait(&hrl.nreplies, 1, 3000));
        rlink_counters(link, &before);
        hrlink_reset();
        for (k = 0; k < tc->commands; k++) {
            cr_assert_eq(rlink_command(link, 2,
                                       (const char *[]){ "INCR", "rl:n" },
                                       NULL, hrlink_on_reply, NULL), 0);
        }
        cr_assert(hrlink_wait(&hrl.nreplies, tc->commands, 3000));
        rlink_counters(link, &after);
        cr_expect_eq(after.writes - before.writes, 1,
                     "row %zu: %d commands took %llu writes", i,
                     tc->commands,
                     (unsigned long long)(after.writes - before.writes));
        cr_expect_eq(after.commands - before.commands,
                     (uint64_t)tc->commands);
        for (k = 0; k < tc->commands && k < HRLINK_MAX_REPLIES; k++) {
            cr_expect_eq(hrl.replies[k]->integer, k + 1, "row %zu reply %d", i,
                         k);
        }
        hrlink_reset();
        rlink_free(link);
    }
}

static int freed_in_cb;

static void
on_reply_free(struct rlink *link, struct redisReply *reply, void *arg)
{
    hrlink_on_reply(link, reply, arg);
    rlink_free(link);
    freed_in_cb++;
}

/* rlink_free from a reply callback: the rest get NULL, nothing leaks. */
Test(rlink_cmd, free_inside_a_callback)
{
    struct rlink_conf c = hrlink_conf_plain();
    struct rlink     *link;

    link = hrlink_new(&c);
    cr_assert(hrlink_wait(&hrl.ups, 1, 3000), "not up: %s", hrl.detail);
    cr_assert_eq(rlink_command(link, 1, (const char *[]){ "PING" }, NULL,
                               on_reply_free, NULL), 0);
    hrlink_cmd(link, "PING", NULL, NULL, NULL);
    hrlink_cmd(link, "PING", NULL, NULL, NULL);
    cr_assert(hrlink_wait(&hrl.nreplies, 3, 3000));
    cr_expect_eq(freed_in_cb, 1);
    cr_expect_not_null(hrl.replies[0]);
    cr_expect_eq(hrl.nnull, 2);
    hrlink_run(50);                    /* no event, no retry after the free */
    cr_expect_eq(hrl.losts + hrl.fails, 0);
}

/* rlink_free while commands are pending: each gets NULL, once. */
Test(rlink_cmd, free_fails_pending)
{
    struct rlink_conf c = hrlink_conf_plain();
    struct rlink     *link;

    link = hrlink_new(&c);
    cr_assert(hrlink_wait(&hrl.ups, 1, 3000), "not up: %s", hrl.detail);
    hrlink_cmd(link, "PING", NULL, NULL, NULL);
    hrlink_cmd(link, "PING", NULL, NULL, NULL);
    rlink_free(link);
    cr_expect_eq(hrl.nnull, 2);
    cr_expect_eq(hrl.nreplies, 2);
    hrlink_run(50);
    cr_expect_eq(hrl.nreplies, 2);
}

/* rlink_drop while up: pending get NULL, LOST says why, it comes back. */
Test(rlink_cmd, drop_fails_pending_and_reconnects)
{
    struct rlink_conf c = hrlink_conf_plain();
    struct rlink     *link;

    link = hrlink_new(&c);
    cr_assert(hrlink_wait(&hrl.ups, 1, 3000), "not up: %s", hrl.detail);
    hrlink_cmd(link, "PING", NULL, NULL, NULL);
    rlink_drop(link);
    cr_expect_eq(hrl.nnull, 1);
    cr_expect_eq(hrl.losts, 1);
    cr_expect_eq(hrl.reason, RLINK_REASON_DROPPED);
    cr_expect(!rlink_up(link));
    rlink_drop(link);               /* idle: nothing more */
    cr_expect_eq(hrl.losts, 1);
    cr_assert(hrlink_wait(&hrl.ups, 2, 3000), "not back: %s", hrl.detail);
    rlink_free(link);
}
