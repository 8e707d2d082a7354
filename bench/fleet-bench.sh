#!/bin/bash
# make fleet-bench: the seed's experiment, "the scaled version against a
# single server", on one machine.  The same read traffic (the bench's mix
# over the 500,000-song catalog, bench/mixpaths.awk, when `make bench` has
# made it; else items and album songs at random) at 1,000 and 10,000
# simultaneous clients against one node and against N nodes, both behind
# HAProxy (t/tools/fleet.sh), each node held to the same CPU share by the
# cgroup v1 cpu controller, one Postgres and one Redis for all.  Prints the
# seed's columns (seconds per successful request, success rate) beside
# requests/s and p99, and the scaling factor N nodes / 1 node.
#
# Environment: FLEET_BENCH_NODES (3), FLEET_BENCH_CPU (each node's share,
# in % of one CPU, 25), FLEET_BENCH_CONNS ("1000 10000"), BENCH_SECONDS
# (per run, 10), BENCH_DIR (var/bench: the catalog's Postgres is kept
# there), BENCH_PG_PORT (5434).
set -eu

cd "$(dirname "$0")/.."
root=$PWD
nodes=${FLEET_BENCH_NODES:-3}
cpu=${FLEET_BENCH_CPU:-25}
conns=${FLEET_BENCH_CONNS:-"1000 10000"}
seconds=${BENCH_SECONDS:-10}
dir=${BENCH_DIR:-$root/var/bench}

export FLEET_DIR=$root/var/fleet-bench
export FLEET_PG_DATA=$dir/pg
export FLEET_PG_PORT=${BENCH_PG_PORT:-5434}
export FLEET_CPU=$cpu
export FLEET_SLOTS=$nodes
lb=http://127.0.0.1:${FLEET_PORT:-8088}

[ -w /sys/fs/cgroup/cpu ] || {
    echo "fleet-bench: needs the cgroup v1 cpu controller, writable" >&2
    exit 1
}
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
bench/somaxconn.sh 16384

bench/catalog.sh "$dir" "$FLEET_PG_PORT" >/dev/null
trap 't/tools/fleet.sh stop' EXIT

paths=$dir/mix.paths
if [ ! -s "$paths" ]; then
    paths=$FLEET_DIR.paths
    awk 'BEGIN { srand(5); for (i = 0; i < 200000; i++) {
        r = rand()
        if (r < 0.4) printf "/api/v1/songs/%d\n", 1 + int(rand() * 500000)
        else if (r < 0.6)
            printf "/api/v1/albums/%d/songs\n", 1 + int(rand() * 50000)
        else if (r < 0.8) printf "/api/v1/albums/%d\n", 1 + int(rand() * 50000)
        else printf "/api/v1/artists/%d\n", 1 + int(rand() * 10000) } }' \
        >"$paths"
fi

# run C: wrk through HAProxy; prints "req/s p99_ms success% mean_s"
run() {
    local c=$1 out
    out=$(BENCH_PATHS=$paths timeout $((seconds + 60)) \
          wrk -t2 -c"$c" -d"${seconds}s" --timeout 10s -s bench/wrk.lua \
              "$lb" 2>&1 | grep '^BENCH ') || { echo "0 0 0 0"; return; }
    echo "$out" | awk '{
        for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
        sock = v["connect"] + v["read"] + v["write"] + v["timeout"]
        ok = v["requests"] - v["status"]
        tried = v["requests"] + sock
        printf "%.0f %.1f %.2f %.3f\n", ok / (v["duration_us"] / 1e6),
            v["p99_us"] / 1e3, tried ? 100 * ok / tried : 0,
            v["mean_us"] / 1e6 }'
}

declare -A result
for n in 1 "$nodes"; do
    t/tools/fleet.sh stop
    t/tools/fleet.sh start "$n" >&2
    db/redis.sh cli "$FLEET_DIR/redis" FLUSHALL >/dev/null 2>&1 || true
    for c in $conns; do
        echo "fleet-bench: $n node(s), $c clients" >&2
        result[$n,$c]=$(run "$c")
    done
done

printf '\n## The seed'"'"'s experiment: %d node(s) vs 1, each %d%% of a CPU' \
    "$nodes" "$cpu"
printf ' (%s, %d s a row)\n\n' \
    "$(git rev-parse --short HEAD 2>/dev/null || echo '?')" "$seconds"
echo "| clients | nodes | s per successful request | success | req/s | p99 ms |"
echo "|---|---|---|---|---|---|"
for c in $conns; do
    for n in 1 "$nodes"; do
        read -r rps p99 ok mean <<<"${result[$n,$c]}"
        printf '| %s | %s | %s | %s%% | %s | %s |\n' "$c" "$n" "$mean" "$ok" \
            "$rps" "$p99"
    done
done
echo
for c in $conns; do
    read -r one _ <<<"${result[1,$c]}"
    read -r many _ <<<"${result[$nodes,$c]}"
    awk -v c="$c" -v n="$nodes" -v a="$many" -v b="$one" 'BEGIN {
        f = b ? a / b : 0
        printf "scaling at %s clients: %.2f x with %d nodes" \
            " (%.2f x N; goal 0.80)\n",
            c, f, n, f / n }'
done
