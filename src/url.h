/*
 * url.h - parsers for the URLs in the configuration: the upstream
 * (`http(s)://host[:port]`), Redis (`redis://[[user]:password@]host:port[/db]`,
 * the same with `rediss://` for TLS, `unix:///path`, and
 * `redis-sentinel://[user:password@]host:port[,host:port...]/master[/db]`,
 * `rediss-sentinel://` for TLS, and
 * `redis-cluster://[user:password@]host[:port][,host[:port]...][/0]`,
 * `rediss-cluster://` for TLS) and the `listen` address (`host:port`).
 * Pure: no I/O.
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
#define URL_SENTINELS_MAX 16        /* seeds of a sentinel or cluster URL */
#define URL_MASTER_MAX 64           /* a sentinel master name, with NUL */
#define URL_SENTINEL_PORT 26379     /* a seed's port when absent */

struct url_seed {
    char     host[URL_HOST_MAX];    /* no brackets */
    uint16_t port;
};

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
    /* redis-sentinel:// (rediss-sentinel://: tls too): HOST and PORT
     * are then empty, to be learnt from the sentinels; USER and
     * PASSWORD are the master's. */
    bool     sentinel;
    char     master[URL_MASTER_MAX];/* the name the sentinels monitor */
    int      nseeds;                /* 1..URL_SENTINELS_MAX */
    struct url_seed seeds[URL_SENTINELS_MAX];
    /* redis-cluster:// (rediss-cluster://: tls too): SEEDS are nodes
     * to read the slot map from (port 6379 when absent), HOST, PORT
     * and MASTER empty, DB 0 (a cluster has no other: "/N" with N not
     * 0 is refused); USER and PASSWORD are the nodes'. */
    bool     cluster;
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
