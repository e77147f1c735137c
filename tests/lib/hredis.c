/*
 * hredis.c - redis-servers a test starts for itself (hredis.h).
 */
#include "config.h"

#include "hredis.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <hiredis/hiredis.h>

#include "hfixture.h"

#define HREDIS_MAX     16
#define HREDIS_POLLS   200
#define HREDIS_POLL_MS 25

/* Copies of the servers started and not stopped yet (port 0: a free
 * slot), for hredis_stop_all: copies, since a test's own struct hredis
 * is often on its stack, gone by the time the suite's .fini runs. */
static struct hredis hredis_started[HREDIS_MAX];

int
hredis_free_port(void)
{
    struct sockaddr_in a = { .sin_family = AF_INET };
    socklen_t          len = sizeof(a);
    int                fd = socket(AF_INET, SOCK_STREAM, 0), port;

    cr_assert_geq(fd, 0, "socket: %s", strerror(errno));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0, "bind: %s",
                 strerror(errno));
    cr_assert_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    port = ntohs(a.sin_port);
    close(fd);
    return port;
}

static pid_t
read_pid(const struct hredis *r)
{
    FILE *f = fopen(r->pidfile, "r");
    long  pid = 0;

    if (f != NULL) {
        if (fscanf(f, "%ld", &pid) != 1) {
            pid = 0;
        }
        fclose(f);
    }
    return (pid_t)pid;
}

/* Whether PID runs: a zombie (killed, not reaped yet) does not. */
static bool
alive(pid_t pid)
{
    char  path[64], state = 0;
    FILE *f;

    if (pid <= 0 || kill(pid, 0) != 0) {
        return false;
    }
    snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
    f = fopen(path, "r");
    if (f != NULL) {
        if (fscanf(f, "%*d (%*[^)]) %c", &state) != 1) {
            state = 0;
        }
        fclose(f);
    }
    return state != 'Z';
}

/* Whether something accepts TCP connections on PORT of 127.0.0.1. */
static bool
accepts(int port)
{
    struct sockaddr_in a = { .sin_family = AF_INET };
    int                fd = socket(AF_INET, SOCK_STREAM, 0);
    bool               ok;

    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons((uint16_t)port);
    ok = fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
    if (fd >= 0) {
        close(fd);
    }
    return ok;
}

/* Registers OUT for hredis_stop_all and waits until it accepts. */
static void
started(struct hredis *out)
{
    int i;

    for (i = 0; i < HREDIS_MAX; i++) {
        if (hredis_started[i].port == 0) {
            hredis_started[i] = *out;
            break;
        }
    }
    cr_assert_lt(i, HREDIS_MAX, "more than %d redis-servers at once",
                 HREDIS_MAX);
    for (i = 0; i < HREDIS_POLLS; i++) {
        if (accepts(out->port) && read_pid(out) > 0) {
            return;
        }
        hfixture_pause_ms(HREDIS_POLL_MS);
    }
    cr_assert_fail("redis-server %s did not start on port %d", out->name,
                   out->port);
}

/* hredis_start_sentinel, or with CERTS (not NULL)
 * hredis_start_sentinel_tls. */
static void
start_sentinel(const char *name, const char *certs,
               const char *const *lines, struct hredis *out)
{
    const char *tmp = hfixture_env("HSP_TMPDIR");
    char        path[600];
    char       *cmd = out->cmd;
    FILE       *f;
    int         i;

    memset(out, 0, sizeof(*out));
    snprintf(out->name, sizeof(out->name), "%s", name);
    snprintf(out->pidfile, sizeof(out->pidfile), "%s/%s.pid", tmp, name);
    out->port = hredis_free_port();
    snprintf(path, sizeof(path), "%s/%s.conf", tmp, name);
    f = fopen(path, "w");
    cr_assert_not_null(f, "cannot write %s", path);
    fprintf(f, "port %d\nbind 127.0.0.1\ndaemonize yes\npidfile %s\n"
            "logfile %s/%s.log\ndir %s\n", certs != NULL ? 0 : out->port,
            out->pidfile, tmp, name, tmp);
    if (certs != NULL) {
        /* Sentinel reaches masters, replicas and its peers with TLS when
         * tls-replication says so, showing the client certificate. */
        fprintf(f, "tls-port %d\ntls-cert-file %s/server.pem\n"
                "tls-key-file %s/server.key\ntls-ca-cert-file %s/ca.pem\n"
                "tls-auth-clients no\ntls-replication yes\n"
                "tls-client-cert-file %s/client.pem\n"
                "tls-client-key-file %s/client.key\n", out->port, certs,
                certs, certs, certs, certs);
    }
    for (i = 0; lines != NULL && lines[i] != NULL; i++) {
        fprintf(f, "%s\n", lines[i]);
    }
    cr_assert_eq(fclose(f), 0);
    unlink(out->pidfile);
    snprintf(cmd, sizeof(out->cmd), "redis-server '%s' --sentinel", path);
    cr_assert_eq(system(cmd), 0, "cannot start a sentinel: %s", cmd);
    started(out);
}

void
hredis_start_sentinel(const char *name, const char *const *lines,
                      struct hredis *out)
{
    start_sentinel(name, NULL, lines, out);
}

void
hredis_start_sentinel_tls(const char *name, const char *certs,
                          const char *const *lines, struct hredis *out)
{
    start_sentinel(name, certs, lines, out);
}

/* hredis_start, or with CERTS (not NULL) hredis_start_tls. */
static void
start(const char *name, const char *certs, const char *const *args,
      struct hredis *out)
{
    const char *tmp = hfixture_env("HSP_TMPDIR");
    char       *cmd = out->cmd;
    size_t      n;
    int         i;

    memset(out, 0, sizeof(*out));
    snprintf(out->name, sizeof(out->name), "%s", name);
    snprintf(out->pidfile, sizeof(out->pidfile), "%s/%s.pid", tmp, name);
    out->port = hredis_free_port();
    n = (size_t)snprintf(cmd, sizeof(out->cmd),
                         "redis-server --port %d --bind 127.0.0.1 "
                         "--save '' --appendonly no --daemonize yes "
                         "--pidfile '%s' --logfile '%s/%s.log' --dir '%s' "
                         "--dbfilename '%s.rdb'",
                         certs != NULL ? 0 : out->port, out->pidfile, tmp,
                         name, tmp, name);
    if (certs != NULL) {
        n += (size_t)snprintf(cmd + n, sizeof(out->cmd) - n,
                              " --tls-port %d --tls-cert-file '%s/server.pem'"
                              " --tls-key-file '%s/server.key'"
                              " --tls-ca-cert-file '%s/ca.pem'"
                              " --tls-auth-clients no",
                              out->port, certs, certs, certs);
        cr_assert_lt(n, sizeof(out->cmd), "redis-server command too long");
    }
    for (i = 0; args != NULL && args[i] != NULL; i++) {
        n += (size_t)snprintf(cmd + n, sizeof(out->cmd) - n, " '%s'",
                              args[i]);
        cr_assert_lt(n, sizeof(out->cmd), "redis-server command too long");
    }
    unlink(out->pidfile);
    cr_assert_eq(system(cmd), 0, "cannot start redis-server: %s", cmd);
    started(out);
}

void
hredis_start(const char *name, const char *const *args, struct hredis *out)
{
    start(name, NULL, args, out);
}

void
hredis_start_tls(const char *name, const char *certs,
                 const char *const *args, struct hredis *out)
{
    start(name, certs, args, out);
}

redisContext *
hredis_connect(const struct hredis *r, const char *password)
{
    redisContext *c = redisConnect("127.0.0.1", r->port);

    cr_assert(c != NULL && c->err == 0, "cannot reach redis %s: %s",
              r->name, c != NULL ? c->errstr : "no memory");
    if (password != NULL) {
        hredis_ok(c, "AUTH %s", password);
    }
    return c;
}

void
hredis_ok(redisContext *c, const char *fmt, ...)
{
    redisReply *reply;
    va_list     ap;

    va_start(ap, fmt);
    reply = redisvCommand(c, fmt, ap);
    va_end(ap);
    cr_assert_not_null(reply, "%s: %s", fmt, c->errstr);
    cr_assert_neq(reply->type, REDIS_REPLY_ERROR, "%s: %s", fmt, reply->str);
    freeReplyObject(reply);
}

/* Takes R out of the servers hredis_stop_all stops. */
static void
forget(const struct hredis *r)
{
    int i;

    for (i = 0; i < HREDIS_MAX; i++) {
        if (hredis_started[i].port == r->port &&
            strcmp(hredis_started[i].pidfile, r->pidfile) == 0) {
            memset(&hredis_started[i], 0, sizeof(hredis_started[i]));
        }
    }
}

/* Waits (bounded) until PID is gone; whether it is. */
static bool
gone(pid_t pid)
{
    int i;

    for (i = 0; i < HREDIS_POLLS && alive(pid); i++) {
        hfixture_pause_ms(HREDIS_POLL_MS);
    }
    return !alive(pid);
}

void
hredis_stop(struct hredis *r)
{
    pid_t pid = read_pid(r);

    forget(r);
    if (!alive(pid) || kill(pid, SIGTERM) != 0) {
        return;
    }
    kill(pid, SIGCONT);             /* a paused one handles the TERM */
    if (!gone(pid)) {
        kill(pid, SIGKILL);
    }
}

pid_t
hredis_pid(const struct hredis *r)
{
    return read_pid(r);
}

void
hredis_signal(struct hredis *r, int sig)
{
    pid_t pid = read_pid(r);

    cr_assert(alive(pid), "redis-server %s does not run", r->name);
    cr_assert_eq(kill(pid, sig), 0, "kill %s: %s", r->name, strerror(errno));
    if (sig == SIGKILL) {
        cr_assert(gone(pid), "redis-server %s outlived SIGKILL", r->name);
        forget(r);
        unlink(r->pidfile);
    }
}

void
hredis_restart(struct hredis *r)
{
    cr_assert(!alive(read_pid(r)), "redis-server %s still runs", r->name);
    unlink(r->pidfile);
    cr_assert_eq(system(r->cmd), 0, "cannot start redis-server again: %s",
                 r->cmd);
    started(r);
}

void
hredis_stop_all(void)
{
    int i;

    for (i = 0; i < HREDIS_MAX; i++) {
        if (hredis_started[i].port != 0) {
            struct hredis r = hredis_started[i];

            hredis_stop(&r);
        }
    }
}
