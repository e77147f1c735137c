-- tenants.lua - a wrk script for scripts/bench's rhit section (hits that
-- ask Redis): requests go through a list of (tenant, phone) pairs in
-- turn, the tenant changing every request, so the load spreads over the
-- tenants' hash slots (a cluster's masters) and over many cached entries.
-- Like miss64.lua it counts statuses and cache verdicts, so the bench can
-- prove every answer was a hit.
--
-- Usage: wrk ... -s tenants.lua 'http://HOST:PORT/...query?phone=' \
--            -- TOKENS PHONES N
-- TOKENS, PHONES: files of one token, one E.164 phone a line; the first
-- N phones are used (all when N is absent). Pair k is tenant k mod T,
-- phone (k div T) mod N; each wrk thread starts at another pair.
-- done() prints lines "miss64 status CODE N" and "miss64 cache WORD N".

dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") ..
       "verdicts.lua")

local threads = {}

function setup(thread)
    thread:set("tid", #threads)
    table.insert(threads, thread)
end

function init(args)
    tokens = verdicts_lines(args[1])
    phones = verdicts_lines(args[2], tonumber(args[3]))
    for i, p in ipairs(phones) do
        phones[i] = "%2B" .. string.sub(p, 2)
    end
    counter = tid * 7919            -- threads apart in the sequence
    verdicts_init()
end

function request()
    local t = #tokens
    local k = counter
    counter = counter + 1
    wrk.headers["x-hs-token"] = tokens[k % t + 1]
    return wrk.format(nil, wrk.path ..
        phones[math.floor(k / t) % #phones + 1])
end

function done(summary, latency, requests)
    verdicts_done(threads)
end
