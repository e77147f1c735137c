/*
 * hrlink.h - what the tests of the Redis link (tests/integration/
 * test_rlink_*.c) share: one loop and DNS base per test, callbacks that
 * record what the links report into the global HRL, a loop runner with
 * a time limit, and the links to the servers tests/integration/rlink.sh
 * starts (named by its HSP_RL_* environment). Uses criterion's asserts.
 */
#ifndef HSP_HRLINK_H
#define HSP_HRLINK_H

#include <stddef.h>

#include <hiredis/hiredis.h>

#include "rlink.h"

#define HRLINK_MAX_REPLIES 64

/* One test's loop, DNS base and what its links reported. */
struct hrlink {
    struct event_base *base;
    struct evdns_base *dns;
    int                ups;
    int                fails;       /* RLINK_FAILED events */
    int                losts;       /* RLINK_LOST events */
    enum rlink_reason  reason;      /* of the last FAILED/LOST */
    enum rerr_kind     kind;
    char               detail[256];
    int                nreplies;    /* reply callbacks run, NULL included */
    int                nnull;       /* of which NULL */
    redisReply        *replies[HRLINK_MAX_REPLIES]; /* copies: type, str, int */
    char               msgs[8][64]; /* "kind channel payload" */
    int                nmsgs;
    double             null_at;     /* hrlink_now_ms of the last NULL */
};

extern struct hrlink hrl;

/* The suite's .init and .fini: a fresh HRL, its loop and DNS base. */
void hrlink_setup(void);
void hrlink_teardown(void);

/* Frees the reply copies kept so far and counts from 0 again. */
void hrlink_reset(void);

/* A monotonic clock in ms. */
double hrlink_now_ms(void);

/* $NAME, asserted set (the harness sets it). */
const char *hrlink_env(const char *name);

/* Callbacks that record into HRL (rlink.h's signatures). */
void hrlink_on_event(struct rlink *link, enum rlink_event ev,
                     enum rlink_reason reason, enum rerr_kind kind,
                     const char *detail, void *arg);
void hrlink_on_message(struct rlink *link, struct redisReply *msg,
                       void *arg);
void hrlink_on_reply(struct rlink *link, struct redisReply *reply,
                     void *arg);

/* Runs the loop until *COUNTER >= WANT or MS pass; whether it got there. */
int hrlink_wait(const int *counter, int want, int ms);

/* Runs the loop for MS. */
void hrlink_run(int ms);

/* The plain server over TCP with its password; the TLS one at
 * $PORT_VAR trusting $CA_VAR. Short backoffs, autostart. */
struct rlink_conf hrlink_conf_plain(void);
struct rlink_conf hrlink_conf_tls(const char *port_var, const char *ca_var);

/* A link for C with HRL's callbacks, asserted created. */
struct rlink *hrlink_new(const struct rlink_conf *c);

/* Sends a command of up to 4 words (NULL-terminated) to hrlink_on_reply,
 * asserted accepted. */
void hrlink_cmd(struct rlink *link, const char *a0, const char *a1,
                const char *a2, const char *a3);

/* Asserts that reply I is of TYPE with the string WANT. */
void hrlink_expect_str(int i, int type, const char *want);

#endif /* HSP_HRLINK_H */
