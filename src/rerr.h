/*
 * rerr.h - what kind of Redis error reply a text is (SPEC §12): Redis's
 * error code (the first word: `-WRONGPASS ...`, `-READONLY ...`) mapped
 * to a kind the owner of a link or a store can count, log and act on;
 * an "ERR ..." reply is read further, because scripts wrap what
 * redis.call met ("ERR Error running script ...: -OOM ...") and old
 * servers say a wrong password in words. Pure: no I/O, no state. The
 * counting, logging and /readyz side is store_err.h's.
 */
#ifndef HSP_RERR_H
#define HSP_RERR_H

#include <stddef.h>

/* The order of the heavyset_redis_error_replies_total series (stats.h). */
enum rerr_kind {
    RERR_AUTH,                      /* WRONGPASS, NOAUTH, AUTH refused */
    RERR_NOPERM,                    /* an ACL user lacks a right */
    RERR_READONLY,                  /* a replica: writes refused */
    RERR_OOM,                       /* maxmemory reached, noeviction */
    RERR_MOVED,                     /* MOVED/ASK: a cluster node */
    RERR_CLUSTER,                   /* CLUSTERDOWN, CROSSSLOT, TRYAGAIN */
    RERR_NOSCRIPT,                  /* EVALSHA of a script Redis lost */
    RERR_SCRIPT,                    /* a script failed */
    RERR_BUSY,                      /* BUSY, LOADING, MASTERDOWN */
    RERR_OTHER,                     /* anything else */
    RERR_KINDS                      /* count, not a kind */
};

/*
 * The kind of the error reply whose text (without the leading '-') is
 * the LEN bytes at TEXT, which need not be NUL-terminated. TEXT may be
 * NULL when LEN is 0 (RERR_OTHER).
 */
enum rerr_kind rerr_classify(const char *text, size_t len);

/* A static lower-case name of KIND for logs, metrics and /readyz
 * ("auth", "oom"...). */
const char *rerr_name(enum rerr_kind kind);

#endif /* HSP_RERR_H */
