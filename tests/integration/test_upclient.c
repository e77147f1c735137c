/*
 * test_upclient.c - the proxy's upstream client against a misbehaving
 * upstream (SPEC §11 "Upstream framing", "Content coding").
 *
 * A scripted HTTP/1.1 server in a thread of this process stands in for
 * the upstream: the last two digits of the phone in each request pick
 * the answer it writes, byte for byte. A proxy with one upstream
 * connection runs against it, so that every request after the first
 * would reuse the connection an earlier answer could have poisoned.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <criterion/criterion.h>

#include "gz.h"
#include "hclient.h"
#include "hfixture.h"
#include "hreq.h"
#include "hproc.h"

#define API         "/api/v1/appointment/s2s"
#define FAKE_IDLE_MS 2000           /* the fake closes idle connections */
#define LEAD        "{\"id\":\"lead-%02d\",\"name\":\"Fake\"}"

enum scene {
    SCENE_OK,                       /* 200, Keep-Alive: timeout=2 */
    SCENE_SURPLUS,                  /* a body past its Content-Length that
                                       is a whole second answer */
    SCENE_EARLY_HINTS,              /* 103, then the 200 */
    SCENE_TWO_LENGTHS,
    SCENE_GZIP,
    SCENE_BROTLI,
    SCENE_BAD_HEADER,
    SCENE_CLOSE_IF_REUSED,          /* closes a reused connection unread */
    SCENE_CHUNKED,
};

static int          fake_port;
static int          fake_conns;     /* connections accepted */
static pthread_mutex_t fake_lock = PTHREAD_MUTEX_INITIALIZER;

static void
send_all(int fd, const void *p, size_t len)
{
    const char *s = p;
    ssize_t     n;

    while (len > 0 && (n = send(fd, s, len, MSG_NOSIGNAL)) > 0) {
        s += n;
        len -= (size_t)n;
    }
}

/* Writes the answer of SCENE for lead NONCE on FD. Returns false when the
 * connection must be closed instead. */
static bool
answer(int fd, int scene, int nonce, unsigned served)
{
    char           body[128], buf[1024];
    unsigned char *z;
    size_t         zlen;
    int            n;

    snprintf(body, sizeof(body), LEAD, nonce);
    switch (scene) {
    case SCENE_SURPLUS:
        n = snprintf(buf, sizeof(buf),
                     "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                     "Content-Length: %zu\r\n\r\n%s"
                     "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                     "Content-Length: 15\r\n\r\n{\"stolen\":true}",
                     strlen(body), body);
        break;
    case SCENE_EARLY_HINTS:
        n = snprintf(buf, sizeof(buf),
                     "HTTP/1.1 103 Early Hints\r\nLink: </x.css>\r\n\r\n"
                     "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                     "Content-Length: %zu\r\n\r\n%s", strlen(body), body);
        break;
    case SCENE_TWO_LENGTHS:
        n = snprintf(buf, sizeof(buf),
                     "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                     "Content-Length: %zu\r\nContent-Length: 2\r\n\r\n%s",
                     strlen(body), body);
        break;
    case SCENE_GZIP:
        cr_assert_eq(gz_deflate(body, strlen(body), GZ_LEVEL_DEFAULT, &z,
                                &zlen), GZ_OK);
        n = snprintf(buf, sizeof(buf),
                     "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                     "Content-Encoding: gzip\r\nContent-Length: %zu\r\n\r\n",
                     zlen);
        memcpy(buf + n, z, zlen);
        n += (int)zlen;
        free(z);
        break;
    case SCENE_BROTLI:
        n = snprintf(buf, sizeof(buf),
                     "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                     "Content-Encoding: br\r\nContent-Length: %zu\r\n\r\n%s",
                     strlen(body), body);
        break;
    case SCENE_BAD_HEADER:
        n = snprintf(buf, sizeof(buf),
                     "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                     "X-Bad: a\001b\r\nContent-Length: %zu\r\n\r\n%s",
                     strlen(body), body);
        break;
    case SCENE_CLOSE_IF_REUSED:
        if (served > 0) {
            return false;
        }
        /* fall through */
    case SCENE_OK:
        n = snprintf(buf, sizeof(buf),
                     "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                     "Keep-Alive: timeout=2\r\nContent-Length: %zu\r\n\r\n%s",
                     strlen(body), body);
        break;
    case SCENE_CHUNKED:
    default:
        n = snprintf(buf, sizeof(buf),
                     "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                     "Transfer-Encoding: chunked\r\n\r\n%zx\r\n%s\r\n0\r\n"
                     "\r\n", strlen(body), body);
        break;
    }
    send_all(fd, buf, (size_t)n);
    return true;
}

/* Serves one connection: request heads (GETs), each answered as its
 * phone says, until the proxy closes or FAKE_IDLE_MS of silence. */
static void *
fake_conn(void *arg)
{
    int           fd = (int)(intptr_t)arg;
    char          req[8192];
    size_t        len = 0;
    unsigned      served = 0;
    struct pollfd pfd = { fd, POLLIN, 0 };
    char         *end, *ph;
    ssize_t       n;
    int           scene, nonce;

    for (;;) {
        if (poll(&pfd, 1, FAKE_IDLE_MS) <= 0) {
            break;
        }
        n = recv(fd, req + len, sizeof(req) - 1 - len, 0);
        if (n <= 0) {
            break;
        }
        len += (size_t)n;
        req[len] = '\0';
        while ((end = strstr(req, "\r\n\r\n")) != NULL) {
            ph = strstr(req, "phone=");
            scene = nonce = 0;
            if (ph != NULL && ph < end) {
                ph += strcspn(ph, " &");
                scene = (ph[-2] - '0') * 10 + (ph[-1] - '0');
                nonce = (ph[-4] - '0') * 10 + (ph[-3] - '0');
            }
            if (!answer(fd, scene, nonce, served++)) {
                goto out;
            }
            end += 4;
            len -= (size_t)(end - req);
            memmove(req, end, len + 1);
        }
    }
out:
    close(fd);
    return NULL;
}

static void *
fake_accept(void *arg)
{
    int       lfd = (int)(intptr_t)arg, fd;
    pthread_t t;

    while ((fd = accept(lfd, NULL, NULL)) >= 0) {
        pthread_mutex_lock(&fake_lock);
        fake_conns++;
        pthread_mutex_unlock(&fake_lock);
        pthread_create(&t, NULL, fake_conn, (void *)(intptr_t)fd);
        pthread_detach(t);
    }
    return NULL;
}

static void
fake_start(void)
{
    struct sockaddr_in sin;
    socklen_t          slen = sizeof(sin);
    int                lfd, one = 1;
    pthread_t          t;

    lfd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert_geq(lfd, 0);
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert_eq(bind(lfd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    cr_assert_eq(listen(lfd, 16), 0);
    cr_assert_eq(getsockname(lfd, (struct sockaddr *)&sin, &slen), 0);
    fake_port = ntohs(sin.sin_port);
    cr_assert_eq(pthread_create(&t, NULL, fake_accept, (void *)(intptr_t)lfd),
                 0);
    pthread_detach(t);
}

static int
conns(void)
{
    int n;

    pthread_mutex_lock(&fake_lock);
    n = fake_conns;
    pthread_mutex_unlock(&fake_lock);
    return n;
}

/* GETs lead NONCE with SCENE through the proxy at BASE into R. */
static void
get_lead(const char *base, int nonce, int scene, struct hresp *r)
{
    char path[256];

    snprintf(path, sizeof(path), API "/phone/query?phone=%%2B1801555%02d%02d",
             nonce, scene);
    hreq_get(base, path, HREQ(.token = "fake-upstream-token"), r);
}

static double
proto_errors(const char *base, const char *kind)
{
    char series[128];

    snprintf(series, sizeof(series),
             "heavyset_upstream_protocol_errors_total{kind=\"%s\"}", kind);
    return hreq_metric(base, series, NULL);
}

static void
upstream_init(void)
{
    hfixture_fresh();
}

static void
upstream_fini(void)
{
    hproc_stop_all();
}

TestSuite(upclient, .init = upstream_init, .fini = upstream_fini,
          .timeout = 60);

Test(upclient, a_misbehaving_upstream_never_poisons_the_pool)
{
    static struct hproc p;
    static struct hresp r;
    char                url[64], opt[96], want[128];
    const char         *opts[] = { opt, "upstream_connections=1", NULL };
    int                 nonce = 10, before;

    fake_start();
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", fake_port);
    snprintf(opt, sizeof(opt), "upstream=%s", url);
    cr_assert_eq(hproc_proxy_start("upstream-fake", opts, &p), 0, "%s",
                 p.error);

    get_lead(p.url, ++nonce, SCENE_OK, &r);
    snprintf(want, sizeof(want), LEAD, nonce);
    cr_expect_eq(r.status, 200, "plain: %d %s", r.status, r.body);
    cr_expect_str_eq(r.body, want);
    hresp_free(&r);

    /* A second answer hidden past the first's end: that request fails,
     * and the next one gets its own answer, never the hidden one. */
    get_lead(p.url, ++nonce, SCENE_SURPLUS, &r);
    cr_expect_eq(r.status, 502, "surplus: %d %s", r.status, r.body);
    hresp_free(&r);
    get_lead(p.url, ++nonce, SCENE_OK, &r);
    snprintf(want, sizeof(want), LEAD, nonce);
    cr_expect_eq(r.status, 200, "after a surplus: %d %s", r.status, r.body);
    cr_expect_str_eq(r.body, want, "after a surplus");
    hresp_free(&r);

    get_lead(p.url, ++nonce, SCENE_EARLY_HINTS, &r);
    snprintf(want, sizeof(want), LEAD, nonce);
    cr_expect_eq(r.status, 200, "103 first: %d %s", r.status, r.body);
    cr_expect_str_eq(r.body, want, "103 first");
    hresp_free(&r);

    get_lead(p.url, ++nonce, SCENE_CHUNKED, &r);
    snprintf(want, sizeof(want), LEAD, nonce);
    cr_expect_eq(r.status, 200, "chunked: %d %s", r.status, r.body);
    cr_expect_str_eq(r.body, want, "chunked");
    hresp_free(&r);

    get_lead(p.url, ++nonce, SCENE_GZIP, &r);
    snprintf(want, sizeof(want), LEAD, nonce);
    cr_expect_eq(r.status, 200, "gzip: %d %s", r.status, r.body);
    cr_expect_str_eq(r.body, want, "gzip is decoded");
    cr_expect_null(hresp_header(&r, "Content-Encoding"));
    hresp_free(&r);

    get_lead(p.url, ++nonce, SCENE_TWO_LENGTHS, &r);
    cr_expect_eq(r.status, 502, "two lengths: %d %s", r.status, r.body);
    hresp_free(&r);
    get_lead(p.url, ++nonce, SCENE_BROTLI, &r);
    cr_expect_eq(r.status, 502, "br: %d %s", r.status, r.body);
    hresp_free(&r);
    get_lead(p.url, ++nonce, SCENE_BAD_HEADER, &r);
    cr_expect_eq(r.status, 502, "bad header: %d %s", r.status, r.body);
    hresp_free(&r);

    cr_expect_eq(proto_errors(p.url, "excess_data"), 1);
    cr_expect_eq(proto_errors(p.url, "duplicate_length"), 1);
    cr_expect_eq(proto_errors(p.url, "unrequested_coding"), 1);
    cr_expect_eq(proto_errors(p.url, "bad_header"), 1);
    cr_expect_eq(proto_errors(p.url, "truncated"), 0);

    /* Keep-Alive: timeout=2 allows 1 s of idling: after 1.4 s the proxy
     * has dropped the connection itself and opens a new one. */
    get_lead(p.url, ++nonce, SCENE_OK, &r);
    cr_expect_eq(r.status, 200);
    hresp_free(&r);
    before = conns();
    get_lead(p.url, ++nonce, SCENE_OK, &r);
    cr_expect_eq(r.status, 200);
    hresp_free(&r);
    cr_expect_eq(conns(), before, "reused within the idle margin");
    hfixture_pause_ms(1400);
    get_lead(p.url, ++nonce, SCENE_OK, &r);
    cr_expect_eq(r.status, 200, "after idling: %d %s", r.status, r.body);
    hresp_free(&r);
    cr_expect_eq(conns(), before + 1, "a new connection after the margin");

    /* The upstream closes a reused connection as the GET arrives: sent
     * again once, on a new connection. */
    before = conns();
    get_lead(p.url, ++nonce, SCENE_CLOSE_IF_REUSED, &r);
    snprintf(want, sizeof(want), LEAD, nonce);
    cr_expect_eq(r.status, 200, "stale keep-alive: %d %s", r.status, r.body);
    cr_expect_str_eq(r.body, want, "stale keep-alive");
    hresp_free(&r);
    cr_expect_eq(conns(), before + 1, "resent on a new connection");

    cr_expect_eq(hproc_stop(&p, SIGTERM), 0, "%s", p.error);
}
