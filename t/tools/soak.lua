-- wrk script for t/tools/soak.sh: the reads of a music app over the
-- sample catalog (ids from 1 to SOAK_ARTISTS, SOAK_ALBUMS, SOAK_SONGS),
-- with a summary line wrk's caller parses: "SOAK requests=N s5xx=N ...".

local artists = tonumber(os.getenv("SOAK_ARTISTS") or "36")
local albums = tonumber(os.getenv("SOAK_ALBUMS") or "86")
local songs = tonumber(os.getenv("SOAK_SONGS") or "904")
local threads = {}
local words = { "love", "night", "blue", "the", "sig", "jay", "rain" }

function setup(thread)
    thread:set("seed", math.random(1, 2^30))
    table.insert(threads, thread)
end

function init(args)
    math.randomseed(seed)
    s2xx = 0
    s4xx = 0
    s5xx = 0
end

function request()
    local r = math.random(1, 100)
    local path
    if r <= 35 then
        path = "/api/v1/songs/" .. math.random(1, songs)
    elseif r <= 55 then
        path = "/api/v1/albums/" .. math.random(1, albums) .. "/songs"
    elseif r <= 70 then
        path = "/api/v1/artists/" .. math.random(1, artists)
    elseif r <= 80 then
        path = "/api/v1/artists/" .. math.random(1, artists) .. "/albums"
    elseif r <= 90 then
        path = "/api/v1/songs?limit=20&offset=" .. math.random(0, 40) * 20
    else
        path = "/api/v1/search?q=" .. words[math.random(1, #words)]
    end
    return wrk.format("GET", path)
end

function response(status, headers, body)
    if status >= 500 then
        s5xx = s5xx + 1
    elseif status >= 400 then
        s4xx = s4xx + 1
    else
        s2xx = s2xx + 1
    end
end

function done(summary, latency, requests)
    local s2, s4, s5 = 0, 0, 0
    for _, t in ipairs(threads) do
        s2 = s2 + t:get("s2xx")
        s4 = s4 + t:get("s4xx")
        s5 = s5 + t:get("s5xx")
    end
    local e = summary.errors
    io.write(string.format("SOAK requests=%d s2xx=%d s4xx=%d s5xx=%d "
        .. "connect=%d read=%d write=%d timeout=%d p50_ms=%.1f p99_ms=%.1f\n",
        summary.requests, s2, s4, s5, e.connect, e.read, e.write, e.timeout,
        latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
