/*
 * script.c - the cache's and the Idempotency-Key records' scripts: their
 * text, the typed calls that lay their KEYS and ARGV out, and the parsers
 * of their replies.
 *
 * No stale write (SPEC §4): every PATCH bumps the phone's epoch in the
 * same script that writes the new lead. A lookup reads the epoch with the
 * entry, and its fill only lands if the epoch is still the one it saw; so
 * a lookup that started before a PATCH and ends after it cannot put the
 * old lead back, on any instance. Blocks carry the tenant's generation in
 * their field name: bumping it on a booking hides every blocks answer of
 * the tenant at once, and the old fields expire with their hash.
 */
#include "config.h"

#include "script.h"

#include <assert.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include <hiredis/hiredis.h>

/*
 * The lookup takes the fetch lock in the same trip when the entry will
 * not do (missing, expired, or older than the client's max-age): a miss
 * costs one round trip fewer. Freshness is judged here as cache.c judges
 * it, from the entry's header ("hsp1 <status> <stored_ms> <ttl_ms> ...")
 * and the proxy's clock (ARGV[3]).
 */
static struct store_script lookup_script = {
    "lookup",
    "local g, f = '', ARGV[1]\n"
    "if ARGV[2] == '1' then\n"
    "  g = redis.call('GET', KEYS[3]) or ''\n"
    "  f = 'g' .. g .. ':' .. f\n"
    "end\n"
    "local e = redis.call('HGET', KEYS[1], f)\n"
    "local ep = redis.call('GET', KEYS[2]) or ''\n"
    "if e then\n"
    "  local st, ttl = string.match(e, '^hsp1 %d+ (%d+) (%d+) ')\n"
    "  if st then\n"
    "    local now, age = tonumber(ARGV[3]), tonumber(ARGV[4])\n"
    "    st = tonumber(st)\n"
    "    if st + tonumber(ttl) > now and\n"
    "       (age < 0 or math.floor((now - st) / 1000) <= age) then\n"
    "      return { e, ep, g, 'hit' }\n"
    "    end\n"
    "  end\n"
    "end\n"
    "if ARGV[5] == '' then return { e, ep, g, 'none' } end\n"
    "local v = redis.call('GET', KEYS[4])\n"
    "if v then\n"
    "  local t = string.sub(v, 1, 1)\n"
    "  if t == 'L' then\n"
    "    redis.call('SET', KEYS[4], 'W' .. string.sub(v, 2), 'KEEPTTL')\n"
    "  end\n"
    "  if t == 'L' or t == 'W' then\n"
    "    return { e, ep, g, 'wait', redis.call('PTTL', KEYS[4]) }\n"
    "  end\n"
    "  local nl = string.find(v, '\\n', 1, true)\n"
    "  if ARGV[7] == '1' and nl and\n"
    "     string.sub(v, 2, nl - 1) == ep .. ':' .. g then\n"
    "    return { e, ep, g, 'answer', string.sub(v, nl + 1) }\n"
    "  end\n"
    "end\n"
    "redis.call('SET', KEYS[4], 'L' .. ARGV[5], 'PX', ARGV[6])\n"
    "return { e, ep, g, 'lead' }\n",
    ""
};

static struct store_script fill_script = {
    "fill",
    "local ok = (redis.call('GET', KEYS[2]) or '') == ARGV[4]\n"
    "local f = ARGV[1]\n"
    "if ok and ARGV[5] == '1' then\n"
    "  local g = redis.call('GET', KEYS[3]) or ''\n"
    "  if g ~= ARGV[6] then ok = false end\n"
    "  f = 'g' .. g .. ':' .. f\n"
    "end\n"
    "local stored = 0\n"
    "if ok and ARGV[7] == '1' then\n"
    "  redis.call('HSET', KEYS[1], f, ARGV[2])\n"
    "  local want = tonumber(ARGV[3])\n"
    "  if redis.call('PTTL', KEYS[1]) < want then\n"
    "    redis.call('PEXPIRE', KEYS[1], want)\n"
    "  end\n"
    "  stored = 1\n"
    "end\n"
    "local l = ARGV[8] ~= '' and redis.call('GET', KEYS[4])\n"
    "local t = l and string.sub(l, 2) == ARGV[8] and string.sub(l, 1, 1)\n"
    "if t == 'W' and ok then\n"
    "  redis.call('SET', KEYS[4], 'A' .. ARGV[4] .. ':' .. ARGV[6] .. '\\n'\n"
    "             .. ARGV[2], 'PX', ARGV[9])\n"
    "elseif t == 'L' or t == 'W' then\n"
    "  redis.call('DEL', KEYS[4])\n"
    "end\n"
    "if t == 'W' then\n"
    "  redis.call('PUBLISH', ARGV[10], KEYS[4])\n"
    "end\n"
    "return stored\n",
    ""
};

/*
 * The fetch lock of one entry (SPEC §6): "L<owner>" while a request
 * fetches, with a lease; then, for a short while, "A<epoch>:<bgen>\n" and
 * the answer it got, for the requests that waited. A handed answer only
 * counts while the epoch and blocks generation it was fetched under are
 * current: after a PATCH it is nobody's answer. The waiters learn of the
 * change from a message on the wake channel naming the lock.
 *
 * Why "W<owner>": every worker of every instance subscribes to the wake
 * channel, so a message per fill would wake the whole fleet on every
 * miss. A request that finds the lock taken and will wait turns its "L"
 * into "W" (same owner, same lease) in the script that tells it to wait;
 * the fill or unlock publishes, and the fill hands its answer over in
 * the lock, only for a "W": with no one waiting the lock is just
 * deleted. Both are scripts, so a waiter either marks the lock before
 * the fill reads it or finds the fill's entry (or no lock, and fetches).
 */
static struct store_script lock_script = {
    "lock",
    "local ep = redis.call('GET', KEYS[2]) or ''\n"
    "local g = ''\n"
    "if ARGV[3] == '1' then g = redis.call('GET', KEYS[3]) or '' end\n"
    "local v = redis.call('GET', KEYS[1])\n"
    "if v then\n"
    "  local t = string.sub(v, 1, 1)\n"
    "  if t == 'L' then\n"
    "    redis.call('SET', KEYS[1], 'W' .. string.sub(v, 2), 'KEEPTTL')\n"
    "  end\n"
    "  if t == 'L' or t == 'W' then\n"
    "    return { 'wait', redis.call('PTTL', KEYS[1]) }\n"
    "  end\n"
    "  local nl = string.find(v, '\\n', 1, true)\n"
    "  if ARGV[4] == '1' and nl and\n"
    "     string.sub(v, 2, nl - 1) == ep .. ':' .. g then\n"
    "    return { 'answer', string.sub(v, nl + 1) }\n"
    "  end\n"
    "end\n"
    "redis.call('SET', KEYS[1], 'L' .. ARGV[1], 'PX', ARGV[2])\n"
    "return { 'lead', ep, g }\n",
    ""
};

static struct store_script unlock_script = {
    "unlock",
    "local v = redis.call('GET', KEYS[1])\n"
    "if v == 'L' .. ARGV[1] or v == 'W' .. ARGV[1] then\n"
    "  redis.call('DEL', KEYS[1])\n"
    "  if string.sub(v, 1, 1) == 'W' then\n"
    "    redis.call('PUBLISH', ARGV[2], KEYS[1])\n"
    "  end\n"
    "  return 1\n"
    "end\n"
    "return 0\n",
    ""
};

static struct store_script write_script = {
    "write",
    "local e = redis.call('INCR', KEYS[2])\n"
    "redis.call('PEXPIRE', KEYS[2], ARGV[4])\n"
    "redis.call('DEL', KEYS[1], KEYS[3])\n"
    "if ARGV[1] ~= '' then\n"
    "  redis.call('HSET', KEYS[1], 'q', ARGV[1])\n"
    "  redis.call('PEXPIRE', KEYS[1], ARGV[2])\n"
    "end\n"
    "if ARGV[3] == '1' then\n"
    "  redis.call('INCR', KEYS[4])\n"
    "  redis.call('PEXPIRE', KEYS[4], ARGV[4])\n"
    "end\n"
    "return e\n",
    ""
};

/*
 * A claim is one script, so two instances racing for one key cannot both
 * see it free: one claims, the other sees "busy". The fingerprint is
 * compared first: a different request under a used key is the caller's
 * mistake (422) whether or not the first is still in flight. A record
 * whose owner died (SIGKILL) expires with its lease; a completion or
 * release only touches the record if it still carries the caller's owner
 * id, so a late finisher cannot clobber a newer claim. A completion whose
 * lease expired unclaimed still stores its answer: the upstream did act.
 */
static struct store_script idem_claim_script = {
    "idem_claim",
    "local r = redis.call('HMGET', KEYS[1], 'fp', 'resp')\n"
    "if not r[1] then\n"
    "  redis.call('DEL', KEYS[1])\n"
    "  redis.call('HSET', KEYS[1], 'fp', ARGV[1], 'owner', ARGV[2])\n"
    "  redis.call('PEXPIRE', KEYS[1], ARGV[3])\n"
    "  return { 'claimed' }\n"
    "end\n"
    "if r[1] ~= ARGV[1] then return { 'mismatch' } end\n"
    "if r[2] then return { 'done', r[2] } end\n"
    "return { 'busy' }\n",
    ""
};

static struct store_script idem_complete_script = {
    "idem_complete",
    "if redis.call('EXISTS', KEYS[1]) == 1 and\n"
    "   redis.call('HGET', KEYS[1], 'owner') ~= ARGV[1] then\n"
    "  return 0\n"
    "end\n"
    "redis.call('DEL', KEYS[1])\n"
    "redis.call('HSET', KEYS[1], 'fp', ARGV[2], 'resp', ARGV[3])\n"
    "redis.call('PEXPIRE', KEYS[1], ARGV[4])\n"
    "return 1\n",
    ""
};

static struct store_script idem_release_script = {
    "idem_release",
    "if redis.call('HGET', KEYS[1], 'owner') == ARGV[1] then\n"
    "  redis.call('DEL', KEYS[1])\n"
    "  return 1\n"
    "end\n"
    "return 0\n",
    ""
};

static struct store_script ping_script = {
    "ping",
    "return 1\n",
    ""
};


/*
 * Every script, in the order store.c loads them on each connect. Their
 * SHAs are computed once, before main runs (script_at_start): store.c
 * sends SCRIPT LOAD for the scripts registered when a connection comes
 * up, and its list is shared by the worker threads, so it must be
 * complete before the first of them starts. pthread_once makes the
 * other ways in (script_get, before any constructor ran) safe as well.
 */
static struct store_script *const script_table[SCRIPT_ID_COUNT] = {
    [SCRIPT_ID_LOOKUP] = &lookup_script,
    [SCRIPT_ID_FILL] = &fill_script,
    [SCRIPT_ID_LOCK] = &lock_script,
    [SCRIPT_ID_PING] = &ping_script,
    [SCRIPT_ID_UNLOCK] = &unlock_script,
    [SCRIPT_ID_WRITE] = &write_script,
    [SCRIPT_ID_IDEM_CLAIM] = &idem_claim_script,
    [SCRIPT_ID_IDEM_COMPLETE] = &idem_complete_script,
    [SCRIPT_ID_IDEM_RELEASE] = &idem_release_script,
};

static pthread_once_t script_once = PTHREAD_ONCE_INIT;

static void
script_init_all(void)
{
    size_t i;

    for (i = 0; i < SCRIPT_ID_COUNT; i++) {
        store_script_init(script_table[i]);
    }
}

static void script_at_start(void) __attribute__((constructor));

static void
script_at_start(void)
{
    int rc = pthread_once(&script_once, script_init_all);

    assert(rc == 0);
    (void)rc;
}

struct store_script *
script_get(enum script_id id)
{
    assert((unsigned)id < SCRIPT_ID_COUNT);
    script_at_start();
    return script_table[id];
}

/* ---- the calls ---------------------------------------------------------- */

static void
argv_start(struct script_argv *o)
{
    memset(o, 0, sizeof(*o));
}

static void
argv_bytes(struct script_argv *o, const char *s, size_t len)
{
    assert(o->argc < SCRIPT_ARGV_MAX && s != NULL);
    o->argv[o->argc] = s;
    o->lens[o->argc] = len;
    o->argc++;
}

/* A string argument; NULL sends "". */
static void
argv_str(struct script_argv *o, const char *s)
{
    if (s == NULL) {
        s = "";
    }
    argv_bytes(o, s, strlen(s));
}

static void
argv_bool(struct script_argv *o, bool b)
{
    argv_str(o, b ? "1" : "0");
}

static void
argv_num(struct script_argv *o, int64_t n)
{
    char *buf;
    int   len;

    assert(o->nnums < SCRIPT_NUMS_MAX);
    buf = o->nums[o->nnums++];
    len = snprintf(buf, SCRIPT_NUM_LEN, "%" PRId64, n);
    assert(len > 0 && len < SCRIPT_NUM_LEN);
    argv_bytes(o, buf, (size_t)len);
}

/* The keys are in: the arguments follow. */
static void
argv_keys_done(struct script_argv *o)
{
    o->nkeys = o->argc;
}

void
script_lookup_argv(const struct script_lookup_args *a,
                   struct script_argv *out)
{
    argv_start(out);
    argv_str(out, a->hash);
    argv_str(out, a->epoch_key);
    argv_str(out, a->is_blocks ? a->bgen_key : a->epoch_key);
    argv_str(out, a->lock_key);
    argv_keys_done(out);
    argv_str(out, a->field);
    argv_bool(out, a->is_blocks);
    argv_num(out, a->now_ms);
    argv_num(out, a->max_age_s);
    argv_str(out, a->owner);
    argv_num(out, a->lease_ms);
    argv_bool(out, a->take_answer);
}

void
script_lock_argv(const struct script_lock_args *a, struct script_argv *out)
{
    argv_start(out);
    argv_str(out, a->lock_key);
    argv_str(out, a->epoch_key);
    argv_str(out, a->is_blocks ? a->bgen_key : a->epoch_key);
    argv_keys_done(out);
    argv_str(out, a->owner);
    argv_num(out, a->lease_ms);
    argv_bool(out, a->is_blocks);
    argv_bool(out, a->take_answer);
}

void
script_fill_argv(const struct script_fill_args *a, struct script_argv *out)
{
    argv_start(out);
    argv_str(out, a->hash);
    argv_str(out, a->epoch_key);
    argv_str(out, a->is_blocks ? a->bgen_key : a->epoch_key);
    argv_str(out, a->lock_key);
    argv_keys_done(out);
    argv_str(out, a->field);
    argv_bytes(out, a->value, a->value_len);
    argv_num(out, a->expire_ms);
    argv_str(out, a->epoch);
    argv_bool(out, a->is_blocks);
    argv_str(out, a->bgen);
    argv_bool(out, a->store);
    argv_str(out, a->owner);
    argv_num(out, a->answer_ms);
    argv_str(out, a->channel);
}

void
script_unlock_argv(const struct script_unlock_args *a,
                   struct script_argv *out)
{
    argv_start(out);
    argv_str(out, a->lock_key);
    argv_keys_done(out);
    argv_str(out, a->owner);
    argv_str(out, a->channel);
}

void
script_write_argv(const struct script_write_args *a, struct script_argv *out)
{
    argv_start(out);
    argv_str(out, a->hash);
    argv_str(out, a->epoch_key);
    argv_str(out, a->blocks_hash);
    argv_str(out, a->bgen_key);
    argv_keys_done(out);
    if (a->value != NULL) {
        argv_bytes(out, a->value, a->value_len);
    } else {
        argv_str(out, "");      /* the script keeps no lead */
    }
    argv_num(out, a->expire_ms);
    argv_bool(out, a->drop_blocks);
    argv_num(out, a->epoch_expire_ms);
}

void
script_idem_claim_argv(const struct script_idem_claim_args *a,
                       struct script_argv *out)
{
    argv_start(out);
    argv_str(out, a->record);
    argv_keys_done(out);
    argv_str(out, a->fingerprint);
    argv_str(out, a->owner);
    argv_num(out, a->lease_ms);
}

void
script_idem_complete_argv(const struct script_idem_complete_args *a,
                          struct script_argv *out)
{
    argv_start(out);
    argv_str(out, a->record);
    argv_keys_done(out);
    argv_str(out, a->owner);
    argv_str(out, a->fingerprint);
    argv_bytes(out, a->answer, a->answer_len);
    argv_num(out, a->ttl_ms);
}

void
script_idem_release_argv(const struct script_idem_release_args *a,
                         struct script_argv *out)
{
    argv_start(out);
    argv_str(out, a->record);
    argv_keys_done(out);
    argv_str(out, a->owner);
}

static struct store_op *
script_run(struct store *st, enum script_id id, const struct script_argv *v,
           store_cb cb, void *arg)
{
    return store_eval(st, script_get(id), v->nkeys, v->argc, v->argv,
                      v->lens, cb, arg);
}

struct store_op *
script_lookup(struct store *st, const struct script_lookup_args *a,
              store_cb cb, void *arg)
{
    struct script_argv v;

    script_lookup_argv(a, &v);
    return script_run(st, SCRIPT_ID_LOOKUP, &v, cb, arg);
}

struct store_op *
script_lock(struct store *st, const struct script_lock_args *a, store_cb cb,
            void *arg)
{
    struct script_argv v;

    script_lock_argv(a, &v);
    return script_run(st, SCRIPT_ID_LOCK, &v, cb, arg);
}

struct store_op *
script_fill(struct store *st, const struct script_fill_args *a, store_cb cb,
            void *arg)
{
    struct script_argv v;

    script_fill_argv(a, &v);
    return script_run(st, SCRIPT_ID_FILL, &v, cb, arg);
}

struct store_op *
script_unlock(struct store *st, const struct script_unlock_args *a,
              store_cb cb, void *arg)
{
    struct script_argv v;

    script_unlock_argv(a, &v);
    return script_run(st, SCRIPT_ID_UNLOCK, &v, cb, arg);
}

struct store_op *
script_write(struct store *st, const struct script_write_args *a,
             store_cb cb, void *arg)
{
    struct script_argv v;

    script_write_argv(a, &v);
    return script_run(st, SCRIPT_ID_WRITE, &v, cb, arg);
}

struct store_op *
script_idem_claim(struct store *st, const struct script_idem_claim_args *a,
                  store_cb cb, void *arg)
{
    struct script_argv v;

    script_idem_claim_argv(a, &v);
    return script_run(st, SCRIPT_ID_IDEM_CLAIM, &v, cb, arg);
}

struct store_op *
script_idem_complete(struct store *st,
                     const struct script_idem_complete_args *a, store_cb cb,
                     void *arg)
{
    struct script_argv v;

    script_idem_complete_argv(a, &v);
    return script_run(st, SCRIPT_ID_IDEM_COMPLETE, &v, cb, arg);
}

struct store_op *
script_idem_release(struct store *st,
                    const struct script_idem_release_args *a, store_cb cb,
                    void *arg)
{
    struct script_argv v;

    script_idem_release_argv(a, &v);
    return script_run(st, SCRIPT_ID_IDEM_RELEASE, &v, cb, arg);
}

struct store_op *
script_ping(struct store *st, store_cb cb, void *arg)
{
    return store_eval(st, script_get(SCRIPT_ID_PING), 0, 0, NULL, NULL, cb,
                      arg);
}

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
    { NULL, 0 }
};

/* LOCK answers only the last three. */
static const struct script_word lock_words[] = {
    { "lead", SCRIPT_LOOKUP_LEAD },
    { "wait", SCRIPT_LOOKUP_WAIT },
    { "answer", SCRIPT_LOOKUP_ANSWER },
    { NULL, 0 }
};

static const struct script_word claim_words[] = {
    { "claimed", SCRIPT_CLAIM_CLAIMED },
    { "done", SCRIPT_CLAIM_DONE },
    { "busy", SCRIPT_CLAIM_BUSY },
    { "mismatch", SCRIPT_CLAIM_MISMATCH },
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
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 2) {
        return -1;
    }
    e = (const redisReply *const *)reply->element;
    out->verdict = script_word_find(lock_words, e[0],
                                    SCRIPT_LOOKUP_MALFORMED);
    if (out->verdict == SCRIPT_LOOKUP_MALFORMED) {
        return -1;
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

    memset(out, 0, sizeof(*out));
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
    if (out->verdict == SCRIPT_CLAIM_DONE) {
        if (reply->elements != 2 || e[1]->type != REDIS_REPLY_STRING) {
            out->verdict = SCRIPT_CLAIM_MALFORMED;
            return -1;
        }
        out->answer = e[1]->str;
        out->answer_len = e[1]->len;
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
