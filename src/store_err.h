/*
 * store_err.h - error replies from Redis (SPEC §12): of the kinds rerr.h
 * classifies, counted by kind in /metrics,
 * logged at most once per kind per LOGRATE_PERIOD_MS with the count of
 * those held back, and the last one that degrades the store remembered
 * for /readyz. No libevent, no hiredis: callers pass the reply's kind
 * (rerr_classify) and text.
 */
#ifndef HSP_STORE_ERR_H
#define HSP_STORE_ERR_H

#include <stdbool.h>
#include <stdint.h>

#include "rerr.h"

/* Whether KIND makes /readyz say degraded (all but NOSCRIPT, which the
 * store mends itself by sending the script's source). */
bool store_err_degrades(enum rerr_kind kind);

/*
 * Notes one error reply of KIND with text MSG to the command WHAT ("AUTH",
 * a script's name): counts it, logs it (rate limited, per kind) and, if
 * it degrades, remembers it for /readyz with the wall time of now. Safe
 * from every worker thread.
 */
void store_err_note(enum rerr_kind kind, const char *what,
                    const char *msg);

/* The last degrading error: its kind into *KIND and wall time into *MS;
 * false (and nothing written) when there was none. */
bool store_err_last(enum rerr_kind *kind, int64_t *ms);

#endif /* HSP_STORE_ERR_H */
