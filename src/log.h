/*
 * log.h - diagnostic logging: one line per event on stderr, as JSON
 * (default) or text. The level check comes before any formatting.
 *
 * Secrets are redacted at the source: no caller passes a token, a full
 * phone number or a body to log_*; see SPEC §3 and §10.
 */
#ifndef HSP_LOG_H
#define HSP_LOG_H

#include <stdatomic.h>
#include <stdbool.h>

enum log_level { LOG_ERR, LOG_WARN, LOG_INFO, LOG_DEBUG };

/* The threshold: messages above it are dropped unformatted. Atomic
 * because a reload (SIGHUP) changes it while workers log. */
extern _Atomic int log_threshold;

/* Configures the sink; callable again while other threads log (a reload).
 * PROGRAM is borrowed and must outlive logging. */
void log_setup(const char *program, enum log_level level, bool json);

void log_write(enum log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define log_at(level, ...) do {                                     \
    if ((int)(level) <= atomic_load_explicit(&log_threshold,        \
                                             memory_order_relaxed)) { \
        log_write((level), __VA_ARGS__);                            \
    }                                                               \
} while (0)

/*
 * Writes a line at LEVEL, as log_at does, unless LR holds it back: at
 * most one per LOGRATE_PERIOD_MS per limiter (lograte.h), for the lines
 * a persisting fault repeats, thousands a second under load. A line
 * written ends " (N more not logged)": those held back since the last.
 */
struct lograte;
void log_rated(struct lograte *lr, enum log_level level, const char *fmt,
               ...) __attribute__((format(printf, 3, 4)));

#define log_err(...)   log_at(LOG_ERR, __VA_ARGS__)
#define log_warn(...)  log_at(LOG_WARN, __VA_ARGS__)
#define log_info(...)  log_at(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_at(LOG_DEBUG, __VA_ARGS__)

#endif /* HSP_LOG_H */
