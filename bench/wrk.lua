-- wrk script for make bench: random paths, machine-readable summary.
--
-- BENCH_PATH is a template whose "{n}" is replaced by a random integer
-- from 1 to BENCH_N for every request (BENCH_STEP multiplies it, for
-- list offsets), e.g. /api/v1/artists/{n}.

local template = os.getenv("BENCH_PATH")
local n = tonumber(os.getenv("BENCH_N"))
local step = tonumber(os.getenv("BENCH_STEP") or "1")

function setup(thread)
    thread:set("seed", math.random(1, 2^30))
end

function init(args)
    math.randomseed(seed)
end

function request()
    local i = math.random(1, n) * step
    if step > 1 then i = i - step end
    local path = template:gsub("{n}", tostring(i))
    return wrk.format("GET", path)
end

function done(summary, latency, requests)
    local e = summary.errors
    io.write(string.format(
        "BENCH requests=%d duration_us=%d connect=%d read=%d write=%d "
        .. "status=%d timeout=%d mean_us=%.0f p50_us=%d p99_us=%d\n",
        summary.requests, summary.duration, e.connect, e.read, e.write,
        e.status, e.timeout, latency.mean, latency:percentile(50),
        latency:percentile(99)))
end
