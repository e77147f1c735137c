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
#include "hrcli.h"

#define HSENTINEL_READY_MS 30000    /* sentinels find each other: ~2 s
                                     * hellos, 10 s INFO at worst */
#define HSENTINEL_POLL_MS  100

/* The number of entries sentinel C lists for "SENTINEL WHAT mymaster"
 * that are not down or disconnected. */
static size_t
healthy(struct hrcli *c, const char *what)
{
    redisReply *r = hrcli_cmd(c, "SENTINEL %s %s", what, HSENTINEL_MASTER);
    size_t      i, j, n = 0;

    cr_assert_not_null(r, "SENTINEL %s: %s", what, hrcli_error(c));
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

struct hrcli *
hsentinel_cli(const struct hsentinel *t, const struct hredis *r)
{
    bool          sentinel = false;
    char          err[256];
    struct hrcli *c;
    int           i;

    for (i = 0; i < HSENTINEL_N; i++) {
        sentinel = sentinel || t->sentinels[i].port == r->port;
    }
    c = hrcli_open(r->port, t->ca[0] != '\0' ? t->ca : NULL,
                   sentinel && t->user[0] != '\0' ? t->user : NULL,
                   sentinel && t->password[0] != '\0' ? t->password : NULL,
                   err, sizeof(err));
    cr_assert_not_null(c, "%s: %s", r->name, err);
    return c;
}

/* Starts the master and its replica of OUT, TLS with OUT->ca; waits
 * (bounded) until the replica is in sync. */
static void
start_nodes(const char *prefix, struct hsentinel *out)
{
    const char   *certs = out->ca[0] != '\0' ? hfixture_env("HSP_CERT_DIR")
                                             : NULL;
    char          name[64], replicaof[32], cert[600], key[600];
    const char   *args[16] = { "--repl-diskless-sync-delay", "0" };
    struct hrcli *c;
    redisReply   *r;
    int           i, n = 2;

    if (certs != NULL) {
        /* The replica shows a client certificate, as Sentinel does. */
        snprintf(cert, sizeof(cert), "%s/client.pem", certs);
        snprintf(key, sizeof(key), "%s/client.key", certs);
        args[n++] = "--tls-replication";
        args[n++] = "yes";
        args[n++] = "--tls-client-cert-file";
        args[n++] = cert;
        args[n++] = "--tls-client-key-file";
        args[n++] = key;
    }
    for (i = 0; i < 2; i++) {
        snprintf(name, sizeof(name), "%s-%s", prefix,
                 i == 0 ? "master" : "replica");
        if (i == 1) {
            snprintf(replicaof, sizeof(replicaof), "%d", out->nodes[0].port);
            args[n++] = "--replicaof";
            args[n++] = "127.0.0.1";
            args[n++] = replicaof;
        }
        if (certs != NULL) {
            hredis_start_tls(name, certs, args, &out->nodes[i]);
        } else {
            hredis_start(name, args, &out->nodes[i]);
        }
    }
    c = hsentinel_cli(out, &out->nodes[0]);
    r = hrcli_cmd(c, "WAIT 1 %ld", hfixture_slow_ms(10000));
    cr_assert(r != NULL && r->type == REDIS_REPLY_INTEGER && r->integer == 1,
              "the replica did not sync");
    freeReplyObject(r);
    hrcli_close(c);
}

void
hsentinel_start(const char *prefix, const char *password,
                struct hsentinel *out)
{
    const struct hsentinel_opts opts = { .password = password };

    hsentinel_start_opts(prefix, &opts, out);
}

void
hsentinel_start_opts(const char *prefix, const struct hsentinel_opts *opts,
                     struct hsentinel *out)
{
    static const struct hsentinel_opts plain;
    char          name[64], monitor[128], auth[2][160], suser[128];
    char          spass[128];
    const char   *lines[10] = {
        monitor,
        "sentinel down-after-milliseconds " HSENTINEL_MASTER " 1000",
        "sentinel failover-timeout " HSENTINEL_MASTER " 3000",
        "sentinel parallel-syncs " HSENTINEL_MASTER " 1",
    };
    struct hrcli *c;
    long          end;
    int           i, n = 4;

    if (opts == NULL) {
        opts = &plain;
    }
    memset(out, 0, sizeof(*out));
    snprintf(out->user, sizeof(out->user), "%s",
             opts->user != NULL ? opts->user : "");
    snprintf(out->password, sizeof(out->password), "%s",
             opts->password != NULL ? opts->password : "");
    cr_assert(out->user[0] == '\0' || out->password[0] != '\0',
              "an ACL user needs a password");
    if (opts->tls) {
        snprintf(out->ca, sizeof(out->ca), "%s/ca.pem",
                 hfixture_env("HSP_CERT_DIR"));
    }
    start_nodes(prefix, out);
    snprintf(monitor, sizeof(monitor), "sentinel monitor %s 127.0.0.1 %d 2",
             HSENTINEL_MASTER, out->nodes[0].port);
    snprintf(spass, sizeof(spass), "sentinel sentinel-pass %s",
             out->password);
    if (out->user[0] != '\0') {
        /* Sentinels authenticate to each other as sentinel-user. */
        snprintf(auth[0], sizeof(auth[0]), "user %s on >%s ~* &* +@all",
                 out->user, out->password);
        snprintf(suser, sizeof(suser), "sentinel sentinel-user %s",
                 out->user);
        lines[n++] = "user default off";
        lines[n++] = auth[0];
        lines[n++] = suser;
        lines[n++] = spass;
    } else if (out->password[0] != '\0') {
        snprintf(auth[1], sizeof(auth[1]), "requirepass %s", out->password);
        lines[n++] = auth[1];
        lines[n++] = spass;
    }
    lines[n] = NULL;
    for (i = 0; i < HSENTINEL_N; i++) {
        snprintf(name, sizeof(name), "%s-s%d", prefix, i + 1);
        if (opts->tls) {
            hredis_start_sentinel_tls(name, hfixture_env("HSP_CERT_DIR"),
                                      lines, &out->sentinels[i]);
        } else {
            hredis_start_sentinel(name, lines, &out->sentinels[i]);
        }
    }
    end = hfixture_now_ms() + hfixture_slow_ms(HSENTINEL_READY_MS);
    for (i = 0; i < HSENTINEL_N; i++) {
        c = hsentinel_cli(out, &out->sentinels[i]);
        while (healthy(c, "replicas") < 1 ||
               healthy(c, "sentinels") < HSENTINEL_N - 1) {
            cr_assert_lt(hfixture_now_ms(), end, "sentinel %d does not "
                         "know the replica and the other sentinels", i + 1);
            hfixture_pause_ms(HSENTINEL_POLL_MS);
        }
        hrcli_close(c);
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
             "%s://127.0.0.1:%d,127.0.0.1:%d,127.0.0.1:%d/%s",
             t->ca[0] != '\0' ? "rediss-sentinel" : "redis-sentinel",
             t->sentinels[0].port, t->sentinels[1].port,
             t->sentinels[2].port, HSENTINEL_MASTER);
}

redisContext *
hsentinel_connect(const struct hsentinel *t, int i)
{
    redisContext *c;

    cr_assert(t->ca[0] == '\0', "no hiredis connection over TLS");
    if (t->user[0] == '\0') {
        return hredis_connect(&t->sentinels[i],
                              t->password[0] != '\0' ? t->password : NULL);
    }
    c = hredis_connect(&t->sentinels[i], NULL);
    hredis_ok(c, "AUTH %s %s", t->user, t->password);
    return c;
}

int
hsentinel_master_port(const struct hsentinel *t)
{
    struct hrcli *c = hsentinel_cli(t, &t->sentinels[0]);
    redisReply   *r = hrcli_cmd(c, "SENTINEL get-master-addr-by-name %s",
                                HSENTINEL_MASTER);
    int           port;

    cr_assert(r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements == 2,
              "SENTINEL get-master-addr-by-name: %s",
              r != NULL && r->str != NULL ? r->str : hrcli_error(c));
    port = atoi(r->element[1]->str);
    freeReplyObject(r);
    hrcli_close(c);
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
    struct hrcli *c = hsentinel_cli(t, &t->sentinels[0]);
    long          end = hfixture_now_ms() + hfixture_slow_ms(15000);

    for (;;) {
        redisReply *r = hrcli_cmd(c, "SENTINEL FAILOVER %s",
                                  HSENTINEL_MASTER);
        bool        ok;

        cr_assert_not_null(r, "SENTINEL FAILOVER: %s", hrcli_error(c));
        ok = r->type == REDIS_REPLY_STATUS;
        cr_assert(ok || hfixture_now_ms() < end,
                  "SENTINEL FAILOVER: %s", r->str);
        freeReplyObject(r);
        if (ok) {
            break;
        }
        hfixture_pause_ms(HSENTINEL_POLL_MS);
    }
    hrcli_close(c);
}
