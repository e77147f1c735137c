-- miss64.lua - a wrk script for scripts/bench's miss1, miss8 and miss64
-- runs (named after the first; one script whatever the connections): like
-- distinct.lua, every request asks for a phone that no request of this run
-- (or of another run with a different prefix) asked before, and it also
-- counts what came back, so the bench can prove every answer was a miss:
-- statuses, and the cache verdict (X-Cache from heavyset-proxy,
-- X-Cache-Status from nginx, "-" when neither is there, e.g. direct).
--
-- Usage: wrk ... -s miss64.lua 'http://HOST:PORT/...query?phone=' -- PREFIX
--            [TOKENS]
-- PREFIX is three digits (200-799); the phone is +1 PREFIX THREAD COUNTER.
-- TOKENS, a file of one token a line: each request takes the next as its
-- x-hs-token, so the misses spread over the tenants (a cluster's masters).
-- done() prints lines "miss64 status CODE N" and "miss64 cache WORD N".

dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") ..
       "verdicts.lua")

local threads = {}

function setup(thread)
    thread:set("tid", #threads % 10)
    table.insert(threads, thread)
end

function init(args)
    prefix = args[1] or "200"
    tokens = args[2] and verdicts_lines(args[2]) or {}
    counter = 0
    verdicts_init()
end

function request()
    counter = counter + 1
    if #tokens > 0 then
        wrk.headers["x-hs-token"] = tokens[counter % #tokens + 1]
    end
    return wrk.format(nil, wrk.path ..
        string.format("%%2B1%s%d%06d", prefix, tid, counter % 1000000))
end

function done(summary, latency, requests)
    verdicts_done(threads)
end
