/*
 * store_script.c - the registry of the store's Lua scripts, their SHA1,
 * and their loading on each connect (store_script.h).
 *
 * The registry is filled at start-up, before the workers start, then
 * read-only: no lock.
 */
#include "config.h"

#include "store_script.h"

#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>
#include <openssl/sha.h>

#include "store_err.h"
#include "store_link.h"

#define STORE_SCRIPTS_MAX 32

static struct store_script *store_scripts[STORE_SCRIPTS_MAX];
static size_t               store_nscripts;

void
store_script_init(struct store_script *script)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char     md[SHA_DIGEST_LENGTH];
    size_t            i;

    for (i = 0; i < store_nscripts; i++) {
        if (store_scripts[i] == script) {
            break;
        }
    }
    if (i == store_nscripts && store_nscripts < STORE_SCRIPTS_MAX) {
        store_scripts[store_nscripts++] = script;
    }
    SHA1((const unsigned char *)script->source, strlen(script->source), md);
    for (i = 0; i < SHA_DIGEST_LENGTH; i++) {
        script->sha[2 * i] = hex[md[i] >> 4];
        script->sha[2 * i + 1] = hex[md[i] & 0xf];
    }
    script->sha[40] = '\0';
}

/* The reply to a SCRIPT LOAD of PRIVDATA's script: an error (NOPERM for
 * an ACL user without SCRIPT, OOM...) is noted; its calls then cost a
 * NOSCRIPT and an EVAL each, or fail, and say so themselves. */
static void
on_script_loaded(struct rlink *rl, redisReply *reply, void *privdata)
{
    struct store_script *script = privdata;

    (void)rl;
    if (reply != NULL && reply->type == REDIS_REPLY_ERROR) {
        store_err_note(rerr_classify(reply->str, reply->len), script->name,
                       reply->str);
    }
}

redisReply *
store_script_reply_copy(const redisReply *reply)
{
    redisReply *c = calloc(1, sizeof(*c));
    size_t      i;

    if (c == NULL) {
        return NULL;
    }
    c->type = reply->type;
    c->integer = reply->integer;
    if (reply->str != NULL) {
        c->str = malloc(reply->len + 1);
        if (c->str == NULL) {
            free(c);
            return NULL;
        }
        memcpy(c->str, reply->str, reply->len);
        c->str[reply->len] = '\0';
        c->len = reply->len;
    }
    if (reply->elements > 0) {
        c->element = calloc(reply->elements, sizeof(*c->element));
        if (c->element == NULL) {
            freeReplyObject(c);
            return NULL;
        }
        c->elements = reply->elements;
        for (i = 0; i < reply->elements; i++) {
            c->element[i] = store_script_reply_copy(reply->element[i]);
            if (c->element[i] == NULL) {
                freeReplyObject(c);
                return NULL;
            }
        }
    }
    return c;
}

void
store_script_load_all(struct store_link *link)
{
    const char *load[3] = { "SCRIPT", "LOAD", NULL };
    size_t      i;

    for (i = 0; i < store_nscripts; i++) {
        load[2] = store_scripts[i]->source;
        (void)store_link_command(link, 3, load, NULL, on_script_loaded,
                                 store_scripts[i]);
    }
}
