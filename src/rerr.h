/*
 * rerr.h - what kind of Redis error reply a text is: the first word of
 * an error reply (`-WRONGPASS ...`, `-READONLY ...`) mapped to a kind the
 * owner of a link can count, log and act on. Pure: no I/O, no state.
 */
#ifndef HSP_RERR_H
#define HSP_RERR_H

#include <stddef.h>

enum rerr_kind {
    RERR_AUTH,                      /* WRONGPASS, NOAUTH, invalid password */
    RERR_NOPERM,                    /* NOPERM: the ACL user lacks a right */
    RERR_READONLY,                  /* READONLY: a replica, or failover */
    RERR_OOM,                       /* OOM: maxmemory with noeviction */
    RERR_MOVED,                     /* MOVED, ASK, CLUSTERDOWN, TRYAGAIN */
    RERR_NOSCRIPT,                  /* NOSCRIPT: EVALSHA of an unknown SHA */
    RERR_BUSY,                      /* BUSY, LOADING, MASTERDOWN */
    RERR_OTHER,                     /* anything else, script errors too */
    RERR_KINDS                      /* count, not a kind */
};

/*
 * The kind of the error reply whose text (without the leading '-') is
 * the LEN bytes at TEXT, which need not be NUL-terminated. TEXT may be
 * NULL when LEN is 0 (RERR_OTHER).
 */
enum rerr_kind rerr_classify(const char *text, size_t len);

/* A static lower-case name of KIND for logs and metrics ("auth"). */
const char *rerr_name(enum rerr_kind kind);

#endif /* HSP_RERR_H */
