/* access.c - the access log: formatting, and its sink (access.h). */
#include "config.h"

#include "access.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "phone.h"

#define ACCESS_TENANT_HEX 8         /* the tenant prefix logged */

/* Read by every worker; written by the main thread only. */
static _Atomic int  access_fd = -1; /* where lines go; -1: off */
static _Atomic bool access_json = true;

/* The main thread's own: the file's fd number (kept open once used, see
 * access.h) and the path it was opened from, NULL unless a file. */
static int   access_file_fd = -1;
static char *access_path;

/* A line being built; LEN stops growing at CAP - 1. */
struct access_buf {
    char  *p;
    size_t cap;
    size_t len;
};

static void access_put(struct access_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
access_put(struct access_buf *b, const char *fmt, ...)
{
    va_list ap;
    int     n;

    if (b->len + 1 >= b->cap) {
        return;
    }
    va_start(ap, fmt);
    n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    if (n < 0) {
        return;
    }
    b->len += (size_t)n < b->cap - b->len ? (size_t)n : b->cap - b->len - 1;
}

/* Appends S as the inside of a JSON string, byte by byte: ids are short
 * and plain, and a printf per byte would be most of a line's cost. */
static void
access_put_json(struct access_buf *b, const char *s)
{
    static const char    hex[] = "0123456789abcdef";
    const unsigned char *c;

    for (c = (const unsigned char *)s; *c != '\0'; c++) {
        if (b->len + 7 >= b->cap) {
            return;
        }
        if (*c == '"' || *c == '\\') {
            b->p[b->len++] = '\\';
            b->p[b->len++] = (char)*c;
        } else if (*c < 0x20 || *c == 0x7f) {
            memcpy(b->p + b->len, "\\u00", 4);
            b->p[b->len + 4] = hex[*c >> 4];
            b->p[b->len + 5] = hex[*c & 0xf];
            b->len += 6;
        } else {
            b->p[b->len++] = (char)*c;
        }
    }
    b->p[b->len] = '\0';
}

/*
 * Writes the UTC time of MS into OUT (32 bytes), ISO 8601 with ms. The
 * date part is kept per thread for its second: gmtime_r and strftime
 * run once a second per worker, not once a line.
 */
static void
access_time(int64_t ms, char *out)
{
    static __thread time_t cached_sec = -1;
    static __thread char   cached[24];
    time_t                 sec = (time_t)(ms / 1000);

    if (sec != cached_sec) {
        struct tm tm;

        gmtime_r(&sec, &tm);
        strftime(cached, sizeof(cached), "%Y-%m-%dT%H:%M:%S", &tm);
        cached_sec = sec;
    }
    snprintf(out, 32, "%s.%03dZ", cached, (int)(ms % 1000));
}

size_t
access_format(const struct access_entry *e, bool json, char *buf, size_t cap)
{
    struct access_buf b = { buf, cap - 1, 0 };  /* room kept for '\n' */
    char              ts[32], phone[PHONE_MASK_MAX];
    char              tenant[ACCESS_TENANT_HEX + 1];
    char              up[32];

    access_time(e->time_ms, ts);
    if (e->phone == NULL || e->phone[0] == '\0' ||
        phone_mask(e->phone, phone, sizeof(phone)) != 0) {
        phone[0] = '\0';           /* no phone, or too short to show any */
    }
    snprintf(tenant, sizeof(tenant), "%s", e->tenant != NULL ? e->tenant : "");
    if (e->upstream_us >= 0) {
        snprintf(up, sizeof(up), "%" PRId64 ".%03" PRId64,
                 e->upstream_us / 1000, e->upstream_us % 1000);
    } else {
        snprintf(up, sizeof(up), "%s", json ? "null" : "-");
    }
    buf[0] = '\0';
    if (json) {
        access_put(&b, "{\"type\":\"access\",\"time\":\"%s\",\"request_id\":\"",
                   ts);
        access_put_json(&b, e->request_id);
        access_put(&b, "\",\"method\":\"%s\",\"route\":\"%s\",\"status\":%d,",
                   e->method, e->route, e->status);
        if (e->cache != NULL) {
            access_put(&b, "\"cache\":\"%s\",", e->cache);
        } else {
            access_put(&b, "\"cache\":null,");
        }
        access_put(&b, "\"upstream_ms\":%s,\"total_ms\":%" PRId64 ".%03" PRId64,
                   up, e->total_us / 1000, e->total_us % 1000);
        if (tenant[0] != '\0') {
            access_put(&b, ",\"tenant\":\"%s\"", tenant);
        }
        if (phone[0] != '\0') {
            access_put(&b, ",\"phone\":\"%s\"", phone);
        }
        access_put(&b, "}");
    } else {
        access_put(&b,
                   "%s access id=%s method=%s route=%s status=%d cache=%s "
                   "upstream_ms=%s total_ms=%" PRId64 ".%03" PRId64
                   " tenant=%s phone=%s",
                   ts, e->request_id, e->method, e->route, e->status,
                   e->cache != NULL ? e->cache : "-", up, e->total_us / 1000,
                   e->total_us % 1000, tenant[0] != '\0' ? tenant : "-",
                   phone[0] != '\0' ? phone : "-");
    }
    buf[b.len++] = '\n';
    buf[b.len] = '\0';
    return b.len;
}

/* Opens PATH for appending, close-on-exec. Returns the fd or -1. */
static int
access_open(const char *path, char *err, size_t errlen)
{
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);

    if (fd < 0) {
        snprintf(err, errlen, "access_log %s: %s", path, strerror(errno));
    }
    return fd;
}

/* Puts the file open at FD over the access log's own fd number (taking
 * FD as that number the first time). Returns 0 or -1. */
static int
access_install(int fd, char *err, size_t errlen)
{
    if (access_file_fd < 0) {
        access_file_fd = fd;
        return 0;
    }
    if (fd == access_file_fd) {
        return 0;
    }
    if (dup2(fd, access_file_fd) < 0) {
        snprintf(err, errlen, "access_log: dup2: %s", strerror(errno));
        close(fd);
        return -1;
    }
    close(fd);
    /* dup2 clears close-on-exec on its target. */
    (void)fcntl(access_file_fd, F_SETFD, FD_CLOEXEC);
    return 0;
}

int
access_setup(const char *spec, bool json, char *err, size_t errlen)
{
    char *path = NULL;
    int   fd;

    if (strcmp(spec, "off") == 0) {
        fd = -1;
    } else if (strcmp(spec, "stderr") == 0) {
        fd = STDERR_FILENO;
    } else {
        path = strdup(spec);
        if (path == NULL) {
            snprintf(err, errlen, "access_log: out of memory");
            return -1;
        }
        fd = access_open(spec, err, errlen);
        if (fd < 0 || access_install(fd, err, errlen) != 0) {
            free(path);
            return -1;
        }
        fd = access_file_fd;
    }
    atomic_store_explicit(&access_json, json, memory_order_relaxed);
    atomic_store_explicit(&access_fd, fd, memory_order_release);
    free(access_path);
    access_path = path;
    return 0;
}

int
access_reopen(void)
{
    char err[256];
    int  fd;

    if (access_path == NULL) {
        return 0;
    }
    fd = access_open(access_path, err, sizeof(err));
    if (fd < 0 || access_install(fd, err, sizeof(err)) != 0) {
        log_err("access: cannot reopen: %s", err);
        return -1;
    }
    log_info("access: reopened %s", access_path);
    return 0;
}

bool
access_enabled(void)
{
    return atomic_load_explicit(&access_fd, memory_order_relaxed) >= 0;
}

void
access_write(const struct access_entry *e)
{
    int    fd = atomic_load_explicit(&access_fd, memory_order_acquire);
    char   line[ACCESS_LINE_MAX];
    size_t n;
    bool   json;

    if (fd < 0) {
        return;
    }
    json = atomic_load_explicit(&access_json, memory_order_relaxed);
    n = access_format(e, json, line, sizeof(line));
    /* One write per line; a failed or short write loses the line rather
     * than hold up a worker (never retried). */
    if (write(fd, line, n) < 0) {
        return;
    }
}

void
access_close(void)
{
    atomic_store_explicit(&access_fd, -1, memory_order_release);
    if (access_file_fd >= 0) {
        close(access_file_fd);
        access_file_fd = -1;
    }
    free(access_path);
    access_path = NULL;
}
