-- chaos.lua - the wrk script of scripts/chaos: reads of seeded phones
-- (GET /phone/query, uniform over them) or writes (PATCH /phone/update)
-- of other seeded phones, counting what came back, so each fault phase
-- can say how many requests failed and how many were served stale.
--
-- Usage: wrk ... -s chaos.lua http://HOST:PORT -- MODE PHONES TOKEN NREAD NWRITE [DELAY_MS]
--   MODE       read or write; scripts/chaos runs one wrk of each at once
--              (wrk cannot tell which request an answer is for when a
--              thread has several connections, so one wrk, one method)
--   PHONES     file of seeded phones, one a line: the first NREAD are
--              read, the next NWRITE are written (never read, so a write
--              that fails cannot make a read unservable)
--   DELAY_MS   pause before each request (writes are a trickle)
-- done() prints one line "chaos-result MODE key=value ..." (scripts/chaos
-- parses it): sent (answers plus socket errors), failed (answers other
-- than 200), socket errors, timeouts (answers slower than wrk's
-- --timeout; wrk leaves them out of the latency), per status, per X-Cache
-- value and the largest latency in ms.

local api = "/api/v1/appointment/s2s"
local threads = {}

function setup(thread)
    thread:set("tid", #threads)
    table.insert(threads, thread)
end

local function urlenc(s)
    return (s:gsub("[^%w%-%._~]", function(c)
        return string.format("%%%02X", string.byte(c))
    end))
end

function init(args)
    mode, file, token = args[1], args[2], args[3]
    local nread, nwrite = tonumber(args[4]), tonumber(args[5])
    pause = tonumber(args[6]) or 0
    phones = {}
    local i = 0
    for line in io.lines(file) do
        i = i + 1
        if mode == "read" and i <= nread then
            table.insert(phones, api .. "/phone/query?phone=" .. urlenc(line))
        elseif mode == "write" and i > nread and i <= nread + nwrite then
            table.insert(phones, line)
        end
    end
    headers = { ["x-hs-token"] = token, ["Content-Type"] = "application/json" }
    math.randomseed(os.time() + tid * 7919)
    status, cache, failed = {}, {}, 0    -- read by done() via thread:get
end

function delay()
    return pause
end

function request()
    local p = phones[math.random(#phones)]
    if mode == "write" then
        return wrk.format("PATCH", api .. "/phone/update", headers,
            string.format('{"phone":"%s","appendComment":"chaos %d"}', p,
                          math.random(1000000)))
    end
    return wrk.format("GET", p, headers)
end

function response(st, hdrs, body)
    local k = tostring(st)
    status[k] = (status[k] or 0) + 1
    local xc = hdrs["X-Cache"] or hdrs["x-cache"] or "none"
    cache[xc] = (cache[xc] or 0) + 1
    if st ~= 200 then failed = failed + 1 end
end

local function merge(into, t)
    for k, v in pairs(t) do into[k] = (into[k] or 0) + v end
end

function done(summary, latency, requests)
    local st, xc, f = {}, {}, 0
    local mode = threads[1]:get("mode")
    for _, t in ipairs(threads) do
        merge(st, t:get("status"))
        merge(xc, t:get("cache"))
        f = f + t:get("failed")
    end
    local function flat(t)
        local out = {}
        for k, v in pairs(t) do table.insert(out, k .. ":" .. v) end
        table.sort(out)
        return #out > 0 and table.concat(out, ",") or "-"
    end
    local e = summary.errors
    io.write(string.format(
        "chaos-result %s sent=%d failed=%d sock=%d timeouts=%d stale=%d " ..
        "hit=%d miss=%d max_ms=%.0f status=%s xcache=%s\n",
        mode, summary.requests + e.connect + e.read + e.write,
        f, e.connect + e.read + e.write, e.timeout, xc["STALE"] or 0,
        xc["HIT"] or 0, xc["MISS"] or 0, latency.max / 1000, flat(st),
        flat(xc)))
end
