/* log.c - leveled diagnostic lines on stderr, JSON or text. */
#include "config.h"

#include "log.h"

#include <inttypes.h>

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "lograte.h"

#define LOG_LINE_MAX 2048

_Atomic int log_threshold = LOG_INFO;

static const char *_Atomic log_program = "heavyset";
static atomic_bool        log_json = true;

static const char *const log_level_names[] = {
    [LOG_ERR] = "error", [LOG_WARN] = "warn", [LOG_INFO] = "info",
    [LOG_DEBUG] = "debug",
};

void
log_setup(const char *program, enum log_level level, bool json)
{
    atomic_store_explicit(&log_program, program, memory_order_seq_cst);
    atomic_store_explicit(&log_threshold, (int)level, memory_order_seq_cst);
    atomic_store_explicit(&log_json, json, memory_order_seq_cst);
}

/* Appends S to OUT as the inside of a JSON string; stops at CAP. */
static size_t
log_escape(char *out, size_t pos, size_t cap, const char *s)
{
    const unsigned char *p;

    for (p = (const unsigned char *)s; *p != '\0' && pos + 7 < cap; p++) {
        if (*p == '"' || *p == '\\') {
            out[pos++] = '\\';
            out[pos++] = (char)*p;
        } else if (*p < 0x20) {
            pos += (size_t)snprintf(out + pos, cap - pos, "\\u%04x", *p);
        } else {
            out[pos++] = (char)*p;
        }
    }
    return pos;
}

void
log_write(enum log_level level, const char *fmt, ...)
{
    char           msg[LOG_LINE_MAX], line[LOG_LINE_MAX * 2], ts[40];
    const char    *program;
    struct timeval tv;
    struct tm      tm;
    va_list        ap;
    size_t         n;
    int            len;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);

    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    n = strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(ts + n, sizeof(ts) - n, ".%03ldZ", (long)(tv.tv_usec / 1000));

    program = atomic_load_explicit(&log_program, memory_order_relaxed);
    if (atomic_load_explicit(&log_json, memory_order_relaxed)) {
        len = snprintf(line, sizeof(line),
                       "{\"time\":\"%s\",\"level\":\"%s\",\"program\":\"%s\","
                       "\"pid\":%ld,\"msg\":\"",
                       ts, log_level_names[level], program,
                       (long)getpid());
        n = log_escape(line, (size_t)len, sizeof(line) - 3, msg);
        memcpy(line + n, "\"}\n", 3);
        n += 3;
    } else {
        len = snprintf(line, sizeof(line), "%s %s[%ld] %s: %s\n", ts,
                       program, (long)getpid(), log_level_names[level],
                       msg);
        n = (size_t)len < sizeof(line) ? (size_t)len : sizeof(line) - 1;
    }
    /* One write(2) per line keeps lines from several threads whole. */
    if (write(STDERR_FILENO, line, n) < 0) {
        return;
    }
}

void
log_rated(struct lograte *lr, enum log_level level, const char *fmt, ...)
{
    char     msg[LOG_LINE_MAX];
    uint64_t held;
    va_list  ap;

    if ((int)level > atomic_load_explicit(&log_threshold,
                                          memory_order_relaxed) ||
        !lograte_allow(lr, lograte_now_ms(), LOGRATE_PERIOD_MS, &held)) {
        return;
    }
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    log_write(level, "%s (%" PRIu64 " more not logged)", msg, held);
}
