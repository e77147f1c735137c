/*
 * url_int.h - what url.c lends url_redis.c: the host and port splitter
 * and the message helpers. Private to the two; callers use url.h.
 */
#ifndef HSP_URL_INT_H
#define HSP_URL_INT_H

#include <stdbool.h>
#include <stddef.h>

#define URL_V6_MAX       46         /* INET6_ADDRSTRLEN */
#define URL_PORT_ABSENT  (-1L)
#define URL_SHOW_MAX     (URL_V6_MAX + 1) /* bytes of a value quoted */

/* Writes the reason into ERR (which may be NULL) and returns -1. */
int url_fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

bool url_is_digit(int c);
bool url_is_alnum(int c);

/* Whether S holds a space, a control character or DEL anywhere. */
bool url_has_blank(const char *s);

/*
 * Copies the LEN bytes at S (at most URL_SHOW_MAX - 1 of them) into OUT
 * for a message, with every byte outside printable ASCII as '?'; returns
 * OUT.
 */
const char *url_show(const char *s, size_t len, char out[URL_SHOW_MAX]);

/*
 * Splits the LEN bytes at S, "host[:port]" or "[v6][:port]", into HOST
 * (URL_HOST_MAX bytes, without brackets) and *PORT, which is
 * URL_PORT_ABSENT when no port is written and clamps at 100000 so that
 * the caller's range check reports huge ports.
 */
int url_host_port(const char *s, size_t len, char *host, long *port,
                  char *err, size_t errlen);

#endif /* HSP_URL_INT_H */
