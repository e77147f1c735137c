/*
 * store_err.c - error replies from Redis: kinds, counts, logs and the
 * last one for /readyz (store_err.h).
 *
 * A reply's kind is its first word (Redis's error code) when it is one
 * Redis defines; an "ERR ..." reply is read further, because scripts
 * wrap what redis.call met ("ERR Error running script ...: -OOM ...")
 * and old servers say a wrong password in words.
 */
#include "config.h"

#include "store_err.h"

#include <stdatomic.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "lograte.h"
#include "stats.h"

#define STORE_ERR_SHOW_MAX 200      /* bytes of a reply's text logged */

_Static_assert(STATS_RERR_OTHER - STATS_RERR_AUTH + 1 == STORE_ERR_COUNT,
               "stats.h lists every kind, in this order");

static const struct {
    const char *name;
    bool        degrades;
} store_err_kinds[STORE_ERR_COUNT] = {
    [STORE_ERR_AUTH] = { "auth", true },
    [STORE_ERR_NOPERM] = { "noperm", true },
    [STORE_ERR_READONLY] = { "readonly", true },
    [STORE_ERR_OOM] = { "oom", true },
    [STORE_ERR_MOVED] = { "moved", true },
    [STORE_ERR_CLUSTER] = { "cluster", true },
    [STORE_ERR_NOSCRIPT] = { "noscript", false },
    [STORE_ERR_SCRIPT] = { "script", true },
    [STORE_ERR_BUSY] = { "busy", true },
    [STORE_ERR_OTHER] = { "other", true },
};

/* Error codes: a reply's first word. */
static const struct {
    const char         *code;
    enum store_err_kind kind;
} store_err_codes[] = {
    { "WRONGPASS", STORE_ERR_AUTH },     { "NOAUTH", STORE_ERR_AUTH },
    { "NOPERM", STORE_ERR_NOPERM },      { "READONLY", STORE_ERR_READONLY },
    { "OOM", STORE_ERR_OOM },            { "MOVED", STORE_ERR_MOVED },
    { "ASK", STORE_ERR_MOVED },          { "CLUSTERDOWN", STORE_ERR_CLUSTER },
    { "CROSSSLOT", STORE_ERR_CLUSTER },  { "TRYAGAIN", STORE_ERR_CLUSTER },
    { "NOSCRIPT", STORE_ERR_NOSCRIPT },  { "BUSY", STORE_ERR_BUSY },
    { "LOADING", STORE_ERR_BUSY },       { "MASTERDOWN", STORE_ERR_BUSY },
};

/* Words inside an "ERR ..." reply, first match wins. */
static const struct {
    const char         *words;
    enum store_err_kind kind;
} store_err_words[] = {
    { "-OOM ", STORE_ERR_OOM },
    { "OOM command not allowed", STORE_ERR_OOM },
    { "-READONLY ", STORE_ERR_READONLY },
    { "-NOPERM ", STORE_ERR_NOPERM },
    { "invalid password", STORE_ERR_AUTH },
    { "invalid username-password", STORE_ERR_AUTH },
    { "without any password configured", STORE_ERR_AUTH },
    { "no password is set", STORE_ERR_AUTH },
    { "Error running script", STORE_ERR_SCRIPT },
    { "Error compiling script", STORE_ERR_SCRIPT },
    { "user_script", STORE_ERR_SCRIPT },
};

static _Atomic uint64_t store_err_last_packed; /* (ms << 4) | kind; 0: none */
static struct lograte   store_err_logs[STORE_ERR_COUNT];

enum store_err_kind
store_err_classify(const char *msg)
{
    size_t i, n;

    if (msg == NULL) {
        return STORE_ERR_OTHER;
    }
    n = strcspn(msg, " ");
    for (i = 0; i < sizeof(store_err_codes) / sizeof(store_err_codes[0]);
         i++) {
        if (strlen(store_err_codes[i].code) == n &&
            strncmp(msg, store_err_codes[i].code, n) == 0) {
            return store_err_codes[i].kind;
        }
    }
    if (n != 3 || strncmp(msg, "ERR", 3) != 0) {
        return STORE_ERR_OTHER;
    }
    for (i = 0; i < sizeof(store_err_words) / sizeof(store_err_words[0]);
         i++) {
        if (strstr(msg, store_err_words[i].words) != NULL) {
            return store_err_words[i].kind;
        }
    }
    return STORE_ERR_OTHER;
}

const char *
store_err_name(enum store_err_kind kind)
{
    return kind < STORE_ERR_COUNT ? store_err_kinds[kind].name : "other";
}

bool
store_err_degrades(enum store_err_kind kind)
{
    return kind < STORE_ERR_COUNT && store_err_kinds[kind].degrades;
}

void
store_err_note(enum store_err_kind kind, const char *what, const char *msg)
{
    struct timespec ts;
    int64_t         now_ms;
    uint64_t        held = 0;

    clock_gettime(CLOCK_REALTIME, &ts);
    now_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;

    if (kind >= STORE_ERR_COUNT) {
        kind = STORE_ERR_OTHER;
    }
    stats_add((enum stats_counter)(STATS_RERR_AUTH + kind), 1);
    if (store_err_kinds[kind].degrades) {
        atomic_store_explicit(&store_err_last_packed,
                              ((uint64_t)(now_ms > 0 ? now_ms : 1) << 4) |
                                  (uint64_t)kind,
                              memory_order_relaxed);
    }
    if (lograte_allow(&store_err_logs[kind], lograte_now_ms(),
                      LOGRATE_PERIOD_MS, &held)) {
        log_warn("store: redis answered %s with an error (%s): %.*s "
                 "(%llu more of this kind not logged)", what,
                 store_err_kinds[kind].name, STORE_ERR_SHOW_MAX,
                 msg != NULL ? msg : "?", (unsigned long long)held);
    }
}

bool
store_err_last(enum store_err_kind *kind, int64_t *ms)
{
    uint64_t v = atomic_load_explicit(&store_err_last_packed,
                                      memory_order_relaxed);

    if (v == 0) {
        return false;
    }
    *kind = (enum store_err_kind)(v & 0xf);
    *ms = (int64_t)(v >> 4);
    return true;
}
