/*
 * hproc.c - heavyset-proxy instances started and stopped by a test (see
 * hproc.h): fork and exec, the log's "listening on" line, /healthz, and a
 * registry of running children for the suite's .fini.
 */
#include "config.h"

#include "hproc.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "hclient.h"
#include "hfixture.h"

#define HPROC_MAX       16          /* running children per test process */
#define HPROC_ARGS_MAX  64          /* arguments of the proxy's command */
#define HPROC_ARG_LEN   512
#define HPROC_POLL_MS   20
#define HPROC_LOG_MAX   65536       /* log bytes searched for the port */
#define HPROC_LISTENING "listening on 127.0.0.1:"
#define HPROC_FD_MAX    65536       /* closed one by one without close_range */

/* The children running now, so hproc_stop_all finds them after a failed
 * assertion has left the test's struct hproc behind. */
static struct {
    pid_t pid;                      /* 0: free slot */
    char  name[64];
} running[HPROC_MAX];

static void set_error(struct hproc *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int arg_add(struct hproc *p, char (*args)[HPROC_ARG_LEN], size_t *n,
                   const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void
set_error(struct hproc *p, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(p->error, sizeof(p->error), fmt, ap);
    va_end(ap);
}

static long
startup_ms(void)
{
    const char *s = getenv("HSP_STARTUP_TIMEOUT");
    long        v = s != NULL ? strtol(s, NULL, 10) : 0;

    return v > 0 ? v * 1000 : HPROC_STARTUP_MS;
}

static void
registry_add(pid_t pid, const char *name)
{
    size_t i;

    for (i = 0; i < HPROC_MAX; i++) {
        if (running[i].pid == 0) {
            running[i].pid = pid;
            snprintf(running[i].name, sizeof(running[i].name), "%s", name);
            return;
        }
    }
}

static void
registry_remove(pid_t pid)
{
    size_t i;

    for (i = 0; i < HPROC_MAX; i++) {
        if (running[i].pid == pid) {
            running[i].pid = 0;
        }
    }
}

/* The environment variable NAME, or NULL (with P->error) when unset. */
static const char *
need_env(struct hproc *p, const char *name)
{
    const char *v = getenv(name);

    if (v == NULL || *v == '\0') {
        set_error(p, "%s is not set: run the tests through run.sh", name);
        return NULL;
    }
    return v;
}

/*
 * The child's side of the fork: only async-signal-safe calls, since the
 * test process may have threads. Never returns.
 */
static void
child_exec(const char *bin, char *const argv[], int logfd, int nullfd,
           pid_t parent, long fd_max)
{
    static const char msg[] = "hproc: exec of the proxy failed\n";
    static const int  reset[] = { SIGTERM, SIGINT, SIGHUP, SIGPIPE };
    struct sigaction  dfl;
    sigset_t          none;
    size_t            i;
    long              fd;

    if (dup2(nullfd, STDIN_FILENO) == -1 ||
        dup2(logfd, STDOUT_FILENO) == -1 || dup2(logfd, STDERR_FILENO) == -1) {
        _exit(127);
    }
    /* Dies with the test process, whatever ends it (a criterion timeout
     * kills it before any .fini can run). */
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) == -1 || getppid() != parent) {
        _exit(127);
    }
    if (close_range(3, ~0U, 0) == -1) {
        for (fd = 3; fd < fd_max; fd++) {
            close((int)fd);
        }
    }
    /* Dispositions set to ignore and blocked signals survive exec. */
    memset(&dfl, 0, sizeof(dfl));
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    for (i = 0; i < sizeof(reset) / sizeof(reset[0]); i++) {
        sigaction(reset[i], &dfl, NULL);
    }
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    execv(bin, argv);
    if (write(STDERR_FILENO, msg, sizeof(msg) - 1) < 0) {
        _exit(127);
    }
    _exit(127);
}

/*
 * Whether P's child has exited; if so it is reaped, unregistered, and
 * P->error says how it ended.
 */
static bool
exited(struct hproc *p, const char *when)
{
    int status;

    if (waitpid(p->pid, &status, WNOHANG) != p->pid) {
        return false;
    }
    registry_remove(p->pid);
    set_error(p, "%s (pid %ld) %s %d %s; see %s", p->name, (long)p->pid,
              WIFSIGNALED(status) ? "was killed by signal"
                                  : "exited with status",
              WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status),
              when, p->log);
    p->pid = 0;
    return true;
}

/*
 * Reads LOG from byte OFFSET on and finds the port in HPROC_LISTENING's
 * line. Returns the port, 0 when the line is not (entirely) there yet.
 */
static long
log_port(const char *log, off_t offset)
{
    static char buf[HPROC_LOG_MAX + 1];
    const char *at;
    char       *end;
    ssize_t     n;
    size_t      len = 0;
    long        port;
    int         fd;

    fd = open(log, O_RDONLY | O_CLOEXEC);
    if (fd == -1) {
        return 0;
    }
    while (len < HPROC_LOG_MAX &&
           (n = pread(fd, buf + len, HPROC_LOG_MAX - len,
                      offset + (off_t)len)) > 0) {
        len += (size_t)n;
    }
    close(fd);
    buf[len] = '\0';
    at = strstr(buf, HPROC_LISTENING);
    if (at == NULL) {
        return 0;
    }
    at += strlen(HPROC_LISTENING);
    errno = 0;
    port = strtol(at, &end, 10);
    /* the line goes on after the port: a digit or the end of what was
     * read means it is still being written */
    if (end == at || *end == '\0' || (*end >= '0' && *end <= '9') ||
        errno != 0 || port <= 0 || port > 65535) {
        return 0;
    }
    return port;
}

/* Kills P's child after a failed start. P->error already says why. */
static void
abandon(struct hproc *p)
{
    if (p->pid > 0) {
        kill(p->pid, SIGKILL);
        waitpid(p->pid, NULL, 0);
        registry_remove(p->pid);
        p->pid = 0;
    }
}

/* Appends one argument, formatted, to ARGS. Returns -1 when full. */
static int
arg_add(struct hproc *p, char (*args)[HPROC_ARG_LEN], size_t *n,
        const char *fmt, ...)
{
    va_list ap;

    if (*n == HPROC_ARGS_MAX) {
        set_error(p, "more than %d arguments", HPROC_ARGS_MAX);
        return -1;
    }
    va_start(ap, fmt);
    vsnprintf(args[(*n)++], HPROC_ARG_LEN, fmt, ap);
    va_end(ap);
    return 0;
}

static int spawn_wait(struct hproc *out, char (*args)[HPROC_ARG_LEN],
                      size_t nargs, const char *ready_path);

/*
 * Starts the proxy with -c CONF_FILE (NULL: $HSP_PROXY_CONF and the
 * harness's -o defaults), then OVERRIDES. See hproc.h.
 */
static int
proxy_start(const char *name, const char *conf_file,
            const char *const *overrides, struct hproc *out)
{
    static const char *const defaults[] = {
        "listen=127.0.0.1:0", "upstream_timeout=1s", "workers=1",
        "max_body=8k", "rate_limit=0/min", "log_level=info",
    };
    char        args[HPROC_ARGS_MAX][HPROC_ARG_LEN];
    const char *bin, *conf, *redis, *sandbox, *ca, *tmpdir;
    char        pidfile[600];
    size_t      nargs = 0, i;
    struct stat st;
    int         rc = 0;

    memset(out, 0, sizeof(*out));
    snprintf(out->name, sizeof(out->name), "%s", name);
    if ((bin = need_env(out, "HSP_PROXY_BIN")) == NULL ||
        (conf = need_env(out, "HSP_PROXY_CONF")) == NULL ||
        (redis = need_env(out, "HSP_REDIS_SOCK")) == NULL ||
        (sandbox = need_env(out, "HSP_SANDBOX_URL")) == NULL ||
        (ca = need_env(out, "HSP_SANDBOX_CA")) == NULL ||
        (tmpdir = need_env(out, "HSP_TMPDIR")) == NULL) {
        return -1;
    }
    snprintf(pidfile, sizeof(pidfile), "%s/%s.pid", tmpdir, name);
    if (stat(pidfile, &st) == 0) {
        set_error(out, "%s is one of run.sh's daemons: choose another name",
                  name);
        return -1;
    }
    snprintf(out->log, sizeof(out->log), "%s/%s.log", tmpdir, name);

    /* the program, -c FILE, then -o for the defaults, then OVERRIDES */
    rc |= arg_add(out, args, &nargs, "%s", bin);
    rc |= arg_add(out, args, &nargs, "-c");
    rc |= arg_add(out, args, &nargs, "%s", conf_file != NULL ? conf_file
                                                             : conf);
    for (i = 0; conf_file == NULL && i < sizeof(defaults) / sizeof(defaults[0]);
         i++) {
        rc |= arg_add(out, args, &nargs, "-o");
        rc |= arg_add(out, args, &nargs, "%s", defaults[i]);
    }
    if (conf_file == NULL) {
        rc |= arg_add(out, args, &nargs, "-o");
        rc |= arg_add(out, args, &nargs, "redis=unix://%s", redis);
        rc |= arg_add(out, args, &nargs, "-o");
        rc |= arg_add(out, args, &nargs, "upstream=%s", sandbox);
        rc |= arg_add(out, args, &nargs, "-o");
        rc |= arg_add(out, args, &nargs, "upstream_ca_file=%s", ca);
    }
    for (i = 0; overrides != NULL && overrides[i] != NULL; i++) {
        rc |= arg_add(out, args, &nargs, "-o");
        rc |= arg_add(out, args, &nargs, "%s", overrides[i]);
    }
    if (rc != 0) {
        return -1;
    }
    return spawn_wait(out, args, nargs, "/healthz");
}

/*
 * Runs ARGS (NARGS of them, the program first) as OUT's child, its
 * output appended to OUT->log, and waits for HPROC_LISTENING in what it
 * logs, then until GET READY_PATH answers 200. Fills OUT->pid and
 * OUT->url. Returns 0, or -1 with OUT->error and no child left.
 */
static int
spawn_wait(struct hproc *out, char (*args)[HPROC_ARG_LEN], size_t nargs,
           const char *ready_path)
{
    char       *argv[HPROC_ARGS_MAX + 1];
    const char *name = out->name;
    size_t      i;
    long        deadline, port = 0, fd_max;
    int         logfd = -1, nullfd = -1;
    off_t       offset;
    pid_t       pid, parent = getpid();

    for (i = 0; i < nargs; i++) {
        argv[i] = args[i];
    }
    argv[nargs] = NULL;

    logfd = open(out->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    nullfd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (logfd == -1 || nullfd == -1) {
        set_error(out, "cannot open %s or /dev/null: %s", out->log,
                  strerror(errno));
        goto fail;
    }
    /* This start's lines begin here: an earlier start's "listening on"
     * line names a port that is closed now. */
    offset = lseek(logfd, 0, SEEK_END);
    fd_max = sysconf(_SC_OPEN_MAX);
    if (fd_max < 0 || fd_max > HPROC_FD_MAX) {
        fd_max = HPROC_FD_MAX;
    }
    fflush(NULL);                   /* no stdio buffer is written twice */
    pid = fork();
    if (pid == -1) {
        set_error(out, "fork: %s", strerror(errno));
        goto fail;
    }
    if (pid == 0) {
        child_exec(argv[0], argv, logfd, nullfd, parent, fd_max);
    }
    close(logfd);
    close(nullfd);
    logfd = nullfd = -1;
    out->pid = pid;
    registry_add(pid, name);

    deadline = hfixture_now_ms() + startup_ms();
    while ((port = log_port(out->log, offset)) == 0) {
        if (exited(out, "before it was listening")) {
            return -1;
        }
        if (hfixture_now_ms() > deadline) {
            set_error(out, "%s: no \"%sPORT\" in %s within %ld ms", name,
                      HPROC_LISTENING, out->log, startup_ms());
            abandon(out);
            return -1;
        }
        hfixture_pause_ms(HPROC_POLL_MS);
    }
    snprintf(out->url, sizeof(out->url), "http://127.0.0.1:%ld", port);
    for (;;) {
        struct hresp r;
        int          status;

        hclient_get(out->url, ready_path, NULL, &r);
        status = r.status;
        hresp_free(&r);
        if (status == 200) {
            return 0;
        }
        if (exited(out, "before it answered")) {
            return -1;
        }
        if (hfixture_now_ms() > deadline) {
            set_error(out, "%s: %s%s did not answer 200 within %ld ms "
                      "(last: %d)", name, out->url, ready_path, startup_ms(),
                      status);
            abandon(out);
            return -1;
        }
        hfixture_pause_ms(HPROC_POLL_MS);
    }

fail:
    if (logfd != -1) {
        close(logfd);
    }
    if (nullfd != -1) {
        close(nullfd);
    }
    return -1;
}

int
hproc_proxy_start(const char *name, const char *const *overrides,
                  struct hproc *out)
{
    return proxy_start(name, NULL, overrides, out);
}

int
hproc_proxy_start_conf(const char *name, const char *conf_file,
                       const char *const *overrides, struct hproc *out)
{
    return proxy_start(name, conf_file, overrides, out);
}

int
hproc_sandbox_start(const char *name, const char *const *args,
                    struct hproc *out)
{
    char        argv[HPROC_ARGS_MAX][HPROC_ARG_LEN];
    const char *bin, *seed, *tmpdir;
    char        pidfile[600];
    size_t      nargs = 0, i;
    struct stat st;
    int         rc = 0;

    memset(out, 0, sizeof(*out));
    snprintf(out->name, sizeof(out->name), "%s", name);
    if ((bin = need_env(out, "HSP_SANDBOX_BIN")) == NULL ||
        (seed = need_env(out, "HSP_SEED_FILE")) == NULL ||
        (tmpdir = need_env(out, "HSP_TMPDIR")) == NULL) {
        return -1;
    }
    snprintf(pidfile, sizeof(pidfile), "%s/%s.pid", tmpdir, name);
    if (stat(pidfile, &st) == 0) {
        set_error(out, "%s is one of run.sh's daemons: choose another name",
                  name);
        return -1;
    }
    snprintf(out->log, sizeof(out->log), "%s/%s.log", tmpdir, name);
    rc |= arg_add(out, argv, &nargs, "%s", bin);
    rc |= arg_add(out, argv, &nargs, "--listen");
    rc |= arg_add(out, argv, &nargs, "127.0.0.1:0");
    rc |= arg_add(out, argv, &nargs, "--seed");
    rc |= arg_add(out, argv, &nargs, "%s", seed);
    rc |= arg_add(out, argv, &nargs, "--rate-limit");
    rc |= arg_add(out, argv, &nargs, "0");
    for (i = 0; args != NULL && args[i] != NULL; i++) {
        rc |= arg_add(out, argv, &nargs, "%s", args[i]);
    }
    if (rc != 0) {
        return -1;
    }
    return spawn_wait(out, argv, nargs, "/__sandbox/stats");
}

int
hproc_stop(struct hproc *p, int sig)
{
    long deadline;
    int  status;

    if (p->pid <= 0) {
        set_error(p, "%s is not running", p->name);
        return -1;
    }
    if (kill(p->pid, sig) == -1) {
        set_error(p, "kill %s (pid %ld): %s", p->name, (long)p->pid,
                  strerror(errno));
        return -1;
    }
    deadline = hfixture_now_ms() + HPROC_STOP_MS;
    for (;;) {
        pid_t got = waitpid(p->pid, &status, WNOHANG);

        if (got == p->pid) {
            break;
        }
        if (got == -1 && errno != EINTR) {
            set_error(p, "waitpid %s (pid %ld): %s", p->name, (long)p->pid,
                      strerror(errno));
            registry_remove(p->pid);
            p->pid = 0;
            return -1;
        }
        if (hfixture_now_ms() > deadline) {
            set_error(p, "%s (pid %ld) still runs %d ms after signal %d: "
                      "killed", p->name, (long)p->pid, HPROC_STOP_MS, sig);
            abandon(p);
            return -1;
        }
        hfixture_pause_ms(HPROC_POLL_MS);
    }
    registry_remove(p->pid);
    p->pid = 0;
    if (WIFSIGNALED(status)) {
        return 128 + WTERMSIG(status);
    }
    return WEXITSTATUS(status);
}

int
hproc_stop_all(void)
{
    size_t i;
    int    n = 0;

    for (i = 0; i < HPROC_MAX; i++) {
        struct hproc p;
        int          rc;

        if (running[i].pid == 0) {
            continue;
        }
        memset(&p, 0, sizeof(p));
        p.pid = running[i].pid;
        snprintf(p.name, sizeof(p.name), "%s", running[i].name);
        rc = hproc_stop(&p, SIGTERM);   /* clears running[i] */
        if (rc == -1) {
            fprintf(stderr, "hproc: %s\n", p.error);
        } else {
            fprintf(stderr, "hproc: stopped %s, left running by the test: "
                    "exit status %d\n", p.name, rc);
        }
        n++;
    }
    return n;
}
