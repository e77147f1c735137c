/* listener.c - SO_REUSEPORT listening sockets, one per worker. */
#include "config.h"

#include "listener.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <unistd.h>

#include "log.h"
#include "url.h"

#define LISTENER_BACKLOG 1024

static evutil_socket_t
listener_socket(const struct sockaddr *sa, socklen_t salen)
{
    evutil_socket_t fd;
    int             on = 1;

    fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return -1;
    }
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof(on)) != 0 ||
        bind(fd, sa, salen) != 0 || listen(fd, LISTENER_BACKLOG) != 0) {
        int saved = errno;

        close(fd);
        errno = saved;
        return -1;
    }
    return fd;
}

int
listener_open(const struct url_listen *addr, unsigned n, evutil_socket_t *fds,
              char *desc, size_t cap)
{
    struct addrinfo         hints, *res = NULL;
    struct sockaddr_storage ss;
    socklen_t               sslen = sizeof(ss);
    char                    port[8], host[INET6_ADDRSTRLEN];
    unsigned                i, opened = 0;
    int                     rc;

    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    snprintf(port, sizeof(port), "%u", addr->port);
    rc = getaddrinfo(addr->host, port, &hints, &res);
    if (rc != 0) {
        log_err("listener: cannot resolve %s: %s", addr->host,
                gai_strerror(rc));
        return -1;
    }
    fds[0] = listener_socket(res->ai_addr, res->ai_addrlen);
    if (fds[0] < 0) {
        log_err("listener: cannot listen on %s:%u: %s", addr->host,
                addr->port, strerror(errno));
        goto fail;
    }
    opened = 1;
    /* The others bind to the port the first one got (it matters for 0). */
    if (getsockname(fds[0], (struct sockaddr *)&ss, &sslen) != 0) {
        log_err("listener: getsockname: %s", strerror(errno));
        goto fail;
    }
    for (i = 1; i < n; i++) {
        fds[i] = listener_socket((struct sockaddr *)&ss, sslen);
        if (fds[i] < 0) {
            log_err("listener: cannot open socket %u: %s", i,
                    strerror(errno));
            goto fail;
        }
        opened++;
    }
    if (ss.ss_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)&ss;

        inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof(host));
        snprintf(desc, cap, "[%s]:%u", host, ntohs(s6->sin6_port));
    } else {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)&ss;

        inet_ntop(AF_INET, &s4->sin_addr, host, sizeof(host));
        snprintf(desc, cap, "%s:%u", host, ntohs(s4->sin_port));
    }
    freeaddrinfo(res);
    return 0;

fail:
    for (i = 0; i < opened; i++) {
        close(fds[i]);
    }
    freeaddrinfo(res);
    return -1;
}
