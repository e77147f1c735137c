-- verdicts.lua - what miss64.lua and tenants.lua share, loaded with dofile
-- from beside them: the lines of a file, and counting each answer's
-- status and cache verdict (X-Cache from heavyset-proxy, X-Cache-Status
-- from nginx, "-" when neither is there, e.g. direct), so the bench can
-- prove what every answer was. The including script calls
-- verdicts_init() from its init() and verdicts_done(threads) from its
-- done(); this file is its response().
-- verdicts_done prints lines "miss64 status CODE N" and
-- "miss64 cache WORD N" (benchlib.py parse_wrk reads them).

-- The non-empty lines of the file at PATH, the first MAX (all when nil).
function verdicts_lines(path, max)
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

function verdicts_init()
    statuses = {}
    words = {}
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

function verdicts_done(threads)
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
