/*
 * script_reply.c - the parsers of the scripts' replies (script.h): each
 * reply read once, into a verdict and its values, by pure code that a
 * table-driven test feeds hand-built replies (tests/unit/test_script.c).
 */
#include "config.h"

#include "script.h"

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include <hiredis/hiredis.h>

/* ---- the replies -------------------------------------------------------- */

/* A verdict string the scripts answer, and what it means. */
struct script_word {
    const char *word;
    int         verdict;
};

static const struct script_word lookup_words[] = {
    { "hit", SCRIPT_LOOKUP_HIT },
    { "none", SCRIPT_LOOKUP_NONE },
    { "lead", SCRIPT_LOOKUP_LEAD },
    { "wait", SCRIPT_LOOKUP_WAIT },
    { "answer", SCRIPT_LOOKUP_ANSWER },
    { "late", SCRIPT_LOOKUP_LATE },
    { NULL, 0 }
};

/* LOCK answers only the last four. */
static const struct script_word lock_words[] = {
    { "lead", SCRIPT_LOOKUP_LEAD },
    { "wait", SCRIPT_LOOKUP_WAIT },
    { "answer", SCRIPT_LOOKUP_ANSWER },
    { "late", SCRIPT_LOOKUP_LATE },
    { NULL, 0 }
};

static const struct script_word claim_words[] = {
    { "claimed", SCRIPT_CLAIM_CLAIMED },
    { "done", SCRIPT_CLAIM_DONE },
    { "busy", SCRIPT_CLAIM_BUSY },
    { "mismatch", SCRIPT_CLAIM_MISMATCH },
    { "late", SCRIPT_CLAIM_LATE },
    { NULL, 0 }
};

/*
 * The verdict of WORDS that the string reply E spells (byte for byte),
 * or UNKNOWN.
 */
static int
script_word_find(const struct script_word *words, const redisReply *e,
                 int unknown)
{
    size_t i;

    if (e->type != REDIS_REPLY_STRING) {
        return unknown;
    }
    for (i = 0; words[i].word != NULL; i++) {
        if (e->len == strlen(words[i].word) &&
            memcmp(e->str, words[i].word, e->len) == 0) {
            return words[i].verdict;
        }
    }
    return unknown;
}

/* Whether REPLY is none at all: Redis failed (or an error got through). */
static bool
script_failed(const redisReply *reply)
{
    return reply == NULL || reply->type == REDIS_REPLY_ERROR;
}

static int
lookup_bad(struct script_lookup_result *out,
           enum script_lookup_verdict verdict)
{
    memset(out, 0, sizeof(*out));
    out->verdict = verdict;
    out->pttl = -1;
    return -1;
}

/* The part of OUT that EXTRA (the element after the verdict) gives. */
static int
lookup_extra(struct script_lookup_result *out, const redisReply *extra)
{
    if (out->verdict == SCRIPT_LOOKUP_WAIT && extra != NULL &&
        extra->type == REDIS_REPLY_INTEGER) {
        out->pttl = extra->integer;
    }
    if (out->verdict == SCRIPT_LOOKUP_ANSWER) {
        if (extra == NULL || extra->type != REDIS_REPLY_STRING) {
            return lookup_bad(out, SCRIPT_LOOKUP_MALFORMED);
        }
        out->answer = extra->str;
        out->answer_len = extra->len;
    }
    return 0;
}

int
script_lookup_reply(const redisReply *reply, struct script_lookup_result *out)
{
    const redisReply *const *e;

    if (script_failed(reply)) {
        return lookup_bad(out, SCRIPT_LOOKUP_FAILED);
    }
    lookup_bad(out, SCRIPT_LOOKUP_MALFORMED);
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 4) {
        return -1;
    }
    e = (const redisReply *const *)reply->element;
    out->verdict = script_word_find(lookup_words, e[3],
                                    SCRIPT_LOOKUP_MALFORMED);
    if (out->verdict == SCRIPT_LOOKUP_MALFORMED ||
        e[1]->type != REDIS_REPLY_STRING ||
        e[2]->type != REDIS_REPLY_STRING) {
        return lookup_bad(out, SCRIPT_LOOKUP_MALFORMED);
    }
    if (e[0]->type == REDIS_REPLY_STRING) {     /* else nil: no entry */
        out->entry = e[0]->str;
        out->entry_len = e[0]->len;
    }
    out->epoch = e[1]->str;
    out->epoch_len = e[1]->len;
    out->bgen = e[2]->str;
    out->bgen_len = e[2]->len;
    return lookup_extra(out, reply->elements > 4 ? e[4] : NULL);
}

int
script_lock_reply(const redisReply *reply, struct script_lookup_result *out)
{
    const redisReply *const *e;

    if (script_failed(reply)) {
        return lookup_bad(out, SCRIPT_LOOKUP_FAILED);
    }
    lookup_bad(out, SCRIPT_LOOKUP_MALFORMED);
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 1) {
        return -1;
    }
    e = (const redisReply *const *)reply->element;
    out->verdict = script_word_find(lock_words, e[0],
                                    SCRIPT_LOOKUP_MALFORMED);
    if (out->verdict == SCRIPT_LOOKUP_MALFORMED ||
        (out->verdict != SCRIPT_LOOKUP_LATE && reply->elements < 2)) {
        return lookup_bad(out, SCRIPT_LOOKUP_MALFORMED);
    }
    if (out->verdict == SCRIPT_LOOKUP_LATE) {
        return 0;
    }
    if (out->verdict == SCRIPT_LOOKUP_LEAD) {
        if (reply->elements != 3 || e[1]->type != REDIS_REPLY_STRING ||
            e[2]->type != REDIS_REPLY_STRING) {
            return lookup_bad(out, SCRIPT_LOOKUP_MALFORMED);
        }
        out->epoch = e[1]->str;
        out->epoch_len = e[1]->len;
        out->bgen = e[2]->str;
        out->bgen_len = e[2]->len;
    }
    return lookup_extra(out, e[1]);
}

int
script_idem_claim_reply(const redisReply *reply,
                        struct script_claim_result *out)
{
    const redisReply *const *e;
    size_t                   tail;      /* where Redis's time may be */

    memset(out, 0, sizeof(*out));
    out->redis_ms = -1;
    out->verdict = SCRIPT_CLAIM_FAILED;
    if (script_failed(reply)) {
        return -1;
    }
    out->verdict = SCRIPT_CLAIM_MALFORMED;
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 1) {
        return -1;
    }
    e = (const redisReply *const *)reply->element;
    out->verdict = script_word_find(claim_words, e[0],
                                    SCRIPT_CLAIM_MALFORMED);
    tail = 1;
    if (out->verdict == SCRIPT_CLAIM_DONE) {
        if (reply->elements < 2 || reply->elements > 3 ||
            e[1]->type != REDIS_REPLY_STRING ||
            (reply->elements == 3 && e[2]->type != REDIS_REPLY_INTEGER)) {
            out->verdict = SCRIPT_CLAIM_MALFORMED;
            return -1;
        }
        out->answer = e[1]->str;
        out->answer_len = e[1]->len;
        tail = 2;
    }
    if (reply->elements > tail && e[tail]->type == REDIS_REPLY_INTEGER) {
        out->redis_ms = e[tail]->integer;
    }
    return out->verdict == SCRIPT_CLAIM_MALFORMED ? -1 : 0;
}

/*
 * A 1-or-0 reply as an index into a verdict table laid out { FAILED,
 * MALFORMED, 0, 1 }.
 */
static size_t
script_flag(const redisReply *reply)
{
    if (script_failed(reply)) {
        return 0;
    }
    if (reply->type != REDIS_REPLY_INTEGER ||
        (reply->integer != 0 && reply->integer != 1)) {
        return 1;
    }
    return 2 + (size_t)reply->integer;
}

enum script_fill_verdict
script_fill_reply(const redisReply *reply)
{
    static const enum script_fill_verdict v[] = {
        SCRIPT_FILL_FAILED, SCRIPT_FILL_MALFORMED, SCRIPT_FILL_NOT_STORED,
        SCRIPT_FILL_STORED
    };

    return v[script_flag(reply)];
}

enum script_unlock_verdict
script_unlock_reply(const redisReply *reply)
{
    static const enum script_unlock_verdict v[] = {
        SCRIPT_UNLOCK_FAILED, SCRIPT_UNLOCK_MALFORMED,
        SCRIPT_UNLOCK_NOT_OURS, SCRIPT_UNLOCK_DROPPED
    };

    return v[script_flag(reply)];
}

enum script_complete_verdict
script_idem_complete_reply(const redisReply *reply)
{
    static const enum script_complete_verdict v[] = {
        SCRIPT_COMPLETE_FAILED, SCRIPT_COMPLETE_MALFORMED,
        SCRIPT_COMPLETE_LOST, SCRIPT_COMPLETE_STORED
    };

    return v[script_flag(reply)];
}

enum script_release_verdict
script_idem_release_reply(const redisReply *reply)
{
    static const enum script_release_verdict v[] = {
        SCRIPT_RELEASE_FAILED, SCRIPT_RELEASE_MALFORMED,
        SCRIPT_RELEASE_NOT_OURS, SCRIPT_RELEASE_RELEASED
    };

    return v[script_flag(reply)];
}

enum script_write_verdict
script_write_reply(const redisReply *reply, int64_t *epoch)
{
    *epoch = 0;
    if (script_failed(reply)) {
        return SCRIPT_WRITE_FAILED;
    }
    if (reply->type != REDIS_REPLY_INTEGER) {
        return SCRIPT_WRITE_MALFORMED;
    }
    *epoch = reply->integer;
    return SCRIPT_WRITE_DONE;
}

int
script_count_reply(const redisReply *reply, int64_t *n)
{
    if (script_failed(reply) || reply->type != REDIS_REPLY_INTEGER) {
        return -1;
    }
    *n = reply->integer;
    return 0;
}

int
script_purge_scan_reply(const redisReply *reply, char *cursor, size_t cap,
                        int64_t *n)
{
    const redisReply *c, *k;

    if (script_failed(reply) || reply->type != REDIS_REPLY_ARRAY ||
        reply->elements != 2) {
        return -1;
    }
    c = reply->element[0];
    k = reply->element[1];
    if (c->type != REDIS_REPLY_STRING || c->len == 0 || c->len >= cap ||
        strspn(c->str, "0123456789") != c->len ||
        k->type != REDIS_REPLY_INTEGER || k->integer < 0) {
        return -1;
    }
    memcpy(cursor, c->str, c->len + 1);
    *n = k->integer;
    return 0;
}
