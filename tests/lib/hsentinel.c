/*
 * hsentinel.c - a Sentinel topology a test starts for itself
 * (hsentinel.h).
 */
#include "config.h"

#include "hsentinel.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include <criterion/criterion.h>
#include <hiredis/hiredis.h>

#include "hfixture.h"

#define HSENTINEL_READY_MS 30000    /* sentinels find each other: ~2 s
                                     * hellos, 10 s INFO at worst */
#define HSENTINEL_POLL_MS  100

/* The number of entries sentinel C lists for "SENTINEL WHAT mymaster"
 * that are not down or disconnected. */
static size_t
healthy(redisContext *c, const char *what)
{
    redisReply *r = redisCommand(c, "SENTINEL %s %s", what,
                                 HSENTINEL_MASTER);
    size_t      i, j, n = 0;

    cr_assert_not_null(r, "SENTINEL %s: %s", what, c->errstr);
    for (i = 0; r->type == REDIS_REPLY_ARRAY && i < r->elements; i++) {
        const redisReply *e = r->element[i];

        for (j = 0; j + 1 < e->elements; j += 2) {
            if (strcmp(e->element[j]->str, "flags") == 0 &&
                strstr(e->element[j + 1]->str, "down") == NULL &&
                strstr(e->element[j + 1]->str, "disconnected") == NULL) {
                n++;
            }
        }
    }
    freeReplyObject(r);
    return n;
}

void
hsentinel_start(const char *prefix, const char *password,
                struct hsentinel *out)
{
    char        name[64], monitor[128], pass[128], spass[128];
    char        replicaof[32];
    const char *replica[] = { "--replicaof", "127.0.0.1", replicaof,
                              "--repl-diskless-sync-delay", "0", NULL };
    const char *master[] = { "--repl-diskless-sync-delay", "0", NULL };
    const char *lines[] = {
        monitor,
        "sentinel down-after-milliseconds " HSENTINEL_MASTER " 1000",
        "sentinel failover-timeout " HSENTINEL_MASTER " 3000",
        "sentinel parallel-syncs " HSENTINEL_MASTER " 1",
        password != NULL ? pass : NULL, spass, NULL,
    };
    redisContext *c;
    redisReply   *r;
    long        end;
    int         i;

    memset(out, 0, sizeof(*out));
    snprintf(out->password, sizeof(out->password), "%s",
             password != NULL ? password : "");
    snprintf(name, sizeof(name), "%s-master", prefix);
    hredis_start(name, master, &out->nodes[0]);
    snprintf(replicaof, sizeof(replicaof), "%d", out->nodes[0].port);
    snprintf(name, sizeof(name), "%s-replica", prefix);
    hredis_start(name, replica, &out->nodes[1]);
    c = hredis_connect(&out->nodes[0], NULL);
    r = redisCommand(c, "WAIT 1 %ld", hfixture_slow_ms(10000));
    cr_assert(r != NULL && r->type == REDIS_REPLY_INTEGER && r->integer == 1,
              "the replica did not sync");
    freeReplyObject(r);
    redisFree(c);
    snprintf(monitor, sizeof(monitor), "sentinel monitor %s 127.0.0.1 %d 2",
             HSENTINEL_MASTER, out->nodes[0].port);
    snprintf(pass, sizeof(pass), "requirepass %s", out->password);
    snprintf(spass, sizeof(spass), "sentinel sentinel-pass %s",
             out->password);
    for (i = 0; i < HSENTINEL_N; i++) {
        snprintf(name, sizeof(name), "%s-s%d", prefix, i + 1);
        hredis_start_sentinel(name, lines, &out->sentinels[i]);
    }
    end = hfixture_now_ms() + hfixture_slow_ms(HSENTINEL_READY_MS);
    for (i = 0; i < HSENTINEL_N; i++) {
        c = hsentinel_connect(out, i);

        while (healthy(c, "replicas") < 1 ||
               healthy(c, "sentinels") < HSENTINEL_N - 1) {
            cr_assert_lt(hfixture_now_ms(), end, "sentinel %d does not "
                         "know the replica and the other sentinels", i + 1);
            hfixture_pause_ms(HSENTINEL_POLL_MS);
        }
        redisFree(c);
    }
}

void
hsentinel_stop(struct hsentinel *t)
{
    int i;

    for (i = 0; i < HSENTINEL_N; i++) {
        hredis_stop(&t->sentinels[i]);
    }
    hredis_stop(&t->nodes[0]);
    hredis_stop(&t->nodes[1]);
}

void
hsentinel_url(const struct hsentinel *t, char *out, size_t cap)
{
    snprintf(out, cap,
             "redis-sentinel://127.0.0.1:%d,127.0.0.1:%d,127.0.0.1:%d/%s",
             t->sentinels[0].port, t->sentinels[1].port,
             t->sentinels[2].port, HSENTINEL_MASTER);
}

redisContext *
hsentinel_connect(const struct hsentinel *t, int i)
{
    return hredis_connect(&t->sentinels[i],
                          t->password[0] != '\0' ? t->password : NULL);
}

int
hsentinel_master_port(const struct hsentinel *t)
{
    redisContext *c = hsentinel_connect(t, 0);
    redisReply   *r = redisCommand(c, "SENTINEL get-master-addr-by-name %s",
                                   HSENTINEL_MASTER);
    int           port;

    cr_assert(r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements == 2,
              "SENTINEL get-master-addr-by-name: %s",
              r != NULL && r->str != NULL ? r->str : c->errstr);
    port = atoi(r->element[1]->str);
    freeReplyObject(r);
    redisFree(c);
    return port;
}

struct hredis *
hsentinel_node(struct hsentinel *t, int port)
{
    cr_assert(port == t->nodes[0].port || port == t->nodes[1].port,
              "port %d is no node of the topology", port);
    return port == t->nodes[0].port ? &t->nodes[0] : &t->nodes[1];
}

redisContext *
hsentinel_watch(const struct hsentinel *t)
{
    redisContext *c = hsentinel_connect(t, 0);
    redisReply   *r = redisCommand(c, "SUBSCRIBE +switch-master");

    cr_assert(r != NULL && r->type == REDIS_REPLY_ARRAY,
              "SUBSCRIBE +switch-master: %s", c->errstr);
    freeReplyObject(r);
    return c;
}

int
hsentinel_switched(redisContext *w, long ms, long *at_ms)
{
    struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };
    redisReply    *r = NULL;
    char           name[64], oldh[64], newh[64];
    int            oldp, newp = 0;

    cr_assert_eq(redisSetTimeout(w, tv), REDIS_OK);
    cr_assert_eq(redisGetReply(w, (void **)&r), REDIS_OK,
                 "no +switch-master within %ld ms: %s", ms, w->errstr);
    *at_ms = hfixture_now_ms();
    cr_assert(r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements == 3 &&
                  r->element[2]->type == REDIS_REPLY_STRING,
              "not a message");
    cr_assert_eq(sscanf(r->element[2]->str, "%63s %63s %d %63s %d", name,
                        oldh, &oldp, newh, &newp), 5,
                 "+switch-master '%s'", r->element[2]->str);
    cr_expect_str_eq(name, HSENTINEL_MASTER);
    freeReplyObject(r);
    return newp;
}

void
hsentinel_failover(const struct hsentinel *t)
{
    redisContext *c = hsentinel_connect(t, 0);
    long          end = hfixture_now_ms() + hfixture_slow_ms(15000);

    for (;;) {
        redisReply *r = redisCommand(c, "SENTINEL FAILOVER %s",
                                     HSENTINEL_MASTER);
        bool        ok;

        cr_assert_not_null(r, "SENTINEL FAILOVER: %s", c->errstr);
        ok = r->type == REDIS_REPLY_STATUS;
        cr_assert(ok || hfixture_now_ms() < end,
                  "SENTINEL FAILOVER: %s", r->str);
        freeReplyObject(r);
        if (ok) {
            break;
        }
        hfixture_pause_ms(HSENTINEL_POLL_MS);
    }
    redisFree(c);
}
