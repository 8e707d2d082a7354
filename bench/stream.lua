-- wrk script for make bench's streaming rows: machine-readable summary.
--
-- Without BENCH_RANGE every request downloads the whole file at the URL
-- given to wrk (wrk's own static request: no Lua per request).  With
-- BENCH_RANGE=LEN and BENCH_SIZE=SIZE (the file's size in bytes) every
-- request asks for one random range of LEN bytes: "Range: bytes=a-b".
--
-- No response() function on purpose: with one, wrk keeps every body in
-- memory (5 MB per connection); statuses are counted by nginx's log.

local range = tonumber(os.getenv("BENCH_RANGE") or "")
local size = tonumber(os.getenv("BENCH_SIZE") or "")

function setup(thread)
    thread:set("seed", math.random(1, 2^30))
end

function init(args)
    math.randomseed(seed)
end

if range then
    function request()
        local first = math.random(0, size - range)
        return wrk.format("GET", nil, {
            Range = string.format("bytes=%d-%d", first, first + range - 1)
        })
    end
end

function done(summary, latency, requests)
    local e = summary.errors
    io.write(string.format(
        "BENCH requests=%d bytes=%d duration_us=%d connect=%d read=%d "
        .. "write=%d status=%d timeout=%d mean_us=%.0f p50_us=%d "
        .. "p99_us=%d\n",
        summary.requests, summary.bytes, summary.duration, e.connect,
        e.read, e.write, e.status, e.timeout, latency.mean,
        latency:percentile(50), latency:percentile(99)))
end
