/*
 * url.h - parsers for the URLs in the configuration: the upstream
 * (`http(s)://host[:port]`), Redis (`redis://[[user]:password@]host:port[/db]`,
 * the same with `rediss://` for TLS, `unix:///path`) and the `listen` address (`host:port`). Pure: no I/O.
 */
#ifndef HSP_URL_H
#define HSP_URL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define URL_HOST_MAX 256
#define URL_PATH_MAX 108            /* sizeof(sun_path) */
#define URL_PASS_MAX 256
#define URL_USER_MAX 128

struct url_upstream {
    bool     tls;                   /* https */
    char     host[URL_HOST_MAX];    /* name or address, no brackets */
    uint16_t port;                  /* 443/80 when absent */
};

struct url_redis {
    bool     unix_socket;           /* unix:///path */
    bool     tls;                   /* rediss:// */
    char     host[URL_HOST_MAX];    /* TCP host, no brackets */
    uint16_t port;                  /* 6379 when absent */
    char     path[URL_PATH_MAX];    /* socket path when unix_socket */
    char     user[URL_USER_MAX];    /* ACL user, decoded; "" when none */
    char     password[URL_PASS_MAX];/* decoded; "" when none */
    int      db;                    /* 0 when absent */
};

struct url_listen {
    char     host[URL_HOST_MAX];    /* address, no brackets */
    uint16_t port;                  /* 0: any free port */
};

/*
 * Each parser fills OUT and returns 0, or returns -1 and writes a short
 * reason (no trailing period) into ERR, of ERRLEN bytes.
 */
int url_parse_upstream(const char *s, struct url_upstream *out, char *err,
                       size_t errlen);
int url_parse_redis(const char *s, struct url_redis *out, char *err,
                    size_t errlen);
int url_parse_listen(const char *s, struct url_listen *out, char *err,
                     size_t errlen);

#endif /* HSP_URL_H */
