/*
 * rerr.c - classifies Redis error replies (rerr.h), as Redis 7.0 writes
 * them (server.c, acl.c, cluster.c, script_lua.c). Pure: two tables and
 * comparisons, no I/O.
 */
#include "config.h"

#include "rerr.h"

#include <assert.h>
#include <string.h>
#include <strings.h>

/*
 * Error codes: matched against the whole first word (up to a space or
 * the end), so "OOMX" is not OOM. Redis writes them in upper case; they
 * are compared without case because proxies and older servers vary.
 */
static const struct {
    const char    *code;
    enum rerr_kind kind;
} rerr_codes[] = {
    { "WRONGPASS", RERR_AUTH },     { "NOAUTH", RERR_AUTH },
    { "NOPERM", RERR_NOPERM },      { "READONLY", RERR_READONLY },
    { "OOM", RERR_OOM },            { "MOVED", RERR_MOVED },
    { "ASK", RERR_MOVED },          { "CLUSTERDOWN", RERR_CLUSTER },
    { "CROSSSLOT", RERR_CLUSTER },  { "TRYAGAIN", RERR_CLUSTER },
    { "NOSCRIPT", RERR_NOSCRIPT },  { "BUSY", RERR_BUSY },
    { "LOADING", RERR_BUSY },       { "MASTERDOWN", RERR_BUSY },
};

/* Words inside an "ERR ..." reply, first match wins: what a script
 * wrapped comes first, then a refused password in words. */
static const struct {
    const char    *words;
    enum rerr_kind kind;
} rerr_words[] = {
    { "-OOM ", RERR_OOM },
    { "OOM command not allowed", RERR_OOM },
    { "-READONLY ", RERR_READONLY },
    { "-NOPERM ", RERR_NOPERM },
    { "invalid password", RERR_AUTH },
    { "invalid username-password", RERR_AUTH },
    { "without any password configured", RERR_AUTH },
    { "no password is set", RERR_AUTH },
    { "Error running script", RERR_SCRIPT },
    { "Error compiling script", RERR_SCRIPT },
    { "user_script", RERR_SCRIPT },
};

static const char *const rerr_names[RERR_KINDS] = {
    [RERR_AUTH] = "auth",         [RERR_NOPERM] = "noperm",
    [RERR_READONLY] = "readonly", [RERR_OOM] = "oom",
    [RERR_MOVED] = "moved",       [RERR_CLUSTER] = "cluster",
    [RERR_NOSCRIPT] = "noscript", [RERR_SCRIPT] = "script",
    [RERR_BUSY] = "busy",         [RERR_OTHER] = "other",
};

enum rerr_kind
rerr_classify(const char *text, size_t len)
{
    size_t word, i;

    if (len == 0) {
        return RERR_OTHER;
    }
    for (word = 0; word < len && text[word] != ' '; word++) {
        continue;
    }
    for (i = 0; i < sizeof(rerr_codes) / sizeof(rerr_codes[0]); i++) {
        if (strlen(rerr_codes[i].code) == word &&
            strncasecmp(text, rerr_codes[i].code, word) == 0) {
            return rerr_codes[i].kind;
        }
    }
    if (word != 3 || strncmp(text, "ERR", 3) != 0) {
        return RERR_OTHER;
    }
    for (i = 0; i < sizeof(rerr_words) / sizeof(rerr_words[0]); i++) {
        if (memmem(text, len, rerr_words[i].words,
                   strlen(rerr_words[i].words)) != NULL) {
            return rerr_words[i].kind;
        }
    }
    return RERR_OTHER;
}

const char *
rerr_name(enum rerr_kind kind)
{
    assert(kind >= 0 && kind < RERR_KINDS);
    return rerr_names[kind];
}
