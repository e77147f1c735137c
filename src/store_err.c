/*
 * store_err.c - error replies from Redis: kinds, counts, logs and the
 * last one for /readyz (store_err.h).
 *
 * A reply's kind is rerr.c's to say.
 */
#include "config.h"

#include "store_err.h"

#include <stdatomic.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "lograte.h"
#include "stats.h"

#define STORE_ERR_SHOW_MAX 200      /* bytes of a reply's text logged */

_Static_assert(STATS_RERR_OTHER - STATS_RERR_AUTH + 1 == RERR_KINDS,
               "stats.h lists every kind, in this order");

/* Every kind degrades /readyz but NOSCRIPT, which the store mends by
 * sending the script's source. */
static const bool store_err_degrading[RERR_KINDS] = {
    [RERR_AUTH] = true,    [RERR_NOPERM] = true,   [RERR_READONLY] = true,
    [RERR_OOM] = true,     [RERR_MOVED] = true,    [RERR_CLUSTER] = true,
    [RERR_NOSCRIPT] = false, [RERR_SCRIPT] = true, [RERR_BUSY] = true,
    [RERR_OTHER] = true,
};

static _Atomic uint64_t store_err_last_packed; /* (ms << 4) | kind; 0: none */
static struct lograte   store_err_logs[RERR_KINDS];

bool
store_err_degrades(enum rerr_kind kind)
{
    return kind < RERR_KINDS && store_err_degrading[kind];
}

void
store_err_note(enum rerr_kind kind, const char *what, const char *msg)
{
    struct timespec ts;
    int64_t         now_ms;

    clock_gettime(CLOCK_REALTIME, &ts);
    now_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;

    if (kind >= RERR_KINDS) {
        kind = RERR_OTHER;
    }
    stats_add((enum stats_counter)(STATS_RERR_AUTH + kind), 1);
    if (store_err_degrading[kind]) {
        atomic_store_explicit(&store_err_last_packed,
                              ((uint64_t)(now_ms > 0 ? now_ms : 1) << 4) |
                                  (uint64_t)kind,
                              memory_order_relaxed);
    }
    log_rated(&store_err_logs[kind], LOG_WARN,
              "store: redis answered %s with an error (%s): %.*s", what,
              rerr_name(kind), STORE_ERR_SHOW_MAX, msg != NULL ? msg : "?");
}

bool
store_err_last(enum rerr_kind *kind, int64_t *ms)
{
    uint64_t v = atomic_load_explicit(&store_err_last_packed,
                                      memory_order_relaxed);

    if (v == 0) {
        return false;
    }
    *kind = (enum rerr_kind)(v & 0xf);
    *ms = (int64_t)(v >> 4);
    return true;
}
