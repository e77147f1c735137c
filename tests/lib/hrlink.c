/*
 * hrlink.c - the Redis link tests' shared loop, callbacks and links
 * (hrlink.h).
 */
#include "config.h"

#include "hrlink.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <criterion/criterion.h>
#include <event2/dns.h>
#include <event2/event.h>

struct hrlink hrl;

double
hrlink_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

void
hrlink_setup(void)
{
    memset(&hrl, 0, sizeof(hrl));
    hrl.base = event_base_new();
    cr_assert_not_null(hrl.base);
    hrl.dns = evdns_base_new(hrl.base, EVDNS_BASE_INITIALIZE_NAMESERVERS |
                                       EVDNS_BASE_DISABLE_WHEN_INACTIVE);
    if (hrl.dns == NULL) {            /* no resolv.conf: /etc/hosts only */
        hrl.dns = evdns_base_new(hrl.base, 0);
    }
    cr_assert_not_null(hrl.dns);
}

/* Frees the reply copies kept so far and counts from 0 again. */
void
hrlink_reset(void)
{
    int i;

    for (i = 0; i < hrl.nreplies && i < HRLINK_MAX_REPLIES; i++) {
        if (hrl.replies[i] != NULL) {
            free(hrl.replies[i]->str);
            free(hrl.replies[i]);
            hrl.replies[i] = NULL;
        }
    }
    hrl.nreplies = 0;
    hrl.nnull = 0;
}

void
hrlink_teardown(void)
{
    hrlink_reset();
    evdns_base_free(hrl.dns, 0);
    event_base_free(hrl.base);
}

const char *
hrlink_env(const char *name)
{
    const char *v = getenv(name);

    cr_assert_not_null(v, "%s unset: run me through rlink.sh", name);
    return v;
}

void
hrlink_on_event(struct rlink *link, enum rlink_event ev,
                enum rlink_reason reason, enum rerr_kind kind,
                const char *detail, void *arg)
{
    switch (ev) {
    case RLINK_UP:
        hrl.ups++;
        break;
    case RLINK_FAILED:
    case RLINK_LOST:
        if (ev == RLINK_FAILED) {
            hrl.fails++;
        } else {
            hrl.losts++;
        }
        hrl.reason = reason;
        hrl.kind = kind;
        snprintf(hrl.detail, sizeof(hrl.detail), "%s", detail);
        break;
    }
}

void
hrlink_on_message(struct rlink *link, struct redisReply *msg, void *arg)
{
    char   *out;
    size_t  cap = sizeof(hrl.msgs[0]);
    size_t  i;
    int     n = 0;

    if (hrl.nmsgs >= 8) {
        return;
    }
    out = hrl.msgs[hrl.nmsgs++];
    for (i = 0; i < msg->elements && (size_t)n < cap; i++) {
        const redisReply *e = msg->element[i];
        const char       *sep = i > 0 ? " " : "";

        if (e->type == REDIS_REPLY_STRING) {
            n += snprintf(out + n, cap - (size_t)n, "%s%.*s", sep,
                          (int)e->len, e->str);
        } else if (e->type == REDIS_REPLY_INTEGER) {
            n += snprintf(out + n, cap - (size_t)n, "%s%lld", sep,
                          e->integer);
        } else if (e->type == REDIS_REPLY_ARRAY && e->elements > 0 &&
                   e->element[0]->type == REDIS_REPLY_STRING) {
            n += snprintf(out + n, cap - (size_t)n, "%s[%.*s]", sep,
                          (int)e->element[0]->len, e->element[0]->str);
        }
    }
}

/* Keeps a copy of REPLY's type, string and integer, in arrival order. */
void
hrlink_on_reply(struct rlink *link, struct redisReply *reply, void *arg)
{
    redisReply *copy = NULL;

    if (reply == NULL) {
        hrl.nnull++;
        hrl.null_at = hrlink_now_ms();
    } else {
        copy = calloc(1, sizeof(*copy));
        copy->type = reply->type;
        copy->integer = reply->integer;
        copy->len = reply->len;
        copy->str = reply->str != NULL ? strndup(reply->str, reply->len)
                                       : NULL;
        copy->elements = reply->elements;
    }
    if (hrl.nreplies < HRLINK_MAX_REPLIES) {
        hrl.replies[hrl.nreplies] = copy;
    } else {
        free(copy);
    }
    hrl.nreplies++;
}

static void
on_wake(evutil_socket_t fd, short what, void *arg)
{
    *(int *)arg = 1;
}

/* Runs the loop until *COUNTER >= WANT or MS pass; whether it got there. */
int
hrlink_wait(const int *counter, int want, int ms)
{
    struct event  *ev;
    struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };
    int            expired = 0;

    ev = evtimer_new(hrl.base, on_wake, &expired);
    evtimer_add(ev, &tv);
    while (*counter < want && !expired) {
        event_base_loop(hrl.base, EVLOOP_ONCE);
    }
    event_free(ev);
    return *counter >= want;
}

/* Runs the loop for MS. */
void
hrlink_run(int ms)
{
    int never = 0;

    hrlink_wait(&never, 1, ms);
}

struct rlink_conf
hrlink_conf_plain(void)
{
    struct rlink_conf c = {
        .transport = RLINK_TCP,
        .host = "127.0.0.1",
        .port = (uint16_t)atoi(hrlink_env("HSP_RL_PORT")),
        .password = hrlink_env("HSP_RL_PASS"),
        .timeout_ms = 2000,
        .backoff_min_ms = 20,
        .backoff_max_ms = 200,
        .autostart = true,
    };

    return c;
}

struct rlink_conf
hrlink_conf_tls(const char *port_var, const char *ca_var)
{
    struct rlink_conf c = {
        .transport = RLINK_TLS,
        .host = "localhost",
        .port = (uint16_t)atoi(hrlink_env(port_var)),
        .ca_file = hrlink_env(ca_var),
        .timeout_ms = 2000,
        .backoff_min_ms = 20,
        .backoff_max_ms = 200,
        .autostart = true,
    };

    return c;
}

struct rlink *
hrlink_new(const struct rlink_conf *c)
{
    char          err[256] = "";
    struct rlink *link;

    link = rlink_new(hrl.base, c->transport == RLINK_UNIX ? NULL : hrl.dns, c,
                     hrlink_on_event, hrlink_on_message, NULL, err,
                     sizeof(err));
    cr_assert_not_null(link, "rlink_new: %s", err);
    return link;
}

/* Sends a command of up to 4 words (NULL-terminated) with on_reply. */
void
hrlink_cmd(struct rlink *link, const char *a0, const char *a1,
           const char *a2, const char *a3)
{
    const char *argv[4] = { a0, a1, a2, a3 };
    int         argc = 0;

    while (argc < 4 && argv[argc] != NULL) {
        argc++;
    }
    cr_assert_eq(rlink_command(link, argc, argv, NULL, hrlink_on_reply,
                               NULL),
                 0, "rlink_command(%s) refused", a0);
}

void
hrlink_expect_str(int i, int type, const char *want)
{
    cr_assert_lt(i, hrl.nreplies);
    cr_assert_not_null(hrl.replies[i], "reply %d is NULL", i);
    cr_expect_eq(hrl.replies[i]->type, type, "reply %d: type %d, want %d", i,
                 hrl.replies[i]->type, type);
    cr_expect_str_eq(hrl.replies[i]->str, want, "reply %d", i);
}

