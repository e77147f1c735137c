/*
 * store_script.h - private to the store (store*.c): every Lua script the
 * proxy runs, registered by store_script_init (store.h) at start-up, and
 * loaded (SCRIPT LOAD) on each connect of a call link before any call:
 * without it the first EVALSHA of each script costs a NOSCRIPT and a
 * resend, which can also put it behind a call sent after it (PITFALLS
 * §4.4.1).
 */
#ifndef HSP_STORE_SCRIPT_H
#define HSP_STORE_SCRIPT_H

struct redisReply;
struct store_link;

/* A deep copy of REPLY, which freeReplyObject frees, or NULL when out of
 * memory: a durable script's reply kept until WAIT answers. */
struct redisReply *store_script_reply_copy(const struct redisReply *reply);

/* Sends SCRIPT LOAD of every registered script on LINK, just up; a
 * refusal (NOPERM, OOM) is noted by kind (store_err.h). */
void store_script_load_all(struct store_link *link);

#endif /* HSP_STORE_SCRIPT_H */
