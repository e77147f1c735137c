/*
 * rerr.c - classifies Redis error replies by their first word, as Redis
 * 7.0 writes them (server.c, acl.c, cluster.c). Pure: a table and a
 * comparison, no I/O.
 */
#include "config.h"

#include "rerr.h"

#include <assert.h>
#include <string.h>
#include <strings.h>

struct rerr_word {
    const char     *word;           /* first word, upper case */
    enum rerr_kind  kind;
};

/*
 * Matched against the whole first word (up to a space or the end), so
 * "OOMX" is not OOM. Redis writes them in upper case; we compare without
 * case because proxies and older servers vary.
 */
static const struct rerr_word words[] = {
    { "WRONGPASS", RERR_AUTH },     /* AUTH user pass: ACL refused */
    { "NOAUTH", RERR_AUTH },        /* a command before AUTH */
    { "NOPERM", RERR_NOPERM },
    { "READONLY", RERR_READONLY },
    { "OOM", RERR_OOM },
    { "MOVED", RERR_MOVED },
    { "ASK", RERR_MOVED },
    { "TRYAGAIN", RERR_MOVED },
    { "CLUSTERDOWN", RERR_MOVED },
    { "CROSSSLOT", RERR_MOVED },
    { "NOSCRIPT", RERR_NOSCRIPT },
    { "BUSY", RERR_BUSY },
    { "LOADING", RERR_BUSY },
    { "MASTERDOWN", RERR_BUSY },
};

/* Texts that carry a generic first word (ERR) but mean a refused AUTH. */
static const char *const auth_phrases[] = {
    "ERR invalid password",         /* Redis < 6 with requirepass */
    "ERR invalid username-password pair",
    "ERR AUTH <password> called without any password configured",
    "ERR Client sent AUTH, but no password is set",
};

static const char *const names[RERR_KINDS] = {
    [RERR_AUTH] = "auth",
    [RERR_NOPERM] = "noperm",
    [RERR_READONLY] = "readonly",
    [RERR_OOM] = "oom",
    [RERR_MOVED] = "moved",
    [RERR_NOSCRIPT] = "noscript",
    [RERR_BUSY] = "busy",
    [RERR_OTHER] = "other",
};

/* Whether the LEN bytes at TEXT begin with PREFIX, ignoring case. */
static int
has_prefix(const char *text, size_t len, const char *prefix)
{
    size_t n = strlen(prefix);

    return len >= n && strncasecmp(text, prefix, n) == 0;
}

enum rerr_kind
rerr_classify(const char *text, size_t len)
{
    size_t word;
    size_t i;

    if (len == 0) {
        return RERR_OTHER;
    }
    for (word = 0; word < len && text[word] != ' '; word++) {
        continue;
    }
    for (i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
        if (strlen(words[i].word) == word &&
            strncasecmp(text, words[i].word, word) == 0) {
            return words[i].kind;
        }
    }
    for (i = 0; i < sizeof(auth_phrases) / sizeof(auth_phrases[0]); i++) {
        if (has_prefix(text, len, auth_phrases[i])) {
            return RERR_AUTH;
        }
    }
    return RERR_OTHER;
}

const char *
rerr_name(enum rerr_kind kind)
{
    assert(kind >= 0 && kind < RERR_KINDS);
    return names[kind];
}
