/*
 * hfixture.c - fixtures shared by the integration suites (see hfixture.h).
 */
#include "config.h"

#include "hfixture.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <criterion/criterion.h>
#include <hiredis/hiredis.h>
#include <json-c/json.h>

#include "hclient.h"
#include "hproc.h"
#include "hsandbox.h"

#define HFIXTURE_POLL_MS      50
#define HFIXTURE_IDLE_POLLS   200   /* 10 s for held requests to finish */
#define HFIXTURE_REDIS_POLLS  100   /* 5 s for redis2 to come back */

long
hfixture_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void
hfixture_pause_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

    nanosleep(&ts, NULL);
}

long
hfixture_slow_ms(long ms)
{
    const char *s = getenv("HSP_SLOW");
    char       *end;
    long        n;

    if (s == NULL || *s == '\0') {
        return ms;
    }
    n = strtol(s, &end, 10);
    cr_assert(*end == '\0' && n >= 1 && n <= 100,
              "HSP_SLOW must be a whole number 1..100, not '%s'", s);
    return ms * n;
}

bool
hfixture_file_has(const char *path, const char *text)
{
    return hfixture_file_lines(path, text) > 0;
}

long
hfixture_file_lines(const char *path, const char *text)
{
    FILE *f = fopen(path, "r");
    char  line[4096];
    long  n = 0;

    if (f == NULL) {
        return 0;
    }
    while (fgets(line, sizeof(line), f) != NULL) {
        n += strstr(line, text) != NULL;
    }
    fclose(f);
    return n;
}

long
hfixture_count(const char *name)
{
    long n = hsandbox_count(name);

    cr_assert_geq(n, 0, "cannot read the sandbox's counter %s", name);
    return n;
}

void
hfixture_proxy(const char *name, const char *const *opts, struct hproc *p)
{
    cr_assert_eq(hproc_proxy_start(name, opts, p), 0, "%s: %s", name,
                 p->error);
}

void
hfixture_stop(struct hproc *p)
{
    cr_expect_eq(hproc_stop(p, SIGTERM), 0, "exit status after SIGTERM: %s",
                 p->error);
}

const char *
hfixture_env(const char *name)
{
    const char *v = getenv(name);

    cr_assert(v != NULL && *v != '\0',
              "%s is not set: run the tests through tests/integration/run.sh",
              name);
    return v;
}

struct redisContext *
hfixture_redis(const char *sock_env)
{
    redisContext *c = redisConnectUnix(hfixture_env(sock_env));

    cr_assert(c != NULL && c->err == 0, "cannot reach redis at %s: %s",
              hfixture_env(sock_env), c != NULL ? c->errstr : "no memory");
    return c;
}

void
hfixture_fresh(void)
{
    static const char *const no_faults =
        "{\"latency_ms\":0,\"fail_rate\":0,\"drop_rate\":0,"
        "\"rate_limit\":0,\"misbehave\":\"none\",\"gzip\":false,"
        "\"chunked\":false,\"early_hints\":false,\"gzip_min\":1024}";
    redisContext *c = hfixture_redis("HSP_REDIS_SOCK");
    redisReply   *r = redisCommand(c, "FLUSHALL");
    int           i;

    cr_assert(r != NULL && r->type == REDIS_REPLY_STATUS, "FLUSHALL failed");
    freeReplyObject(r);
    redisFree(c);
    cr_assert_eq(hsandbox_config(no_faults), 0,
                 "cannot reset the sandbox's config");
    for (i = 0; hsandbox_count("held") != 0; i++) {
        cr_assert_lt(i, HFIXTURE_IDLE_POLLS,
                     "the sandbox still holds a delayed request after %d ms",
                     HFIXTURE_IDLE_POLLS * HFIXTURE_POLL_MS);
        hfixture_pause_ms(HFIXTURE_POLL_MS);
    }
    cr_assert_eq(hsandbox_reset(), 0, "sandbox reset failed");
}

void
hfixture_redis2_start(void)
{
    char pidfile[512], cmd[1400];
    int  i;

    snprintf(pidfile, sizeof(pidfile), "%s/redis2.pid",
             hfixture_env("HSP_TMPDIR"));
    snprintf(cmd, sizeof(cmd),
             "redis-server --port 0 --unixsocket '%s' --unixsocketperm 700 "
             "--save '' --appendonly no --daemonize yes --pidfile '%s' "
             "--logfile '%s/redis2.log' --dir '%s'",
             hfixture_env("HSP_REDIS2_SOCK"), pidfile,
             hfixture_env("HSP_TMPDIR"), hfixture_env("HSP_TMPDIR"));
    cr_assert_eq(system(cmd), 0, "cannot start redis-server");
    for (i = 0; i < HFIXTURE_REDIS_POLLS; i++) {
        if (hfixture_redis2_up()) {
            return;
        }
        hfixture_pause_ms(HFIXTURE_POLL_MS);
    }
    cr_assert_fail("redis-server did not come back");
}

void
hfixture_redis2_stop(void)
{
    redisContext *c = hfixture_redis("HSP_REDIS2_SOCK");
    redisReply   *r = redisCommand(c, "SHUTDOWN NOSAVE");

    /* SHUTDOWN answers nothing when it works: the connection just ends. */
    if (r != NULL) {
        freeReplyObject(r);
    }
    redisFree(c);
}

void
hfixture_body_string(const struct hresp *r, const char *key, char *out,
                     size_t cap)
{
    struct json_object *root = hresp_json(r), *v;

    cr_assert_not_null(root, "body is not JSON: %s", r->body);
    cr_assert(json_object_object_get_ex(root, key, &v) &&
                  json_object_is_type(v, json_type_string),
              "no string %s in %s", key, r->body);
    snprintf(out, cap, "%s", json_object_get_string(v));
    json_object_put(root);
}

pid_t
hfixture_redis2_pid(void)
{
    char  path[512];
    FILE *f;
    long  pid = 0;

    snprintf(path, sizeof(path), "%s/redis2.pid", hfixture_env("HSP_TMPDIR"));
    f = fopen(path, "r");
    cr_assert_not_null(f, "no %s", path);
    cr_assert_eq(fscanf(f, "%ld", &pid), 1);
    fclose(f);
    cr_assert_gt(pid, 1);
    return (pid_t)pid;
}

bool
hfixture_redis2_up(void)
{
    redisContext *c = redisConnectUnix(hfixture_env("HSP_REDIS2_SOCK"));
    bool          up = c != NULL && c->err == 0;

    redisFree(c);
    return up;
}
