#!/bin/bash
# make bench: the seed's experiment against Tunesheap, beside its ceilings.
#
# Generates a catalog (10,000 artists, 50,000 albums, 500,000 songs), loads
# it into a Postgres made for the run, starts Redis and nginx with the
# module, and runs wrk at 100, 1,000 and 10,000 connections on
# /api/v1/artists/ID (random ids) and on list pages (random offsets), with
# the cache (Redis and shared memory) and without it.  Beside each row:
# nginx serving the very same bytes from static files, in the same run on
# the same machine; for uncached rows also the combined ceiling
# 1 / (1/static + 1/pgbench), pgbench running the same query as the pool
# does.  Then nginx's memory: with 10,000 open connections, and sampled
# across a long run.  Prints one table.  Then the streaming rows
# (bench/stream.sh): 1,000 clients downloading a 5 MB song and 200 asking
# for random ranges, through the module's stream URL and as a static file.
#
# Environment: BENCH_SECONDS (per run, default 10), BENCH_CONNS (default
# "100 1000 10000"), BENCH_SOAK (seconds of the memory run, default 300;
# 0 skips it), BENCH_DIR (default var/bench; its catalog is kept between
# runs), BENCH_ONLY=stream (the streaming rows alone); bench/stream.sh
# has the streaming rows' own.
set -eu

cd "$(dirname "$0")/.."
root=$PWD
dir=${BENCH_DIR:-$root/var/bench}
seconds=${BENCH_SECONDS:-10}
conns=${BENCH_CONNS:-"100 1000 10000"}
soak=${BENCH_SOAK:-300}
pg_port=${BENCH_PG_PORT:-5434}
redis_port=${BENCH_REDIS_PORT:-6390}
http_port=${BENCH_HTTP_PORT:-8090}
artists=10000 albums=50000 songs=500000
pool=${BENCH_POOL:-3} workers=2

mkdir -p "$dir"
chmod 755 "$dir"
ulimit -n 20000

only=${BENCH_ONLY:-}
case $only in
    ''|stream) ;;
    *) echo "bench: BENCH_ONLY is empty or stream, not $only" >&2; exit 2 ;;
esac

nginx_pid=$dir/nginx/logs/nginx.pid
stream_pid=$dir/stream/nginx/logs/nginx.pid

stop() {
    local pid
    for pid in "$nginx_pid" "$stream_pid"; do
        [ -f "$pid" ] || continue
        kill -QUIT "$(cat "$pid")" 2>/dev/null || true
        for _ in $(seq 50); do [ -f "$pid" ] || break; sleep 0.1; done
    done
    db/redis.sh stop "$dir/redis" >/dev/null 2>&1 || true
    db/pg.sh stop "$dir/pg" >/dev/null 2>&1 || true
}
trap stop EXIT

echo "bench: Postgres on 127.0.0.1:$pg_port, Redis on $redis_port" >&2
db/pg.sh start "$dir/pg" "$pg_port" >/dev/null 2>&1
db/redis.sh start "$dir/redis" "$redis_port"
dsn=$(db/pg.sh dsn "$dir/pg")

count=$(db/pg.sh psql "$dir/pg" tunesheap -Atc 'SELECT count(*) FROM songs')
if [ "$count" != "$songs" ]; then
    echo "bench: generating and importing $artists/$albums/$songs" >&2
    db/gen-catalog.pl $artists $albums $songs 42 >"$dir/catalog.json"
    start=$(date +%s)
    db/import.sh "$dsn" "$dir/catalog.json"
    echo "bench: import took $(($(date +%s) - start)) s" >&2
fi
db/pg.sh psql "$dir/pg" tunesheap -qc 'VACUUM ANALYZE'

# what both bench nginx configurations start with, up to inside http {}
nginx_conf_head() {
    cat <<CONF
load_module $root/build/nginx/objs/ngx_tunesheap_module.so;
worker_processes $workers;
worker_rlimit_nofile 20000;
error_log logs/error.log warn;
pid logs/nginx.pid;
events { worker_connections $1; }
http {
    access_log off;
    client_body_temp_path tmp/body;
    proxy_temp_path tmp/proxy;
    fastcgi_temp_path tmp/fastcgi;
    uwsgi_temp_path tmp/uwsgi;
    scgi_temp_path tmp/scgi;
    keepalive_requests 1000000;
CONF
}

. bench/stream.sh
if [ "$only" = stream ]; then
    stream_bench
    exit 0
fi

mkdir -p "$dir/nginx/logs" "$dir/nginx/tmp" "$dir/static"
{ nginx_conf_head 12000; cat <<CONF
    # fds: 10,000 connections plus cached files stay under the 20,000 cap
    open_file_cache max=8000 inactive=60s;
    tunesheap_postgres "$dsn" pool=$pool queue=12000;
    tunesheap_postgres_timeout 30s;
    tunesheap_redis 127.0.0.1:$redis_port;
    tunesheap_redis_timeout ${BENCH_REDIS_TIMEOUT:-200ms};
    # the cached rows measure a warm cache: the warm-up below must last
    # the whole run (a write would still make answers stale at once)
    tunesheap_cache_ttl 1h;
    ${BENCH_NO_SHM:+#} tunesheap_cache_shm 128m;
    tunesheap_cache_shm_ttl ${BENCH_SHM_TTL:-1s};
    server {
        listen 127.0.0.1:$http_port backlog=16384;
        location /api/v1/ { tunesheap_api; }
        location /nocache/api/v1/ {
            tunesheap_api /nocache/api/v1/;
            tunesheap_cache off;
        }
        location /static/ {
            root $dir;
            default_type "application/json; charset=utf-8";
            etag on;
        }
    }
}
CONF
} >"$dir/nginx.conf"

: >"$dir/nginx/logs/error.log"
/usr/sbin/nginx -p "$dir/nginx/" -c "$dir/nginx.conf"
for _ in $(seq 50); do
    curl -fs -o /dev/null "http://127.0.0.1:$http_port/api/v1/health" && break
    sleep 0.2
done

# the same bytes as static files: every artist, every list page (this also
# fills Redis, as a running service's cache would be)
pages=$((artists / 20))
mkdir -p "$dir/static/artists" "$dir/static/pages"
curl -fs "http://127.0.0.1:$http_port/api/v1/artists/[1-$artists]" \
    -o "$dir/static/artists/#1"
curl -fs "http://127.0.0.1:$http_port/api/v1/artists?limit=20&offset=[0-$((artists - 20)):20]" \
    -o "$dir/static/pages/#1"

# one wrk run: prints "req/s p50_ms p99_ms success% mean_s"
measure() {
    local path=$1 n=$2 step=$3 c=$4 secs=${5:-$seconds} out threads=2
    [ "$c" -lt 2 ] && threads=1
    out=$(BENCH_PATH=$path BENCH_N=$n BENCH_STEP=$step \
          wrk -t$threads -c"$c" -d"${secs}s" --timeout 10s \
              -s bench/wrk.lua "http://127.0.0.1:$http_port" 2>&1 \
          | grep '^BENCH ') || { echo "wrk failed" >&2; return 1; }
    echo "$out" | awk '{
        for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
        ok = v["requests"] - v["status"]
        tried = v["requests"] + v["connect"] + v["read"] + v["write"] \
                + v["timeout"]
        printf "%.0f %.1f %.1f %.2f %.4f\n",
            ok / (v["duration_us"] / 1e6), v["p50_us"] / 1e3,
            v["p99_us"] / 1e3, tried ? 100 * ok / tried : 0,
            v["mean_us"] / 1e6
    }'
}

# nginx's resident memory, all its processes, in MB
nginx_rss() {
    local pids
    pids=$(cat "$nginx_pid"; pgrep -P "$(cat "$nginx_pid")" || true)
    ps -o rss= -p $(echo $pids | tr ' ' ',') \
        | awk '{ s += $1 } END { printf "%.0f", s / 1024 }'
}

# the item query as the pool runs it, prepared, as many clients as the pool
# (the colons of the time format are chr(58): pgbench reads ":MI" as a
# variable)
pgbench_tps() {
    cat >"$dir/item.sql" <<'SQL'
\set id random(1, 10000)
SELECT id, name, country, description,
       to_char(dob AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24' || chr(58) || 'MI' || chr(58) || 'SS "UTC"') AS dob,
       website, picture_url,
       md5('artists(id,name,country,description,dob,website,picture_url)' ||
           ROW(id, name, country, description,
               to_char(dob AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24' || chr(58) || 'MI' || chr(58) || 'SS "UTC"'),
               website, picture_url)::text)
FROM artists WHERE id = :id;
SQL
    /usr/lib/postgresql/15/bin/pgbench -n -M prepared -c $((pool * workers)) \
        -j 2 -T "$seconds" -f "$dir/item.sql" -h 127.0.0.1 -p "$pg_port" \
        -U tunesheap tunesheap 2>/dev/null \
        | awk '/^tps/ { printf "%.0f\n", $3; exit }'
}

ratio() {
    awk -v a="$1" -v b="$2" 'BEGIN { printf "%.0f%%", b ? 100 * a / b : 0 }'
}

printf '\nTunesheap %s, %s songs, %ss per run, 2 cores shared by nginx, Postgres, Redis and wrk\n' \
    "$(git rev-parse --short HEAD 2>/dev/null || echo '?')" "$songs" "$seconds"
printf 'each cell: module / static file (the same bytes)\n'
printf '%-30s %6s %17s %6s %15s %17s %15s %17s\n' endpoint conns \
    "req/s" "ratio" "p50 ms" "p99 ms" "success %" "mean s/request"

row() {
    local name=$1 api=$2 static=$3 n=$4 step=$5 c=$6 a s
    a=($(measure "$api" "$n" "$step" "$c"))
    s=($(measure "$static" "$n" "$step" "$c"))
    printf '%-30s %6s %8s/%-8s %6s %7s/%-7s %8s/%-8s %7s/%-7s %8s/%-8s\n' \
        "$name" "$c" "${a[0]}" "${s[0]}" "$(ratio "${a[0]}" "${s[0]}")" \
        "${a[1]}" "${s[1]}" "${a[2]}" "${s[2]}" "${a[3]}" "${s[3]}" \
        "${a[4]}" "${s[4]}"
    last_api=${a[0]} last_static=${s[0]}
}

for c in $conns; do
    row "artists/ID cached" "/api/v1/artists/{n}" "/static/artists/{n}" \
        "$artists" 1 "$c"
    row "artists/ID uncached" "/nocache/api/v1/artists/{n}" \
        "/static/artists/{n}" "$artists" 1 "$c"
    if [ "$c" = 1000 ]; then
        uncached_1000=$last_api static_1000=$last_static
    fi
    row "artists?offset=N cached" "/api/v1/artists?limit=20&offset={n}" \
        "/static/pages/{n}" "$pages" 20 "$c"
    row "artists?offset=N uncached" \
        "/nocache/api/v1/artists?limit=20&offset={n}" \
        "/static/pages/{n}" "$pages" 20 "$c"
done

tps=$(pgbench_tps)
printf '\npgbench, the item query, prepared, %d clients: %s tps\n' \
    $((pool * workers)) "$tps"

if [ -n "${uncached_1000:-}" ] && [ -n "$tps" ]; then
    ceiling=$(awk -v s="$static_1000" -v p="$tps" \
              'BEGIN { printf "%.0f", 1 / (1 / s + 1 / p) }')
    printf 'uncached artists/ID at 1000: %s req/s = %s of the combined ceiling 1/(1/%s + 1/%s) = %s\n' \
        "$uncached_1000" "$(ratio "$uncached_1000" "$ceiling")" \
        "$static_1000" "$tps" "$ceiling"
fi

# memory with 10,000 connections open, sampled in the middle of a run
BENCH_PATH=/api/v1/artists/{n} BENCH_N=$artists BENCH_STEP=1 \
    wrk -t2 -c10000 -d"${seconds}s" --timeout 10s -s bench/wrk.lua \
    "http://127.0.0.1:$http_port" >/dev/null 2>&1 &
wrk_pid=$!
sleep $((seconds / 2))
printf '\nnginx resident memory with 10,000 connections open: %s MB\n' \
    "$(nginx_rss)"
wait $wrk_pid || true

if [ "$soak" -gt 0 ]; then
    BENCH_PATH=/api/v1/artists/{n} BENCH_N=$artists BENCH_STEP=1 \
        wrk -t2 -c1000 -d"${soak}s" --timeout 10s -s bench/wrk.lua \
        "http://127.0.0.1:$http_port" >/dev/null 2>&1 &
    wrk_pid=$!
    samples=""
    for _ in $(seq 10); do
        sleep $((soak / 10))
        samples="$samples $(nginx_rss)"
    done
    wait $wrk_pid || true
    printf 'nginx resident memory over %s s at 1,000 connections, every %s s (MB):%s\n' \
        "$soak" $((soak / 10)) "$samples"
fi

stream_bench

grep -E '\[(alert|emerg|crit)\]' "$dir/nginx/logs/error.log" >&2 || true
