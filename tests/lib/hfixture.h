/*
 * hfixture.h - fixtures shared by the integration suites: the harness's
 * environment (tests/integration/run.sh), the run's Redis, a fresh start
 * for each test, and the second Redis that tests stop and start again.
 * Test-only. Every call asserts with criterion, so a broken fixture ends
 * the test that asked for it.
 */
#ifndef HSP_HFIXTURE_H
#define HSP_HFIXTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct hproc;
struct hresp;
struct redisContext;

/*
 * The value of the environment variable NAME, asserted set and not
 * empty. Borrowed from the environment.
 */
const char *hfixture_env(const char *name);

/*
 * A connection to the Redis whose unix socket is in the environment
 * variable SOCK_ENV ("HSP_REDIS_SOCK", "HSP_REDIS2_SOCK"), asserted
 * reachable. The caller frees it with redisFree.
 */
struct redisContext *hfixture_redis(const char *sock_env);

/*
 * A fresh start: the run's Redis emptied (FLUSHALL), and the sandbox back
 * to its seed with its counters at zero, no injected latency, faults,
 * misbehaviour (X-Sandbox-Misbehave's knob) or rate limit, and no
 * request still held from an earlier test (waits, bounded, for held
 * requests to finish before the reset, so none of them lands in the next
 * test's data).
 */
void hfixture_fresh(void);

/*
 * Starts the Redis at $HSP_REDIS2_SOCK again, daemonized the way run.sh
 * starts it (pidfile $HSP_TMPDIR/redis2.pid), and waits (bounded) until
 * it answers.
 */
void hfixture_redis2_start(void);

/* Stops the Redis at $HSP_REDIS2_SOCK (SHUTDOWN NOSAVE). */
void hfixture_redis2_stop(void);

/* Whether the Redis at $HSP_REDIS2_SOCK accepts a connection now. */
bool hfixture_redis2_up(void);

/* The pid of the Redis at $HSP_REDIS2_SOCK, from its pidfile (asserts). */
pid_t hfixture_redis2_pid(void);

/* The string member KEY of R's JSON body, copied into OUT (asserts). */
void hfixture_body_string(const struct hresp *r, const char *key, char *out,
                          size_t cap);

/* A monotonic clock in ms, and a sleep of MS ms. */
long hfixture_now_ms(void);
void hfixture_pause_ms(long ms);

/*
 * MS times $HSP_SLOW (a whole number, default 1), for an upper bound on
 * how long something may take that grows with the daemons' slowness:
 * `scripts/test --valgrind` runs them under valgrind with HSP_SLOW set.
 */
long hfixture_slow_ms(long ms);

/*
 * Starts a proxy of the sandbox named NAME with OPTS (NULL-terminated
 * key=value overrides, or NULL) on top of hproc's defaults into P
 * (hproc_proxy_start); asserts it started.
 */
void hfixture_proxy(const char *name, const char *const *opts,
                    struct hproc *p);

/* Stops P with SIGTERM; expects (not asserts) the exit status 0. */
void hfixture_stop(struct hproc *p);

/* Whether a line of the file at PATH holds TEXT; false while PATH cannot
 * be read (a log not written yet). */
bool hfixture_file_has(const char *path, const char *text);

/* How many lines of the file at PATH hold TEXT (0 when it cannot be
 * read). */
long hfixture_file_lines(const char *path, const char *text);

/* The sandbox's counter NAME (hsandbox_count), asserted readable. */
long hfixture_count(const char *name);

#endif /* HSP_HFIXTURE_H */
