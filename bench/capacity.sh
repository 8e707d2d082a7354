#!/bin/bash
# make capacity: what one core buys, for the README's "Capacity on paper".
# One node of the shipped configuration (t/tools/fleet.sh, N=1: it runs
# conf/tunesheap.dev.conf) over the bench's 500,000-song catalog; wrk
# talks to the node directly.  For each path the CPU time nginx, Postgres
# and Redis spent is read from /proc (utime + stime of the processes, by
# their pid files) before and after the run, so a row says how many
# requests one core of each serves, whatever else shares the machine
# (wrk, the other servers).  Then the arithmetic for a service with a
# given evening peak (CAPACITY_LISTENERS, each a request every
# CAPACITY_INTERVAL seconds and one song streaming at CAPACITY_KBPS).
#
# Environment: BENCH_SECONDS (per run, 10), CAPACITY_CONNS (200),
# CAPACITY_LISTENERS (50000), CAPACITY_INTERVAL (10), CAPACITY_KBPS (160),
# CAPACITY_HIT (share of API requests answered from a cache, 0.8),
# BENCH_DIR (var/bench: the catalog's Postgres is kept there),
# BENCH_PG_PORT (5434).
set -eu

cd "$(dirname "$0")/.."
root=$PWD
seconds=${BENCH_SECONDS:-10}
conns=${CAPACITY_CONNS:-200}
listeners=${CAPACITY_LISTENERS:-50000}
interval=${CAPACITY_INTERVAL:-10}
kbps=${CAPACITY_KBPS:-160}
hit=${CAPACITY_HIT:-0.8}
dir=${BENCH_DIR:-$root/var/bench}

export FLEET_DIR=$root/var/capacity
export FLEET_PG_DATA=$dir/pg
export FLEET_PG_PORT=${BENCH_PG_PORT:-5434}
export FLEET_LB=1
unset FLEET_CPU
node=http://127.0.0.1:$((${FLEET_NODE_PORT:-8100} + 1))
hz=$(getconf CLK_TCK)

ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
bench/catalog.sh "$dir" "$FLEET_PG_PORT" >/dev/null
trap 't/tools/fleet.sh stop' EXIT
t/tools/fleet.sh stop
t/tools/fleet.sh start 1 >&2

# a process and its children, by the parent's pid file
family() {
    local p
    p=$(cat "$1")
    echo "$p"
    pgrep -P "$p" || true
}

# CPU ticks (utime + stime) of the given pids; gone ones count 0
ticks() {
    local p sum=0 t
    for p in "$@"; do
        t=$(cut -d')' -f2 "/proc/$p/stat" 2>/dev/null \
            | awk '{ print $12 + $13 }') || t=0
        sum=$((sum + ${t:-0}))
    done
    echo "$sum"
}

pids_nginx() { family "$FLEET_DIR/node1/logs/nginx.pid"; }
pids_pg() { family <(head -n 1 "$FLEET_PG_DATA/postmaster.pid"); }
pids_redis() { cat "$FLEET_DIR/redis/redis.pid"; }

# the ticks of each server's processes: "nginx pg redis"
snapshot() {
    echo "$(ticks $(pids_nginx)) $(ticks $(pids_pg)) $(ticks $(pids_redis))"
}

# row NAME [wrk script args...] (BENCH_* in the environment): prints
# "NAME req/s ok% nginx_core pg_core redis_core" where X_core is the
# requests one core of X serves (0: X spent no measurable time)
row() {
    local name=$1 script=$2 target=$3 out before after n_pids p_pids
    shift 3
    # the processes alive at the end may include Postgres backends opened
    # during the run: take both sets, a pid new at the end started at 0
    n_pids=$(pids_nginx) p_pids=$(pids_pg)
    before="$(ticks $n_pids) $(ticks $p_pids) $(ticks $(pids_redis))"
    out=$(timeout $((seconds + 60)) wrk -t2 -c"$conns" -d"${seconds}s" \
              --timeout 10s -s "$script" "$node$target" 2>&1 \
          | grep '^BENCH ') || { echo "capacity: $name: wrk failed" >&2; \
                                 return 1; }
    n_pids=$(echo "$n_pids" $(pids_nginx) | tr ' ' '\n' | sort -u)
    p_pids=$(echo "$p_pids" $(pids_pg) | tr ' ' '\n' | sort -u)
    after="$(ticks $n_pids) $(ticks $p_pids) $(ticks $(pids_redis))"
    echo "$out" | awk -v name="$name" -v b="$before" -v a="$after" \
                      -v hz="$hz" '{
        for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
        split(b, x, " "); split(a, y, " ")
        sock = v["connect"] + v["read"] + v["write"] + v["timeout"]
        ok = v["requests"] - v["status"]
        tried = v["requests"] + sock
        if (name ~ /stream/) ok = v["requests"] - sock
        printf "%s %.0f %.2f", name, ok / (v["duration_us"] / 1e6),
            tried ? 100 * ok / tried : 0
        for (k = 1; k <= 3; k++) {
            s = (y[k] - x[k]) / hz
            printf " %.0f", (s > 0 ? ok / s : 0)
        }
        printf " %.0f\n", v["bytes"] / (v["duration_us"] / 1e6) / 1048576
    }'
}

run_paths() {   # NAME FILE: random lines of FILE
    BENCH_PATHS=$2 row "$1" bench/wrk.lua /
}

run_template() {    # NAME TEMPLATE N
    BENCH_PATH=$2 BENCH_N=$3 row "$1" bench/wrk.lua /
}

tmp=$FLEET_DIR/paths
mkdir -p "$tmp"
db/redis.sh cli "$FLEET_DIR/redis" FLUSHALL >/dev/null

# cached: 2,000 songs and 2,000 albums' songs, fetched once first
awk 'BEGIN { srand(7); for (i = 0; i < 2000; i++)
    printf "/api/v1/songs/%d\n", 1 + int(rand() * 500000) }' \
    >"$tmp/songs.cached"
awk 'BEGIN { srand(8); for (i = 0; i < 2000; i++)
    printf "/api/v1/albums/%d/songs\n", 1 + int(rand() * 50000) }' \
    >"$tmp/album_songs.cached"
for f in "$tmp"/*.cached; do
    awk -v node="$node" '{ printf "url = \"%s%s\"\noutput = \"/dev/null\"\n",
        node, $0 }' "$f" | curl -fs -K -
done

# the audio: a write key of this run's own, big.mp3 uploaded to song 1
db/pg.sh psql "$FLEET_PG_DATA" tunesheap -qc \
    "DELETE FROM api_keys WHERE name = 'capacity'"
key=$(db/apikey.sh "$FLEET_PG_DATA" create capacity read,write | tail -n 1)
[ -s "$tmp/big.mp3" ] || t/tools/mkaudio.sh --big "$tmp"
size=$(stat -c %s "$tmp/big.mp3")
curl -fsS -o /dev/null -X PUT -H "Authorization: Bearer $key" \
    -H 'Content-Type: audio/mpeg' --data-binary @"$tmp/big.mp3" \
    "$node/api/v1/songs/1/audio"
stream=$(curl -fs "$node/api/v1/songs/1" \
         | sed -n 's/.*"stream_url":"\([^"]*\)".*/\1/p' | sed 's,\\/,/,g')
[ -n "$stream" ] || { echo "capacity: song 1 has no stream_url" >&2; exit 1; }

declare -a rows
echo "capacity: cached rows" >&2
rows+=("$(run_paths 'songs/ID cached' "$tmp/songs.cached")")
rows+=("$(run_paths 'albums/ID/songs cached' "$tmp/album_songs.cached")")
echo "capacity: uncached rows (random ids over the whole catalog)" >&2
rows+=("$(run_template 'songs/ID uncached' '/api/v1/songs/{n}' 500000)")
rows+=("$(run_template 'albums/ID/songs uncached' \
          '/api/v1/albums/{n}/songs' 50000)")
if [ -s "$dir/search.paths" ]; then
    # texts of every kind, each asked once or twice in a run: misses
    sed 's,^/nocache,,' "$dir/search.paths" >"$tmp/search"
    rows+=("$(run_paths 'search uncached' "$tmp/search")")
fi
echo "capacity: streaming (64 KB ranges of a 5 MB song)" >&2
rows+=("$(BENCH_RANGE=65536 BENCH_SIZE=$size \
          row 'stream 64 KB ranges' bench/stream.lua "$stream")")

printf '%s\n' "${rows[@]}" >&2
printf '\n## What one core serves (%s, %d s a row, %d connections)\n\n' \
    "$(git rev-parse --short HEAD 2>/dev/null || echo '?')" "$seconds" \
    "$conns"
echo "| path | req/s (whole machine) | answered | per nginx core | per Postgres core | per Redis core |"
echo "|---|---|---|---|---|---|"
for r in "${rows[@]}"; do
    echo "$r" | awk '{
        n = NF; mb = $n; red = $(n-1); pg = $(n-2); ng = $(n-3)
        ok = $(n-4); rps = $(n-5); name = $1
        for (i = 2; i <= n - 6; i++) name = name " " $i
        if (name ~ /stream/) rps = rps " (" mb " MB/s)"
        printf "| %s | %s | %s%% | %s | %s | %s |\n", name, rps, ok,
            ng ? ng : "-", pg ? pg : "-", red ? red : "-" }'
done

# the arithmetic, from the rows above: a cached answer costs the mean of
# the cached rows, a miss the mean of the uncached item rows, a search
# (CAPACITY_SEARCH of the requests, 2% as in the bench's mix) an uncached
# search; every server is sized to run at half its cores at the peak
printf '%s\n' "${rows[@]}" | awk -v L="$listeners" -v I="$interval" \
    -v K="$kbps" -v H="$hit" -v S="${CAPACITY_SEARCH:-0.02}" '
    { n = NF; name = $1; for (i = 2; i <= n - 6; i++) name = name " " $i
      ng[name] = $(n-3); pg[name] = $(n-2); red[name] = $(n-1)
      mb[name] = $n; rps[name] = $(n-5) }
    function us(t, k) { return t[k] > 0 ? 1e6 / t[k] : 0 }
    function mean(t, a, b) { return (us(t, a) + us(t, b)) / 2 }
    function up(x) { return x == int(x) ? x : int(x) + 1 }
    END {
        api = L / I; se = api * S; items = api - se
        hits = items * H; miss = items - hits
        c = "songs/ID cached"; c2 = "albums/ID/songs cached"
        m = "songs/ID uncached"; m2 = "albums/ID/songs uncached"
        q = "search uncached"
        node = (hits * mean(ng, c, c2) + miss * mean(ng, m, m2) \
                + se * us(ng, q)) / 1e6
        db = (miss * mean(pg, m, m2) + se * us(pg, q)) / 1e6
        cache = (hits * mean(red, c, c2) + miss * mean(red, m, m2) \
                 + se * us(red, q)) / 1e6
        gbit = L * K / 1e6
        printf "\n## Capacity on paper: %d listeners at the peak\n\n", L
        printf "- Requests: %d listeners / %d s = **%d req/s**: %d searches (%.0f%%), %d item reads of which %.0f%% from a cache (%d hits, %d misses).\n", L, I, api, se, 100 * S, items, 100 * H, hits, miss
        printf "- Nodes (nginx CPU): %d x %.1f us + %d x %.1f us + %d x %.1f us = **%.2f cores**; at half load %.2f cores: %d node(s) of 2 cores, plus one for a node lost = **%d nodes**.\n", hits, mean(ng, c, c2), miss, mean(ng, m, m2), se, us(ng, q), node, 2 * node, up(node), up(node) + 1
        printf "- Postgres: %d misses x %.1f us + %d searches x %.1f us = **%.2f cores**; at half load %.2f cores: the primary and **one replica** of 2 cores (the replica takes the reads, the primary the writes and stays warm for a failover).\n", miss, mean(pg, m, m2), se, us(pg, q), db, 2 * db
        printf "- Redis: %d x %.1f us + %d x %.1f us + %d x %.1f us = **%.2f cores**; one Redis (single-threaded) at %.0f%% of its core.\n", hits, mean(red, c, c2), miss, mean(red, m, m2), se, us(red, q), cache, 100 * cache
        printf "- Audio: %d streams x %d kbit/s = **%.1f Gbit/s** (%.0f MB/s) from CloudFront and S3; a node only signs the link in the song answer.", L, K, gbit, gbit * 1e3 / 8
        if (ng["stream 64 KB ranges"] > 0)
            printf " Served by the nodes instead (local storage) at %.0f MB/s per nginx core, that would be %.1f cores and %.1f Gbit/s of node network.", ng["stream 64 KB ranges"] * 65536 / 1048576, (gbit * 1e9 / 8) / (ng["stream 64 KB ranges"] * 65536), gbit
        printf "\n"
        printf "- The bottleneck: %s; searches are %.0f%% of Postgres time for %.0f%% of the requests.\n", (db > node ? "Postgres" : "node CPU"), (db > 0 ? 100 * se * us(pg, q) / 1e6 / db : 0), 100 * S
    }'
