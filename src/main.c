/*
 * main.c - heavyset-proxy: command line, configuration, workers and
 * signals (SPEC §9, §10). Wiring only; the work happens in the modules.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/thread.h>
#include <openssl/ssl.h>

#include "access.h"
#include "budget_local.h"
#include "conf.h"
#include "listener.h"
#include "log.h"
#include "proxy.h"
#include "tls.h"
#include "upstream.h"
#include "upstream_share.h"
#include "url.h"
#include "worker.h"

#define MAIN_WORKERS_MAX   256
#define MAIN_GRACE_EXTRA_MS 1000     /* past upstream_timeout */
#define MAIN_DEFAULT_CONF  SYSCONFDIR "/heavyset-proxy.conf"

struct main_state {
    struct event_base *base;        /* the signal loop */
    struct worker    **workers;     /* owned */
    unsigned           nworkers;
    int64_t            grace_ms;
    bool               stopping;
    struct conf_ref   *cf;          /* held: the configuration in force */
    const char        *conf_path;   /* argv's or the default; NULL: none */
    char *const       *overrides;   /* argv's -o values, in order */
    size_t             noverrides;
    struct proxy_shared sh;         /* owned: what the workers share */
};

static void
usage(FILE *out)
{
    fprintf(out,
            "usage: heavyset-proxy [-c FILE] [-o key=value]... [-t] [-V] "
            "[-h]\n"
            "\n"
            "A caching edge proxy for HeavySet's S2S API.\n"
            "\n"
            "  -c FILE       configuration file (default %s)\n"
            "  -o key=value  override one configuration key (repeatable)\n"
            "  -t            check the configuration and exit\n"
            "  -V            print the version and exit\n"
            "  -h            print this help and exit\n",
            MAIN_DEFAULT_CONF);
}

static void
print_errors(const struct conf_errors *errs)
{
    size_t i;

    for (i = 0; i < errs->count; i++) {
        fprintf(stderr, "%s\n", errs->msg[i]);
    }
    if (errs->dropped > 0) {
        fprintf(stderr, "(%zu more errors)\n", errs->dropped);
    }
}

/*
 * Defaults, then the file, then every -o (which keep precedence on a
 * reload too), then the cross-key checks: every error goes to ERRS.
 * Returns 0 when there was none.
 */
static int
main_load(struct conf *cf, const char *path, char *const *overrides,
          size_t noverrides, struct conf_errors *errs)
{
    size_t i;

    memset(errs, 0, sizeof(*errs));
    if (conf_init(cf) != 0) {
        snprintf(errs->msg[0], sizeof(errs->msg[0]), "out of memory");
        errs->count = 1;
        return -1;
    }
    if (path != NULL) {
        conf_load_file(cf, path, errs);
    }
    for (i = 0; i < noverrides; i++) {
        conf_set_override(cf, overrides[i], errs);
    }
    if (errs->count == 0) {
        conf_validate(cf, errs);
    }
    return errs->count == 0 ? 0 : -1;
}

/*
 * The one place where logs are set up, at start and on every SIGHUP
 * (after a reload, with the configuration then in force, also when the
 * reload was refused): the diagnostic log and the access log. Returns
 * -1 when the access log cannot be opened; the previous sink then stays.
 */
static int
main_logs_setup(const struct conf *cf)
{
    char err[256];

    log_setup("heavyset-proxy", (enum log_level)cf->log_level,
              cf->log_format == CONF_LOG_JSON);
    /* Opening the access log's path anew is also what logrotate needs
     * after it moved the file: every SIGHUP does it, refused or not. */
    if (access_setup(cf->access_log, cf->log_format == CONF_LOG_JSON, err,
                     sizeof(err)) != 0) {
        log_err("main: %s", err);
        return -1;
    }
    return 0;
}

/* Joins the NAMES of a conf_diff into BUF, comma separated. */
static void
main_key_list(const char *const *names, size_t n, char *buf, size_t cap)
{
    size_t i, len = 0;

    buf[0] = '\0';
    for (i = 0; i < n && len < cap; i++) {
        int w = snprintf(buf + len, cap - len, "%s%s", i > 0 ? ", " : "",
                         names[i]);

        if (w < 0) {
            break;
        }
        len += (size_t)w;
    }
}

/*
 * SIGHUP (SPEC §10): reads the same file and -o values into a new
 * configuration; when it is valid, hands it to every worker, and its
 * requests use it from their next request on, while the connections stay
 * open. The old configuration is freed by whichever thread lets go of it
 * last (conf_ref): main here, or a worker after its last request that
 * started under it. A refused reload changes nothing. Returns 0 when it
 * reloaded, with what changed said in SAID (CAP bytes), else -1; the
 * caller logs "reloaded" once the logs are reopened too, so that the line
 * means the new configuration is wholly in force.
 */
static int
main_reload(struct main_state *st, char *said, size_t cap)
{
    const struct conf *old = conf_ref_conf(st->cf);
    struct conf        next;
    struct conf_errors errs;
    struct conf_diff   d;
    struct conf_ref   *ref;
    char               keys[1024];
    size_t             i;

    if (main_load(&next, st->conf_path, st->overrides, st->noverrides,
                  &errs) != 0) {
        for (i = 0; i < errs.count; i++) {
            log_err("main: reload: %s", errs.msg[i]);
        }
        if (errs.dropped > 0) {
            log_err("main: reload: (%zu more errors)", errs.dropped);
        }
        log_err("main: reload refused: the configuration in force stays");
        conf_free(&next);
        return -1;
    }
    if (conf_diff(old, &next, &d) != 0) {
        log_err("main: reload: out of memory: the configuration in force "
                "stays");
        conf_free(&next);
        return -1;
    }
    for (i = 0; i < d.nrestart; i++) {
        log_warn("main: reload: %s changed but needs a restart: keeping "
                 "its old value", d.restart[i]);
    }
    if (d.nchanged > 0) {
        ref = conf_ref_new(&next);
        if (ref == NULL) {
            log_err("main: reload: out of memory: the configuration in "
                    "force stays");
            conf_free(&next);
            return -1;
        }
        budget_local_set_limits(st->sh.bl, conf_ref_conf(ref));
        for (i = 0; i < st->nworkers; i++) {
            worker_reload(st->workers[i], ref);
        }
        conf_ref_drop(st->cf);
        st->cf = ref;
        st->grace_ms = conf_ref_conf(ref)->upstream_timeout_ms +
                       MAIN_GRACE_EXTRA_MS;
    }
    conf_free(&next);               /* empty when it moved into REF */
    main_key_list(d.changed, d.nchanged, keys, sizeof(keys));
    snprintf(said, cap, "%zu keys changed%s%s%s", d.nchanged,
             d.nchanged > 0 ? " (" : "", keys, d.nchanged > 0 ? ")" : "");
    return 0;
}

static const struct {
    int         signo;
    const char *name;
} main_signals[] = {
    { SIGTERM, "SIGTERM" },
    { SIGINT, "SIGINT" },
    { SIGHUP, "SIGHUP" },
};

static void
on_signal(evutil_socket_t signo, short what, void *arg)
{
    struct main_state *st = arg;
    unsigned           i;
    char               said[1100];
    bool               reloaded;

    if (st->stopping) {
        return;
    }
    if (signo == SIGHUP) {
        log_info("main: SIGHUP: reloading the configuration");
        reloaded = main_reload(st, said, sizeof(said)) == 0;
        (void)main_logs_setup(conf_ref_conf(st->cf));  /* logged */
        if (reloaded) {
            /* Last: once this line is out, the logs are the new ones. */
            log_info("main: configuration reloaded, %s", said);
        }
        return;
    }
    st->stopping = true;
    log_info("main: %s: finishing requests in flight (up to %lld ms)",
             signo == SIGTERM ? "SIGTERM" : "SIGINT",
             (long long)st->grace_ms);
    for (i = 0; i < st->nworkers; i++) {
        worker_stop(st->workers[i], st->grace_ms);
    }
    event_base_loopexit(st->base, NULL);
}

static bool
main_uses_tls(const struct conf *cf)
{
    struct url_upstream u;
    char                err[128];

    if (url_parse_upstream(cf->upstream, &u, err, sizeof(err)) == 0 &&
        u.tls) {
        return true;
    }
    return cf->upstream_lowlatency[0] != '\0' &&
           url_parse_upstream(cf->upstream_lowlatency, &u, err,
                              sizeof(err)) == 0 &&
           u.tls;
}

int
main(int argc, char **argv)
{
    struct main_state  st;
    struct conf        loaded;
    const struct conf *cf = NULL;   /* ST.CF's at start-up */
    struct conf_errors errs;
    struct url_listen  listen_addr;
    struct event      *sigev[sizeof(main_signals) / sizeof(main_signals[0])];
    evutil_socket_t   *fds = NULL;
    SSL_CTX           *ctx = NULL;
    sigset_t           mask;
    const char        *conf_path = NULL;
    char             **overrides;
    size_t             noverrides = 0, i;
    bool               test_only = false;
    char               desc[128], err[128];
    int                opt, status = EXIT_FAILURE;
    long               ncpu;

    memset(&st, 0, sizeof(st));
    memset(sigev, 0, sizeof(sigev));
    memset(&errs, 0, sizeof(errs));
    memset(&loaded, 0, sizeof(loaded));
    overrides = calloc((size_t)argc + 1, sizeof(*overrides));
    if (overrides == NULL) {
        fprintf(stderr, "heavyset-proxy: out of memory\n");
        return EXIT_FAILURE;
    }
    while ((opt = getopt(argc, argv, "c:o:tVh")) != -1) {
        switch (opt) {
        case 'c':
            conf_path = optarg;
            break;
        case 'o':
            overrides[noverrides++] = optarg;
            break;
        case 't':
            test_only = true;
            break;
        case 'V':
            printf("heavyset-proxy %s\n", PACKAGE_VERSION);
            status = EXIT_SUCCESS;
            goto out;
        case 'h':
            usage(stdout);
            status = EXIT_SUCCESS;
            goto out;
        default:
            usage(stderr);
            goto out;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "heavyset-proxy: unexpected argument '%s'\n",
                argv[optind]);
        usage(stderr);
        goto out;
    }

    /* Defaults, then the file, then -o: every error is reported. A
     * reload reads the same file and the same -o values. */
    if (conf_path == NULL && access(MAIN_DEFAULT_CONF, F_OK) == 0) {
        conf_path = MAIN_DEFAULT_CONF;
    }
    st.conf_path = conf_path;
    st.overrides = overrides;
    st.noverrides = noverrides;
    if (main_load(&loaded, conf_path, overrides, noverrides, &errs) != 0) {
        print_errors(&errs);
        goto out;
    }
    if (test_only) {
        printf("heavyset-proxy: the configuration %s is valid\n",
               conf_path != NULL ? conf_path : MAIN_DEFAULT_CONF);
        status = EXIT_SUCCESS;
        goto out;
    }

    st.cf = conf_ref_new(&loaded);
    if (st.cf == NULL) {
        fprintf(stderr, "heavyset-proxy: out of memory\n");
        goto out;
    }
    cf = conf_ref_conf(st.cf);
    if (main_logs_setup(cf) != 0) {
        goto out;
    }
    signal(SIGPIPE, SIG_IGN);
    if (evthread_use_pthreads() != 0) {
        log_err("main: libevent has no thread support");
        goto out;
    }
    if (main_uses_tls(cf)) {
        ctx = tls_client_ctx_new(cf->upstream_ca_file);
        if (ctx == NULL) {
            goto out;
        }
    }
    ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    st.nworkers = cf->workers > 0 ? (unsigned)cf->workers
                                 : (unsigned)(ncpu > 0 ? ncpu : 1);
    if (st.nworkers > MAIN_WORKERS_MAX) {
        st.nworkers = MAIN_WORKERS_MAX;
    }
    st.grace_ms = cf->upstream_timeout_ms + MAIN_GRACE_EXTRA_MS;
    st.sh.bl = budget_local_new(cf);
    st.sh.upstream = upstream_share_new((unsigned)cf->upstream_connections);
    st.sh.lowlat = cf->upstream_lowlatency[0] != '\0'
                       ? upstream_share_new((unsigned)cf->upstream_connections)
                       : NULL;
    if (st.sh.bl == NULL || st.sh.upstream == NULL ||
        (cf->upstream_lowlatency[0] != '\0' && st.sh.lowlat == NULL)) {
        log_err("main: out of memory");
        goto out;
    }
    st.workers = calloc(st.nworkers, sizeof(*st.workers));
    fds = calloc(st.nworkers, sizeof(*fds));
    if (st.workers == NULL || fds == NULL) {
        log_err("main: out of memory");
        goto out;
    }
    for (i = 0; i < st.nworkers; i++) {
        fds[i] = -1;
    }
    if (url_parse_listen(cf->listen, &listen_addr, err, sizeof(err)) != 0) {
        log_err("main: listen %s: %s", cf->listen, err);
        goto out;
    }
    if (listener_open(&listen_addr, st.nworkers, fds, desc, sizeof(desc)) !=
        0) {
        goto out;
    }

    /* Workers inherit a mask that blocks the handled signals, so only
     * this thread's loop sees them. */
    sigemptyset(&mask);
    for (i = 0; i < sizeof(main_signals) / sizeof(main_signals[0]); i++) {
        sigaddset(&mask, main_signals[i].signo);
    }
    pthread_sigmask(SIG_BLOCK, &mask, NULL);
    for (i = 0; i < st.nworkers; i++) {
        st.workers[i] = worker_start((unsigned)i, st.cf, ctx, &st.sh,
                                     fds[i], st.nworkers);
        fds[i] = -1;                /* the worker owns it now */
        if (st.workers[i] == NULL) {
            break;
        }
    }
    pthread_sigmask(SIG_UNBLOCK, &mask, NULL);

    st.base = event_base_new();
    if (i < st.nworkers || st.base == NULL) {
        log_err("main: cannot start the workers");
        goto stop;
    }
    for (i = 0; i < sizeof(main_signals) / sizeof(main_signals[0]); i++) {
        sigev[i] = evsignal_new(st.base, main_signals[i].signo, on_signal,
                                &st);
        if (sigev[i] == NULL || evsignal_add(sigev[i], NULL) != 0) {
            log_err("main: cannot handle %s", main_signals[i].name);
            goto stop;
        }
    }
    log_info("main: heavyset-proxy %s listening on %s with %u workers, "
             "upstream %s", PACKAGE_VERSION, desc, st.nworkers, cf->upstream);
    event_base_dispatch(st.base);
    status = EXIT_SUCCESS;

stop:
    for (i = 0; i < st.nworkers; i++) {
        if (st.workers[i] != NULL) {
            if (!st.stopping) {
                worker_stop(st.workers[i], st.grace_ms);
            }
        }
    }
    for (i = 0; i < st.nworkers; i++) {
        worker_join(st.workers[i]);
    }
    if (status == EXIT_SUCCESS) {
        log_info("main: stopped");
    }

out:
    for (i = 0; i < sizeof(main_signals) / sizeof(main_signals[0]); i++) {
        if (sigev[i] != NULL) {
            event_free(sigev[i]);
        }
    }
    if (st.base != NULL) {
        event_base_free(st.base);
    }
    if (fds != NULL) {
        for (i = 0; i < st.nworkers; i++) {
            if (fds[i] >= 0) {      /* never handed to a worker */
                close(fds[i]);
            }
        }
    }
    free(fds);
    free(st.workers);
    budget_local_free(st.sh.bl);    /* after every worker's budget */
    upstream_share_free(st.sh.upstream);    /* ... and pools */
    upstream_share_free(st.sh.lowlat);
    access_close();                 /* after every worker's last line */
    SSL_CTX_free(ctx);
    conf_ref_drop(st.cf);           /* the workers let go of theirs */
    conf_free(&loaded);
    free(overrides);
    libevent_global_shutdown();
    return status;
}
