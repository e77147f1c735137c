/*
 * main.c - heavyset-sandbox: seed, TLS, listener, signals. Everything
 * else is wired from here: opts (the command line), data (seed), faults
 * (knobs), wire (how answers go out), tally (counters), and dispatch,
 * the front door that hands each request to admin (control routes) or
 * api (S2S). Owns all of them and frees them in one place, after the
 * loop.
 */
#include "config.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>

#include "log.h"
#include "sandbox/api.h"
#include "sandbox/admin.h"
#include "sandbox/data.h"
#include "sandbox/dispatch.h"
#include "sandbox/faults.h"
#include "sandbox/opts.h"
#include "sandbox/wire.h"
#include "sandbox/tally.h"

#define MAIN_MAX_HEADERS  (64 * 1024)
#define MAIN_IDLE_TIMEOUT 120       /* seconds; > the longest delay */
#define MAIN_HOST_MAX     256
#define MAIN_FLUSH_MS     100       /* time to flush answers at exit */

/* What the signal handler needs for a graceful stop. */
struct main_stop {
    struct event_base          *base;    /* borrowed */
    struct evhttp              *http;    /* borrowed */
    struct evhttp_bound_socket *handle;  /* borrowed; NULL once closed */
    struct api                 *api;     /* borrowed */
};

static void on_signal(evutil_socket_t sig, short what, void *arg);

static void
main_log_ssl_error(const char *what, const char *file)
{
    char buf[256];

    ERR_error_string_n(ERR_get_error(), buf, sizeof(buf));
    log_err("sandbox: %s %s: %s", what, file, buf);
}

/* A server SSL_CTX with the certificate chain CERT and key KEY. */
static SSL_CTX *
main_tls_ctx(const char *cert, const char *key)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

    if (ctx == NULL) {
        main_log_ssl_error("cannot create the TLS context for", cert);
        return NULL;
    }
    /* Clients that close without close_notify are normal for HTTP/1.1. */
    SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
    if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1) {
        main_log_ssl_error("cannot require TLS 1.2 for", cert);
        goto fail;
    }
    if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
        main_log_ssl_error("cannot load the certificate", cert);
        goto fail;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
        main_log_ssl_error("cannot load the private key", key);
        goto fail;
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        main_log_ssl_error("the key does not match the certificate", cert);
        goto fail;
    }
    return ctx;

fail:
    SSL_CTX_free(ctx);
    return NULL;
}

/*
 * The real API (NestJS on Express) reads a GET's body, where the API
 * document puts the token of "every request"; evhttp reads none for a
 * GET, and would take it for the next request on the connection. So a
 * request line that starts "GET " has its method turned into "PUT " (as
 * long) before evhttp reads it, and dispatch.c serves a PUT as the GET
 * it was (the API has no PUT route). evhttp reads a PUT without framing
 * fields as bodiless, exactly as the GET. This runs on the input buffer
 * as bytes arrive, before evhttp's read callback, and evhttp never takes
 * part of a request line: a request line not yet read is at the front.
 * (So is a body chunk being read; one that began "GET " would be changed
 * too, and no JSON body does.)
 */
static void
on_input_get_as_put(struct evbuffer *buf, const struct evbuffer_cb_info *info,
                    void *arg)
{
    unsigned char *p;

    if (info->n_added == 0 || evbuffer_get_length(buf) < 4) {
        return;
    }
    p = evbuffer_pullup(buf, 4);
    if (p != NULL && memcmp(p, "GET ", 4) == 0) {
        memcpy(p, "PUT ", 4);
    }
}

/*
 * evhttp asks for one bufferevent per accepted connection: with TLS, an
 * OpenSSL filter in accepting state that owns its SSL and socket (ARG is
 * the SSL_CTX); without, a plain one, whose socket evhttp closes itself.
 * Both read GETs with their bodies (on_input_get_as_put).
 */
static struct bufferevent *
on_http_bev(struct event_base *base, void *arg)
{
    SSL_CTX            *ctx = arg;
    SSL                *ssl;
    struct bufferevent *bev;

    if (ctx == NULL) {
        bev = bufferevent_socket_new(base, -1, 0);
    } else {
        ssl = SSL_new(ctx);
        if (ssl == NULL) {
            return NULL;
        }
        /* With CLOSE_ON_FREE a failed call has freed SSL already. */
        bev = bufferevent_openssl_socket_new(base, -1, ssl,
                                             BUFFEREVENT_SSL_ACCEPTING,
                                             BEV_OPT_CLOSE_ON_FREE);
        if (bev != NULL) {
            bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
        }
    }
    if (bev != NULL &&
        evbuffer_add_cb(bufferevent_get_input(bev), on_input_get_as_put,
                        NULL) == NULL) {
        bufferevent_free(bev);
        return NULL;
    }
    return bev;
}

/* Logs the address HANDLE is really bound to (port 0 picks one). */
static int
main_log_bound(struct evhttp_bound_socket *handle, bool tls)
{
    struct sockaddr_storage ss;
    socklen_t               len = sizeof(ss);
    char                    host[NI_MAXHOST], port[NI_MAXSERV];
    evutil_socket_t         fd = evhttp_bound_socket_get_fd(handle);

    if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0) {
        log_err("sandbox: getsockname: %s", strerror(errno));
        return -1;
    }
    if (getnameinfo((struct sockaddr *)&ss, len, host, sizeof(host), port,
                    sizeof(port), NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
        log_err("sandbox: cannot print the bound address");
        return -1;
    }
    log_info("sandbox: listening on %s%s%s:%s%s",
             ss.ss_family == AF_INET6 ? "[" : "", host,
             ss.ss_family == AF_INET6 ? "]" : "", port,
             tls ? " (https)" : "");
    return 0;
}

/*
 * Turns Nagle's algorithm off on the listening socket of HANDLE; Linux
 * (like the BSDs) copies the option to every socket accept() returns.
 *
 * Over TLS this is what keeps the sandbox fast: bufferevent_openssl
 * writes each chain of evhttp's output buffer (the headers, then the
 * body) as its own TLS record and send(). With Nagle on, the second
 * small segment waits until the first is ACKed, and the client delays
 * that ACK (40 ms on Linux), so every answer took ~44 ms. Plain HTTP
 * was not hit: there evhttp hands both chains to one writev().
 */
static int
main_set_nodelay(struct evhttp_bound_socket *handle)
{
    evutil_socket_t fd = evhttp_bound_socket_get_fd(handle);
    int             on = 1;

    if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on)) != 0) {
        log_err("sandbox: cannot set TCP_NODELAY: %s", strerror(errno));
        return -1;
    }
    return 0;
}

/*
 * An event base whose timers fire when asked. By default libevent reads
 * CLOCK_MONOTONIC_COARSE and sleeps in whole milliseconds, so a 50 ms
 * --latency answered anywhere from 50 to 56 ms (one kernel tick late);
 * the precise timer (timerfd with epoll) holds it to 50.3 +- 0.1 ms,
 * which is what lets a benchmark see what a proxy adds to it.
 */
static struct event_base *
main_event_base(void)
{
    struct event_config *cfg = event_config_new();
    struct event_base   *base;

    if (cfg == NULL) {
        return NULL;
    }
    event_config_set_flag(cfg, EVENT_BASE_FLAG_PRECISE_TIMER);
    base = event_base_new_with_config(cfg);
    event_config_free(cfg);
    return base;
}

/* The installed seed, else the one in the source tree (./conf). */
static const char *
main_default_seed(void)
{
    static const char installed[] = DATADIR "/" OPTS_SEED_FILE;

    return access(installed, R_OK) == 0 ? installed : OPTS_SEED_LOCAL;
}

static uint64_t
main_random_seed(const struct opts *o)
{
    uint64_t seed;

    if (o->have_random_seed) {
        return o->random_seed;
    }
    if (RAND_bytes((unsigned char *)&seed, sizeof(seed)) != 1) {
        seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
    }
    return seed;
}

int
main(int argc, char **argv)
{
    struct opts                 o;
    struct data                *data = NULL;
    struct faults              *faults = NULL;
    struct event_base          *base = NULL;
    struct evhttp              *http = NULL;
    struct evhttp_bound_socket *handle;
    struct api                 *api = NULL;
    struct wire                *wire = NULL;
    struct tally               *tally = NULL;
    struct dispatch            *dispatch = NULL;
    struct admin_ctx            admin;
    struct event               *sigterm = NULL, *sigint = NULL;
    struct main_stop            stop;
    SSL_CTX                    *ssl_ctx = NULL;
    const char                 *seed;
    char                        host[MAIN_HOST_MAX], err[512];
    uint16_t                    port;
    int                         rc = 1;

    switch (opts_parse(argc, argv, &o)) {
    case 1:
        return 0;
    case -1:
        return 2;
    default:
        break;
    }
    if (opts_split_listen(o.listen, host, sizeof(host), &port) != 0) {
        fprintf(stderr, "%s: --listen wants HOST:PORT, not '%s'\n",
                OPTS_PROGRAM, o.listen);
        return 2;
    }
    log_setup(OPTS_PROGRAM, o.level, o.json_log);
    if (signal(SIGPIPE, SIG_IGN) == SIG_ERR) {
        log_err("sandbox: cannot ignore SIGPIPE: %s", strerror(errno));
        return 1;
    }

    seed = o.seed != NULL ? o.seed : main_default_seed();
    data = data_load_file(seed, (int64_t)time(NULL), err, sizeof(err));
    if (data == NULL) {
        log_err("sandbox: bad seed %s: %s", seed, err);
        goto done;
    }
    faults = faults_new(&o.faults, main_random_seed(&o));
    base = main_event_base();
    http = base == NULL ? NULL : evhttp_new(base);
    if (faults == NULL || http == NULL) {
        log_err("sandbox: out of memory");
        goto done;
    }
    /* PATCH is refused with 501 unless allowed (PITFALLS 4.1.1); with
     * every method allowed, api.c and admin.c answer the wrong ones with
     * 405. */
    evhttp_set_allowed_methods(http, EVHTTP_REQ_GET | EVHTTP_REQ_POST |
                                         EVHTTP_REQ_HEAD | EVHTTP_REQ_PUT |
                                         EVHTTP_REQ_DELETE |
                                         EVHTTP_REQ_OPTIONS |
                                         EVHTTP_REQ_TRACE |
                                         EVHTTP_REQ_CONNECT |
                                         EVHTTP_REQ_PATCH);
    evhttp_set_default_content_type(http, NULL);  /* we always set one */
    evhttp_set_max_body_size(http, OPTS_MAX_BODY);
    evhttp_set_max_headers_size(http, MAIN_MAX_HEADERS);
    /* The keep-alive timeout is evhttp's idle timeout: reading is off
     * while a request is handled (or held), so it bounds the wait for the
     * next request (and a slow request head), as Node's does. */
    evhttp_set_timeout(http, o.habits.keepalive_s > 0 ? o.habits.keepalive_s
                                                      : MAIN_IDLE_TIMEOUT);
    if (o.tls_cert != NULL) {
        ssl_ctx = main_tls_ctx(o.tls_cert, o.tls_key);
        if (ssl_ctx == NULL) {
            goto done;
        }
    }
    evhttp_set_bevcb(http, on_http_bev, ssl_ctx);  /* NULL: plain HTTP */
    wire = wire_new(&o.habits);
    tally = tally_new();
    if (wire == NULL || tally == NULL) {
        log_err("sandbox: out of memory");
        goto done;
    }
    api = api_new(base, data, faults, wire, tally, !o.quiet);
    admin.data = data;
    admin.faults = faults;
    admin.wire = wire;
    admin.tally = tally;
    dispatch = api == NULL ? NULL : dispatch_new(http, api, &admin, wire);
    if (dispatch == NULL) {
        log_err("sandbox: out of memory");
        goto done;
    }
    handle = evhttp_bind_socket_with_handle(http, host, port);
    if (handle == NULL) {
        log_err("sandbox: cannot listen on %s: %s", o.listen,
                strerror(errno));
        goto done;
    }
    if (main_set_nodelay(handle) != 0) {
        goto done;
    }
    stop.base = base;
    stop.http = http;
    stop.handle = handle;
    stop.api = api;
    sigterm = evsignal_new(base, SIGTERM, on_signal, &stop);
    sigint = evsignal_new(base, SIGINT, on_signal, &stop);
    if (sigterm == NULL || sigint == NULL || evsignal_add(sigterm, NULL) ||
        evsignal_add(sigint, NULL)) {
        log_err("sandbox: cannot watch signals");
        goto done;
    }
    log_info("sandbox: %s %s, %zu tenants, %zu leads from %s",
             OPTS_PROGRAM, PACKAGE_VERSION, data_tenant_count(data),
             data_lead_count(data), seed);
    log_info("sandbox: gzip %s, keep-alive timeout %s%d%s, chunked %s, "
             "early hints %s, misbehave %s",
             o.habits.gzip ? "on" : "off",
             o.habits.keepalive_s > 0 ? "" : "off (idle ",
             o.habits.keepalive_s > 0 ? o.habits.keepalive_s
                                      : MAIN_IDLE_TIMEOUT,
             o.habits.keepalive_s > 0 ? " s" : " s)",
             o.habits.chunked ? "on" : "off",
             o.habits.early_hints ? "on" : "off",
             faults_misbehave_name(o.faults.misbehave));
    if (main_log_bound(handle, ssl_ctx != NULL) != 0) {
        goto done;
    }
    if (event_base_dispatch(base) != 0) {
        log_err("sandbox: event loop failed");
        goto done;
    }
    log_info("sandbox: stopped");
    rc = 0;

done:
    if (sigterm != NULL) {
        event_free(sigterm);
    }
    if (sigint != NULL) {
        event_free(sigint);
    }
    api_free(api);                  /* answers held requests first */
    if (http != NULL) {
        evhttp_free(http);
    }
    dispatch_free(dispatch);
    wire_free(wire);
    tally_free(tally);
    SSL_CTX_free(ssl_ctx);
    if (base != NULL) {
        event_base_free(base);
    }
    faults_free(faults);
    data_free(data);
    libevent_global_shutdown();
    return rc;
}

/*
 * SIGTERM/SIGINT: stop accepting, answer the requests held by a delay
 * (503), and leave the loop once those answers had time to go out. A
 * second signal during that time changes nothing.
 */
static void
on_signal(evutil_socket_t sig, short what, void *arg)
{
    struct main_stop *stop = arg;
    struct timeval    tv = { 0, MAIN_FLUSH_MS * 1000 };

    if (stop->handle == NULL) {
        return;
    }
    log_info("sandbox: %s, shutting down", sig == SIGTERM ? "SIGTERM"
                                                          : "SIGINT");
    evhttp_del_accept_socket(stop->http, stop->handle);
    stop->handle = NULL;
    api_drain(stop->api);
    event_base_loopexit(stop->base, &tv);
}
