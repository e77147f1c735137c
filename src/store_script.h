/*
 * store_script.h - the store's Lua scripts (store.h includes this):
 * each registered by store_script_init at start-up, and loaded (SCRIPT
 * LOAD) on each connect of a call link before any call: without it the
 * first EVALSHA of each script costs a NOSCRIPT and a resend, which can
 * also put it behind a call sent after it (PITFALLS §4.4.1). The last
 * two calls are the store's own (store*.c).
 */
#ifndef HSP_STORE_SCRIPT_H
#define HSP_STORE_SCRIPT_H

#include <stdbool.h>

struct redisReply;
struct store_link;

/* A Lua script: its source and, once store_script_init ran, its SHA1. */
struct store_script {
    const char *name;               /* for logs */
    const char *source;
    char        sha[41];
    bool        durable;            /* Sentinel: its reply counts only
                                     * once a replica has its writes
                                     * (WAIT 1): a failover cannot lose
                                     * what it answered */
};

/* Computes SCRIPT->sha from its source. Call once before use. */
void store_script_init(struct store_script *script);

/* A deep copy of REPLY, which freeReplyObject frees, or NULL when out of
 * memory: a durable script's reply kept until WAIT answers. */
struct redisReply *store_script_reply_copy(const struct redisReply *reply);

/* Sends SCRIPT LOAD of every registered script on LINK, just up; a
 * refusal (NOPERM, OOM) is noted by kind (store_err.h). */
void store_script_load_all(struct store_link *link);

#endif /* HSP_STORE_SCRIPT_H */
