-- distinct.lua - a wrk script for scripts/bench's miss path: every request
-- asks for a phone that no request of this run (or of another run with a
-- different prefix) asked before, so none can be answered from a cache.
--
-- Usage: wrk ... -s distinct.lua 'http://HOST:PORT/...query?phone=' -- PREFIX
-- PREFIX is three digits (200-799); the phone is +1 PREFIX THREAD COUNTER,
-- eleven digits after the "+", which the sandbox answers 404 for.

local threads = 0

function setup(thread)
    thread:set("tid", threads % 10)
    threads = threads + 1
end

function init(args)
    prefix = args[1] or "200"
    counter = 0
end

function request()
    counter = counter + 1
    return wrk.format(nil, wrk.path ..
        string.format("%%2B1%s%d%06d", prefix, tid, counter % 1000000))
end
