-- chaos.lua - the wrk script of scripts/chaos: reads of seeded phones
-- (GET /phone/query, uniform over them) or writes (PATCH /phone/update)
-- of other seeded phones, counting what came back, so each fault phase
-- can say how many requests failed and how many were served stale.
--
-- Usage: wrk ... -s chaos.lua http://HOST:PORT -- MODE PHONES TOKEN NREAD NWRITE [DELAY_MS [KEYS OUT]]
--   MODE       read, write or keyed; scripts/chaos runs one wrk of each
--              kind at once (wrk cannot tell which request an answer is
--              for when a thread has several connections, so one wrk, one
--              method)
--   keyed      writes with an Idempotency-Key (run it -t1 -c1): each key
--              KEYS-<n> is sent until it gets an answer other than 503 or
--              409, the same request again each time (a client retrying
--              its PATCH), then the next key; its body appends the comment
--              "chaos-key KEYS-<n>", so the sandbox's lead shows how often
--              each key ran. A key answered 200 is sent once more (again
--              until settled) after REPEAT_AFTER newer keys, ~1 s later:
--              a client that lost the answer; it must be replayed, not
--              run. Each settled answer is appended to OUT as "KEY STATUS
--              REPLAYED REPEAT TIME" (REPLAYED 1 when Idempotent-Replayed,
--              REPEAT 1 for the second sending, TIME in epoch seconds)
--   TOKEN      a token, or several separated by commas: each read or
--              unkeyed write picks one at random (tenants on every node
--              of a Redis Cluster); keyed writes use the first
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
    mode, file = args[1], args[2]
    tokens = {}
    for t in string.gmatch(args[3], "[^,]+") do table.insert(tokens, t) end
    token = tokens[1]
    local nread, nwrite = tonumber(args[4]), tonumber(args[5])
    pause = tonumber(args[6]) or 0
    keys, out = args[7], nil
    if mode == "keyed" then
        out = assert(io.open(args[8], "a"))
        nkey, pending, again = 0, nil, false
        done_keys = {}              -- settled 200s waiting to be repeated
    end
    phones = {}
    local i = 0
    for line in io.lines(file) do
        i = i + 1
        if mode == "read" and i <= nread then
            table.insert(phones, api .. "/phone/query?phone=" .. urlenc(line))
        elseif mode ~= "read" and i > nread and i <= nread + nwrite then
            table.insert(phones, line)
        end
    end
    math.randomseed(os.time() + tid * 7919)
    status, cache, failed = {}, {}, 0    -- read by done() via thread:get
end

function delay()
    return pause
end

-- keyed: the pending key's request, the same bytes until it is settled
local REPEAT_AFTER = 20
local function keyed()
    if pending == nil and #done_keys > 0 and
            done_keys[1].n + REPEAT_AFTER <= nkey then
        local d = table.remove(done_keys, 1)
        key, pending, again = d.key, d.req, true
    end
    if pending == nil then
        again = false
        nkey = nkey + 1
        key = keys .. "-" .. nkey
        local h = { ["x-hs-token"] = token,
                    ["Content-Type"] = "application/json",
                    ["Idempotency-Key"] = key }
        pending = wrk.format("PATCH", api .. "/phone/update", h,
            string.format('{"phone":"%s","appendComment":"chaos-key %s"}',
                          phones[math.random(#phones)], key))
    end
    return pending
end

function request()
    if mode == "keyed" then return keyed() end
    local p = phones[math.random(#phones)]
    local headers = { ["x-hs-token"] = tokens[math.random(#tokens)],
                      ["Content-Type"] = "application/json" }
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
    -- a 503 (no claim could be made) or a 409 (the claim is in flight) is
    -- retried with the same key; anything else settles it
    if mode == "keyed" and st ~= 503 and st ~= 409 then
        local rp = hdrs["Idempotent-Replayed"] or hdrs["idempotent-replayed"]
        out:write(string.format("%s %d %d %d %d\n", key, st,
                                rp == "true" and 1 or 0, again and 1 or 0,
                                os.time()))
        out:flush()
        if st == 200 and not again then
            table.insert(done_keys, { n = nkey, key = key, req = pending })
        end
        pending = nil
    end
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
