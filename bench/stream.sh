# make bench's streaming rows (issue 5), sourced by bench/run.sh once
# Postgres holds the catalog; needs its $root, $dir, $dsn, $seconds,
# $stream_pid and bench_conf.
#
# A second nginx (port 8091) runs conf/tunesheap.dev.conf as run.sh's
# bench_conf writes it (sendfile on, as shipped), with its audio under
# $dir/stream/media; big.mp3 (5 MB, t/tools/mkaudio.sh --big) is uploaded
# to song 1 through the API with a write key, and the same file is served
# from a plain static location of the same server, the ceiling.  Then wrk
# (bench/stream.lua):
#   - 1,000 connections, each downloading the whole file again and again:
#     MB/s (every byte wrk read), downloads/s, p50/p99 of a download,
#     success, with the workers' resident memory before, in the middle of
#     and after the module's run (then in the middle of and after the
#     static one);
#   - 200 connections, each asking for one random 64 KB range at a time.
# Success: answers with the expected status (200, or 206 for ranges) over
# everything tried (answers plus wrk's socket errors and timeouts); the
# statuses come from nginx's access log (the shipped one: format api), as
# wrk only counts
# those >= 400.  A 499 is a request wrk dropped when its time was up.
#
# Environment: BENCH_STREAM_PORT (8091), BENCH_STREAM_CONNS (1000),
# BENCH_RANGE_CONNS (200), BENCH_RANGE_LEN (65536), BENCH_STREAM_TIMEOUT
# (seconds before wrk calls a download timed out, 60).

stream_port=${BENCH_STREAM_PORT:-8091}
stream_conns=${BENCH_STREAM_CONNS:-1000}
range_conns=${BENCH_RANGE_CONNS:-200}
range_len=${BENCH_RANGE_LEN:-65536}
stream_timeout=${BENCH_STREAM_TIMEOUT:-60}
sdir=$dir/stream
stream_log=$sdir/nginx/logs/access.log
song=1

stream_start() {
    local key url
    mkdir -p "$sdir/nginx/logs" "$sdir/nginx/tmp" "$sdir/media/.tmp" \
        "$sdir/static"
    chmod 777 "$sdir/media" "$sdir/media/.tmp"   # whoever the workers are
    [ -s "$sdir/static/big.mp3" ] || t/tools/mkaudio.sh --big "$sdir/static"
    size=$(stat -c %s "$sdir/static/big.mp3")

    # the streaming nginx runs conf/tunesheap.dev.conf too (run.sh's
    # bench_conf), on its own prefix: its media are $sdir/media
    cat >"$sdir/locations.conf" <<CONF
# the ceiling: the same file, plain nginx (not in what ships)
location /static-audio/ {
    alias $sdir/static/;
    types { audio/mpeg mp3; }
    open_file_cache max=100 inactive=60s;
}
CONF
    bench_conf "$sdir/nginx" "$stream_port" "$sdir/locations.conf" \
        >"$sdir/nginx.conf"
    : >"$sdir/nginx/logs/error.log"
    /usr/sbin/nginx -p "$sdir/nginx/" -c "$sdir/nginx.conf"
    for _ in $(seq 50); do
        curl -fs -o /dev/null "http://127.0.0.1:$stream_port/api/v1/health" \
            && break
        sleep 0.2
    done

    # a write key of the run's own, the upload, then the song's signed link
    db/pg.sh psql "$dir/pg" tunesheap -qc \
        "DELETE FROM api_keys WHERE name = 'bench-stream'"
    key=$(db/apikey.sh "$dir/pg" create bench-stream read,write | tail -n 1)
    curl -fsS -o /dev/null -X PUT -H "Authorization: Bearer $key" \
        -H 'Content-Type: audio/mpeg' --data-binary @"$sdir/static/big.mp3" \
        "http://127.0.0.1:$stream_port/api/v1/songs/$song/audio"
    url=$(stream_url)
    stream_check "$url"
    stream_check /static-audio/big.mp3
}

# the song's stream_url, signed now (valid about an hour)
stream_url() {
    local url
    url=$(curl -fs "http://127.0.0.1:$stream_port/api/v1/songs/$song" \
          | sed -n 's/.*"stream_url":"\([^"]*\)".*/\1/p' | sed 's,\\/,/,g')
    [ -n "$url" ] \
        || { echo "bench: song $song has no stream_url" >&2; return 1; }
    echo "$url"
}

# the whole file must come back byte for byte, a range as a 206
stream_check() {
    local url=http://127.0.0.1:$stream_port$1 code
    curl -fs "$url" | cmp -s - "$sdir/static/big.mp3" \
        || { echo "bench: $1 does not serve big.mp3" >&2; return 1; }
    code=$(curl -s -o /dev/null -w '%{http_code}' -H 'Range: bytes=100-199' \
           "$url")
    [ "$code" = 206 ] \
        || { echo "bench: $1 answers a range with $code" >&2; return 1; }
}

# the workers' resident memory (children of the master), in MB
stream_rss() {
    ps -o rss= --ppid "$(cat "$stream_pid")" \
        | awk '{ s += $1 } END { printf "%.1f", s / 1024 }'
}

# one wrk run: prints "MB/s req/s p50_ms p99_ms success% answers failures
# rss_mid_MB" (answers: those wrk completed; failures: unexpected statuses
# in nginx's log, wrk's socket errors and timeouts, also told on stderr;
# the workers' memory halfway through the run)
stream_measure() {
    local path=$1 c=$2 want=$3 range=${4:-} out sampler
    # nginx writes its log buffer within a second (flush=1s): what came
    # before (the signed link's JSON, the last run's last answers) is out
    sleep 2
    : >"$stream_log"
    (sleep $((seconds / 2)); stream_rss >"$sdir/rss") &
    sampler=$!
    out=$(BENCH_RANGE=$range BENCH_SIZE=$size \
          wrk -t2 -c"$c" -d"${seconds}s" --timeout "${stream_timeout}s" \
              -s bench/stream.lua "http://127.0.0.1:$stream_port$path" 2>&1 \
          | grep '^BENCH ') || { echo "wrk failed" >&2; return 1; }
    wait $sampler
    sleep 2
    echo "$out" | awk -v statuses="$stream_log" -v want="$want" \
                      -v what="${path%%\?*} at $c" -v rss="$(cat "$sdir/rss")" '
    FILENAME == statuses {
        split($0, q, "\""); split(q[3], f, " ")
        if (f[1] != want && f[1] != 499) { bad++; st[f[1]]++ }
        next
    }
    {
        for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
        s = v["duration_us"] / 1e6
        sock = v["connect"] + v["read"] + v["write"] + v["timeout"]
        tried = v["requests"] + sock
        if (bad + sock) {
            for (k in st) list = list " " k " x" st[k]
            printf "bench: %s: statuses%s; wrk: connect %d read %d " \
                   "write %d timeout %d\n", what, list ? list : " ok",
                   v["connect"], v["read"], v["write"], v["timeout"] \
                   > "/dev/stderr"
        }
        printf "%.0f %.0f %.1f %.1f %.2f %d %d %s\n",
            v["bytes"] / s / 1048576, v["requests"] / s,
            v["p50_us"] / 1e3, v["p99_us"] / 1e3,
            tried ? 100 * (v["requests"] - bad) / tried : 0,
            v["requests"], bad + sock, rss
    }' "$stream_log" -
}

stream_ratio() {
    awk -v a="$1" -v b="$2" 'BEGIN { printf "%.0f%%", b ? 100 * a / b : 0 }'
}

stream_row() {
    local name=$1 c=$2 a=$3 s=$4
    a=($a) s=($s)
    printf '%-30s %6s %8s/%-8s %6s %8s/%-8s %8s/%-8s %8s/%-8s %7s/%-7s\n' \
        "$name" "$c" "${a[0]}" "${s[0]}" "$(stream_ratio "${a[0]}" "${s[0]}")" \
        "${a[1]}" "${s[1]}" "${a[2]}" "${s[2]}" "${a[3]}" "${s[3]}" \
        "${a[4]}" "${s[4]}"
}

stream_bench() {
    local a s url before after after_static r_a r_s

    echo "bench: streaming nginx on 127.0.0.1:$stream_port" >&2
    stream_start

    printf '\nStreaming %s bytes (big.mp3) from song %s, %ss per run\n' \
        "$size" "$song" "$seconds"
    printf 'each cell: module stream URL / static file (the same file)\n'
    printf '%-30s %6s %17s %6s %17s %17s %17s %15s\n' endpoint conns \
        "MB/s" "ratio" "req/s" "p50 ms" "p99 ms" "success %"

    # whole downloads, the workers' memory sampled around and in the run
    before=$(stream_rss)
    url=$(stream_url)
    a=$(stream_measure "$url" "$stream_conns" 200)
    after=$(stream_rss)
    s=$(stream_measure /static-audio/big.mp3 "$stream_conns" 200)
    after_static=$(stream_rss)
    stream_row "songs/ID/stream, whole file" "$stream_conns" "$a" "$s"
    r_a=($a) r_s=($s)

    url=$(stream_url)
    a=$(stream_measure "$url" "$range_conns" 206 "$range_len")
    s=$(stream_measure /static-audio/big.mp3 "$range_conns" 206 "$range_len")
    stream_row "songs/ID/stream, $((range_len / 1024)) KB ranges" \
        "$range_conns" "$a" "$s"
    a=($a) s=($s)

    printf '\nnginx workers'"'"' resident memory, %s downloads (MB): before %s, mid-run %s, after %s (then the static file: mid-run %s, after %s)\n' \
        "$stream_conns" "$before" "${r_a[7]}" "$after" "${r_s[7]}" \
        "$after_static"
    printf '%s downloads of %s bytes: module %s MB/s = %s of static %s MB/s; %s downloads, %s failed (%s%% success)\n' \
        "$stream_conns" "$size" "${r_a[0]}" \
        "$(stream_ratio "${r_a[0]}" "${r_s[0]}")" "${r_s[0]}" \
        "${r_a[5]}" "${r_a[6]}" "${r_a[4]}"
    printf '%s clients reading random %s-byte ranges: module %s req/s = %s of static %s req/s, p99 %s ms; %s answers, %s failed (%s%% success)\n' \
        "$range_conns" "$range_len" "${a[1]}" \
        "$(stream_ratio "${a[1]}" "${s[1]}")" "${s[1]}" "${a[3]}" \
        "${a[5]}" "${a[6]}" "${a[4]}"

    grep -E '\[(alert|emerg|crit)\]' "$sdir/nginx/logs/error.log" >&2 || true
}
