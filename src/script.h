/*
 * script.h - the Redis-side scripts of the cache and of Idempotency-Key
 * records (SPEC §3, §4, §5): one typed call and one reply parser each.
 * Each script runs atomically in Redis, touching only keys of one tenant
 * (one hash tag). The module owns the scripts and sets them up itself.
 *
 * LOOKUP  KEYS: hash, epoch, bgen, lock
 *         ARGV: field, is_blocks, now_ms, max_age_s (-1: none), owner
 *               ("" for no lock), lease_ms, take a handed answer (0/1),
 *               guard_ms (the TTL of a guard it makes), deadline_ms
 *               (Redis's clock; 0: none)
 *   -> { entry or nil, epoch, blocks generation or "", verdict }
 *      (a missing epoch or, for blocks, generation is made: script.c)
 *      verdict "hit" (the entry will do), "none" (no lock asked), or the
 *      LOCK verdicts below ("lead", "wait" + pttl, "answer" + entry,
 *      "late")
 * LOCK    KEYS: lock, epoch, bgen   ARGV: owner, lease_ms, is_blocks,
 *                                         take a handed answer (0/1),
 *                                         guard_ms, deadline_ms
 *   -> { "lead", epoch, bgen } | { "wait", pttl } | { "answer", entry } |
 *      { "late" } (past the deadline: no lock taken, nothing read)
 * FILL    KEYS: hash, epoch, bgen, lock
 *         ARGV: field, value, expire_ms, epoch seen, is_blocks, bgen seen,
 *               store (0/1), owner or "", answer_ms, wake channel
 *   -> 1 stored, 0 not (not asked, a PATCH came in between, or the
 *      guard read with the entry is gone, so nothing proves it). With an
 *      owner still holding the lock, the value is handed to the waiters
 *      (or the lock dropped after a PATCH) and the channel told.
 * UNLOCK  KEYS: lock   ARGV: owner, wake channel   -> 1 dropped, 0 not ours
 * WRITE   KEYS: lead hash, epoch, blocks hash, bgen
 *         ARGV: value or "", expire_ms, drop tenant blocks (0/1),
 *               epoch_expire_ms
 *   -> 1 (the epoch, and with drop the generation, raised)
 *
 * The Idempotency-Key record (SPEC §5), a hash: fp (the fingerprint),
 * owner (the claim's random id, while in flight), resp (the stored answer,
 * once completed). Its TTL is the lease while in flight, then
 * idempotency_ttl.
 * IDEM_CLAIM    KEYS: record   ARGV: fingerprint, owner, lease_ms,
 *                                deadline_ms (Redis's clock; 0: none)
 *   -> { "claimed", now } | { "done", answer, now } | { "busy", now } |
 *      { "mismatch", now } | { "late", now }: NOW is Redis's clock, ms
 * IDEM_COMPLETE KEYS: record   ARGV: owner, fingerprint, answer, ttl_ms
 *   -> 1 stored, 0 the claim was lost (expired and claimed again)
 * IDEM_RELEASE  KEYS: record   ARGV: owner
 *   -> 1 released, 0 not ours any more
 *
 * PURGE       KEYS: the hashes dropped, then the epoch raised
 *             ARGV: epoch_expire_ms   -> the number of entries dropped
 * PURGE_SCAN  KEYS: the tenant's epoch   ARGV: cursor, MATCH pattern,
 *             COUNT, the tenant's key prefix, epoch_expire_ms
 *   -> { next cursor, entries dropped }: one SCAN step over the tenant's
 *      keys; "0" when the scan is done
 *
 * That order of KEYS and ARGV, and the scripts' text, are a contract with
 * every proxy sharing the Redis: old and new instances run side by side
 * during a deploy, so neither changes. A script that must change gets a
 * new name (and so a new SHA) instead.
 */
#ifndef HSP_SCRIPT_H
#define HSP_SCRIPT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"

struct redisReply;

/* ---- the calls ---------------------------------------------------------- */

/* Up to 4 keys and 10 arguments (FILL), and room for their numbers. */
#define SCRIPT_ARGV_MAX 14
#define SCRIPT_NUMS_MAX 5
#define SCRIPT_NUM_LEN  24

/*
 * A call's KEYS then ARGV, as store_eval takes them. ARGV may point into
 * NUMS, so use the struct where it was filled, never a copy of it.
 */
struct script_argv {
    int         nkeys;
    int         argc;                   /* keys and arguments */
    int         nnums;                  /* NUMS used */
    const char *argv[SCRIPT_ARGV_MAX];  /* borrowed from the args, or NUMS */
    size_t      lens[SCRIPT_ARGV_MAX];
    char        nums[SCRIPT_NUMS_MAX][SCRIPT_NUM_LEN]; /* decimal numbers */
};

/*
 * The arguments of each script, by name. Strings are borrowed for the
 * call (store_eval copies them) and NUL-terminated unless they come with
 * a length. KEYS[3] of LOOKUP, LOCK and FILL is the tenant's blocks
 * generation for a blocks entry and the phone's epoch again otherwise, as
 * the proxy has always sent it: BGEN_KEY may be NULL without IS_BLOCKS.
 */
struct script_lookup_args {
    const char *hash;           /* KEYS[1]: the entries' hash */
    const char *epoch_key;      /* KEYS[2]: the phone's epoch */
    const char *bgen_key;       /* KEYS[3] with IS_BLOCKS, see above */
    const char *lock_key;       /* KEYS[4]: the entry's fetch lock */
    const char *field;          /* ARGV[1]: the entry's field */
    bool        is_blocks;      /* ARGV[2] */
    int64_t     now_ms;         /* ARGV[3]: the proxy's clock */
    int64_t     max_age_s;      /* ARGV[4]: the client's bound, -1 none */
    const char *owner;          /* ARGV[5]: the lock's owner id; NULL or
                                 * "" asks for no lock */
    int64_t     lease_ms;       /* ARGV[6]: the lock's lease */
    bool        take_answer;    /* ARGV[7]: take a handed answer */
    int64_t     guard_ms;       /* ARGV[8]: TTL of a guard it makes */
    int64_t     deadline_ms;    /* ARGV[9]: the lock is not taken past
                                 * it, in Redis's clock; 0 none */
};

struct script_lock_args {
    const char *lock_key;       /* KEYS[1] */
    const char *epoch_key;      /* KEYS[2] */
    const char *bgen_key;       /* KEYS[3] with IS_BLOCKS, see above */
    const char *owner;          /* ARGV[1] */
    int64_t     lease_ms;       /* ARGV[2] */
    bool        is_blocks;      /* ARGV[3] */
    bool        take_answer;    /* ARGV[4] */
    int64_t     guard_ms;       /* ARGV[5]: TTL of a guard it makes */
    int64_t     deadline_ms;    /* ARGV[6]: as LOOKUP's ARGV[9] */
};

struct script_fill_args {
    const char *hash;           /* KEYS[1] */
    const char *epoch_key;      /* KEYS[2] */
    const char *bgen_key;       /* KEYS[3] with IS_BLOCKS, see above */
    const char *lock_key;       /* KEYS[4] */
    const char *field;          /* ARGV[1] */
    const char *value;          /* ARGV[2]: the entry, VALUE_LEN bytes */
    size_t      value_len;
    int64_t     expire_ms;      /* ARGV[3]: the hash's TTL, at least */
    const char *epoch;          /* ARGV[4]: the epoch the lookup read */
    bool        is_blocks;      /* ARGV[5] */
    const char *bgen;           /* ARGV[6]: the generation it read */
    bool        store;          /* ARGV[7]: store VALUE (else only hand
                                 * it to the waiters) */
    const char *owner;          /* ARGV[8]: the lock held; NULL or "" none */
    int64_t     answer_ms;      /* ARGV[9]: how long the answer is handed */
    const char *channel;        /* ARGV[10]: the wake channel */
};

struct script_unlock_args {
    const char *lock_key;       /* KEYS[1] */
    const char *owner;          /* ARGV[1] */
    const char *channel;        /* ARGV[2]: the wake channel */
};

struct script_write_args {
    const char *hash;           /* KEYS[1]: the lead's hash */
    const char *epoch_key;      /* KEYS[2] */
    const char *blocks_hash;    /* KEYS[3]: the tenant's blocks hash */
    const char *bgen_key;       /* KEYS[4] */
    const char *value;          /* ARGV[1]: the new lead, VALUE_LEN bytes;
                                 * NULL (or empty) only drops the old */
    size_t      value_len;
    int64_t     expire_ms;      /* ARGV[2] */
    bool        drop_blocks;    /* ARGV[3]: bump the blocks generation */
    int64_t     epoch_expire_ms; /* ARGV[4] */
};

struct script_idem_claim_args {
    const char *record;         /* KEYS[1] */
    const char *fingerprint;    /* ARGV[1] */
    const char *owner;          /* ARGV[2]: the claim's random id */
    int64_t     lease_ms;       /* ARGV[3] */
    int64_t     deadline_ms;    /* ARGV[4]: in Redis's clock, 0 none */
};

struct script_idem_complete_args {
    const char *record;         /* KEYS[1] */
    const char *owner;          /* ARGV[1] */
    const char *fingerprint;    /* ARGV[2] */
    const char *answer;         /* ARGV[3]: ANSWER_LEN bytes */
    size_t      answer_len;
    int64_t     ttl_ms;         /* ARGV[4]: idempotency_ttl */
};

struct script_idem_release_args {
    const char *record;         /* KEYS[1] */
    const char *owner;          /* ARGV[1] */
};

/* Lay the call with arguments A out in OUT. Pure: no I/O, no allocation. */
void script_lookup_argv(const struct script_lookup_args *a,
                        struct script_argv *out);
void script_lock_argv(const struct script_lock_args *a,
                      struct script_argv *out);
void script_fill_argv(const struct script_fill_args *a,
                      struct script_argv *out);
void script_unlock_argv(const struct script_unlock_args *a,
                        struct script_argv *out);
void script_write_argv(const struct script_write_args *a,
                       struct script_argv *out);
void script_idem_claim_argv(const struct script_idem_claim_args *a,
                            struct script_argv *out);
void script_idem_complete_argv(const struct script_idem_complete_args *a,
                               struct script_argv *out);
void script_idem_release_argv(const struct script_idem_release_args *a,
                              struct script_argv *out);

/*
 * Run a script on ST with the arguments A (laid out as above). Returns
 * the call handle, valid until CB runs or store_cancel, or NULL when
 * Redis is unavailable now (CB will not run). CB runs as store_eval says.
 */
struct store_op *script_lookup(struct store *st,
                               const struct script_lookup_args *a,
                               store_cb cb, void *arg);
struct store_op *script_lock(struct store *st,
                             const struct script_lock_args *a, store_cb cb,
                             void *arg);
struct store_op *script_fill(struct store *st,
                             const struct script_fill_args *a, store_cb cb,
                             void *arg);
struct store_op *script_unlock(struct store *st,
                               const struct script_unlock_args *a,
                               store_cb cb, void *arg);
struct store_op *script_write(struct store *st,
                              const struct script_write_args *a, store_cb cb,
                              void *arg);
struct store_op *script_idem_claim(struct store *st,
                                   const struct script_idem_claim_args *a,
                                   store_cb cb, void *arg);
struct store_op *
script_idem_complete(struct store *st,
                     const struct script_idem_complete_args *a, store_cb cb,
                     void *arg);
struct store_op *script_idem_release(struct store *st,
                                     const struct script_idem_release_args *a,
                                     store_cb cb, void *arg);

struct script_purge_args {
    const char *hashes[2];      /* KEYS[1..NHASHES] */
    int         nhashes;        /* 1 or 2 */
    const char *epoch_key;      /* the last KEYS */
    int64_t     epoch_expire_ms; /* ARGV[1] */
};

struct script_purge_scan_args {
    const char *epoch_key;      /* KEYS[1]: the tenant's epoch */
    const char *cursor;         /* ARGV[1]: "0" to begin */
    const char *match;          /* ARGV[2] */
    int64_t     count;          /* ARGV[3] */
    const char *base;           /* ARGV[4]: "<prefix>:v3:{<tenant>}:" */
    int64_t     epoch_expire_ms; /* ARGV[5] */
};

void script_purge_argv(const struct script_purge_args *a,
                       struct script_argv *out);
void script_purge_scan_argv(const struct script_purge_scan_args *a,
                            struct script_argv *out);
struct store_op *script_purge(struct store *st,
                              const struct script_purge_args *a, store_cb cb,
                              void *arg);
struct store_op *script_purge_scan(struct store *st,
                                   const struct script_purge_scan_args *a,
                                   store_cb cb, void *arg);

/* PING takes nothing and answers 1: a round trip, for health and order
 * (the near cache's heartbeat, the PATCH's barrier). */
struct store_op *script_ping(struct store *st, store_cb cb, void *arg);

/* PING on the node that holds KEY (a Redis Cluster routes a call by its
 * first key; the script does not touch it): a round trip on the link
 * that carried an earlier call of KEY's slot. */
struct store_op *script_ping_at(struct store *st, const char *key,
                                store_cb cb, void *arg);

/* MARKER  KEYS: the marker   -> its value, raised by one: an integer,
 * read with script_count_reply. */
struct store_op *script_marker(struct store *st, const char *key,
                               store_cb cb, void *arg);

/* An integer reply's value into *N: 0, or -1 (failed or not an integer). */
int script_count_reply(const struct redisReply *reply, int64_t *n);

/* ---- the replies -------------------------------------------------------- */

/*
 * Every parser is pure and takes the REPLY a store_cb got. NULL (Redis
 * failed, timed out, or the script raised an error) and an error reply
 * give the verdict *_FAILED; a reply of another shape than the script's
 * gives *_MALFORMED. Strings in a result point into REPLY and live as
 * long as it does (during the callback): copy what you keep.
 */

/* The verdict of LOOKUP, and of LOCK (the last three: one function can
 * act on either). */
enum script_lookup_verdict {
    SCRIPT_LOOKUP_FAILED,       /* no reply */
    SCRIPT_LOOKUP_MALFORMED,    /* not the script's shape */
    SCRIPT_LOOKUP_HIT,          /* ENTRY will do */
    SCRIPT_LOOKUP_NONE,         /* ENTRY, if any, will not; no lock asked */
    SCRIPT_LOOKUP_LEAD,         /* the lock is ours: fetch */
    SCRIPT_LOOKUP_WAIT,         /* another fetches, PTTL ms more at most */
    SCRIPT_LOOKUP_ANSWER,       /* another fetched: ANSWER */
    SCRIPT_LOOKUP_LATE          /* it ran past its deadline: no lock */
};

struct script_lookup_result {
    enum script_lookup_verdict verdict;
    const char *entry;          /* the entry read, or NULL (none; LOCK) */
    size_t      entry_len;
    const char *epoch;          /* the epoch read ("" for none yet), or
                                 * NULL (LOCK: set with LEAD only) */
    size_t      epoch_len;
    const char *bgen;           /* the blocks generation, the same way */
    size_t      bgen_len;
    int64_t     pttl;           /* WAIT: the lock's PTTL, or -1 */
    const char *answer;         /* ANSWER: the entry handed over */
    size_t      answer_len;
};

/*
 * Parse the reply of LOOKUP (LOCK) into OUT, all of which is set. Returns
 * 0, or -1 when the verdict is FAILED or MALFORMED (OUT's other fields
 * then empty). MALFORMED: not an array; fewer than 4 (2) elements; an
 * epoch or generation that is not a string (LOCK: a LEAD not of exactly
 * 3); a verdict not a known string; an ANSWER without its string. As the
 * callers always took them, an entry that is not a string counts as none,
 * and a WAIT without an integer PTTL has PTTL -1. Whether an entry
 * decodes, or an epoch fits a buffer, is for the caller to judge.
 */
int script_lookup_reply(const struct redisReply *reply,
                        struct script_lookup_result *out);
int script_lock_reply(const struct redisReply *reply,
                      struct script_lookup_result *out);

enum script_claim_verdict {
    SCRIPT_CLAIM_FAILED,        /* no reply */
    SCRIPT_CLAIM_MALFORMED,     /* not the script's shape */
    SCRIPT_CLAIM_CLAIMED,       /* the key is ours: forward */
    SCRIPT_CLAIM_DONE,          /* answered already: replay ANSWER */
    SCRIPT_CLAIM_BUSY,          /* in flight elsewhere */
    SCRIPT_CLAIM_MISMATCH,      /* used with another request */
    SCRIPT_CLAIM_LATE           /* it reached Redis past its deadline */
};

struct script_claim_result {
    enum script_claim_verdict verdict;
    const char *answer;         /* DONE: the stored answer, else NULL */
    size_t      answer_len;
    int64_t     redis_ms;       /* Redis's clock when it ran, or -1 (an
                                   older proxy's script says none) */
};

/*
 * Parse IDEM_CLAIM's reply into OUT. Returns 0, or -1 (FAILED, or
 * MALFORMED: not an array, empty, an unknown verdict, or a "done" that is
 * not followed by its answer string). Redis's time, when the reply ends
 * with it, goes to REDIS_MS.
 */
int script_idem_claim_reply(const struct redisReply *reply,
                            struct script_claim_result *out);

/* The scripts that answer 1 or 0. */
enum script_fill_verdict {
    SCRIPT_FILL_FAILED,
    SCRIPT_FILL_MALFORMED,
    SCRIPT_FILL_STORED,
    SCRIPT_FILL_NOT_STORED      /* not asked, or a PATCH came in between */
};

enum script_unlock_verdict {
    SCRIPT_UNLOCK_FAILED,
    SCRIPT_UNLOCK_MALFORMED,
    SCRIPT_UNLOCK_DROPPED,
    SCRIPT_UNLOCK_NOT_OURS
};

enum script_complete_verdict {
    SCRIPT_COMPLETE_FAILED,
    SCRIPT_COMPLETE_MALFORMED,
    SCRIPT_COMPLETE_STORED,
    SCRIPT_COMPLETE_LOST        /* the claim expired and was taken again */
};

enum script_release_verdict {
    SCRIPT_RELEASE_FAILED,
    SCRIPT_RELEASE_MALFORMED,
    SCRIPT_RELEASE_RELEASED,
    SCRIPT_RELEASE_NOT_OURS
};

/* Parse those replies: an integer 1 or 0, anything else is MALFORMED. */
enum script_fill_verdict script_fill_reply(const struct redisReply *reply);
enum script_unlock_verdict
script_unlock_reply(const struct redisReply *reply);
enum script_complete_verdict
script_idem_complete_reply(const struct redisReply *reply);
enum script_release_verdict
script_idem_release_reply(const struct redisReply *reply);

enum script_write_verdict {
    SCRIPT_WRITE_FAILED,
    SCRIPT_WRITE_MALFORMED,
    SCRIPT_WRITE_DONE           /* the write ran */
};

/* Parse WRITE's reply: an integer, set in *EPOCH with DONE (else 0): 1
 * from this proxy's WRITE, the new epoch from an older one's. */
enum script_write_verdict script_write_reply(const struct redisReply *reply,
                                             int64_t *epoch);

/*
 * PURGE_SCAN's reply: 0 with the next cursor in CURSOR (CAP bytes; "0"
 * when done) and the entries dropped in *N; -1 when failed or malformed.
 * PURGE's reply is script_count_reply's.
 */
int script_purge_scan_reply(const struct redisReply *reply, char *cursor,
                            size_t cap, int64_t *n);

/* ---- the scripts themselves ---------------------------------------------- */

/* The scripts as objects: their names and SHAs, which the tests pin (old
 * and new proxies share one Redis during a rolling deploy). */
enum script_id {
    SCRIPT_ID_LOOKUP,
    SCRIPT_ID_FILL,
    SCRIPT_ID_LOCK,
    SCRIPT_ID_PING,
    SCRIPT_ID_UNLOCK,
    SCRIPT_ID_WRITE,
    SCRIPT_ID_IDEM_CLAIM,
    SCRIPT_ID_IDEM_COMPLETE,
    SCRIPT_ID_IDEM_RELEASE,
    SCRIPT_ID_MARKER,
    SCRIPT_ID_PURGE,
    SCRIPT_ID_PURGE_SCAN,
    SCRIPT_ID_COUNT
};

/* Returns script ID, its SHA computed. */
struct store_script *script_get(enum script_id id);

#endif /* HSP_SCRIPT_H */
