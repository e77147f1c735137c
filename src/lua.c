/*
 * lua.c - the cache's scripts.
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

#include "lua.h"

/*
 * The lookup takes the fetch lock in the same trip when the entry will
 * not do (missing, expired, or older than the client's max-age): a miss
 * costs one round trip fewer. Freshness is judged here as cache.c judges
 * it, from the entry's header ("hsp1 <status> <stored_ms> <ttl_ms> ...")
 * and the proxy's clock (ARGV[3]).
 */
struct store_script lua_lookup = {
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

struct store_script lua_fill = {
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
struct store_script lua_lock = {
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

struct store_script lua_unlock = {
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

struct store_script lua_write = {
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
struct store_script lua_idem_claim = {
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

struct store_script lua_idem_complete = {
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

struct store_script lua_idem_release = {
    "idem_release",
    "if redis.call('HGET', KEYS[1], 'owner') == ARGV[1] then\n"
    "  redis.call('DEL', KEYS[1])\n"
    "  return 1\n"
    "end\n"
    "return 0\n",
    ""
};

struct store_script lua_ping = {
    "ping",
    "return 1\n",
    ""
};

void
lua_init(void)
{
    store_script_init(&lua_lookup);
    store_script_init(&lua_fill);
    store_script_init(&lua_lock);
    store_script_init(&lua_ping);
    store_script_init(&lua_unlock);
    store_script_init(&lua_write);
    store_script_init(&lua_idem_claim);
    store_script_init(&lua_idem_complete);
    store_script_init(&lua_idem_release);
}
