/*
 * store_err.h - error replies from Redis (SPEC §12): classified by kind
 * from their text (pure, table-driven), counted by kind in /metrics,
 * logged at most once per kind per LOGRATE_PERIOD_MS with the count of
 * those held back, and the last one that degrades the store remembered
 * for /readyz. No libevent, no hiredis: callers pass the reply's text.
 */
#ifndef HSP_STORE_ERR_H
#define HSP_STORE_ERR_H

#include <stdbool.h>
#include <stdint.h>

/* What an error reply says about the store; the order of the
 * heavyset_redis_error_replies_total series in stats.h. */
enum store_err_kind {
    STORE_ERR_AUTH,                 /* WRONGPASS, NOAUTH, AUTH refused */
    STORE_ERR_NOPERM,               /* an ACL user lacks a right */
    STORE_ERR_READONLY,             /* a replica: writes refused */
    STORE_ERR_OOM,                  /* maxmemory reached, noeviction */
    STORE_ERR_MOVED,                /* MOVED/ASK: a cluster node */
    STORE_ERR_CLUSTER,              /* CLUSTERDOWN, CROSSSLOT, TRYAGAIN */
    STORE_ERR_NOSCRIPT,             /* script cache emptied: resent */
    STORE_ERR_SCRIPT,               /* a script failed */
    STORE_ERR_BUSY,                 /* BUSY, LOADING, MASTERDOWN */
    STORE_ERR_OTHER,
    STORE_ERR_COUNT
};

/* The kind of the error reply whose text is MSG (may be NULL). */
enum store_err_kind store_err_classify(const char *msg);

/* KIND's name in /metrics, logs and /readyz ("auth", "oom"...). */
const char *store_err_name(enum store_err_kind kind);

/* Whether KIND makes /readyz say degraded (all but NOSCRIPT, which the
 * store mends itself by sending the script's source). */
bool store_err_degrades(enum store_err_kind kind);

/*
 * Notes one error reply of KIND with text MSG to the command WHAT ("AUTH",
 * a script's name): counts it, logs it (rate limited, per kind) and, if
 * it degrades, remembers it for /readyz with the wall time of now. Safe
 * from every worker thread.
 */
void store_err_note(enum store_err_kind kind, const char *what,
                    const char *msg);

/* The last degrading error: its kind into *KIND and wall time into *MS;
 * false (and nothing written) when there was none. */
bool store_err_last(enum store_err_kind *kind, int64_t *ms);

#endif /* HSP_STORE_ERR_H */
