-- wrk script for make bench: random paths, machine-readable summary.
--
-- Either BENCH_PATHS, a file of paths (one a line: each request takes a
-- random line), or BENCH_PATH, a template whose "{n}" is replaced by a
-- random integer from 1 to BENCH_N for every request (BENCH_STEP
-- multiplies it, for list offsets; BENCH_BASE is added), e.g.
-- /api/v1/artists/{n}.
--
-- BENCH_HEADERS=1 adds response(), which counts 503s and those carrying
-- Retry-After (it makes wrk slower: the overload row only).

local template = os.getenv("BENCH_PATH")
local n = tonumber(os.getenv("BENCH_N") or "1")
local step = tonumber(os.getenv("BENCH_STEP") or "1")
local base = tonumber(os.getenv("BENCH_BASE") or "0")
local file = os.getenv("BENCH_PATHS")
local paths = nil
local threads = {}

function setup(thread)
    thread:set("seed", math.random(1, 2^30))
    table.insert(threads, thread)
end

function init(args)
    math.randomseed(seed)
    if file then
        paths = {}
        for line in io.lines(file) do
            paths[#paths + 1] = line
        end
    end
    s503 = 0
    retry = 0
    s5xx = 0
end

function request()
    if paths then
        return wrk.format("GET", paths[math.random(1, #paths)])
    end
    local i = math.random(1, n) * step + base
    if step > 1 then i = i - step end
    return wrk.format("GET", (template:gsub("{n}", tostring(i))))
end

if os.getenv("BENCH_HEADERS") == "1" then
    function response(status, headers, body)
        if status >= 500 then
            s5xx = s5xx + 1
        end
        if status == 503 then
            s503 = s503 + 1
            if headers["Retry-After"] or headers["retry-after"] then
                retry = retry + 1
            end
        end
    end
end

function done(summary, latency, requests)
    local e = summary.errors
    local a503, aretry, a5xx = 0, 0, 0
    for _, t in ipairs(threads) do
        a503 = a503 + (t:get("s503") or 0)
        aretry = aretry + (t:get("retry") or 0)
        a5xx = a5xx + (t:get("s5xx") or 0)
    end
    -- the share of answers within the deadline (BENCH_DEADLINE_US)
    local deadline = tonumber(os.getenv("BENCH_DEADLINE_US") or "0")
    local lo, hi = 0, 100
    if deadline > 0 then
        if latency:percentile(100) <= deadline then
            lo = 100
        else
            for _ = 1, 20 do
                local mid = (lo + hi) / 2
                if latency:percentile(mid) <= deadline then
                    lo = mid
                else
                    hi = mid
                end
            end
        end
    end
    io.write(string.format(
        "BENCH requests=%d duration_us=%d connect=%d read=%d write=%d "
        .. "status=%d timeout=%d mean_us=%.0f p50_us=%d p99_us=%d "
        .. "s503=%d retry=%d s5xx=%d intime=%.3f\n",
        summary.requests, summary.duration, e.connect, e.read, e.write,
        e.status, e.timeout, latency.mean, latency:percentile(50),
        latency:percentile(99), a503, aretry, a5xx, lo))
end
