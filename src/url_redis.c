/* url_redis.c - the strict parser of Redis URLs: one server, Sentinel,
 * Cluster, or a unix socket. */
#include "config.h"

#include "url.h"
#include "url_int.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#define URL_REDIS_PORT   6379
#define URL_REDIS_DB_MAX 15

/* The value of hex digit C, or -1. */
static int
url_hex(int c)
{
    if (url_is_digit(c)) {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

/* Decodes the %XX escapes of the LEN bytes at S, the WHAT of a URL
 * ("password", "user name"), into OUT (CAP bytes). */
static int
url_decode(const char *s, size_t len, const char *what, char *out,
           size_t cap, char *err, size_t errlen)
{
    size_t i, n = 0;

    for (i = 0; i < len; i++) {
        int c = (unsigned char)s[i];

        if (c == '%') {
            if (i + 2 >= len || url_hex(s[i + 1]) < 0 ||
                url_hex(s[i + 2]) < 0) {
                return url_fail(err, errlen, "bad %%-escape in %s "
                                "(use %%XX with two hex digits)", what);
            }
            c = url_hex(s[i + 1]) << 4 | url_hex(s[i + 2]);
            if (c == 0) {
                return url_fail(err, errlen, "%%00 is not allowed in %s",
                                what);
            }
            i += 2;
        }
        if (n + 1 >= cap) {
            return url_fail(err, errlen, "%s is longer than %zu bytes",
                            what, cap - 1);
        }
        out[n++] = (char)c;
    }
    out[n] = '\0';
    return 0;
}

/* Reads "N" (0..15), the database of a Redis URL, from S into *DB. */
static int
url_redis_db(const char *s, int *db, char *err, size_t errlen)
{
    size_t n = strlen(s);
    int    v;

    if (n == 0 || n > 2 || strspn(s, "0123456789") != n) {
        goto fail;
    }
    v = n == 2 ? (s[0] - '0') * 10 + (s[1] - '0') : s[0] - '0';
    if (v > URL_REDIS_DB_MAX) {
        goto fail;
    }
    *db = v;
    return 0;

fail:
    return url_fail(err, errlen, "database must be a number from 0 to %d",
                    URL_REDIS_DB_MAX);
}

/* Parses what follows "unix://": an absolute socket path, then ?db=N. */
static int
url_redis_unix(const char *p, struct url_redis *out, char *err,
               size_t errlen)
{
    size_t plen = strcspn(p, "?#");

    out->unix_socket = true;
    if (p[0] != '/') {
        return url_fail(err, errlen, "socket path must be absolute "
                        "(unix:///path/to/redis.sock)");
    }
    if (plen >= URL_PATH_MAX) {
        return url_fail(err, errlen, "socket path is longer than %d bytes",
                        URL_PATH_MAX - 1);
    }
    if (p[plen - 1] == '/') {
        return url_fail(err, errlen, "socket path names a directory");
    }
    memcpy(out->path, p, plen);
    out->path[plen] = '\0';
    if (p[plen] == '\0') {
        return 0;
    }
    if (strncmp(p + plen, "?db=", 4) != 0) {
        return url_fail(err, errlen, "only ?db=N may follow a socket path");
    }
    return url_redis_db(p + plen + 4, &out->db, err, errlen);
}

/*
 * Reads the user info of a Redis URL at *P, if any, into OUT's user and
 * password, and moves *P past its '@'. The last '@' ends it: a raw
 * password may hold '@' or '/' (and ':': the first one ends the user
 * name).
 */
static int
url_redis_userinfo(const char **p, struct url_redis *out, char *err,
                   size_t errlen)
{
    const char *at = strrchr(*p, '@'), *colon;

    if (at == NULL) {
        return 0;
    }
    colon = memchr(*p, ':', (size_t)(at - *p));
    if (colon == NULL) {
        return url_fail(err, errlen, "the user info needs a password: "
                        "write redis://user:password@host or "
                        "redis://:password@host");
    }
    if (at == colon + 1) {
        return url_fail(err, errlen, "empty password after ':'");
    }
    if (url_decode(*p, (size_t)(colon - *p), "user name", out->user,
                   sizeof(out->user), err, errlen) != 0 ||
        url_decode(colon + 1, (size_t)(at - colon - 1), "password",
                   out->password, sizeof(out->password), err, errlen) != 0) {
        return -1;
    }
    *p = at + 1;
    return 0;
}

/* Reads the LEN bytes at S, "host[:port]" with DEF as the port when
 * absent, into HOST and *PORT. */
static int
url_redis_addr(const char *s, size_t len, uint16_t def, char *host,
               uint16_t *port, char *err, size_t errlen)
{
    long p;

    if (url_host_port(s, len, host, &p, err, errlen) != 0) {
        return -1;
    }
    if (p == URL_PORT_ABSENT) {
        p = def;
    } else if (p < 1 || p > 65535) {
        return url_fail(err, errlen, "port is out of range (1 to 65535)");
    }
    *port = (uint16_t)p;
    return 0;
}

/* A sentinel master name: what Sentinel accepts in its configuration,
 * bounded to a name safe in logs and /readyz JSON. */
static bool
url_master_char(int c)
{
    return url_is_alnum(c) || c == '-' || c == '_' || c == '.';
}

/* How one seed list form names its seeds in messages. */
struct url_seed_form {
    const char *noun;               /* "sentinel" */
    const char *shape;              /* what to write, for "no address" */
    uint16_t    port;               /* a seed's port when absent */
};

static const struct url_seed_form url_sentinel_form = {
    "sentinel", "host:port[,host:port...]/master-name", URL_SENTINEL_PORT,
};
static const struct url_seed_form url_cluster_form = {
    "cluster node", "host:port[,host:port...]", URL_REDIS_PORT,
};

/*
 * Reads the seeds from P up to END, "host[:port]" separated by ',', into
 * OUT's seeds: the sentinels, or the cluster nodes to ask for the slot
 * map.
 */
static int
url_redis_seeds(const char *p, const char *end,
                const struct url_seed_form *form, struct url_redis *out,
                char *err, size_t errlen)
{
    const char *s, *comma;

    for (s = p; s <= end; s = comma + 1) {
        comma = memchr(s, ',', (size_t)(end - s));
        if (comma == NULL) {
            comma = end;
        }
        if (comma == s) {
            return url_fail(err, errlen, "no %s address (write %s)",
                            form->noun, form->shape);
        }
        if (out->nseeds == URL_SENTINELS_MAX) {
            return url_fail(err, errlen, "more than %d %ss",
                            URL_SENTINELS_MAX, form->noun);
        }
        if (url_redis_addr(s, (size_t)(comma - s), form->port,
                           out->seeds[out->nseeds].host,
                           &out->seeds[out->nseeds].port, err,
                           errlen) != 0) {
            return -1;
        }
        out->nseeds++;
    }
    if (strpbrk(end, "?#") != NULL) {
        return url_fail(err, errlen, "a query or fragment is not allowed");
    }
    return 0;
}

/*
 * Parses what follows "redis-sentinel://" and the user info: the seeds,
 * then "/master-name" and maybe "/db".
 */
static int
url_redis_sentinel(const char *p, struct url_redis *out, char *err,
                   size_t errlen)
{
    const char *end = p + strcspn(p, "/?#"), *name;
    size_t      nlen, i;
    char        shown[URL_SHOW_MAX];

    out->sentinel = true;
    if (url_redis_seeds(p, end, &url_sentinel_form, out, err, errlen) != 0) {
        return -1;
    }
    if (end[0] != '/' || end[1] == '\0' || end[1] == '/') {
        return url_fail(err, errlen, "missing master name (write "
                        "redis-sentinel://host:port/master-name)");
    }
    name = end + 1;
    nlen = strcspn(name, "/");
    if (nlen >= URL_MASTER_MAX) {
        return url_fail(err, errlen, "master name is longer than %d "
                        "characters", URL_MASTER_MAX - 1);
    }
    for (i = 0; i < nlen; i++) {
        if (!url_master_char((unsigned char)name[i])) {
            return url_fail(err, errlen, "master name '%s' may hold only "
                            "A-Z a-z 0-9 - _ .",
                            url_show(name, nlen, shown));
        }
    }
    memcpy(out->master, name, nlen);
    out->master[nlen] = '\0';
    if (name[nlen] == '/' && name[nlen + 1] != '\0') {
        return url_redis_db(name + nlen + 1, &out->db, err, errlen);
    }
    return 0;
}

/*
 * Parses what follows "redis-cluster://" and the user info: the seeds,
 * then nothing, "/" or "/0". A cluster serves database 0 only (SELECT is
 * refused there), so "/3" is a mistake worth naming rather than a path.
 */
static int
url_redis_cluster(const char *p, struct url_redis *out, char *err,
                  size_t errlen)
{
    const char *end = p + strcspn(p, "/?#"), *path;
    size_t      plen;
    char        shown[URL_SHOW_MAX];

    out->cluster = true;
    if (url_redis_seeds(p, end, &url_cluster_form, out, err, errlen) != 0) {
        return -1;
    }
    if (end[0] != '/') {
        return 0;
    }
    path = end + 1;
    plen = strlen(path);
    if (plen > 0 && strspn(path, "0123456789") == plen) {
        if (strspn(path, "0") != plen) {
            return url_fail(err, errlen, "a Redis Cluster has only "
                            "database 0 (write /0 or no path)");
        }
        return 0;
    }
    if (plen > 0) {
        return url_fail(err, errlen, "unexpected path '/%s' (a "
                        "redis-cluster:// URL takes none, or /0)",
                        url_show(path, plen, shown));
    }
    return 0;
}

/* Parses what follows "redis://" and the user info: "host[:port][/db]". */
static int
url_redis_one(const char *p, struct url_redis *out, char *err,
              size_t errlen)
{
    const char *rest;
    size_t      alen = strcspn(p, "/?#");

    if (memchr(p, ',', alen) != NULL) {
        return url_fail(err, errlen, "several hosts need "
                        "redis-sentinel://host,host/master-name or "
                        "redis-cluster://host,host");
    }
    if (url_redis_addr(p, alen, URL_REDIS_PORT, out->host, &out->port, err,
                       errlen) != 0) {
        return -1;
    }
    rest = p + alen;
    if (strpbrk(rest, "?#") != NULL) {
        return url_fail(err, errlen, "a query or fragment is not allowed");
    }
    if (rest[0] == '/' && rest[1] != '\0') {
        return url_redis_db(rest + 1, &out->db, err, errlen);
    }
    return 0;
}

/* The schemes of a Redis URL over TCP: whether TLS, and the parser of
 * what follows the user info. */
static const struct {
    const char *scheme;
    bool        tls;
    int       (*parse)(const char *p, struct url_redis *out, char *err,
                       size_t errlen);
} url_redis_schemes[] = {
    { "redis://", false, url_redis_one },
    { "rediss://", true, url_redis_one },
    { "redis-sentinel://", false, url_redis_sentinel },
    { "rediss-sentinel://", true, url_redis_sentinel },
    { "redis-cluster://", false, url_redis_cluster },
    { "rediss-cluster://", true, url_redis_cluster },
};

int
url_parse_redis(const char *s, struct url_redis *out, char *err,
                size_t errlen)
{
    const char *p;
    size_t      slen, i;

    memset(out, 0, sizeof(*out));
    if (s == NULL || *s == '\0') {
        return url_fail(err, errlen, "empty URL");
    }
    if (url_has_blank(s)) {
        return url_fail(err, errlen, "contains a space or control character");
    }
    if (strncasecmp(s, "unix://", 7) == 0) {
        return url_redis_unix(s + 7, out, err, errlen);
    }
    for (i = 0; i < sizeof(url_redis_schemes) / sizeof(url_redis_schemes[0]);
         i++) {
        slen = strlen(url_redis_schemes[i].scheme);
        if (strncasecmp(s, url_redis_schemes[i].scheme, slen) == 0) {
            out->tls = url_redis_schemes[i].tls;
            p = s + slen;
            if (url_redis_userinfo(&p, out, err, errlen) != 0) {
                return -1;
            }
            return url_redis_schemes[i].parse(p, out, err, errlen);
        }
    }
    return url_fail(err, errlen, "scheme must be redis://, rediss://, "
                    "redis-sentinel://, rediss-sentinel://, "
                    "redis-cluster://, rediss-cluster:// or unix://");
}
