/*
 * listener.h - the listening sockets: one per worker, all bound to the
 * same address with SO_REUSEPORT, so the kernel spreads connections over
 * the workers and each worker accepts on its own socket.
 */
#ifndef HSP_LISTENER_H
#define HSP_LISTENER_H

#include <stddef.h>

#include <event2/util.h>

struct url_listen;

/*
 * Opens N non-blocking listening sockets on ADDR into FDS. With port 0 the
 * first socket takes a free port and the others join it. Writes the bound
 * address ("127.0.0.1:8080", "[::1]:8080") into DESC of CAP bytes.
 * Returns 0, or -1 after logging why (no socket is left open). The caller
 * owns the sockets.
 */
int listener_open(const struct url_listen *addr, unsigned n,
                  evutil_socket_t *fds, char *desc, size_t cap);

#endif /* HSP_LISTENER_H */
