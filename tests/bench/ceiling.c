/*
 * ceiling.c - the benchmark's ceiling: an evhttp server on one thread and
 * one event_base that answers every request with the same body from
 * memory. Whatever heavyset-proxy does on a cache hit (Redis, headers,
 * metrics) costs the difference between its numbers and these.
 *
 * Usage: ceiling BODY-FILE [HOST:PORT]     (default 127.0.0.1:0)
 * Prints "ceiling: listening on HOST:PORT" on stderr once bound; SIGTERM
 * or SIGINT stops it.
 */
#include "config.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>

#define CEILING_BODY_MAX    (1024 * 1024)
#define CEILING_HOST_MAX    256
#define CEILING_IDLE_S      60      /* keep-alive idle timeout, as the proxy */
#define CEILING_TYPE        "application/json; charset=utf-8"

/* The answer every request gets. */
struct ceiling {
    char  *body;                    /* owned */
    size_t len;
};

static void on_request(struct evhttp_request *req, void *arg);
static void on_signal(evutil_socket_t sig, short what, void *arg);

/* Reads all of PATH (at most CEILING_BODY_MAX bytes) into C. */
static int
ceiling_load(struct ceiling *c, const char *path)
{
    FILE  *f = fopen(path, "rb");
    size_t n;

    if (f == NULL) {
        fprintf(stderr, "ceiling: %s: %s\n", path, strerror(errno));
        return -1;
    }
    c->body = malloc(CEILING_BODY_MAX);
    if (c->body == NULL) {
        fclose(f);
        fprintf(stderr, "ceiling: out of memory\n");
        return -1;
    }
    n = fread(c->body, 1, CEILING_BODY_MAX, f);
    if (ferror(f) || !feof(f)) {
        fprintf(stderr, "ceiling: %s: unreadable or over %d bytes\n", path,
                CEILING_BODY_MAX);
        fclose(f);
        return -1;
    }
    fclose(f);
    c->len = n;
    return 0;
}

/* Splits "host:port" into HOST (CAP bytes) and PORT. */
static int
ceiling_split(const char *listen, char *host, size_t cap, ev_uint16_t *port)
{
    const char   *colon = strrchr(listen, ':');
    char         *end;
    unsigned long p;
    size_t        hlen;

    if (colon == NULL) {
        return -1;
    }
    errno = 0;
    p = strtoul(colon + 1, &end, 10);
    hlen = (size_t)(colon - listen);
    if (colon[1] == '\0' || *end != '\0' || errno != 0 || p > 65535 ||
        hlen == 0 || hlen >= cap) {
        return -1;
    }
    memcpy(host, listen, hlen);
    host[hlen] = '\0';
    *port = (ev_uint16_t)p;
    return 0;
}

/*
 * Prints the address FD is bound to, in the "listening on" line that the
 * bench script reads, and turns Nagle off for the accepted sockets (they
 * inherit it on Linux) as a tuned server would.
 */
static int
ceiling_announce(evutil_socket_t fd, size_t body_len)
{
    struct sockaddr_storage ss;
    socklen_t               len = sizeof(ss);
    char                    host[NI_MAXHOST], port[NI_MAXSERV];
    int                     on = 1;

    if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on)) != 0 ||
        getsockname(fd, (struct sockaddr *)&ss, &len) != 0 ||
        getnameinfo((struct sockaddr *)&ss, len, host, sizeof(host), port,
                    sizeof(port), NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
        fprintf(stderr, "ceiling: cannot read the bound address\n");
        return -1;
    }
    fprintf(stderr, "ceiling: listening on %s:%s (%zu-byte body)\n", host,
            port, body_len);
    return 0;
}

int
main(int argc, char **argv)
{
    struct ceiling              c = { NULL, 0 };
    struct event_base          *base = NULL;
    struct evhttp              *http = NULL;
    struct evhttp_bound_socket *handle;
    struct event               *sigterm = NULL, *sigint = NULL;
    char                        host[CEILING_HOST_MAX];
    ev_uint16_t                 port;
    int                         rc = 1;

    if (argc < 2 || argc > 3 ||
        ceiling_split(argc == 3 ? argv[2] : "127.0.0.1:0", host, sizeof(host),
                      &port) != 0) {
        fprintf(stderr, "Usage: ceiling BODY-FILE [HOST:PORT]\n");
        return 2;
    }
    if (ceiling_load(&c, argv[1]) != 0) {
        goto done;
    }
    signal(SIGPIPE, SIG_IGN);
    base = event_base_new();
    http = base == NULL ? NULL : evhttp_new(base);
    if (http == NULL) {
        fprintf(stderr, "ceiling: cannot create the event loop\n");
        goto done;
    }
    evhttp_set_default_content_type(http, NULL);
    evhttp_set_timeout(http, CEILING_IDLE_S);
    evhttp_set_gencb(http, on_request, &c);
    handle = evhttp_bind_socket_with_handle(http, host, port);
    if (handle == NULL) {
        fprintf(stderr, "ceiling: cannot listen on %s:%u\n", host,
                (unsigned)port);
        goto done;
    }
    sigterm = evsignal_new(base, SIGTERM, on_signal, base);
    sigint = evsignal_new(base, SIGINT, on_signal, base);
    if (sigterm == NULL || sigint == NULL || evsignal_add(sigterm, NULL) ||
        evsignal_add(sigint, NULL)) {
        fprintf(stderr, "ceiling: cannot watch signals\n");
        goto done;
    }
    if (ceiling_announce(evhttp_bound_socket_get_fd(handle), c.len) != 0) {
        goto done;
    }
    rc = event_base_dispatch(base) == 0 ? 0 : 1;

done:
    if (sigterm != NULL) {
        event_free(sigterm);
    }
    if (sigint != NULL) {
        event_free(sigint);
    }
    if (http != NULL) {
        evhttp_free(http);
    }
    if (base != NULL) {
        event_base_free(base);
    }
    free(c.body);
    return rc;
}

static void
on_request(struct evhttp_request *req, void *arg)
{
    struct ceiling  *c = arg;
    struct evbuffer *out = evhttp_request_get_output_buffer(req);

    /* A reference, not a copy: the body outlives every request. */
    if (evbuffer_add_reference(out, c->body, c->len, NULL, NULL) != 0) {
        evhttp_send_error(req, 500, NULL);
        return;
    }
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                      CEILING_TYPE);
    evhttp_send_reply(req, 200, "OK", NULL);
}

static void
on_signal(evutil_socket_t sig, short what, void *arg)
{
    event_base_loopexit(arg, NULL);
}
