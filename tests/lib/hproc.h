/*
 * hproc.h - heavyset-proxy (and heavyset-sandbox) instances that a test
 * starts and stops itself,
 * to restart an instance, kill it with SIGKILL mid-request, or run it with
 * settings no harness proxy has. Test-only; no criterion calls, so the
 * caller asserts on the results.
 *
 * A started proxy is the test process's child. It gets SIGKILL when the
 * test process dies, and hproc_stop_all (the suite's .fini) stops those a
 * failed assertion left behind, so no test leaves a process running.
 */
#ifndef HSP_HPROC_H
#define HSP_HPROC_H

#include <sys/types.h>

#define HPROC_STARTUP_MS 30000      /* to listen and answer /healthz;
                                     * $HSP_STARTUP_TIMEOUT (s) overrides */
#define HPROC_STOP_MS    15000      /* from the signal to the exit */

struct hproc {
    pid_t pid;                      /* the running child; 0 when stopped */
    char  name[64];                 /* as given to hproc_proxy_start */
    char  url[64];                  /* "http://127.0.0.1:PORT" */
    char  log[512];                 /* $HSP_TMPDIR/NAME.log */
    char  error[512];               /* why the last call returned -1 */
};

/*
 * Starts heavyset-proxy ($HSP_PROXY_BIN) as the harness starts its
 * sandbox proxies: the config file $HSP_PROXY_CONF, listen on an
 * ephemeral port of 127.0.0.1, the run's Redis ($HSP_REDIS_SOCK), the
 * sandbox ($HSP_SANDBOX_URL, $HSP_SANDBOX_CA) as upstream with
 * upstream_timeout 1s, 1 worker, max_body 8k, no rate budget and log
 * level info, then each "key=value" of the NULL-terminated OVERRIDES (may
 * be NULL) as one more -o; later ones win. Its stdout and stderr are
 * appended to $HSP_TMPDIR/NAME.log, which run.sh shows at the end of the
 * run; a restart under the same NAME appends to the same log. NAME must
 * not be one of run.sh's daemons.
 *
 * Waits (bounded by HPROC_STARTUP_MS) for "listening on 127.0.0.1:PORT"
 * in the part of the log this start wrote, then until GET /healthz
 * answers 200. Fills OUT. Returns 0, or -1 with the reason in
 * OUT->error; no process is left running then.
 */
int hproc_proxy_start(const char *name, const char *const *overrides,
                      struct hproc *out);

/*
 * Like hproc_proxy_start, but with -c CONF_FILE and only the -o of
 * OVERRIDES (may be NULL): the file sets everything else, listen
 * included (its port must be 127.0.0.1:0 or a free one), so that a test
 * can change any key of it and send SIGHUP.
 */
int hproc_proxy_start_conf(const char *name, const char *conf_file,
                           const char *const *overrides, struct hproc *out);

/*
 * Starts heavyset-sandbox ($HSP_SANDBOX_BIN) over plain HTTP on an
 * ephemeral port of 127.0.0.1 with the run's seed ($HSP_SEED_FILE) and no
 * rate limit, then each argument of the NULL-terminated ARGS (may be
 * NULL), e.g. "--realistic". Logs, waits and fails like
 * hproc_proxy_start, GET /__sandbox/stats standing for /healthz. Stop it
 * with hproc_stop.
 */
int hproc_sandbox_start(const char *name, const char *const *args,
                        struct hproc *out);

/*
 * Sends SIG to P's process and waits for it to exit (bounded by
 * HPROC_STOP_MS; past that it is killed with SIGKILL and the call
 * fails). Returns its exit status (0..255) when it exited, 128 + the
 * signal number when a signal ended it, or -1 with the reason in
 * P->error (also when P is not running). P->pid is 0 afterwards.
 */
int hproc_stop(struct hproc *p, int sig);

/*
 * Stops, with SIGTERM then as hproc_stop, every proxy this process started
 * that is still running, and says so on stderr. For a suite's .fini:
 * after a failed assertion, the test's own hproc_stop never ran. Returns
 * how many it had to stop.
 */
int hproc_stop_all(void);

#endif /* HSP_HPROC_H */
