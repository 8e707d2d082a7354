#!/bin/bash
# make bench: the seed's experiment and a music app's traffic against
# Tunesheap as `make run` configures it, beside their ceilings.
#
# nginx runs conf/tunesheap.dev.conf itself (bench_conf below changes only
# addresses, ports and paths, and adds the measuring locations: static
# files, and /nocache/api/v1/ with tunesheap_cache off), over a catalog of
# 10,000 artists, 50,000 albums and 500,000 songs (ids dense from 1) in a
# Postgres of the run's own, with a Redis of its own.  Every row is wrk
# against the module beside static nginx serving the same bytes in the same
# run; see bench/README.md for each part.  Prints tables:
#   1. artists/ID and artists?offset=N, cached and uncached (the seed's);
#   2. the mix: a music app's requests (bench/mixpaths.awk), ids skewed like
#      play counts, from an empty cache (Redis flushed, nginx restarted);
#   3. per route (songs/ID, albums/ID/songs, deep list pages), cached and
#      uncached, with the combined ceiling 1/(1/static + 1/pgbench) of the
#      very statement the module runs, at pgbench's best client count;
#   4. overload: Postgres held to a slice of a CPU (cgroup v1), 10,000
#      connections on uncached songs: answered in time, 503s with
#      Retry-After, nginx's memory, time to full service afterwards;
#   5. nginx's memory with 10,000 connections, and over a soak;
#   6. search, uncached: distinct texts of every kind a search must afford,
#      p99 at 1 client and searches/s at 100 (the median of 3 runs);
#   7. streaming (bench/stream.sh).
#
# Environment: BENCH_SECONDS (per run, 10), BENCH_MIX_SECONDS (per mix
# run, 30: see bench/README.md), BENCH_CONNS ("100 1000 10000"), BENCH_SOAK (seconds of the memory run, 60; 0 skips it),
# BENCH_DIR (var/bench; its catalog is kept between runs), BENCH_ONLY (a
# space-separated subset of: seed mix routes overload memory search
# stream),
# BENCH_PG_PORT (5434), BENCH_REDIS_PORT (6390), BENCH_HTTP_PORT (8090),
# BENCH_PGBENCH_CLIENTS ("2 4 8 16 32"), BENCH_PGBENCH_SECONDS (5),
# BENCH_OVERLOAD_QUOTA (Postgres's CPU share in the overload row, in % of
# one CPU, 5).  bench/stream.sh has the streaming rows' own.
set -eu

cd "$(dirname "$0")/.."
root=$PWD
dir=${BENCH_DIR:-$root/var/bench}
seconds=${BENCH_SECONDS:-10}
mix_seconds=${BENCH_MIX_SECONDS:-30}
conns=${BENCH_CONNS:-"100 1000 10000"}
soak=${BENCH_SOAK:-60}
pg_port=${BENCH_PG_PORT:-5434}
redis_port=${BENCH_REDIS_PORT:-6390}
http_port=${BENCH_HTTP_PORT:-8090}
pgb_clients=${BENCH_PGBENCH_CLIENTS:-"2 4 8 16 32"}
pgb_seconds=${BENCH_PGBENCH_SECONDS:-5}
quota=${BENCH_OVERLOAD_QUOTA:-5}
only=${BENCH_ONLY:-seed mix routes overload memory search stream}
artists=10000 albums=50000 songs=500000
dev_conf=$root/conf/tunesheap.dev.conf
pgbench=$(ls /usr/lib/postgresql/*/bin/pgbench | tail -n 1)

for part in $only; do
    case $part in
        seed|mix|routes|overload|memory|search|stream) ;;
        *) echo "bench: BENCH_ONLY takes seed mix routes overload memory" \
                "search stream, not $part" >&2; exit 2 ;;
    esac
done
want() { case " $only " in *" $1 "*) return 0 ;; esac; return 1; }

mkdir -p "$dir"
chmod 755 "$dir"
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
bench/somaxconn.sh 16384

nginx_pid=$dir/nginx/logs/nginx.pid
stream_pid=$dir/stream/nginx/logs/nginx.pid
access_log=$dir/nginx/logs/access.log
cgroup=/sys/fs/cgroup/cpu/tunesheap-bench-$$

unthrottle() {
    [ -d "$cgroup" ] || return 0
    echo -1 >"$cgroup/cpu.cfs_quota_us" 2>/dev/null || true
    while read -r p; do
        echo "$p" >/sys/fs/cgroup/cpu/cgroup.procs 2>/dev/null || true
    done <"$cgroup/cgroup.procs"
    rmdir "$cgroup" 2>/dev/null || true
}

stop_nginx() {
    local pid=$1
    [ -f "$pid" ] || return 0
    kill -QUIT "$(cat "$pid")" 2>/dev/null || true
    for _ in $(seq 100); do [ -f "$pid" ] || break; sleep 0.1; done
}

stop() {
    unthrottle
    stop_nginx "$nginx_pid"
    stop_nginx "$stream_pid"
    db/redis.sh stop "$dir/redis" >/dev/null 2>&1 || true
    db/pg.sh stop "$dir/pg" >/dev/null 2>&1 || true
}
trap stop EXIT

echo "bench: Postgres on 127.0.0.1:$pg_port, Redis on $redis_port," \
     "nginx on $http_port" >&2
dsn=$(bench/catalog.sh "$dir" "$pg_port")
db/redis.sh start "$dir/redis" "$redis_port"
psql_() { db/pg.sh psql "$dir/pg" tunesheap "$@"; }

# bench_conf PREFIX PORT EXTRA: conf/tunesheap.dev.conf as nginx will run
# it here (t/tools/devconf.pl: ports, paths, the measuring locations)
bench_conf() {
    t/tools/devconf.pl "$root" "$pg_port" "$redis_port" "$2" "$3"
}

# the module's measuring locations beside the dev file's /api/v1/
cat >"$dir/locations.conf" <<CONF
# bench/run.sh's measuring locations (not in what ships)
location /nocache/api/v1/ {
    tunesheap_api /nocache/api/v1/;
    tunesheap_cache off;
}
location /static/ {
    root $dir;
    default_type "application/json; charset=utf-8";
    etag on;
    open_file_cache max=4000 inactive=60s;
}
CONF

mkdir -p "$dir/nginx/logs" "$dir/nginx/tmp" "$dir/media/.tmp" "$dir/static"
chmod 777 "$dir/media" "$dir/media/.tmp"
bench_conf "$dir/nginx" "$http_port" "$dir/locations.conf" >"$dir/nginx.conf"
diff -u "$dev_conf" "$dir/nginx.conf" >"$dir/nginx.conf.diff" || true

api=http://127.0.0.1:$http_port

start_nginx() {
    stop_nginx "$nginx_pid"
    /usr/sbin/nginx -p "$dir/nginx/" -c "$dir/nginx.conf"
    for _ in $(seq 50); do
        curl -fs -o /dev/null "$api/api/v1/health" && return 0
        sleep 0.2
    done
    echo "bench: nginx does not answer on $http_port" >&2
    return 1
}
: >"$dir/nginx/logs/error.log"
: >"$access_log"

# the deadline, from the shipped configuration (for "answered in time")
deadline=$(sed -n 's/^ *tunesheap_postgres_timeout *\([0-9]*\)s;.*/\1/p' \
           conf/tunesheap-http.conf)
deadline=${deadline:-5}

# Is keyset paging (after=ID) in this build?  Without it after= is an
# unknown argument and the first page comes back: deep pages then use
# offset=, and the tables say so.
keyset=0
if curl -fs "$api/api/v1/songs?limit=1&after=5" 2>/dev/null \
   | grep -q '^{"songs":\[{"id":6,' \
   || { start_nginx >/dev/null && curl -fs "$api/api/v1/songs?limit=1&after=5" \
        | grep -q '^{"songs":\[{"id":6,'; }
then
    keyset=1
fi

# ---------------------------------------------------------------- helpers

# nginx's memory, all its processes, in MB: proportional set sizes (the
# shared zone and shared pages are counted once, not once per process)
nginx_mem() {
    local pids p
    pids="$(cat "$nginx_pid") $(pgrep -P "$(cat "$nginx_pid")" || true)"
    for p in $pids; do
        awk '/^Pss:/ { print $2 }' "/proc/$p/smaps_rollup" 2>/dev/null
    done | awk '{ s += $1 } END { printf "%.0f", s / 1024 }'
}

# the access log's statuses since it was emptied (nginx writes its buffer
# within a second: flush=1s): "ok 5xx s503 s400 s4xx s499 misses api",
# misses: answers of the module made by Postgres (cache=MISS), api: those
# the cache was asked for (not the static files')
log_statuses() {
    sleep 1.5
    awk -F'"' '{ split($3, f, " "); s = f[1]
        if ($3 ~ / cache=MISS$/) miss++
        if ($3 ~ / cache=[A-Z]/) api++
        if (s == 499) c499++
        else if (s >= 500) { c5++; if (s == 503) c503++ }
        else if (s == 400) c400++
        else if (s >= 400) c4++
        else ok++ }
        END { printf "%d %d %d %d %d %d %d %d\n", ok, c5, c503, c400, c4,
                     c499, miss, api }' \
        "$access_log"
}

# measure C "VAR=value ..." [SECONDS]: one wrk run (the variables are
# bench/wrk.lua's); prints "req/s p50_ms p99_ms success% mean_s s5xx socket
# intime% s503 retry miss%" (success: answers not 5xx, over answers plus
# socket errors and timeouts; 5xx from wrk's response() when BENCH_HEADERS
# is set, else the access log's, at most wrk's count of statuses >= 400)
measure() {
    local c=$1 vars secs=${3:-$seconds} out threads=2 st
    read -ra vars <<<"$2"
    [ "$c" -lt 2 ] && threads=1
    : >"$access_log"
    out=$(env "${vars[@]}" BENCH_DEADLINE_US=$((deadline * 1000000)) \
          timeout $((secs + 60)) \
          wrk -t$threads -c"$c" -d"${secs}s" --timeout 10s \
              -s bench/wrk.lua "$api" 2>&1 | grep '^BENCH ') \
        || { echo "wrk failed" >&2; echo "0 0 0 0 0 0 0 0 0 0 0"; return 0; }
    st=($(log_statuses))
    echo "$out" | awk -v log5xx="${st[1]}" -v miss="${st[6]}" \
                      -v api="${st[7]}" '{
        for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
        # the log also holds answers wrk no longer waited for (in flight
        # when its time was up): at most the error statuses wrk saw
        s5 = v["s5xx"] + 0 ? v["s5xx"] : \
             (log5xx < v["status"] ? log5xx : v["status"])
        sock = v["connect"] + v["read"] + v["write"] + v["timeout"]
        tried = v["requests"] + sock
        ok = v["requests"] - s5
        printf "%.0f %.1f %.1f %.2f %.4f %d %d %.1f %d %d %.1f\n",
            ok / (v["duration_us"] / 1e6), v["p50_us"] / 1e3,
            v["p99_us"] / 1e3, tried ? 100 * ok / tried : 0,
            v["mean_us"] / 1e6, s5, sock, v["intime"], v["s503"],
            v["retry"], api ? 100 * miss / api : 0
    }'
    if [ "${st[3]}" -gt 0 ]; then
        echo "bench: ${st[3]} answers were 400" >&2
    fi
}

ratio() {
    awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b ? a / b : 0 }'
}

header() {
    printf '\n%s\n' "$1"
    printf '%-34s %6s %17s %6s %15s %17s %6s %15s\n' endpoint conns \
        "req/s" "ratio" "p50 ms" "p99 ms" "p99 x" "success %"
}

# row NAME C MODULE_ENV STATIC_ENV [SECONDS]: wrk on the module, then on
# static files (each *_ENV a list of VAR=value for bench/wrk.lua)
row() {
    local name=$1 c=$2 secs=${5:-$seconds} a s
    a=($(measure "$c" "$3" "$secs"))
    # slow answers still in flight would load the static run: let them end
    if awk -v p="${a[2]}" 'BEGIN { exit !(p > 1000) }'; then
        sleep "$deadline"
    fi
    s=($(measure "$c" "$4" "$secs"))
    printf '%-34s %6s %8s/%-8s %6s %7s/%-7s %8s/%-8s %6s %7s/%-7s\n' \
        "$name" "$c" "${a[0]}" "${s[0]}" "$(ratio "${a[0]}" "${s[0]}")" \
        "${a[1]}" "${s[1]}" "${a[2]}" "${s[2]}" \
        "$(ratio "${a[2]}" "${s[2]}")" "${a[3]}" "${s[3]}"
    last_api=${a[0]} last_static=${s[0]} last_p99=${a[2]} \
        last_static_p99=${s[2]} last_success=${a[3]} last_5xx=${a[5]} \
        last_sock=${a[6]} last_miss=${a[10]}
}

# fetch PATHS_FILE DIR: every path's answer through the API into DIR/N
# (N: the line), 32 at a time; prints DIR's list of static paths
fetch() {
    local paths=$1 out=$2 rel
    rm -rf "$out"; mkdir -p "$out"
    rel=${out#$dir}
    awk -v api="$api" -v out="$out" \
        '{ printf "url = \"%s%s\"\noutput = \"%s/%d\"\n", api, $0, out, NR }' \
        "$paths" >"$out.curl"
    timeout 300 curl -sZ --parallel-max 32 -K "$out.curl" 2>/dev/null || true
    # a 5xx under that load (a slow search) is fetched again, alone
    grep -l '^{"error":{"status":5' -r "$out" 2>/dev/null \
    | while read -r f; do
        timeout 30 curl -s -o "$f" "$api$(sed -n "${f##*/}p" "$paths")" \
            || true
    done
    # the same bytes, served by the static location (root $dir): a path
    # that misses would measure nginx's 404 instead of the ceiling
    [ "$(curl -s -o /dev/null -w '%{http_code}' "$api$rel/1")" = 200 ] \
        || { echo "bench: $api$rel/1 is not served" >&2; exit 1; }
    awk -v rel="$rel" '{ print rel "/" NR }' "$paths"
}

printf '\nTunesheap %s, %s songs, %ss per run, 2 cores shared by nginx, Postgres, Redis and wrk\n' \
    "$(git rev-parse --short HEAD 2>/dev/null || echo '?')" "$songs" "$seconds"
printf 'nginx runs conf/tunesheap.dev.conf (+ conf/tunesheap-*.conf): the changes are in %s\n' \
    "${dir#$root/}/nginx.conf.diff"
printf 'each cell: module / static nginx (the same bytes); ratio and p99 x: module / static\n'
[ "$keyset" = 1 ] || printf 'NOTE: this build has no keyset paging (after=ID is ignored, the first page comes back): the mix'"'"'s deep pages are first pages; the per-route deep rows use offset=N\n'
start_nginx

# ---------------------------------------------------------------- seed

if want seed; then
    pages=$((artists / 20))
    seq "$artists" | sed 's,^,/api/v1/artists/,' >"$dir/artists.paths"
    seq 0 20 $((artists - 20)) \
        | sed 's,^,/api/v1/artists?limit=20\&offset=,' >"$dir/pages.paths"
    header "The seed's rows: every artist and list page fetched first (Redis filled)"
    for c in $conns; do
        fetch "$dir/artists.paths" "$dir/static/artists" >"$dir/artists.static"
        row "artists/ID cached" "$c" "BENCH_PATHS=$dir/artists.paths" \
            "BENCH_PATHS=$dir/artists.static"
        row "artists/ID uncached" "$c" \
            "BENCH_PATH=/nocache/api/v1/artists/{n} BENCH_N=$artists" \
            "BENCH_PATHS=$dir/artists.static"
        fetch "$dir/pages.paths" "$dir/static/pages" >"$dir/pages.static"
        row "artists?offset=N cached" "$c" "BENCH_PATHS=$dir/pages.paths" \
            "BENCH_PATHS=$dir/pages.static"
        row "artists?offset=N uncached" "$c" \
            "BENCH_PATH=/nocache/api/v1/artists?limit=20&offset={n} BENCH_N=$pages BENCH_STEP=20" \
            "BENCH_PATHS=$dir/pages.static"
    done
fi

# ---------------------------------------------------------------- mix

if want mix; then
    # search texts: words of the catalog's titles, and their prefixes of 3
    # letters or more, as a user types them
    psql_ -Atc "SELECT w FROM (SELECT DISTINCT lower(w) AS w
                FROM (SELECT regexp_split_to_table(title, ' ') AS w
                      FROM songs WHERE id % 997 = 0) t
                WHERE w ~ '^[A-Za-z]{3,}$') u ORDER BY w" \
        | awk '{ print; for (i = 3; i < length($0); i++) print substr($0, 1, i) }' \
        >"$dir/words"
    psql_ -Atc "SELECT DISTINCT genre FROM albums WHERE genre IS NOT NULL" \
        | sed 's/&/%26/g; s/ /%20/g' >"$dir/genres"
    # without keyset paging in the build, the mix still asks for after=
    # (offset= pages that deep would be all the mix measures): those
    # answers are first pages, cheap; the NOTE above the tables says so
    mixpaths() {
        awk -v count="$1" -v seed="$2" -v songs=$songs -v albums=$albums \
            -v artists=$artists -v keyset=1 -v words="$dir/words" \
            -v genres="$dir/genres" -f bench/mixpaths.awk
    }
    mixpaths 500000 7 >"$dir/mix.paths"
    # the static side: the answers to 20,000 requests drawn the same way,
    # as files, requested with the same skew (popular paths repeat)
    mixpaths 20000 11 >"$dir/mix-sample.paths"
    fetch "$dir/mix-sample.paths" "$dir/static/mix" >"$dir/mix.static"
    bad=$(grep -l '^{"error":{"status":5' -r "$dir/static/mix" | wc -l)
    bad=$((bad + 20000 - $(ls "$dir/static/mix" | wc -l)))
    shares=$(awk -F'[/?]' '{ k = $4; if ($5 ~ /^[0-9]+$/) k = k "/ID"
                              if ($6 != "") k = k "/" $6
                              if (match($0, /[?&](after|offset|album_id|genre|q)=/))
                                  k = k "?" substr($0, RSTART + 1, RLENGTH - 1)
                              n[k]++ }
        END { for (k in n) printf "%d %s\n", n[k], k }' "$dir/mix.paths" \
        | sort -rn | awk '{ printf "%s%s %.0f%%", (NR > 1 ? ", " : ""), $2,
                                   $1 / 5000 }')
    header "A music app's mix ($shares), ids skewed like play counts, empty cache at start, ${mix_seconds}s per run"
    [ "$bad" = 0 ] || echo "bench: $bad of the static mix's 20,000 answers are 5xx or missing" >&2
    mixmiss=
    for c in $conns; do
        # an empty cache: Redis flushed, nginx restarted (its zone)
        db/redis.sh cli "$dir/redis" FLUSHALL >/dev/null
        start_nginx
        row "mix, empty cache" "$c" "BENCH_PATHS=$dir/mix.paths" \
            "BENCH_PATHS=$dir/mix.static" "$mix_seconds"
        mixmiss="$mixmiss $c:$last_miss%"
        if [ "$c" = 10000 ]; then
            mix10k="success $last_success% ($last_5xx 5xx, $last_sock socket errors), p99 $last_p99 ms = $(ratio "$last_p99" "$last_static_p99") x static's $last_static_p99 ms"
        fi
        if [ "$c" = 1000 ]; then
            mix1k="$last_api req/s = $(ratio "$last_api" "$last_static") x static's $last_static"
        fi
    done
    printf 'mix: share of the answers Postgres made (misses), by connections:%s\n' "$mixmiss"
    [ -z "${mix1k:-}" ] || printf 'mix at 1,000 connections: %s\n' "$mix1k"
    [ -z "${mix10k:-}" ] || printf 'mix at 10,000 connections: %s\n' "$mix10k"
fi

# ---------------------------------------------------------------- routes

# pgbench_script NAME PROBE_PATH ID LO HI: the statements the module runs
# for PROBE_PATH (uncached), with the parameter equal to ID drawn from
# LO..HI, as a pgbench script in $dir/NAME.sql.  The SQL is Postgres's own
# record of the module's connections (log_statement=all while the probe
# runs): the setup's PREPAREs (each its own statement, or one string of
# them all before), then "execute NAME" with its parameters for the probe.
capture_start() {
    psql_ -qc "ALTER SYSTEM SET log_statement = 'all'" \
        -c 'SELECT pg_reload_conf()' >/dev/null
    sleep 0.5
    log_offset=$(stat -c %s "$dir/pg/postgresql.log")
    start_nginx           # new connections: their setup is logged
    curl -fs -o /dev/null "$api/nocache/api/v1/songs/1"
}
capture_end() {
    psql_ -qc 'ALTER SYSTEM RESET log_statement' \
        -c 'SELECT pg_reload_conf()' >/dev/null
}
probe() {
    local name=$1 path=$2
    psql_ -qAtc "SELECT 'bench-probe $name'" >/dev/null
    curl -fs -o /dev/null "$api/nocache$path" \
        || echo "bench: $path does not answer 200" >&2
    psql_ -qAtc "SELECT 'bench-probe-end $name'" >/dev/null
}
pgbench_script() {
    local name=$1 id=$2 lo=$3 hi=$4
    tail -c +"$((log_offset + 1))" "$dir/pg/postgresql.log" \
    | perl -e '
        my ($name, $id, $lo, $hi) = @ARGV;
        my (%prep, @exec, $in, $last);
        while (<STDIN>) {
            chomp;
            if (/(?:statement|execute [^:]*): ((?:SET .*?)?PREPARE .*)$/) {
                for my $st (split /;(?=PREPARE )/, $1) {
                    $prep{$1} = $2 if $st =~ /^PREPARE (\w+) AS (.*?);?$/s;
                }
            }
            $in = 1 if /bench-probe \Q$name\E\x27/;
            $in = 0 if /bench-probe-end \Q$name\E\x27/;
            next unless $in;
            if (/execute (\w+):/) { push @exec, [$1, []]; }
            if (/DETAIL:\s+parameters: (.*)$/ && @exec) {
                my $p = $1;
                while ($p =~ /\$(\d+) = (NULL|\x27((?:[^\x27]|\x27\x27)*)\x27)/g) {
                    $exec[-1][1][$1] = $2;
                }
            }
        }
        die "bench: no statement logged for $name\n" unless @exec;
        print "\\set id random($lo, $hi)\n";
        for my $e (@exec) {
            my ($st, $params) = @$e;
            next if $st =~ /^ts_(health|auth)/;
            my $sql = $prep{$st} or die "bench: no PREPARE of $st logged\n";
            # pgbench reads ":word" as a variable: colons in literals
            # become chr(58)
            $sql =~ s{\x27((?:[^\x27]|\x27\x27)*)\x27}{
                my $l = $1; $l =~ s/:/\x27 || chr(58) || \x27/g; "\x27$l\x27" }ge;
            $sql =~ s{\$(\d+)}{
                my $v = $params->[$1];
                die "bench: $st: no parameter \$$1\n" unless defined $v;
                $v eq "\x27$id\x27" ? ":id" : $v }ge;
            print "-- $st\n$sql;\n";
        }
    ' "$name" "$id" "$lo" "$hi" >"$dir/$name.sql"
}

# the best rate of pgbench over the client counts tried: "tps clients
# clients:tps..."
pgbench_best() {
    local script=$1 c tps best=0 bestc=0 all=
    for c in $pgb_clients; do
        tps=$(timeout $((pgb_seconds + 30)) "$pgbench" -n -M prepared \
                  -c "$c" -j $((c < 2 ? 1 : 2)) -T "$pgb_seconds" \
                  -f "$script" -h 127.0.0.1 -p "$pg_port" -U tunesheap \
                  tunesheap 2>>"$dir/pgbench.err" \
              | awk '/^tps/ { printf "%.0f\n", $3; exit }')
        tps=${tps:-0}
        all="$all $c:$tps"
        if [ "$tps" -gt "$best" ]; then best=$tps bestc=$c; fi
    done
    echo "$best $bestc$all"
}

if want routes; then
    deep_lo=$((songs * 9 / 10)) deep_hi=$((songs - 20))
    if [ "$keyset" = 1 ]; then
        deep=/api/v1/songs?limit=20\&after=
    else
        deep=/api/v1/songs?limit=20\&offset=
    fi
    # the same depth by offset= (issue 9: its cost must not grow with it)
    deep_offset=/api/v1/songs?limit=20\&offset=
    routes="song album_songs deep"
    [ "$keyset" = 1 ] && routes="$routes deep_offset"
    capture_start
    probe song /api/v1/songs/123457
    probe album_songs /api/v1/albums/23457/songs
    probe deep "${deep}463217"
    [ "$keyset" = 1 ] && probe deep_offset "${deep_offset}463217"
    capture_end
    pgbench_script song 123457 1 $songs
    pgbench_script album_songs 23457 1 $albums
    pgbench_script deep 463217 $deep_lo $deep_hi
    [ "$keyset" = 1 ] \
        && pgbench_script deep_offset 463217 $deep_lo $deep_hi

    # the cached rows and the static side: 5,000 random paths of the route
    # fetched through the API just before (their answers are in Redis)
    route_paths() {
        awk -v n="${5:-5000}" -v lo="$2" -v hi="$3" -v p="$1" -v s="$4" 'BEGIN {
            srand(s); for (i = 0; i < n; i++)
                print p int(lo + rand() * (hi - lo + 1)) }'
    }
    route_paths /api/v1/songs/ 1 $songs 1 >"$dir/song.paths"
    route_paths /api/v1/albums/ 1 $albums 2 | sed 's,$,/songs,' \
        >"$dir/album_songs.paths"
    # (offset pages are slow to fetch: fewer of them)
    route_paths "$deep" $deep_lo $deep_hi 3 $((keyset ? 5000 : 200)) \
        >"$dir/deep.paths"
    route_paths "$deep_offset" $deep_lo $deep_hi 4 1000 \
        >"$dir/deep_offset.paths"

    declare -A tps pgc pgb_line uncached_env
    for r in $routes; do
        read -r tps[$r] pgc[$r] pgb_line[$r] < <(pgbench_best "$dir/$r.sql")
    done
    uncached_env[song]="BENCH_PATH=/nocache/api/v1/songs/{n} BENCH_N=$songs"
    uncached_env[album_songs]="BENCH_PATH=/nocache/api/v1/albums/{n}/songs BENCH_N=$albums"
    uncached_env[deep]="BENCH_PATH=/nocache${deep}{n} BENCH_N=$((deep_hi - deep_lo + 1)) BENCH_BASE=$((deep_lo - 1))"
    uncached_env[deep_offset]="BENCH_PATH=/nocache${deep_offset}{n} BENCH_N=$((deep_hi - deep_lo + 1)) BENCH_BASE=$((deep_lo - 1))"
    declare -A label
    label[song]=songs/ID label[album_songs]=albums/ID/songs
    label[deep]="songs deep page, ${deep##*&}"
    label[deep_offset]="songs deep page, offset="

    header "Per route: cached (5,000 paths fetched just before), uncached (tunesheap_cache off, any id)"
    : >"$dir/ceilings"
    for c in $conns; do
        for r in $routes; do
            fetch "$dir/$r.paths" "$dir/static/$r" >"$dir/$r.static"
            row "${label[$r]} cached" "$c" "BENCH_PATHS=$dir/$r.paths" \
                "BENCH_PATHS=$dir/$r.static"
            row "${label[$r]} uncached" "$c" "${uncached_env[$r]}" \
                "BENCH_PATHS=$dir/$r.static"
            ceiling=$(awk -v s="$last_static" -v p="${tps[$r]}" \
                'BEGIN { printf "%.0f", (s && p) ? 1 / (1 / s + 1 / p) : 0 }')
            printf '%-34s %6s %8s req/s = %s x the combined ceiling 1/(1/%s + 1/%s) = %s\n' \
                "${label[$r]} uncached" "$c" "$last_api" \
                "$(ratio "$last_api" "$ceiling")" "$last_static" \
                "${tps[$r]}" "$ceiling" >>"$dir/ceilings"
        done
    done
    printf '\npgbench, the statements the module runs (%s), prepared, %ss per client count (clients:tps):\n' \
        "${dir#$root/}/{${routes// /,}}.sql" "$pgb_seconds"
    for r in $routes; do
        printf '  %-28s best %s tps at %s clients; %s\n' "${label[$r]}" \
            "${tps[$r]}" "${pgc[$r]}" "${pgb_line[$r]}"
    done
    cat "$dir/ceilings"

    # a deep page against the song item: the machine's speed drifts by
    # tens of percent within minutes, so rows measured a minute apart (as
    # in the table) make a noisy ratio; here they run in turn, three
    # times, and each ratio is of the sums
    deeps=$(for r in $routes; do [ "${r#deep}" != "$r" ] && echo "$r"; done)
    printf '\nDeep pages against the uncached song item: the song item and each deep page uncached, in turn, 3 times, %ss each\n' \
        "$seconds"
    declare -A sum runs
    for c in $conns; do
        sum=() runs=()
        for i in 1 2 3; do
            for r in song $deeps; do
                a=($(measure "$c" "${uncached_env[$r]}"))
                sum[$r]=$(( ${sum[$r]:-0} + ${a[0]} ))
                runs[$r]="${runs[$r]:-} ${a[0]}"
                # slow answers still in flight would load the next run
                if awk -v p="${a[2]}" 'BEGIN { exit !(p > 1000) }'; then
                    sleep "$deadline"
                fi
            done
        done
        for r in $deeps; do
            printf '%s uncached at %s: %s x the uncached song item (req/s:%s; song:%s)\n' \
                "${label[$r]}" "$c" "$(ratio "${sum[$r]}" "${sum[song]}")" \
                "${runs[$r]}" "${runs[song]}"
        done
    done
fi

# ---------------------------------------------------------------- overload

if want overload; then
    printf '\nOverload: Postgres held to %s%% of one CPU (cgroup v1 cpu), 10,000 connections on uncached songs/ID for %ss; deadline %ss\n' \
        "$quota" "$seconds" "$deadline"
    if mkdir "$cgroup" 2>/dev/null; then
        start_nginx
        echo 100000 >"$cgroup/cpu.cfs_period_us"
        echo $((quota * 1000)) >"$cgroup/cpu.cfs_quota_us"
        pm=$(head -n 1 "$dir/pg/postmaster.pid")
        for p in $pm $(pgrep -P "$pm"); do
            echo "$p" >"$cgroup/cgroup.procs" 2>/dev/null || true
        done
        : >"$access_log"
        ( sleep $((seconds / 2)); nginx_mem >"$dir/overload.mem" ) &
        sampler=$!
        o=($(measure 10000 "BENCH_HEADERS=1 BENCH_PATH=/nocache/api/v1/songs/{n} BENCH_N=$songs"))
        wait $sampler || true
        # the load drops: Postgres gets its CPU back, wrk is gone; until a
        # plain uncached request answers 200 within 100 ms
        unthrottle
        t0=$(date +%s.%N) recovered=
        for _ in $(seq 300); do
            t=$(curl -s -o /dev/null -m 1 -w '%{http_code} %{time_total}' \
                "$api/nocache/api/v1/songs/$((RANDOM % songs + 1))") || true
            if [ "${t%% *}" = 200 ] && \
               awk -v t="${t#* }" 'BEGIN { exit !(t < 0.1) }'; then
                recovered=$(awk -v a="$t0" -v b="$(date +%s.%N)" \
                            'BEGIN { printf "%.2f", b - a }')
                break
            fi
            sleep 0.05
        done
        printf '  answered (not 5xx, no socket error) %s%%, within the deadline %s%%; %s req/s, p99 %s ms\n' \
            "${o[3]}" "${o[7]}" "${o[0]}" "${o[2]}"
        printf '  5xx: %s, of which 503: %s, with Retry-After: %s; socket errors and timeouts: %s\n' \
            "${o[5]}" "${o[8]}" "${o[9]}" "${o[6]}"
        printf '  nginx memory (PSS, all processes) mid-run: %s MB; full service %s s after the load dropped\n' \
            "$(cat "$dir/overload.mem")" "${recovered:-not within 15}"
    else
        echo "  skipped: cannot create $cgroup (needs root and cgroup v1's cpu controller)"
    fi
fi

# ---------------------------------------------------------------- memory

if want memory; then
    start_nginx
    BENCH_PATH=/api/v1/artists/{n} BENCH_N=$artists \
        timeout $((seconds + 60)) \
        wrk -t2 -c10000 -d"${seconds}s" --timeout 10s -s bench/wrk.lua \
        "$api" >/dev/null 2>&1 &
    wrk_pid=$!
    sleep $((seconds / 2))
    printf '\nnginx memory (PSS, all processes) with 10,000 connections open: %s MB\n' \
        "$(nginx_mem)"
    wait $wrk_pid || true

    if [ "$soak" -gt 0 ]; then
        [ -s "$dir/mix.paths" ] || seq "$artists" \
            | sed 's,^,/api/v1/artists/,' >"$dir/mix.paths"
        BENCH_PATHS=$dir/mix.paths timeout $((soak + 60)) \
            wrk -t2 -c1000 -d"${soak}s" --timeout 10s -s bench/wrk.lua \
            "$api" >/dev/null 2>&1 &
        wrk_pid=$!
        samples=""
        for _ in $(seq 10); do
            sleep $((soak / 10))
            samples="$samples $(nginx_mem)"
        done
        wait $wrk_pid || true
        printf 'nginx memory over %s s of the mix at 1,000 connections, every %s s (MB):%s\n' \
            "$soak" $((soak / 10)) "$samples"
    fi
fi

# ---------------------------------------------------------------- search

if want search; then
    # Distinct texts (no two alike: nothing an answer could be cached
    # under, and tunesheap_cache off besides), all types as a search box
    # asks, drawn from every kind a search must afford: whole titles,
    # common and rare words, two words the second typed halfway, prefixes
    # of 1 to 3 letters, typos (a letter dropped, doubled, replaced or two
    # swapped), and 1 in 10 hostile: stop words, % and _, 200 bytes of a
    # repeated word, texts nothing matches.
    psql_ -Atc "(SELECT title FROM songs WHERE id % 97 = 0 ORDER BY id)
                UNION ALL (SELECT title FROM albums WHERE id % 11 = 0
                           ORDER BY id)
                UNION ALL (SELECT name FROM artists WHERE id % 2 = 0
                           ORDER BY id)" \
    | perl -CSD -e '
        srand(42);
        my (@q, %seen);
        sub esc { my $s = shift; utf8::encode($s);
                  $s =~ s/([^A-Za-z0-9_.~-])/sprintf("%%%02X", ord $1)/ge; $s }
        sub typo { my $w = shift; my $i = int rand(length $w - 1);
            my $k = int rand 4;
            return substr($w, 0, $i) . substr($w, $i + 1) if $k == 0;
            return substr($w, 0, $i + 1) . substr($w, $i) if $k == 1;
            return substr($w, 0, $i) . chr(97 + int rand 26)
                   . substr($w, $i + 1) if $k == 2;
            substr($w, 0, $i) . substr($w, $i + 1, 1) . substr($w, $i, 1)
                . substr($w, $i + 2) }
        my @hostile = ("%", "_", "%%%%", "a%b_c", "100%", "_%_", "the",
                       "of the", "a", "the the", "\x27; --", "zzqqxxjj");
        while (my $t = <STDIN>) {
            chomp $t;
            my @w = grep { length } split /[^\w]+/, lc $t;
            next unless @w;
            my $w = $w[int rand @w];
            my $k = int rand 10;
            my $q = $k == 0 ? $t
                  : $k == 1 ? $w
                  : $k == 2 && @w > 1 ? "$w[0] " . substr($w[1], 0,
                                          1 + int rand length $w[1])
                  : $k == 3 ? substr($w, 0, 1 + int rand 3)
                  : $k <= 6 && length $w >= 4 ? typo($w)
                  : $k == 7 ? substr(($w . " ") x 100, 0, 200)
                  : $k == 8 ? $hostile[int rand @hostile] . " " . $w
                  : $w;
            chop $q while do { my $b = $q; utf8::encode($b); length $b } > 200;
            $q =~ s/\s+$// if $k != 7;
            push @q, $q unless $seen{$q}++;
        }
        print "/nocache/api/v1/search?q=", esc($_), "\n" for @q;
    ' >"$dir/search.paths"
    printf '\nSearch, uncached (tunesheap_cache off), all types, %s distinct texts of every kind (bench/run.sh), %ss per run\n' \
        "$(wc -l <"$dir/search.paths")" "$seconds"
    start_nginx
    # at 100 clients three runs, the goal judged on their median: one
    # 6 s run's rate moved by 15% from one run to the next here
    rates=""
    for c in 1 100 100 100; do
        s=($(measure "$c" "BENCH_PATHS=$dir/search.paths"))
        printf '  %3s client(s): %6s searches/s, p50 %s ms, p99 %s ms, answered %s%% (%s 5xx, %s socket errors)\n' \
            "$c" "${s[0]}" "${s[1]}" "${s[2]}" "${s[3]}" "${s[5]}" "${s[6]}"
        [ "$c" = 1 ] && search_p99=${s[2]}
        [ "$c" = 100 ] && rates="$rates ${s[0]}"
    done
    search_rate=$(echo $rates | tr ' ' '\n' | sort -n | sed -n 2p)
    printf '  goals: p99 <= 20 ms at 1 client: %s ms; >= 1,000 searches/s at 100 clients: %s (the median of%s)\n' \
        "$search_p99" "$search_rate" "$rates"
fi

grep -E '\[(alert|emerg|crit)\]' "$dir/nginx/logs/error.log" >&2 || true

if want stream; then
    stop_nginx "$nginx_pid"
    . bench/stream.sh
    stream_bench
fi
