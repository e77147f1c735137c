/* http.c - hop-by-hop table, reason phrases and error payloads. */
#include "config.h"

#include "http.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/rand.h>

/* RFC 9110 §7.6.1 plus the non-standard ones proxies strip in practice. */
static const char *const http_hop_by_hop[] = {
    "Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization",
    "Proxy-Connection", "TE", "Trailer", "Transfer-Encoding", "Upgrade",
};

static const struct {
    int         status;
    const char *reason;
} http_reasons[] = {
    /* RFC 9110 §15 and the registry: every code a relayed answer may
     * carry gets its own phrase, never "Unknown" (RFC 8297: 103). */
    { 100, "Continue" },
    { 101, "Switching Protocols" },
    { 103, "Early Hints" },
    { 200, "OK" },
    { 201, "Created" },
    { 202, "Accepted" },
    { 203, "Non-Authoritative Information" },
    { 204, "No Content" },
    { 205, "Reset Content" },
    { 206, "Partial Content" },
    { 207, "Multi-Status" },
    { 300, "Multiple Choices" },
    { 301, "Moved Permanently" },
    { 302, "Found" },
    { 303, "See Other" },
    { 304, "Not Modified" },
    { 307, "Temporary Redirect" },
    { 308, "Permanent Redirect" },
    { 400, "Bad Request" },
    { 401, "Unauthorized" },
    { 402, "Payment Required" },
    { 403, "Forbidden" },
    { 404, "Not Found" },
    { 405, "Method Not Allowed" },
    { 406, "Not Acceptable" },
    { 407, "Proxy Authentication Required" },
    { 408, "Request Timeout" },
    { 409, "Conflict" },
    { 410, "Gone" },
    { 411, "Length Required" },
    { 412, "Precondition Failed" },
    { 413, "Payload Too Large" },
    { 414, "URI Too Long" },
    { 415, "Unsupported Media Type" },
    { 416, "Range Not Satisfiable" },
    { 417, "Expectation Failed" },
    { 418, "I'm a teapot" },
    { 421, "Misdirected Request" },
    { 422, "Unprocessable Entity" },
    { 423, "Locked" },
    { 424, "Failed Dependency" },
    { 425, "Too Early" },
    { 426, "Upgrade Required" },
    { 428, "Precondition Required" },
    { 429, "Too Many Requests" },
    { 431, "Request Header Fields Too Large" },
    { 451, "Unavailable For Legal Reasons" },
    { 500, "Internal Server Error" },
    { 501, "Not Implemented" },
    { 502, "Bad Gateway" },
    { 503, "Service Unavailable" },
    { 504, "Gateway Timeout" },
    { 505, "HTTP Version Not Supported" },
    { 507, "Insufficient Storage" },
    { 508, "Loop Detected" },
    { 511, "Network Authentication Required" },
};

bool
http_list_has(const char *list, const char *name)
{
    size_t      n = strlen(name);
    const char *p = list;

    while (p != NULL && *p != '\0') {
        const char *end;
        size_t      len;

        p += strspn(p, " \t,");
        end = p + strcspn(p, ",");
        len = (size_t)(end - p);
        while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t')) {
            len--;
        }
        if (len == n && strncasecmp(p, name, n) == 0) {
            return true;
        }
        p = end;
    }
    return false;
}

bool
http_is_hop_by_hop(const char *name, const char *connection)
{
    size_t i;

    for (i = 0; i < sizeof(http_hop_by_hop) / sizeof(http_hop_by_hop[0]);
         i++) {
        if (strcasecmp(name, http_hop_by_hop[i]) == 0) {
            return true;
        }
    }
    return http_list_has(connection, name);
}

const char *
http_reason_registered(int status)
{
    size_t i;

    for (i = 0; i < sizeof(http_reasons) / sizeof(http_reasons[0]); i++) {
        if (http_reasons[i].status == status) {
            return http_reasons[i].reason;
        }
    }
    return NULL;
}

const char *
http_reason(int status)
{
    const char *r = http_reason_registered(status);

    if (r != NULL) {
        return r;
    }
    /* An unregistered code keeps its class's phrase (RFC 9110 §15). */
    switch (status / 100) {
    case 1: return "Informational";
    case 2: return "Success";
    case 3: return "Redirection";
    case 4: return "Client Error";
    case 5: return "Server Error";
    default: return "Unknown";
    }
}

/* Whether the LEN bytes at P spell "." or "..", raw or percent-encoded. */
static bool
http_dot_segment(const char *p, size_t len)
{
    size_t dots = 0, i = 0;

    while (i < len) {
        if (p[i] == '.') {
            i++;
        } else if (len - i >= 3 && p[i] == '%' && p[i + 1] == '2' &&
                   (p[i + 2] == 'e' || p[i + 2] == 'E')) {
            i += 3;
        } else {
            return false;
        }
        dots++;
    }
    return dots == 1 || dots == 2;
}

bool
http_path_ok(const char *path)
{
    const char *seg;
    size_t      i;

    if (path[0] != '/') {
        return false;
    }
    /* One pass: it runs on every request. */
    for (i = 1, seg = path + 1;; i++) {
        char c = path[i];

        if (c == '/' || c == '\0') {
            if (seg[0] == '.' || seg[0] == '%') {   /* cheap first test */
                if (http_dot_segment(seg, (size_t)(path + i - seg))) {
                    return false;
                }
            }
            if (c == '\0') {
                return true;
            }
            seg = path + i + 1;
        } else if (c == '\\') {
            return false;
        } else if (c == '%' && path[i + 1] != '\0' &&
                   ((path[i + 1] == '2' &&
                     (path[i + 2] == 'f' || path[i + 2] == 'F')) ||
                    (path[i + 1] == '5' &&
                     (path[i + 2] == 'c' || path[i + 2] == 'C')))) {
            return false;
        }
    }
}

/*
 * A 64-bit hash of the LEN bytes at P, eight at a time: a multiply and a
 * shift per word, then murmur3's finaliser. Not a cryptographic hash: an
 * ETag needs different bodies to get different tags (a collision of two
 * bodies of one entry is 2^-64 unlikely), and it is computed on every
 * hit, where SHA-256 through OpenSSL 3 cost a measured 10% of a hit's
 * CPU for a 1.6 KB lead.
 */
static uint64_t
http_hash64(const unsigned char *p, size_t len)
{
    uint64_t h = 0x9e3779b97f4a7c15ULL ^ len, w;
    size_t   i;

    for (i = 0; i + 8 <= len; i += 8) {
        memcpy(&w, p + i, 8);
        h = (h ^ w) * 0xff51afd7ed558ccdULL;
        h ^= h >> 29;
    }
    w = 0;
    memcpy(&w, p + i, len - i);
    h = (h ^ w ^ ((uint64_t)(len - i) << 56)) * 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
}

/* Writes V as 16 lowercase hex digits at OUT. */
static void
http_hex64(uint64_t v, char *out)
{
    static const char hex[] = "0123456789abcdef";
    int               i;

    for (i = 15; i >= 0; i--) {
        out[i] = hex[v & 0xf];
        v >>= 4;
    }
}

void
http_etag(const void *body, size_t len, char *out)
{
    /* The length too, as nginx's ETags carry it: two bodies of different
     * lengths never share a tag, whatever the hash. (By hand: this runs
     * on every hit, and snprintf is a tenth of a hit's CPU already.) */
    out[0] = '"';
    http_hex64(http_hash64(body, len), out + 1);
    http_hex64((uint64_t)len, out + 17);
    out[33] = '"';
    out[34] = '\0';
}

bool
http_accepts_gzip(const char *accept_encoding)
{
    const char *p = accept_encoding;
    int         gzip = -1, star = -1;   /* -1: not named; else q > 0 */

    while (p != NULL && *p != '\0') {
        const char *end, *semi;
        size_t      nlen;
        bool        ok = true;

        p += strspn(p, " \t,");
        end = p + strcspn(p, ",");
        semi = memchr(p, ';', (size_t)(end - p));
        nlen = (size_t)((semi != NULL ? semi : end) - p);
        while (nlen > 0 && (p[nlen - 1] == ' ' || p[nlen - 1] == '\t')) {
            nlen--;
        }
        if (semi != NULL) {
            /* q=0 (0, 0.0, 0.000) refuses the coding (RFC 9110 §12.4.2). */
            const char *q = semi + 1 + strspn(semi + 1, " \t");

            if ((q[0] == 'q' || q[0] == 'Q') && q[1] == '=') {
                const char *v = q + 2;

                ok = false;
                for (; v < end && *v != ' ' && *v != '\t' && *v != ';';
                     v++) {
                    if (*v >= '1' && *v <= '9') {
                        ok = true;
                    }
                }
            }
        }
        if ((nlen == 4 && strncasecmp(p, "gzip", 4) == 0) ||
            (nlen == 6 && strncasecmp(p, "x-gzip", 6) == 0)) {
            gzip = ok;
        } else if (nlen == 1 && *p == '*') {
            star = ok;
        }
        p = end;
    }
    return gzip == 1 || (gzip == -1 && star == 1);
}

bool
http_etag_match(const char *if_none_match, const char *etag)
{
    const char *p = if_none_match;
    size_t      n = strlen(etag);

    while (*p != '\0') {
        const char *end;

        p += strspn(p, " \t,");
        if (*p == '*') {
            return true;
        }
        /* If-None-Match compares weakly (RFC 9110 §13.1.2): W/ aside. */
        if (strncmp(p, "W/", 2) == 0) {
            p += 2;
        }
        if (*p != '"') {
            p += strcspn(p, ",");
            continue;
        }
        end = strchr(p + 1, '"');
        if (end == NULL) {
            return false;
        }
        if ((size_t)(end + 1 - p) == n && memcmp(p, etag, n) == 0) {
            return true;
        }
        p = end + 1;
    }
    return false;
}

/* Appends S to BUF as a JSON string literal. Returns the new length or -1. */
static int
http_put_string(char *buf, size_t cap, size_t pos, const char *s)
{
    const unsigned char *p;

    if (pos + 1 >= cap) {
        return -1;
    }
    buf[pos++] = '"';
    for (p = (const unsigned char *)s; *p != '\0'; p++) {
        /* Room for this character's encoding and the terminating NUL. */
        size_t need = *p == '"' || *p == '\\' ? 2 : *p < 0x20 ? 6 : 1;

        if (pos + need >= cap) {
            return -1;
        }
        if (*p == '"' || *p == '\\') {
            buf[pos++] = '\\';
            buf[pos++] = (char)*p;
        } else if (*p < 0x20) {
            pos += (size_t)snprintf(buf + pos, cap - pos, "\\u%04x", *p);
        } else {
            buf[pos++] = (char)*p;
        }
    }
    if (pos + 1 >= cap) {
        return -1;
    }
    buf[pos++] = '"';
    buf[pos] = '\0';
    return (int)pos;
}

int
http_error_body(char *buf, size_t cap, int status, const char *const *msgs,
                size_t n)
{
    size_t i;
    int    pos;

    pos = snprintf(buf, cap, "{\"statusCode\":%d,\"message\":[", status);
    if (pos < 0 || (size_t)pos >= cap) {
        goto fail;
    }
    for (i = 0; i < n; i++) {
        if (i > 0) {
            if ((size_t)pos + 1 >= cap) {
                goto fail;
            }
            buf[pos++] = ',';
        }
        pos = http_put_string(buf, cap, (size_t)pos, msgs[i]);
        if (pos < 0) {
            goto fail;
        }
    }
    if ((size_t)pos + 11 >= cap) {
        goto fail;
    }
    memcpy(buf + pos, "],\"error\":", 10);
    pos = http_put_string(buf, cap, (size_t)pos + 10, http_reason(status));
    if (pos < 0 || (size_t)pos + 2 > cap) {
        goto fail;
    }
    buf[pos++] = '}';
    buf[pos] = '\0';
    return pos;

fail:
    if (cap > 0) {
        buf[0] = '\0';
    }
    return -1;
}

void
http_fields_add(struct http_fields *f, const char *name, const char *value)
{
    f->count++;
    f->bytes += strlen(name) + strlen(value) + 4;
    if (strcasecmp(name, "Content-Length") == 0) {
        f->content_length++;
        f->cl_nonzero = f->cl_nonzero || strcmp(value, "0") != 0;
    } else if (strcasecmp(name, "Transfer-Encoding") == 0) {
        f->transfer_encoding++;
        /* evhttp reads a body as chunked only for exactly this value:
         * anything else would be framed by Content-Length instead. */
        if (strcasecmp(value, "chunked") != 0) {
            f->te_not_chunked = true;
        }
    }
}

void
http_fields_check(const struct http_fields *f, bool body_read,
                  size_t query_len, const struct http_limits *lim,
                  struct http_verdict *out)
{
    static const struct {
        int         status;
        bool        close;
        const char *msg;
    } verdicts[] = {
        { 400, true, "Transfer-Encoding must be chunked, once" },
        { 400, true, "Content-Length and Transfer-Encoding together" },
        { 400, true, "more than one Content-Length" },
        /* evhttp would read the body as the next request. */
        { 400, true, "no body is allowed with this method" },
        { 431, false, "too many header fields" },
        { 431, false, "request header fields too large" },
        { 414, false, "query string too long" },
    };
    bool   failed[sizeof(verdicts) / sizeof(verdicts[0])];
    size_t i;

    failed[0] = f->te_not_chunked || f->transfer_encoding > 1;
    failed[1] = f->transfer_encoding > 0 && f->content_length > 0;
    failed[2] = f->content_length > 1;
    failed[3] = !body_read && (f->transfer_encoding > 0 || f->cl_nonzero);
    failed[4] = f->count > lim->max_headers;
    failed[5] = f->bytes > lim->max_header_size;
    failed[6] = query_len > lim->max_query;
    for (i = 0; i < sizeof(verdicts) / sizeof(verdicts[0]); i++) {
        if (failed[i]) {
            out->status = verdicts[i].status;
            out->msg = verdicts[i].msg;
            out->close = verdicts[i].close;
            return;
        }
    }
    out->status = 0;
    out->msg = NULL;
    out->close = false;
}

bool
http_request_id_valid(const char *id)
{
    size_t i;

    for (i = 0; id[i] != '\0'; i++) {
        if (i >= HTTP_REQUEST_ID_MAX || id[i] <= 0x20 || id[i] >= 0x7f) {
            return false;
        }
    }
    return i > 0;
}

/*
 * Request ids must be unique, not secret: a per-thread xorshift128+ seeded
 * once from the system's random source gives 128 bits per id without a
 * trip through OpenSSL's locked generator on every request.
 */
static __thread uint64_t http_id_state[2];

static uint64_t
http_id_next(void)
{
    uint64_t       x = http_id_state[0];
    const uint64_t y = http_id_state[1];

    http_id_state[0] = y;
    x ^= x << 23;
    http_id_state[1] = x ^ y ^ (x >> 17) ^ (y >> 26);
    return http_id_state[1] + y;
}

int
http_request_id_new(char *out, size_t cap)
{
    static const char hex[] = "0123456789abcdef";
    uint64_t          words[2];
    size_t            i;

    if (cap < 33) {
        return -1;
    }
    if (http_id_state[0] == 0 && http_id_state[1] == 0) {
        if (RAND_bytes((unsigned char *)http_id_state,
                       sizeof(http_id_state)) != 1) {
            return -1;
        }
        http_id_state[0] |= 1;      /* never the all-zero state */
    }
    words[0] = http_id_next();
    words[1] = http_id_next();
    for (i = 0; i < 32; i++) {
        out[i] = hex[(words[i / 16] >> (60 - 4 * (i % 16))) & 0xf];
    }
    out[32] = '\0';
    return 0;
}

int64_t
http_retry_after_ms(const char *v, int64_t now_ms)
{
    struct tm   tm;
    const char *end;
    int64_t     secs = 0;
    time_t      t;

    if (v == NULL) {
        return -1;
    }
    while (*v == ' ' || *v == '\t') {
        v++;
    }
    if (*v >= '0' && *v <= '9') {
        for (end = v; *end >= '0' && *end <= '9'; end++) {
            if (secs > INT64_MAX / 10000) {
                return -1;          /* absurd: the caller caps anyway */
            }
            secs = secs * 10 + (*end - '0');
        }
        while (*end == ' ' || *end == '\t') {
            end++;
        }
        return *end == '\0' ? secs * 1000 : -1;
    }
    memset(&tm, 0, sizeof(tm));
    end = strptime(v, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    if (end == NULL || *end != '\0') {
        return -1;
    }
    t = timegm(&tm);
    if (t == (time_t)-1) {
        return -1;
    }
    return (int64_t)t * 1000 > now_ms ? (int64_t)t * 1000 - now_ms : 0;
}
