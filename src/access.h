/*
 * access.h - the access log (SPEC §10): one line per request, JSON or
 * text, to stderr, a file, or nowhere (config key access_log).
 *
 * Fields: time, request id, method, route, status, cache result, upstream
 * time, total time, the first 8 hex digits of the tenant hash (never the
 * token) and the phone masked to its last 4 digits (never the number).
 * Lead bodies, tokens and query strings are never logged.
 *
 * Threads: access_write may be called from any worker at any time; each
 * line is formatted on the caller's stack and written with one write(2)
 * (O_APPEND for files), which Linux keeps whole against other writers of
 * the file for lines this short (ACCESS_LINE_MAX < PIPE_BUF). No lock.
 * access_setup, access_reopen and access_close belong to the main thread
 * (one caller at a time); they may run while workers write: a file's fd
 * number, once open, stays open for the life of the process, and every
 * change (a new path, a reopen after logrotate, "off") dup2()s the new
 * file, or /dev/null, over it, which swaps atomically for writers.
 */
#ifndef HSP_ACCESS_H
#define HSP_ACCESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ACCESS_LINE_MAX 1024        /* longer lines are cut (never happens
                                     * with the bounded fields below) */

/* One request, as logged. Strings are borrowed for the call. */
struct access_entry {
    int64_t     time_ms;            /* when it arrived, ms since the epoch */
    const char *request_id;         /* X-Request-Id, as echoed */
    const char *method;             /* "GET", ... */
    const char *route;              /* route_name(): bounded set */
    int         status;             /* what the client got */
    const char *cache;              /* X-Cache value, or NULL */
    int64_t     upstream_us;        /* time in upstream calls, -1: none */
    int64_t     total_us;           /* arrival to answer */
    const char *tenant;             /* the tenant hash (hex), "" or NULL */
    const char *phone;              /* the normalised phone, "" or NULL */
};

/*
 * Writes E as one line (with its '\n') into BUF of CAP bytes: JSON when
 * JSON, else key=value text. Pure. Returns the length; a line that does
 * not fit is cut and still ends with '\n' (CAP must be at least 2).
 */
size_t access_format(const struct access_entry *e, bool json, char *buf,
                     size_t cap);

/*
 * Points the access log at SPEC ("stderr", "off" or a file path, opened
 * for appending and created 0640), in JSON or text. May be called again
 * (configuration reload). Returns 0, or -1 with the reason in ERR (the
 * previous sink then stays in use).
 */
int access_setup(const char *spec, bool json, char *err, size_t errlen);

/*
 * Opens the log file's path anew (after logrotate moved it) over the same
 * fd number. Nothing to do for stderr or off. Returns 0, or -1 (logged;
 * the old file stays in use).
 */
int access_reopen(void);

/* Whether lines are written at all: callers may skip gathering fields. */
bool access_enabled(void);

/* Formats and writes E, if the access log is on. Any thread. */
void access_write(const struct access_entry *e);

/* Closes the file, at exit, once no worker writes any more. */
void access_close(void);

#endif /* HSP_ACCESS_H */
