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

local threads = {}

function setup(thread)
    thread:set("tid", #threads)
    table.insert(threads, thread)
end

local function lines(path, max)
    local t = {}
    for l in io.lines(path) do
        if l ~= "" then
            table.insert(t, l)
            if max and #t >= max then
                break
            end
        end
    end
    return t
end

function init(args)
    tokens = lines(args[1])
    phones = lines(args[2], tonumber(args[3]))
    for i, p in ipairs(phones) do
        phones[i] = "%2B" .. string.sub(p, 2)
    end
    counter = tid * 7919            -- threads apart in the sequence
    statuses = {}
    words = {}
end

function request()
    local t = #tokens
    local k = counter
    counter = counter + 1
    wrk.headers["x-hs-token"] = tokens[k % t + 1]
    return wrk.format(nil, wrk.path ..
        phones[math.floor(k / t) % #phones + 1])
end

function response(status, headers, body)
    local s = tostring(status)
    statuses[s] = (statuses[s] or 0) + 1
    local w = "-"
    for k, v in pairs(headers) do
        local l = string.lower(k)
        if l == "x-cache" or l == "x-cache-status" then
            w = v
        end
    end
    words[w] = (words[w] or 0) + 1
end

function done(summary, latency, requests)
    local st, wd = {}, {}
    for _, t in ipairs(threads) do
        for k, v in pairs(t:get("statuses")) do
            st[k] = (st[k] or 0) + v
        end
        for k, v in pairs(t:get("words")) do
            wd[k] = (wd[k] or 0) + v
        end
    end
    for k, v in pairs(st) do
        io.write(string.format("miss64 status %s %d\n", k, v))
    end
    for k, v in pairs(wd) do
        io.write(string.format("miss64 cache %s %d\n", k, v))
    end
end
