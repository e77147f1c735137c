/* url.c - strict parsers for the upstream, Redis (and Sentinel) and listen
 * addresses. */
#include "config.h"

#include "url.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define URL_HOSTNAME_MAX 253        /* RFC 1035 limit, without the dot */
#define URL_LABEL_MAX    63
#define URL_V6_MAX       46         /* INET6_ADDRSTRLEN */
#define URL_PORT_ABSENT  (-1L)
#define URL_REDIS_PORT   6379
#define URL_REDIS_DB_MAX 15
#define URL_SHOW_MAX     (URL_V6_MAX + 1) /* bytes of a value quoted */

static int url_fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Writes the reason into ERR (which may be NULL) and returns -1. */
static int
url_fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (err != NULL && errlen > 0) {
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

static bool
url_is_digit(int c)
{
    return c >= '0' && c <= '9';
}

static bool
url_is_alnum(int c)
{
    return url_is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* Whether S holds a space, a control character or DEL anywhere. */
static bool
url_has_blank(const char *s)
{
    const unsigned char *p;

    for (p = (const unsigned char *)s; *p != '\0'; p++) {
        if (*p <= ' ' || *p == 0x7f) {
            return true;
        }
    }
    return false;
}

/*
 * Copies the LEN bytes at S (at most URL_SHOW_MAX - 1 of them) into OUT
 * for a message, with every byte outside printable ASCII as '?': the
 * reasons end up on a terminal (-t) and in JSON logs, where raw bytes of
 * a mistyped value do not belong.
 */
static const char *
url_show(const char *s, size_t len, char out[URL_SHOW_MAX])
{
    size_t i;

    for (i = 0; i < len && i < URL_SHOW_MAX - 1; i++) {
        unsigned char c = (unsigned char)s[i];

        out[i] = c >= 0x20 && c < 0x7f ? (char)c : '?';
    }
    out[i] = '\0';
    return out;
}

/*
 * Checks the LEN bytes at S as a host name (RFC 1123 labels; '_' is
 * tolerated for internal names) or, when it is all digits and dots, as a
 * dotted-quad IPv4 address, and copies it into HOST (URL_HOST_MAX bytes).
 */
static int
url_check_host(const char *s, size_t len, char *host, char *err,
               size_t errlen)
{
    struct in_addr addr;
    size_t         i, label = 0;
    bool           numeric = true;

    if (len == 0) {
        return url_fail(err, errlen, "missing host");
    }
    if (len > URL_HOSTNAME_MAX) {
        return url_fail(err, errlen, "host name is longer than %d characters",
                        URL_HOSTNAME_MAX);
    }
    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];

        if (c == '.') {
            if (label == 0 || s[i - 1] == '-') {
                return url_fail(err, errlen, "host name has an empty label "
                                "or a label ending in '-'");
            }
            label = 0;
            continue;
        }
        if (!url_is_alnum(c) && c != '-' && c != '_') {
            if (c >= 0x20 && c < 0x7f) {
                return url_fail(err, errlen, "invalid character '%c' in host",
                                c);
            }
            return url_fail(err, errlen, "invalid byte 0x%02x in host", c);
        }
        if (c == '-' && label == 0) {
            return url_fail(err, errlen, "host name label starts with '-'");
        }
        if (++label > URL_LABEL_MAX) {
            return url_fail(err, errlen, "host name label is longer than %d "
                            "characters", URL_LABEL_MAX);
        }
        numeric = numeric && url_is_digit(c);
    }
    if (s[len - 1] == '-') {
        return url_fail(err, errlen, "host name label ends with '-'");
    }
    memcpy(host, s, len);
    host[len] = '\0';
    if (numeric && inet_pton(AF_INET, host, &addr) != 1) {
        host[0] = '\0';
        return url_fail(err, errlen, "'%.*s' is not a valid IPv4 address",
                        (int)len, s);
    }
    return 0;
}

/*
 * Splits the LEN bytes at S, "host[:port]" or "[v6][:port]", into HOST
 * (URL_HOST_MAX bytes, without brackets) and *PORT, which is
 * URL_PORT_ABSENT when no port is written and clamps at 100000 so that
 * the caller's range check reports huge ports.
 */
static int
url_host_port(const char *s, size_t len, char *host, long *port, char *err,
              size_t errlen)
{
    const char *colon, *close, *p, *end = s + len;
    char        shown[URL_SHOW_MAX];

    *port = URL_PORT_ABSENT;
    if (len > 0 && s[0] == '[') {
        struct in6_addr addr;
        size_t          hlen;

        close = memchr(s, ']', len);
        if (close == NULL) {
            return url_fail(err, errlen, "missing ']' after the IPv6 address");
        }
        hlen = (size_t)(close - s - 1);
        if (hlen == 0 || hlen >= URL_V6_MAX) {
            return url_fail(err, errlen, "invalid IPv6 address");
        }
        memcpy(host, s + 1, hlen);
        host[hlen] = '\0';
        if (inet_pton(AF_INET6, host, &addr) != 1) {
            host[0] = '\0';
            return url_fail(err, errlen, "'%s' is not a valid IPv6 address",
                            url_show(s + 1, hlen, shown));
        }
        if (close + 1 < end && close[1] != ':') {
            return url_fail(err, errlen, "unexpected text after ']'");
        }
        colon = close + 1 < end ? close + 1 : NULL;
    } else {
        colon = memchr(s, ':', len);
        if (colon != NULL &&
            memchr(colon + 1, ':', (size_t)(end - colon - 1)) != NULL) {
            return url_fail(err, errlen, "an IPv6 address must be in "
                            "brackets, e.g. [::1]");
        }
        if (url_check_host(s, colon == NULL ? len : (size_t)(colon - s), host,
                           err, errlen) != 0) {
            return -1;
        }
    }
    if (colon == NULL) {
        return 0;
    }
    if (colon + 1 == end) {
        return url_fail(err, errlen, "empty port after ':'");
    }
    *port = 0;
    for (p = colon + 1; p < end; p++) {
        if (!url_is_digit(*p)) {
            return url_fail(err, errlen, "port '%.*s' is not a number",
                            16, url_show(colon + 1, (size_t)(end - colon - 1),
                                         shown));
        }
        if (*port < 100000) {
            *port = *port * 10 + (*p - '0');
        }
    }
    return 0;
}

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

int
url_parse_upstream(const char *s, struct url_upstream *out, char *err,
                   size_t errlen)
{
    const char *p, *rest;
    size_t      alen;
    long        port;

    memset(out, 0, sizeof(*out));
    if (s == NULL || *s == '\0') {
        return url_fail(err, errlen, "empty URL");
    }
    if (url_has_blank(s)) {
        return url_fail(err, errlen, "contains a space or control character");
    }
    if (strncasecmp(s, "https://", 8) == 0) {
        out->tls = true;
        p = s + 8;
    } else if (strncasecmp(s, "http://", 7) == 0) {
        p = s + 7;
    } else {
        return url_fail(err, errlen, "scheme must be http:// or https://");
    }
    alen = strcspn(p, "/?#");
    if (memchr(p, '@', alen) != NULL) {
        return url_fail(err, errlen, "user info (user@host) is not allowed");
    }
    if (url_host_port(p, alen, out->host, &port, err, errlen) != 0) {
        return -1;
    }
    rest = p + alen;
    if (strpbrk(rest, "?#") != NULL) {
        return url_fail(err, errlen, "a query or fragment is not allowed");
    }
    if (rest[0] == '/' && rest[1] != '\0') {
        return url_fail(err, errlen, "a path is not allowed (the proxy "
                        "forwards request paths unchanged)");
    }
    if (port == URL_PORT_ABSENT) {
        port = out->tls ? 443 : 80;
    } else if (port < 1 || port > 65535) {
        return url_fail(err, errlen, "port is out of range (1 to 65535)");
    }
    out->port = (uint16_t)port;
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

/*
 * Parses what follows "redis-sentinel://" and the user info: the seeds,
 * "host[:port]" separated by ',', then "/master-name" and maybe "/db".
 */
static int
url_redis_sentinel(const char *p, struct url_redis *out, char *err,
                   size_t errlen)
{
    const char *end = p + strcspn(p, "/?#"), *s, *comma, *name;
    size_t      nlen, i;
    char        shown[URL_SHOW_MAX];

    out->sentinel = true;
    for (s = p; s <= end; s = comma + 1) {
        comma = memchr(s, ',', (size_t)(end - s));
        if (comma == NULL) {
            comma = end;
        }
        if (comma == s) {
            return url_fail(err, errlen, "no sentinel address (write "
                            "host:port[,host:port...]/master-name)");
        }
        if (out->nseeds == URL_SENTINELS_MAX) {
            return url_fail(err, errlen, "more than %d sentinels",
                            URL_SENTINELS_MAX);
        }
        if (url_redis_addr(s, (size_t)(comma - s), URL_SENTINEL_PORT,
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

/* The schemes of a Redis URL over TCP: whether TLS, whether sentinel. */
static const struct {
    const char *scheme;
    bool        tls;
    bool        sentinel;
} url_redis_schemes[] = {
    { "redis://", false, false },
    { "rediss://", true, false },
    { "redis-sentinel://", false, true },
    { "rediss-sentinel://", true, true },
};

int
url_parse_redis(const char *s, struct url_redis *out, char *err,
                size_t errlen)
{
    const char *p = NULL, *rest;
    size_t      alen, i;

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
        alen = strlen(url_redis_schemes[i].scheme);
        if (strncasecmp(s, url_redis_schemes[i].scheme, alen) == 0) {
            out->tls = url_redis_schemes[i].tls;
            out->sentinel = url_redis_schemes[i].sentinel;
            p = s + alen;
            break;
        }
    }
    if (p == NULL && (strncasecmp(s, "redis-cluster://", 16) == 0 ||
                      strncasecmp(s, "rediss-cluster://", 17) == 0)) {
        return url_fail(err, errlen, "Redis Cluster (redis-cluster://) is "
                        "not supported yet");
    }
    if (p == NULL) {
        return url_fail(err, errlen, "scheme must be redis://, rediss://, "
                        "redis-sentinel://, rediss-sentinel:// or unix://");
    }
    if (url_redis_userinfo(&p, out, err, errlen) != 0) {
        return -1;
    }
    if (out->sentinel) {
        return url_redis_sentinel(p, out, err, errlen);
    }
    alen = strcspn(p, "/?#");
    if (memchr(p, ',', alen) != NULL) {
        return url_fail(err, errlen, "several hosts need "
                        "redis-sentinel://host,host/master-name");
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

int
url_parse_listen(const char *s, struct url_listen *out, char *err,
                 size_t errlen)
{
    long port;

    memset(out, 0, sizeof(*out));
    if (s == NULL || *s == '\0') {
        return url_fail(err, errlen, "empty address (use host:port, "
                        "e.g. 127.0.0.1:8080)");
    }
    if (url_has_blank(s)) {
        return url_fail(err, errlen, "contains a space or control character");
    }
    if (strstr(s, "://") != NULL) {
        return url_fail(err, errlen, "write host:port, without a scheme");
    }
    if ((s[0] == ':' && s[1] != ':') || s[0] == '*') {
        return url_fail(err, errlen, "missing host (use 0.0.0.0:PORT or "
                        "[::]:PORT for all addresses)");
    }
    if (url_host_port(s, strlen(s), out->host, &port, err, errlen) != 0) {
        return -1;
    }
    if (port == URL_PORT_ABSENT) {
        return url_fail(err, errlen, "missing port (use host:port; port 0 "
                        "picks a free port)");
    }
    if (port > 65535) {
        return url_fail(err, errlen, "port is out of range (0 to 65535)");
    }
    out->port = (uint16_t)port;
    return 0;
}
