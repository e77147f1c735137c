/*
 * hredis.h - redis-servers a test starts for itself, on TCP (127.0.0.1
 * and a free port), with settings no harness Redis has: a password, ACL
 * users, maxmemory and its policy. Test-only; asserts with criterion.
 *
 * Each runs daemonized in $HSP_TMPDIR/NAME.*, its RDB file too: a
 * replica's full sync writes one even without persistence, and a server
 * started later on a shared dump.rdb would load another test's data.
 * hredis_stop_all (the suite's .fini) stops those a failed assertion
 * left behind.
 */
#ifndef HSP_HREDIS_H
#define HSP_HREDIS_H

#include <sys/types.h>

struct redisContext;

struct hredis {
    char name[64];                  /* as given to hredis_start */
    int  port;                      /* on 127.0.0.1 */
    char pidfile[512];
    char cmd[2048];                 /* what started it, for hredis_restart */
};

/*
 * Starts redis-server as NAME on a free port of 127.0.0.1, without
 * persistence, then each argument of the NULL-terminated ARGS (may be
 * NULL), e.g. "--requirepass x". Waits (bounded) until it accepts a
 * connection; asserts it did. Fills OUT.
 */
void hredis_start(const char *name, const char *const *args,
                  struct hredis *out);

/*
 * As hredis_start, but TLS only (--port 0, --tls-port on the free port),
 * with the server certificate for localhost/127.0.0.1 and the CA that
 * certs.sh made in the directory CERTS; clients need no certificate.
 * hredis_connect cannot reach it (plain TCP).
 */
void hredis_start_tls(const char *name, const char *certs,
                      const char *const *args, struct hredis *out);

/* A TCP port of 127.0.0.1 that was free a moment ago (for a second port
 * of a server, as a cluster node's bus). */
int hredis_free_port(void);

/*
 * Starts a sentinel (`redis-server FILE --sentinel`) as NAME on a free
 * port of 127.0.0.1, with its configuration written to a file of its own
 * in $HSP_TMPDIR (Sentinel rewrites it): the daemon's lines, then each
 * line of the NULL-terminated LINES ("sentinel monitor m 127.0.0.1 6379
 * 2"). Waits (bounded) until it accepts a connection. Fills OUT; stopped
 * as any other (hredis_stop, hredis_stop_all).
 */
void hredis_start_sentinel(const char *name, const char *const *lines,
                           struct hredis *out);

/*
 * As hredis_start_sentinel, but TLS only (port 0, tls-port on the free
 * port) with certs.sh's files in CERTS, as hredis_start_tls, and
 * tls-replication yes: it reaches masters, replicas and the other
 * sentinels over TLS, showing CERTS/client.pem.
 */
void hredis_start_sentinel_tls(const char *name, const char *certs,
                               const char *const *lines, struct hredis *out);

/* A connection to R, authenticated with PASSWORD when not NULL (as the
 * default user); asserted. The caller frees it with redisFree. */
struct redisContext *hredis_connect(const struct hredis *r,
                                    const char *password);

/* Runs the command FMT on C and asserts the reply is not an error. */
void hredis_ok(struct redisContext *c, const char *fmt, ...);

/* Stops R (SIGTERM, waits for its exit, bounded); a paused one too. */
void hredis_stop(struct hredis *r);

/* R's pid, from its pidfile; 0 when it has none. */
pid_t hredis_pid(const struct hredis *r);

/*
 * Sends SIG to R: SIGSTOP and SIGCONT pause and resume it; SIGKILL
 * crashes it, waits (bounded) until it is gone, removes its pidfile and
 * forgets it (hredis_stop_all), so that its pid, reused, is never
 * signalled again. Asserts R runs.
 */
void hredis_signal(struct hredis *r, int sig);

/*
 * Starts R again as it was started (same port and arguments, so the same
 * files), after hredis_stop or SIGKILL; waits as hredis_start does.
 */
void hredis_restart(struct hredis *r);

/* Stops every Redis this process started that still runs. */
void hredis_stop_all(void);

#endif /* HSP_HREDIS_H */
