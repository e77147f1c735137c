/*
 * script.c - the cache's and the Idempotency-Key records' scripts: their
 * text and their registry; the typed calls that lay their KEYS and ARGV
 * out are in script_call.c, the parsers of their replies in
 * script_reply.c.
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
 * The guards: a phone's write epoch and a tenant's blocks generation.
 * A fill stores only if the guard it read with the entry is still there
 * and unchanged (SPEC §12): a guard that is missing proves nothing (it
 * may have been evicted or flushed after a PATCH), so a lookup that finds
 * none makes one, and a fill that finds none stores nothing. Values come
 * from Redis's clock in microseconds, and a PATCH only ever raises them,
 * so a guard evicted and made again never repeats a value a read may
 * hold. They stay integers, which older proxies' INCR also accepts
 * during a rolling deploy. (Effects replication, Redis's default since
 * 5, lets a script write after TIME.)
 */
#define SCRIPT_NOW_US                                                     \
    "local function now_us()\n"                                           \
    "  local t = redis.call('TIME')\n"                                     \
    "  return tonumber(t[1]) * 1000000 + tonumber(t[2])\n"                 \
    "end\n"
#define SCRIPT_GUARD                                                      \
    SCRIPT_NOW_US                                                         \
    "local function guard(k, px)\n"                                       \
    "  local v = redis.call('GET', k)\n"                                   \
    "  if v then return v end\n"                                           \
    "  v = string.format('%.0f', now_us())\n"                              \
    "  redis.call('SET', k, v, 'PX', px)\n"                                \
    "  return v\n"                                                         \
    "end\n"
#define SCRIPT_BUMP                                                       \
    SCRIPT_NOW_US                                                         \
    "local function bump(k, px)\n"                                        \
    "  local v = now_us()\n"                                               \
    "  local c = tonumber(redis.call('GET', k) or '') or 0\n"              \
    "  if v <= c then v = c + 1 end\n"                                     \
    "  redis.call('SET', k, string.format('%.0f', v), 'PX', px)\n"         \
    "end\n"

/*
 * The lookup takes the fetch lock in the same trip when the entry will
 * not do (missing, expired, or older than the client's max-age): a miss
 * costs one round trip fewer. Like an Idempotency-Key claim, a lock
 * carries a deadline in Redis's clock (ARGV[9]; LOCK's ARGV[6]; 0 for
 * none): one that runs after its read gave up on it (Redis frozen, the
 * link dropped before the UNLOCK that would follow it) is not taken
 * ("late"), since nobody would release it and every read of the entry,
 * on every instance, would wait out its lease. Freshness is judged here as cache.c judges
 * it, from the entry's header ("hsp1 <status> <stored_ms> <ttl_ms> ...")
 * and the proxy's clock (ARGV[3]).
 */
static struct store_script lookup_script = {
    "lookup3",
    SCRIPT_GUARD
    "local g, f = '', ARGV[1]\n"
    "if ARGV[2] == '1' then\n"
    "  g = guard(KEYS[3], ARGV[8])\n"
    "  f = 'g' .. g .. ':' .. f\n"
    "end\n"
    "local e = redis.call('HGET', KEYS[1], f)\n"
    "local ep = guard(KEYS[2], ARGV[8])\n"
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
    "local dl = tonumber(ARGV[9])\n"
    "if dl > 0 and now_us() / 1000 > dl then\n"
    "  return { e, ep, g, 'late' }\n"
    "end\n"
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
    "",
    false
};

static struct store_script fill_script = {
    "fill2",
    "local ok = redis.call('GET', KEYS[2]) == ARGV[4]\n"
    "local f = ARGV[1]\n"
    "if ok and ARGV[5] == '1' then\n"
    "  local g = redis.call('GET', KEYS[3])\n"
    "  if g ~= ARGV[6] then ok = false end\n"
    "  f = 'g' .. ARGV[6] .. ':' .. f\n"
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
    "",
    false
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
    "lock3",
    SCRIPT_GUARD
    "local dl = tonumber(ARGV[6])\n"
    "if dl > 0 and now_us() / 1000 > dl then\n"
    "  return { 'late' }\n"
    "end\n"
    "local ep = guard(KEYS[2], ARGV[5])\n"
    "local g = ''\n"
    "if ARGV[3] == '1' then g = guard(KEYS[3], ARGV[5]) end\n"
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
    "",
    false
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
    "",
    false
};

static struct store_script write_script = {
    "write2",
    SCRIPT_BUMP
    "bump(KEYS[2], ARGV[4])\n"
    "redis.call('DEL', KEYS[1], KEYS[3])\n"
    "if ARGV[1] ~= '' then\n"
    "  redis.call('HSET', KEYS[1], 'q', ARGV[1])\n"
    "  redis.call('PEXPIRE', KEYS[1], ARGV[2])\n"
    "end\n"
    "if ARGV[3] == '1' then\n"
    "  bump(KEYS[4], ARGV[4])\n"
    "end\n"
    "return 1\n",
    "",
    false
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
 *
 * A claim carries a deadline in Redis's clock (SPEC §12): a claim that
 * reaches Redis after its request gave up on it (a frozen or paused
 * Redis) is refused ("late"), so it leaves no orphan that would answer a
 * retry 409 for a whole lease. Every verdict carries Redis's time, from
 * which the proxy learns how far Redis's clock is from its own
 * (req/claim.c).
 */
static struct store_script idem_claim_script = {
    "idem_claim2",
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    "local d = tonumber(ARGV[4])\n"
    "if d > 0 and now > d then return { 'late', now } end\n"
    "local r = redis.call('HMGET', KEYS[1], 'fp', 'resp')\n"
    "if not r[1] then\n"
    "  redis.call('DEL', KEYS[1])\n"
    "  redis.call('HSET', KEYS[1], 'fp', ARGV[1], 'owner', ARGV[2])\n"
    "  redis.call('PEXPIRE', KEYS[1], ARGV[3])\n"
    "  return { 'claimed', now }\n"
    "end\n"
    "if r[1] ~= ARGV[1] then return { 'mismatch', now } end\n"
    "if r[2] then return { 'done', r[2], now } end\n"
    "return { 'busy', now }\n",
    "",
    true                            /* a claim lost in a failover would
                                     * let a retry run twice (SPEC §12) */
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
    "",
    true                            /* its loss in a failover would let a
                                     * retry after the lease run twice */
};

static struct store_script idem_release_script = {
    "idem_release",
    "if redis.call('HGET', KEYS[1], 'owner') == ARGV[1] then\n"
    "  redis.call('DEL', KEYS[1])\n"
    "  return 1\n"
    "end\n"
    "return 0\n",
    "",
    false
};

/*
 * The marker (SPEC §12): a counter every worker of every proxy raises
 * once a second. Each remembers the last value it got; a value not above
 * it means Redis lost data since (a restart without persistence,
 * FLUSHALL, a failover to a replica that lagged).
 */
static struct store_script marker_script = {
    "marker",
    "return redis.call('INCR', KEYS[1])\n",
    "",
    false
};

static struct store_script ping_script = {
    "ping",
    "return 1\n",
    "",
    false
};

/*
 * PURGE (SPEC §13). The entries go, and the epoch they were stored under
 * is raised in the same script, so that a fill begun before the purge
 * (which compares the epoch it read) stores nothing after it, and an
 * answer handed over in a fetch lock is nobody's. Durable: an erasure a
 * failover could undo would be a promise broken.
 */
static struct store_script purge_script = {
    "purge",
    SCRIPT_BUMP
    "local n = 0\n"
    "for i = 1, #KEYS - 1 do\n"
    "  n = n + redis.call('HLEN', KEYS[i])\n"
    "  redis.call('DEL', KEYS[i])\n"
    "end\n"
    "bump(KEYS[#KEYS], ARGV[1])\n"
    "return n\n",
    "",
    true
};

/*
 * One step of a tenant's whole PURGE: a SCAN of the node holding the
 * tenant's slot (KEYS[1], the tenant's epoch, routes it there), every key
 * found by name: entries' hashes dropped and counted, guards raised as
 * PURGE raises them, anything else (fetch locks, Idempotency-Key records)
 * left. SCAN may give a key twice: a second HLEN finds it gone, a second
 * bump only raises a guard again.
 */
static struct store_script purge_scan_script = {
    "purge_scan",
    SCRIPT_BUMP
    "local r = redis.call('SCAN', ARGV[1], 'MATCH', ARGV[2], 'COUNT',\n"
    "                     ARGV[3])\n"
    "local n, p = 0, #ARGV[4]\n"
    "for _, k in ipairs(r[2]) do\n"
    "  if string.sub(k, 1, p) == ARGV[4] then\n"
    "    local s = string.sub(k, p + 1)\n"
    "    if s == 'disp' or string.match(s, '^lead:%x+$') or\n"
    "       string.match(s, '^blocks:%x+$') then\n"
    "      n = n + redis.call('HLEN', k)\n"
    "      redis.call('DEL', k)\n"
    "    elseif s == 'ep' or s == 'bgen' or string.match(s, '^ep:%x+$') then\n"
    "      bump(k, ARGV[5])\n"
    "    end\n"
    "  end\n"
    "end\n"
    "return { r[1], n }\n",
    "",
    true
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
    [SCRIPT_ID_MARKER] = &marker_script,
    [SCRIPT_ID_UNLOCK] = &unlock_script,
    [SCRIPT_ID_WRITE] = &write_script,
    [SCRIPT_ID_IDEM_CLAIM] = &idem_claim_script,
    [SCRIPT_ID_IDEM_COMPLETE] = &idem_complete_script,
    [SCRIPT_ID_IDEM_RELEASE] = &idem_release_script,
    [SCRIPT_ID_PURGE] = &purge_script,
    [SCRIPT_ID_PURGE_SCAN] = &purge_scan_script,
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
