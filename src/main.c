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
#include "budget.h"
#include "conf.h"
#include "listener.h"
#include "log.h"
#include "lua.h"
#include "tls.h"
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

    if (signo == SIGHUP) {
        access_reopen();            /* logrotate: reopen the access log */
        /* Reloading arrives with the operations work (SPEC §10); until
         * then SIGHUP must not kill a serving proxy. */
        log_warn("main: SIGHUP: configuration reload is not supported by "
                 "this version; restart to apply changes");
        return;
    }
    if (st->stopping) {
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
    struct conf        cf;
    struct conf_errors errs;
    struct url_listen  listen_addr;
    struct event      *sigev[sizeof(main_signals) / sizeof(main_signals[0])];
    evutil_socket_t   *fds = NULL;
    SSL_CTX           *ctx = NULL;
    struct budget_local *bl = NULL;
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
    overrides = calloc((size_t)argc + 1, sizeof(*overrides));
    if (overrides == NULL || conf_init(&cf) != 0) {
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

    /* Defaults, then the file, then -o: every error is reported. */
    if (conf_path != NULL || access(MAIN_DEFAULT_CONF, F_OK) == 0) {
        conf_load_file(&cf, conf_path != NULL ? conf_path : MAIN_DEFAULT_CONF,
                       &errs);
    }
    for (i = 0; i < noverrides; i++) {
        conf_set_override(&cf, overrides[i], &errs);
    }
    if (errs.count == 0) {
        conf_validate(&cf, &errs);
    }
    if (errs.count > 0) {
        print_errors(&errs);
        goto out;
    }
    if (test_only) {
        printf("heavyset-proxy: the configuration %s is valid\n",
               conf_path != NULL ? conf_path : MAIN_DEFAULT_CONF);
        status = EXIT_SUCCESS;
        goto out;
    }

    log_setup("heavyset-proxy", (enum log_level)cf.log_level,
              cf.log_format == CONF_LOG_JSON);
    if (access_setup(cf.access_log, cf.log_format == CONF_LOG_JSON, err,
                     sizeof(err)) != 0) {
        log_err("main: %s", err);
        goto out;
    }
    signal(SIGPIPE, SIG_IGN);
    lua_init();
    budget_init();
    if (evthread_use_pthreads() != 0) {
        log_err("main: libevent has no thread support");
        goto out;
    }
    if (main_uses_tls(&cf)) {
        ctx = tls_client_ctx_new(cf.upstream_ca_file);
        if (ctx == NULL) {
            goto out;
        }
    }
    ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    st.nworkers = cf.workers > 0 ? (unsigned)cf.workers
                                 : (unsigned)(ncpu > 0 ? ncpu : 1);
    if (st.nworkers > MAIN_WORKERS_MAX) {
        st.nworkers = MAIN_WORKERS_MAX;
    }
    st.grace_ms = cf.upstream_timeout_ms + MAIN_GRACE_EXTRA_MS;
    bl = budget_local_new(&cf);
    if (bl == NULL) {
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
    if (url_parse_listen(cf.listen, &listen_addr, err, sizeof(err)) != 0) {
        log_err("main: listen %s: %s", cf.listen, err);
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
        st.workers[i] = worker_start((unsigned)i, &cf, ctx, bl, fds[i],
                                     st.nworkers);
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
             "upstream %s", PACKAGE_VERSION, desc, st.nworkers, cf.upstream);
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
    budget_local_free(bl);          /* after every worker's budget */
    access_close();                 /* after every worker's last line */
    SSL_CTX_free(ctx);
    conf_free(&cf);
    free(overrides);
    libevent_global_shutdown();
    return status;
}
