/*
 * script_call.c - the typed calls of the scripts (script.h): each lays
 * its arguments out as KEYS then ARGV, in the order the script's text
 * (script.c) reads them, and runs it by SHA. The layouts are pure, so a
 * table-driven test holds them (tests/unit/test_script.c).
 */
#include "config.h"

#include "script.h"

#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

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
    argv_num(out, a->guard_ms);
    argv_num(out, a->deadline_ms);
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
    argv_num(out, a->guard_ms);
    argv_num(out, a->deadline_ms);
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
    argv_num(out, a->deadline_ms);
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

void
script_purge_argv(const struct script_purge_args *a, struct script_argv *out)
{
    int i;

    assert(a->nhashes >= 1 && a->nhashes <= 2);
    argv_start(out);
    for (i = 0; i < a->nhashes; i++) {
        argv_str(out, a->hashes[i]);
    }
    argv_str(out, a->epoch_key);
    argv_keys_done(out);
    argv_num(out, a->epoch_expire_ms);
}

void
script_purge_scan_argv(const struct script_purge_scan_args *a,
                       struct script_argv *out)
{
    argv_start(out);
    argv_str(out, a->epoch_key);
    argv_keys_done(out);
    argv_str(out, a->cursor);
    argv_str(out, a->match);
    argv_num(out, a->count);
    argv_str(out, a->base);
    argv_num(out, a->epoch_expire_ms);
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
script_marker(struct store *st, const char *key, store_cb cb, void *arg)
{
    size_t len = strlen(key);

    return store_eval(st, script_get(SCRIPT_ID_MARKER), 1, 1, &key, &len, cb,
                      arg);
}

struct store_op *
script_ping(struct store *st, store_cb cb, void *arg)
{
    return store_eval(st, script_get(SCRIPT_ID_PING), 0, 0, NULL, NULL, cb,
                      arg);
}

struct store_op *
script_ping_at(struct store *st, const char *key, store_cb cb, void *arg)
{
    size_t len = strlen(key);

    return store_eval(st, script_get(SCRIPT_ID_PING), 1, 1, &key, &len, cb,
                      arg);
}

struct store_op *
script_purge(struct store *st, const struct script_purge_args *a, store_cb cb,
             void *arg)
{
    struct script_argv v;

    script_purge_argv(a, &v);
    return script_run(st, SCRIPT_ID_PURGE, &v, cb, arg);
}

struct store_op *
script_purge_scan(struct store *st, const struct script_purge_scan_args *a,
                  store_cb cb, void *arg)
{
    struct script_argv v;

    script_purge_scan_argv(a, &v);
    return script_run(st, SCRIPT_ID_PURGE_SCAN, &v, cb, arg);
}
