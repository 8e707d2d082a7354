#!/bin/bash
# make bench: the seed's experiment against Tunesheap, beside its ceiling.
#
# Generates a catalog (10,000 artists, 50,000 albums, 500,000 songs), loads
# it into a Postgres made for the run, starts nginx with the module, and
# runs wrk at 100, 1,000 and 10,000 connections on /api/v1/artists/ID
# (random ids) and on list pages (random offsets).  Beside each row: nginx
# serving the very same bytes from static files, in the same run, on the
# same machine: the ceiling.  Prints one table.
#
# Environment: BENCH_SECONDS (per run, default 10), BENCH_CONNS (default
# "100 1000 10000"), BENCH_DIR (default var/bench; its catalog is kept
# between runs).
set -eu

cd "$(dirname "$0")/.."
root=$PWD
dir=${BENCH_DIR:-$root/var/bench}
seconds=${BENCH_SECONDS:-10}
conns=${BENCH_CONNS:-"100 1000 10000"}
pg_port=${BENCH_PG_PORT:-5434}
http_port=${BENCH_HTTP_PORT:-8090}
artists=10000 albums=50000 songs=500000

mkdir -p "$dir"
chmod 755 "$dir"
ulimit -n 20000

nginx_pid=$dir/nginx/logs/nginx.pid

stop() {
    if [ -f "$nginx_pid" ]; then
        kill -QUIT "$(cat "$nginx_pid")" 2>/dev/null || true
        for _ in $(seq 50); do [ -f "$nginx_pid" ] || break; sleep 0.1; done
    fi
    db/pg.sh stop "$dir/pg" >/dev/null 2>&1 || true
}
trap stop EXIT

echo "bench: Postgres on 127.0.0.1:$pg_port" >&2
db/pg.sh start "$dir/pg" "$pg_port" >/dev/null 2>&1
dsn=$(db/pg.sh dsn "$dir/pg")

count=$(db/pg.sh psql "$dir/pg" tunesheap -Atc 'SELECT count(*) FROM songs')
if [ "$count" != "$songs" ]; then
    echo "bench: generating and importing $artists/$albums/$songs" >&2
    db/gen-catalog.pl $artists $albums $songs 42 >"$dir/catalog.json"
    start=$(date +%s)
    db/import.sh "$dsn" "$dir/catalog.json"
    echo "bench: import took $(($(date +%s) - start)) s" >&2
    db/pg.sh psql "$dir/pg" tunesheap -qc 'VACUUM ANALYZE'
fi

mkdir -p "$dir/nginx/logs" "$dir/nginx/tmp" "$dir/static"
cat >"$dir/nginx.conf" <<CONF
load_module $root/build/nginx/objs/ngx_tunesheap_module.so;
worker_processes 2;
worker_rlimit_nofile 20000;
error_log logs/error.log warn;
pid logs/nginx.pid;
events { worker_connections 12000; }
http {
    access_log off;
    client_body_temp_path tmp/body;
    proxy_temp_path tmp/proxy;
    fastcgi_temp_path tmp/fastcgi;
    uwsgi_temp_path tmp/uwsgi;
    scgi_temp_path tmp/scgi;
    keepalive_requests 1000000;
    open_file_cache max=20000 inactive=60s;
    tunesheap_postgres "$dsn" pool=16 queue=12000;
    tunesheap_postgres_timeout 30s;
    server {
        listen 127.0.0.1:$http_port backlog=16384;
        location /api/v1/ { tunesheap_api; }
        location /static/ {
            root $dir;
            default_type "application/json; charset=utf-8";
            etag on;
        }
    }
}
CONF

/usr/sbin/nginx -p "$dir/nginx/" -c "$dir/nginx.conf"
for _ in $(seq 50); do
    curl -fs -o /dev/null "http://127.0.0.1:$http_port/api/v1/health" && break
    sleep 0.2
done

# the same bytes as static files: every artist, every list page
pages=$((artists / 20))
mkdir -p "$dir/static/artists" "$dir/static/pages"
curl -fs "http://127.0.0.1:$http_port/api/v1/artists/[1-$artists]" \
    -o "$dir/static/artists/#1"
curl -fs "http://127.0.0.1:$http_port/api/v1/artists?limit=20&offset=[0-$((artists - 20)):20]" \
    -o "$dir/static/pages/#1"

# one wrk run: prints "req/s p50_ms p99_ms success% mean_s"
measure() {
    local path=$1 n=$2 step=$3 c=$4 out threads=2
    [ "$c" -lt 2 ] && threads=1
    out=$(BENCH_PATH=$path BENCH_N=$n BENCH_STEP=$step \
          wrk -t$threads -c"$c" -d"${seconds}s" --timeout 10s \
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

printf '\nTunesheap %s, %s songs, %ss per run; each cell: module / static file\n' \
    "$(git rev-parse --short HEAD 2>/dev/null || echo '?')" "$songs" "$seconds"
printf '%-22s %6s %17s %7s %15s %17s %15s %17s\n' endpoint conns \
    "req/s" "ratio" "p50 ms" "p99 ms" "success %" "mean s/request"

row() {
    local name=$1 api=$2 static=$3 n=$4 step=$5 c=$6 a s
    a=($(measure "$api" "$n" "$step" "$c"))
    s=($(measure "$static" "$n" "$step" "$c"))
    printf '%-22s %6s %8s/%-8s %6.0f%% %7s/%-7s %8s/%-8s %7s/%-7s %8s/%-8s\n' \
        "$name" "$c" "${a[0]}" "${s[0]}" \
        "$(awk -v a="${a[0]}" -v s="${s[0]}" 'BEGIN { print 100 * a / s }')" \
        "${a[1]}" "${s[1]}" "${a[2]}" "${s[2]}" "${a[3]}" "${s[3]}" \
        "${a[4]}" "${s[4]}"
}

for c in $conns; do
    row "artists/ID" "/api/v1/artists/{n}" "/static/artists/{n}" \
        "$artists" 1 "$c"
    row "artists?offset=N" "/api/v1/artists?limit=20&offset={n}" \
        "/static/pages/{n}" "$pages" 20 "$c"
done

grep -E '\[(alert|emerg|crit)\]' "$dir/nginx/logs/error.log" >&2 || true
