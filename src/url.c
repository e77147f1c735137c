/* url.c - strict parsers for the upstream and listen addresses, and the
 * host, port and message helpers the Redis URL parser (url_redis.c)
 * shares. */
#include "config.h"

#include "url.h"
#include "url_int.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define URL_HOSTNAME_MAX 253        /* RFC 1035 limit, without the dot */
#define URL_LABEL_MAX    63

int
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

bool
url_is_digit(int c)
{
    return c >= '0' && c <= '9';
}

bool
url_is_alnum(int c)
{
    return url_is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

bool
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

/* The reasons end up on a terminal (-t) and in JSON logs, where raw
 * bytes of a mistyped value do not belong. */
const char *
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

int
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
