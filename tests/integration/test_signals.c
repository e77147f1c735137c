/*
 * test_signals.c - signals end to end (SPEC §10): SIGHUP reloads the
 * configuration without dropping a connection, refuses a broken file and
 * keeps the keys that need a restart; SIGTERM stops accepting, lets
 * requests in flight finish within the grace bound (upstream_timeout +
 * 1 s), cuts those that outlast it with 503, and exits 0.
 *
 * Each test starts a proxy of its own (tests/lib/hproc.h): the reload
 * tests from a config file they write into $HSP_TMPDIR and rewrite
 * before each SIGHUP, so that every key (listen included) comes from the
 * file; each with a redis_prefix of its own. A reload is seen in the
 * proxy's log ("configuration reloaded"): main logs it after handing the
 * new configuration to the workers, and a worker takes it before it
 * reads any request that reaches it later, so a request sent after the
 * line is in the log runs under the new configuration.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "hclient.h"
#include "hfixture.h"
#include "hproc.h"
#include "hreq.h"

#define API        "/api/v1/appointment/s2s"
#define QUERY      API "/phone/query?phone="
#define ALPHA      "hs_test_tenant_alpha_0001"
#define LEAD_A     "%2B18015551234"
#define LEAD_B     "%2B18015550101"
#define LEAD_C     "%2B13035550142"
#define LEAD_D     "%2B17205550199"

#define POLL_MS      20
#define DEADLINE_MS  10000          /* for anything polled */
#define RELOADED     "configuration reloaded"
#define REFUSED      "reload refused"
#define LOAD_THREADS 3              /* keep-alive clients under reloads */
#define LOAD_RELOADS 5

/* ---- helpers ------------------------------------------------------------ */

/* The ttl= of R's Cache-Status (a hit), or -1. */
static long
hit_ttl(const struct hresp *r)
{
    const char *cs = hresp_header(r, "Cache-Status");
    const char *t = cs != NULL ? strstr(cs, "ttl=") : NULL;

    return t != NULL ? strtol(t + 4, NULL, 10) : -1;
}

/* GET PATH twice: a MISS, then a HIT; returns the HIT's ttl. */
static long
fill_then_hit(const char *base, const char *path)
{
    struct hresp r;
    long         ttl;

    hreq_get(base, path, HREQ(.token = ALPHA), &r);
    cr_assert_eq(r.status, 200, "status %d: %s", r.status, r.body);
    cr_assert_str_eq(hreq_hdr(&r, "X-Cache"), "MISS");
    hresp_free(&r);
    hreq_get(base, path, HREQ(.token = ALPHA), &r);
    cr_assert_eq(r.status, 200, "status %d: %s", r.status, r.body);
    cr_assert_str_eq(hreq_hdr(&r, "X-Cache"), "HIT", "Cache-Status %s",
                     hreq_hdr(&r, "Cache-Status"));
    ttl = hit_ttl(&r);
    hresp_free(&r);
    return ttl;
}

/*
 * Writes the config file of the test NAME into PATH: everything a
 * proxy of the run needs, then the lines of EXTRA (later lines win).
 */
static void
write_conf(const char *name, char *path, size_t cap, const char *extra)
{
    FILE *f;

    snprintf(path, cap, "%s/%s.conf", hfixture_env("HSP_TMPDIR"), name);
    f = fopen(path, "w");
    cr_assert_not_null(f, "cannot write %s", path);
    fprintf(f,
            "# written by test_signals.c\n"
            "listen = 127.0.0.1:0\n"
            "workers = 1\n"
            "upstream = %s\n"
            "upstream_ca_file = %s\n"
            "upstream_timeout = 3s\n"
            "redis = unix://%s\n"
            "redis_prefix = hsp-sig-%s\n"
            "redis_timeout = 1s\n"
            "rate_limit = 0\n"
            "stale_while_revalidate = 0\n"
            "stale_if_error = 0\n"
            "max_body = 8k\n"
            "log_level = info\n"
            "%s",
            hfixture_env("HSP_SANDBOX_URL"), hfixture_env("HSP_SANDBOX_CA"),
            hfixture_env("HSP_REDIS_SOCK"), name, extra);
    cr_assert_eq(fclose(f), 0);
}

/* How many times WHAT occurs in the log of P. */
static int
log_count(const struct hproc *p, const char *what)
{
    FILE  *f = fopen(p->log, "r");
    char   line[4096];
    int    n = 0;

    if (f == NULL) {
        return 0;
    }
    while (fgets(line, sizeof(line), f) != NULL) {
        n += strstr(line, what) != NULL;
    }
    fclose(f);
    return n;
}

/* Waits (bounded) until WHAT occurs at least N times in P's log. */
static void
wait_log(const struct hproc *p, const char *what, int n)
{
    long deadline = hfixture_now_ms() + DEADLINE_MS;

    while (log_count(p, what) < n) {
        cr_assert_lt(hfixture_now_ms(), deadline,
                     "no %d× \"%s\" in %s within %d ms", n, what, p->log,
                     DEADLINE_MS);
        hfixture_pause_ms(POLL_MS);
    }
}

/* Sends SIGHUP to P and waits until its log shows the reload done or
 * refused (WHAT) for the Nth time. */
static void
sighup(const struct hproc *p, const char *what, int n)
{
    cr_assert_eq(kill(p->pid, SIGHUP), 0);
    wait_log(p, what, n);
}

static void
start_conf(const char *name, const char *path, struct hproc *p)
{
    cr_assert_eq(hproc_proxy_start_conf(name, path, NULL, p), 0, "%s: %s",
                 name, p->error);
}

static int
url_port(const struct hproc *p)
{
    const char *c = strrchr(p->url, ':');

    cr_assert_not_null(c);
    return atoi(c + 1);
}

/* ---- a keep-alive client: one socket, many requests ---------------------- */

/* A TCP connection to 127.0.0.1:PORT, or -1 with errno set. */
static int
tcp_connect(int port)
{
    char base[64];

    snprintf(base, sizeof(base), "http://127.0.0.1:%d", port);
    return hclient_tcp_open(base, 10000);
}

/*
 * Sends GET PATH (with the alpha token and EXTRA, may be NULL) on the
 * keep-alive connection FD and reads one response with a Content-Length.
 * Returns its status, or -1 when the connection failed or closed. No
 * criterion calls: load threads use it too.
 */
static int
ka_get(int fd, const char *path, const char *extra)
{
    char    req[1024], buf[65536];
    size_t  len = 0, want = 0;
    ssize_t n;
    char   *end = NULL, *cl;
    int     status, w;

    w = snprintf(req, sizeof(req),
                 "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                 "x-hs-token: " ALPHA "\r\n%s%s\r\n",
                 path, extra != NULL ? extra : "", extra != NULL ? "\r\n" : "");
    if (send(fd, req, (size_t)w, MSG_NOSIGNAL) != w) {
        return -1;
    }
    for (;;) {
        if (end == NULL) {
            buf[len] = '\0';
            end = strstr(buf, "\r\n\r\n");
            if (end != NULL) {
                cl = strcasestr(buf, "\r\nContent-Length:");
                if (cl == NULL || cl > end) {
                    return -1;      /* we only read framed answers */
                }
                want = (size_t)(end + 4 - buf) +
                       (size_t)strtoul(cl + 17, NULL, 10);
            }
        }
        if (end != NULL && len >= want) {
            break;
        }
        if (len + 1 >= sizeof(buf)) {
            return -1;
        }
        n = recv(fd, buf + len, sizeof(buf) - 1 - len, 0);
        if (n <= 0) {
            return -1;
        }
        len += (size_t)n;
    }
    if (len != want || sscanf(buf, "HTTP/1.1 %d", &status) != 1) {
        return -1;                  /* pipelined bytes: not expected */
    }
    return status;
}

/* ---- the suite ---------------------------------------------------------- */

static void
signals_init(void)
{
    hfixture_fresh();
}

static void
signals_fini(void)
{
    hproc_stop_all();
}

TestSuite(signals, .init = signals_init, .fini = signals_fini,
          .timeout = 90);

/* ---- SIGHUP ------------------------------------------------------------- */

Test(signals, reload_changes_ttl_and_rate_limit)
{
    static struct hproc p;
    char                path[512];
    struct hresp        r;
    int                 i;
    long                ttl;

    write_conf("sig-ttl", path, sizeof(path), "ttl_lead = 5m\n");
    start_conf("sig-ttl", path, &p);
    ttl = fill_then_hit(p.url, QUERY LEAD_A);
    cr_expect_gt(ttl, 200, "ttl_lead 5m, the hit says ttl=%ld", ttl);
    /* no budget yet: five upstream calls in a row all go */
    for (i = 0; i < 5; i++) {
        hreq_get(p.url, QUERY LEAD_B,
                 HREQ(.token = ALPHA, .extra = "Cache-Control: no-cache"), &r);
        cr_assert_eq(r.status, 200, "call %d: %d %s", i, r.status, r.body);
        hresp_free(&r);
    }

    write_conf("sig-ttl", path, sizeof(path),
               "ttl_lead = 1s\n"
               "rate_limit = 2/min\n"
               "rate_reserve_writes = 0\n"
               "rate_limit_fallback = 2/min\n");
    sighup(&p, RELOADED, 1);
    /* under rate_limit 0 both shares followed it to 0, so the reserve
     * set to 0 is no change */
    cr_expect_eq(log_count(&p, "3 keys changed (ttl_lead, rate_limit, "
                           "rate_limit_fallback)"), 1, "see %s", p.log);

    /* the new ttl_lead: the next entry lives 1 s (one grant spent) */
    ttl = fill_then_hit(p.url, QUERY LEAD_C);
    cr_expect_leq(ttl, 1, "ttl_lead 1s, the hit says ttl=%ld", ttl);
    hfixture_pause_ms(1300);
    /* expired: a second grant */
    hreq_get(p.url, QUERY LEAD_C, HREQ(.token = ALPHA), &r);
    cr_expect_eq(r.status, 200);
    cr_expect_str_eq(hreq_hdr(&r, "X-Cache"), "MISS", "after 1.3 s: %s",
                     hreq_hdr(&r, "Cache-Status"));
    hresp_free(&r);
    /* the new rate_limit: 2/min are spent, the third call is ours */
    hreq_get(p.url, QUERY LEAD_D, HREQ(.token = ALPHA), &r);
    cr_expect_eq(r.status, 429, "third upstream call under 2/min: %d %s",
                 r.status, r.body);
    cr_expect_not_null(hresp_header(&r, "Retry-After"));
    hresp_free(&r);
    /* an entry stored before the reload keeps the lifetime it was stored
     * with */
    hreq_get(p.url, QUERY LEAD_A, HREQ(.token = ALPHA), &r);
    cr_expect_str_eq(hreq_hdr(&r, "X-Cache"), "HIT");
    hresp_free(&r);
    hfixture_stop(&p);
}

Test(signals, reload_keeps_keepalive_connections)
{
    static struct hproc p;
    char                path[512];
    int                 fd, i;

    write_conf("sig-ka", path, sizeof(path), "ttl_lead = 5m\n");
    start_conf("sig-ka", path, &p);
    fd = tcp_connect(url_port(&p));
    cr_assert_neq(fd, -1, "connect: %s", strerror(errno));
    cr_assert_eq(ka_get(fd, QUERY LEAD_A, NULL), 200);

    /* a request in flight across the reload finishes (under the
     * configuration it started with), on the same connection */
    {
        char req[512];
        int  w = snprintf(req, sizeof(req),
                          "GET %s HTTP/1.1\r\n"
                          "Host: 127.0.0.1\r\nx-hs-token: " ALPHA "\r\n"
                          "X-Sandbox-Delay-Ms: 600\r\n\r\n",
                          QUERY LEAD_B);
        char buf[8192];
        size_t len = 0;
        ssize_t n;

        cr_assert_eq(send(fd, req, (size_t)w, MSG_NOSIGNAL), w);
        hfixture_pause_ms(150);     /* in flight at the sandbox now */
        write_conf("sig-ka", path, sizeof(path), "ttl_lead = 1s\n");
        sighup(&p, RELOADED, 1);
        /* read that answer whole: headers, then its Content-Length */
        for (;;) {
            char *end, *cl;

            n = recv(fd, buf + len, sizeof(buf) - 1 - len, 0);
            cr_assert_gt(n, 0, "the connection closed during the reload");
            len += (size_t)n;
            buf[len] = '\0';
            end = strstr(buf, "\r\n\r\n");
            cl = strcasestr(buf, "\r\nContent-Length:");
            if (end != NULL && cl != NULL &&
                len >= (size_t)(end + 4 - buf) + strtoul(cl + 17, NULL, 10)) {
                break;
            }
        }
        cr_assert(strncmp(buf, "HTTP/1.1 200", 12) == 0, "%.40s", buf);
    }
    /* and the connection opened before the reload goes on serving */
    for (i = 0; i < 5; i++) {
        cr_assert_eq(ka_get(fd, QUERY LEAD_A, NULL), 200, "request %d", i);
        cr_assert_eq(ka_get(fd, "/healthz", NULL), 200, "request %d", i);
    }
    close(fd);
    hfixture_stop(&p);
}

struct load {
    int           port;
    volatile bool stop;             /* set by the test when done */
    long          ok, failed;       /* filled by the thread */
    int           first_bad;        /* the first bad status, or -1 */
};

/* One keep-alive connection, as many requests as it can until STOP. */
static void *
load_run(void *arg)
{
    struct load *l = arg;
    int          fd = tcp_connect(l->port);
    int          status;

    l->first_bad = 0;
    if (fd == -1) {
        l->failed++;
        return NULL;
    }
    while (!__atomic_load_n(&l->stop, __ATOMIC_ACQUIRE)) {
        status = ka_get(fd, QUERY LEAD_A, NULL);
        if (status == 200) {
            l->ok++;
        } else {
            if (l->failed++ == 0) {
                l->first_bad = status;
            }
            break;                  /* the connection is gone */
        }
    }
    close(fd);
    return NULL;
}

Test(signals, requests_under_load_across_reloads_all_succeed)
{
    static struct hproc p;
    static struct load  loads[LOAD_THREADS];
    pthread_t           t[LOAD_THREADS];
    char                path[512];
    int                 i;

    write_conf("sig-load", path, sizeof(path), "workers = 2\n");
    start_conf("sig-load", path, &p);
    for (i = 0; i < LOAD_THREADS; i++) {
        memset(&loads[i], 0, sizeof(loads[i]));
        loads[i].port = url_port(&p);
        cr_assert_eq(pthread_create(&t[i], NULL, load_run, &loads[i]), 0);
    }
    for (i = 1; i <= LOAD_RELOADS; i++) {
        hfixture_pause_ms(200);
        /* every reload changes something, so each one swaps the
         * configuration under requests in flight */
        write_conf("sig-load", path, sizeof(path),
                   i % 2 == 0 ? "workers = 2\nttl_lead = 5m\n"
                              : "workers = 2\nttl_lead = 4m\n"
                                "log_format = text\n");
        sighup(&p, RELOADED, i);
    }
    hfixture_pause_ms(200);
    for (i = 0; i < LOAD_THREADS; i++) {
        __atomic_store_n(&loads[i].stop, true, __ATOMIC_RELEASE);
    }
    for (i = 0; i < LOAD_THREADS; i++) {
        pthread_join(t[i], NULL);
        cr_expect_eq(loads[i].failed, 0,
                     "client %d: %ld ok, then status %d (-1: connection "
                     "lost)", i, loads[i].ok, loads[i].first_bad);
        cr_expect_gt(loads[i].ok, 10, "client %d made %ld requests", i,
                     loads[i].ok);
    }
    hfixture_stop(&p);
}

Test(signals, broken_file_is_refused_and_the_old_one_stays)
{
    static struct hproc p;
    char                path[512], where[600];
    struct hresp        r;
    long                ttl;

    write_conf("sig-bad", path, sizeof(path), "ttl_lead = 5m\n");
    start_conf("sig-bad", path, &p);

    /* after write_conf's 14 lines: 15 ttl_lead, 16 an unknown key, 17 a
     * bad value */
    write_conf("sig-bad", path, sizeof(path),
               "ttl_lead = 1s\n"
               "ttl_leed = 5m\n"
               "rate_limit = lots\n");
    sighup(&p, REFUSED, 1);
    snprintf(where, sizeof(where), "%s:16: ", path);
    cr_expect_eq(log_count(&p, where), 1, "no \"%s\" in %s", where, p.log);
    snprintf(where, sizeof(where), "%s:17: ", path);
    cr_expect_eq(log_count(&p, where), 1, "no \"%s\" in %s", where, p.log);
    cr_expect_eq(log_count(&p, RELOADED), 0);
    /* the old ttl_lead is in force, and the proxy serves */
    ttl = fill_then_hit(p.url, QUERY LEAD_B);
    cr_expect_gt(ttl, 200, "ttl_lead stayed 5m, the hit says ttl=%ld", ttl);

    /* a cross-key error is refused too, and names the line that set
     * the value (line 17) */
    write_conf("sig-bad", path, sizeof(path),
               "ttl_lead = 1s\nrate_limit = 10/min\n"
               "rate_reserve_writes = 20/min\n");
    sighup(&p, REFUSED, 2);
    snprintf(where, sizeof(where), "%s:17: rate_reserve_writes: 20/min "
             "exceeds rate_limit 10/min", path);
    cr_expect_eq(log_count(&p, where), 1, "no \"%s\" in %s", where, p.log);
    ttl = fill_then_hit(p.url, QUERY LEAD_C);
    cr_expect_gt(ttl, 200, "ttl_lead stayed 5m, the hit says ttl=%ld", ttl);

    /* the file mended: the next SIGHUP applies it */
    write_conf("sig-bad", path, sizeof(path), "ttl_lead = 1s\n");
    sighup(&p, RELOADED, 1);
    ttl = fill_then_hit(p.url, QUERY LEAD_D);
    cr_expect_leq(ttl, 1, "ttl_lead 1s, the hit says ttl=%ld", ttl);
    hreq_get(p.url, "/healthz", HREQ(.token = ALPHA), &r);
    cr_expect_eq(r.status, 200);
    hresp_free(&r);
    hfixture_stop(&p);
}

/* Shares left unset follow rate_limit on a reload too (SPEC §9). */
Test(signals, reload_derives_the_rate_shares_again)
{
    static struct hproc p;
    char                path[512];

    write_conf("sig-derive", path, sizeof(path), "rate_limit = 60/min\n");
    start_conf("sig-derive", path, &p);
    write_conf("sig-derive", path, sizeof(path), "rate_limit = 12/min\n");
    sighup(&p, RELOADED, 1);
    cr_expect_eq(log_count(&p, "3 keys changed (rate_limit, "
                           "rate_reserve_writes, rate_limit_fallback)"), 1,
                 "see %s", p.log);
    /* a share set in the file stays put: only rate_limit changes */
    write_conf("sig-derive", path, sizeof(path),
               "rate_limit = 6/min\nrate_reserve_writes = 2/min\n"
               "rate_limit_fallback = 4/min\n");
    sighup(&p, RELOADED, 2);
    cr_expect_eq(log_count(&p, "1 keys changed (rate_limit)"), 1, "see %s",
                 p.log);
    hfixture_stop(&p);
}

Test(signals, listen_needs_a_restart_and_the_old_port_serves)
{
    static struct hproc p;
    char                path[512], listen[128];
    struct hresp        r;
    long                ttl;
    int                 port;

    write_conf("sig-listen", path, sizeof(path), "ttl_lead = 5m\n");
    start_conf("sig-listen", path, &p);
    port = url_port(&p);
    snprintf(listen, sizeof(listen),
             "listen = 127.0.0.1:%d\nworkers = 3\nredis_prefix = other\n"
             "ttl_lead = 1s\n", port == 65535 ? port - 1 : port + 1);
    write_conf("sig-listen", path, sizeof(path), listen);
    sighup(&p, RELOADED, 1);
    cr_expect_eq(log_count(&p, "listen changed but needs a restart"), 1,
                 "see %s", p.log);
    cr_expect_eq(log_count(&p, "workers changed but needs a restart"), 1);
    cr_expect_eq(log_count(&p, "redis_prefix changed but needs a restart"),
                 1);
    cr_expect_eq(log_count(&p, "1 keys changed (ttl_lead)"), 1, "see %s",
                 p.log);
    /* the old port serves, the rest applied */
    hreq_get(p.url, "/healthz", HREQ(.token = ALPHA), &r);
    cr_expect_eq(r.status, 200);
    hresp_free(&r);
    ttl = fill_then_hit(p.url, QUERY LEAD_A);
    cr_expect_leq(ttl, 1, "ttl_lead 1s, the hit says ttl=%ld", ttl);
    hfixture_stop(&p);
}

/* ---- SIGTERM ------------------------------------------------------------ */

/* Waits (bounded) until a new connection to PORT is refused. */
static void
wait_refused(int port)
{
    long deadline = hfixture_now_ms() + 2000;
    int  fd;

    for (;;) {
        fd = tcp_connect(port);
        if (fd == -1) {
            /* A connect that reached the listen queue just before the
             * listening socket closed is reset by the kernel: refused all
             * the same (seen in one run of the whole suite). */
            cr_assert(errno == ECONNREFUSED || errno == ECONNRESET,
                      "connect: %s", strerror(errno));
            return;
        }
        close(fd);
        cr_assert_lt(hfixture_now_ms(), deadline,
                     "still accepting 2 s after SIGTERM");
        hfixture_pause_ms(POLL_MS);
    }
}

Test(signals, sigterm_finishes_requests_in_flight)
{
    static const char *const opts[] = {
        "redis_prefix=hsp-sig-term", "upstream_timeout=3s", NULL
    };
    static struct hproc      p;
    struct hheld             h = {
        .method = "GET", .path = QUERY LEAD_A,
        .opt = { .token = ALPHA, .extra = "X-Sandbox-Delay-Ms: 1000" },
    };
    long                     t0, took;
    int                      rc;

    cr_assert_eq(hproc_proxy_start("sig-term", opts, &p), 0, "%s", p.error);
    h.base = p.url;
    hreq_held_start(&h);
    hfixture_pause_ms(200);         /* at the sandbox, held 1 s */
    t0 = hfixture_now_ms();
    cr_assert_eq(kill(p.pid, SIGTERM), 0);
    wait_refused(url_port(&p));
    rc = hproc_stop(&p, 0);         /* signal 0: only wait for the exit */
    took = hfixture_now_ms() - t0;
    hreq_held_join(&h);
    cr_expect_eq(rc, 0, "exit status %d: %s", rc, p.error);
    /* it waited for the request (0.8 s more), not for the whole grace
     * (upstream_timeout 3 s + 1 s) */
    cr_expect_gt(took, 500, "exited %ld ms after SIGTERM: before the "
                 "request in flight was answered", took);
    cr_expect_lt(took, 3500, "exited %ld ms after SIGTERM", took);
    cr_assert_eq(h.rc, 0, "the request in flight: %s", h.resp.error);
    cr_expect_eq(h.resp.status, 200, "status %d: %s", h.resp.status,
                 h.resp.body);
    cr_expect_str_eq(hreq_hdr(&h.resp, "X-Cache"), "MISS");
    hresp_free(&h.resp);
}

Test(signals, sigterm_cuts_what_outlasts_the_grace)
{
    static const char *const opts[] = {
        "redis_prefix=hsp-sig-cut", "redis_timeout=1s", "rate_limit=1/min",
        "rate_reserve_writes=0", "rate_limit_fallback=1/min",
        "rate_limit_wait=1m", NULL
    };
    static struct hproc      p;
    struct hheld             h = {
        .method = "GET", .path = QUERY LEAD_B, .opt = { .token = ALPHA },
    };
    struct hresp             r;
    long                     t0, took;
    int                      rc;

    cr_assert_eq(hproc_proxy_start("sig-cut", opts, &p), 0, "%s", p.error);
    h.base = p.url;
    /* the one grant of the minute */
    hreq_get(p.url, QUERY LEAD_A, HREQ(.token = ALPHA), &r);
    cr_assert_eq(r.status, 200);
    hresp_free(&r);
    /* the next upstream call waits for the budget: up to a minute */
    hreq_held_start(&h);
    hfixture_pause_ms(300);
    t0 = hfixture_now_ms();
    cr_assert_eq(kill(p.pid, SIGTERM), 0);
    wait_refused(url_port(&p));
    rc = hproc_stop(&p, 0);
    took = hfixture_now_ms() - t0;
    hreq_held_join(&h);
    cr_expect_eq(rc, 0, "exit status %d: %s", rc, p.error);
    /* the grace (2 s) and a margin for a loaded machine */
    cr_expect_lt(took, 4000, "exited %ld ms after SIGTERM", took);
    cr_expect_gt(took, 1500, "exited %ld ms after SIGTERM: before the grace",
                 took);
    cr_assert_eq(h.rc, 0, "the waiting request: %s", h.resp.error);
    cr_expect_eq(h.resp.status, 503, "status %d: %s", h.resp.status,
                 h.resp.body);
    hresp_free(&h.resp);
}

Test(signals, reload_moves_the_access_log)
{
    static struct hproc p;
    char                path[512], a[512], b[512], extra[600];
    struct hresp        r;

    snprintf(a, sizeof(a), "%s/sig-acc-a.log", hfixture_env("HSP_TMPDIR"));
    snprintf(b, sizeof(b), "%s/sig-acc-b.log", hfixture_env("HSP_TMPDIR"));
    snprintf(extra, sizeof(extra), "access_log = %s\n", a);
    write_conf("sig-acc", path, sizeof(path), extra);
    start_conf("sig-acc", path, &p);
    hreq_get(p.url, "/healthz",
             HREQ(.token = ALPHA, .extra = "X-Request-Id: sig-acc-first"), &r);
    cr_expect_eq(r.status, 200);
    hresp_free(&r);

    snprintf(extra, sizeof(extra), "access_log = %s\n", b);
    write_conf("sig-acc", path, sizeof(path), extra);
    sighup(&p, RELOADED, 1);
    hreq_get(p.url, "/healthz",
             HREQ(.token = ALPHA, .extra = "X-Request-Id: sig-acc-second"),
             &r);
    cr_expect_eq(r.status, 200);
    hresp_free(&r);
    hfixture_stop(&p);
    cr_expect(hfixture_file_has(a, "sig-acc-first"), "first request not in %s", a);
    cr_expect_not(hfixture_file_has(a, "sig-acc-second"), "second request in %s", a);
    cr_expect(hfixture_file_has(b, "sig-acc-second"), "second request not in %s", b);
}
