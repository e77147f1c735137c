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

struct store_script lua_lookup = {
    "lookup",
    "local g = redis.call('GET', KEYS[3]) or ''\n"
    "local f = ARGV[1]\n"
    "if ARGV[2] == '1' then f = 'g' .. g .. ':' .. f end\n"
    "return { redis.call('HGET', KEYS[1], f),\n"
    "         redis.call('GET', KEYS[2]) or '', g }\n",
    ""
};

struct store_script lua_fill = {
    "fill",
    "if (redis.call('GET', KEYS[2]) or '') ~= ARGV[4] then return 0 end\n"
    "local f = ARGV[1]\n"
    "if ARGV[5] == '1' then\n"
    "  local g = redis.call('GET', KEYS[3]) or ''\n"
    "  if g ~= ARGV[6] then return 0 end\n"
    "  f = 'g' .. g .. ':' .. f\n"
    "end\n"
    "redis.call('HSET', KEYS[1], f, ARGV[2])\n"
    "local want = tonumber(ARGV[3])\n"
    "if redis.call('PTTL', KEYS[1]) < want then\n"
    "  redis.call('PEXPIRE', KEYS[1], want)\n"
    "end\n"
    "return 1\n",
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

void
lua_init(void)
{
    store_script_init(&lua_lookup);
    store_script_init(&lua_fill);
    store_script_init(&lua_write);
}
