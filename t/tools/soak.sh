#!/bin/bash
# t/tools/soak.sh [SECONDS]: `make soak DURATION=60`.  Mixed reads and
# writes at high concurrency against Tunesheap as it ships (nginx runs
# conf/tunesheap.dev.conf, changed only in addresses, ports and paths, as
# bench/run.sh's bench_conf does), with a Postgres and a Redis of its own,
# while faults are injected on a schedule:
#
#   at 15% of the run  Postgres restarted (db/pg.sh restart)
#   at 35%             Redis restarted
#   at 55%             Redis frozen for 3 s (SIGSTOP, then SIGCONT)
#   at 75%             nginx reloaded (SIGHUP)
#
# Reads: wrk with t/tools/soak.lua (SOAK_CONNS connections, 200).
# Writes: t/tools/soak-writer.pl (SOAK_WRITERS clients, 4), which records
# every write it got acknowledged (201, the id from Location).
# Afterwards it checks, and prints in a table:
#   - every acknowledged write is in Postgres exactly once, with its id;
#   - no name written twice;
#   - no 5xx outside the faults' windows (from the fault's start, less
#     1 s of the access log's resolution, to its end plus SOAK_GRACE
#     seconds, 6: a request's deadline is 5 s);
#   - the workers' memory (RSS, summed, sampled every SOAK_SAMPLE seconds,
#     2) flat: the last sample at most 25% + 16 MB above the first one
#     taken after a tenth of the run; first/last/max reported;
#   - no Postgres connection beyond the pools once idle.
# Exit status 0 only when every check passes.  Everything it starts is
# stopped by pid files (or the pids it started) when it ends, and runs in
# a private network and PID namespace when the kernel allows it.
#
# Environment: DURATION (when no argument: 60), SOAK_DIR (var/soak, made
# afresh every run), SOAK_PG_PORT (5547), SOAK_REDIS_PORT (6547),
# SOAK_HTTP_PORT (8547), SOAK_CONNS, SOAK_WRITERS, SOAK_GRACE, SOAK_SAMPLE.
set -eu

cd "$(dirname "$0")/../.."
root=$PWD

if [ -z "${TS_SOAK_NAMESPACE:-}" ] \
   && unshare -fpn --mount-proc true 2>/dev/null
then
    export TS_SOAK_NAMESPACE=1
    exec unshare -fpn --mount-proc \
        bash -c 'ip link set lo up && "$0" "$@"' "$0" "$@"
fi

duration=${1:-${DURATION:-60}}
dir=${SOAK_DIR:-$root/var/soak}
pg_port=${SOAK_PG_PORT:-5547}
redis_port=${SOAK_REDIS_PORT:-6547}
http_port=${SOAK_HTTP_PORT:-8547}
conns=${SOAK_CONNS:-200}
writers=${SOAK_WRITERS:-4}
grace=${SOAK_GRACE:-6}
sample=${SOAK_SAMPLE:-2}
key=tsk_soak_writer
api=http://127.0.0.1:$http_port
module=$root/build/nginx/objs/ngx_tunesheap_module.so

case $duration in
    ''|*[!0-9]*) echo "soak: DURATION must be seconds, not $duration" >&2
                 exit 2 ;;
esac
[ "$duration" -ge 10 ] || { echo "soak: DURATION: 10 s at least" >&2; exit 2; }
[ -f "$module" ] || { echo "soak: build first (make build)" >&2; exit 2; }

nginx_pid=$dir/nginx/logs/nginx.pid
redis_pidfile=$dir/redis/redis.pid
pids=()

stop_nginx() {
    [ -f "$nginx_pid" ] || return 0
    kill -QUIT "$(cat "$nginx_pid")" 2>/dev/null || true
    for _ in $(seq 100); do [ -f "$nginx_pid" ] || break; sleep 0.1; done
}

stop() {
    local p
    for p in "${pids[@]}"; do
        kill "$p" 2>/dev/null || true
    done
    [ -f "$redis_pidfile" ] && kill -CONT "$(cat "$redis_pidfile")" \
        2>/dev/null || true
    stop_nginx
    db/redis.sh stop "$dir/redis" >/dev/null 2>&1 || true
    db/pg.sh stop "$dir/pg" >/dev/null 2>&1 || true
}
trap stop EXIT

now() { date +%s.%N | cut -c1-14; }
log() { echo "soak: $*" >&2; }

# a fresh run: its own data, its own logs
if [ -f "$dir/pg/PG_VERSION" ]; then
    db/pg.sh stop "$dir/pg" >/dev/null 2>&1 || true
fi
rm -rf "$dir"
mkdir -p "$dir/nginx/logs" "$dir/nginx/tmp" "$dir/media/.tmp" "$dir/out"
chmod 755 "$dir"
chmod 777 "$dir/media" "$dir/media/.tmp"
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
bench/somaxconn.sh 16384 2>/dev/null || true

log "Postgres on 127.0.0.1:$pg_port, Redis on $redis_port, nginx on" \
    "$http_port; $duration s, $conns readers, $writers writers"
db/pg.sh start "$dir/pg" "$pg_port" >"$dir/pg-start.log" 2>&1 \
    || { cat "$dir/pg-start.log" >&2; exit 1; }
db/redis.sh start "$dir/redis" "$redis_port"
db/import.sh "$(db/pg.sh dsn "$dir/pg")" db/sample-catalog.json >/dev/null
psql_() { db/pg.sh psql "$dir/pg" tunesheap -X -q -v ON_ERROR_STOP=1 "$@"; }
psql_ -c "INSERT INTO api_keys (name, key_hash, scopes)
          VALUES ('soak-writer', encode(sha256('$key'), 'hex'),
                  '{read,write}')"
counts=$(psql_ -Atc "SELECT (SELECT max(id) FROM artists) || ' '
                         || (SELECT max(id) FROM albums) || ' '
                         || (SELECT max(id) FROM songs)")
read -r n_artists n_albums n_songs <<<"$counts"

# conf/tunesheap.dev.conf as nginx runs it here (t/tools/devconf.pl, as
# the benches): each change must match exactly once
t/tools/devconf.pl "$root" "$pg_port" "$redis_port" "$http_port" \
    >"$dir/nginx.conf"

/usr/sbin/nginx -p "$dir/nginx/" -c "$dir/nginx.conf"
for _ in $(seq 50); do
    curl -fs -o /dev/null "$api/api/v1/health" && break
    sleep 0.2
done
curl -fsS -o /dev/null "$api/api/v1/health"
workers=$(sed -n 's/^worker_processes *\([0-9]*\);.*/\1/p' "$dir/nginx.conf")
pool=$(sed -n 's/.*pool=\([0-9]*\);.*/\1/p' "$dir/nginx.conf")
search=$(sed -n '/^ *#/d; s/.*[ \t]search=\([0-9]*\).*/\1/p' "$dir/nginx.conf")
search=${search:-1}                     # the module's default

# the workers' memory and descriptors, every $sample s: "epoch rss_kb n fds"
sampler() {
    local m p rss n fds
    while :; do
        m=$(cat "$nginx_pid" 2>/dev/null) || { sleep "$sample"; continue; }
        rss=0 n=0 fds=0
        for p in $(ps -o pid= --ppid "$m" 2>/dev/null); do
            grep -qa 'worker process' "/proc/$p/cmdline" 2>/dev/null \
                || continue
            rss=$((rss + $(awk '/^VmRSS:/ { print $2 }' \
                           "/proc/$p/status" 2>/dev/null || echo 0)))
            fds=$((fds + $(ls "/proc/$p/fd" 2>/dev/null | wc -l)))
            n=$((n + 1))
        done
        echo "$(now) $rss $n $fds"
        sleep "$sample"
    done
}

# the schedule: "name start end" in faults.log
fault() {
    local name=$1 at=$2 start
    shift 2
    sleep "$at"
    start=$(now)
    "$@" >>"$dir/out/faults.out" 2>&1 || echo "soak: fault $name failed" >&2
    echo "$name $start $(now)" >>"$dir/out/faults.log"
}
redis_freeze() {
    local p
    p=$(cat "$redis_pidfile")
    kill -STOP "$p"
    sleep 3
    kill -CONT "$p"
}
schedule() {
    local t0=$1 at
    at() { awk -v d="$duration" -v f="$1" -v t0="$t0" -v now="$(now)" \
               'BEGIN { s = t0 + d * f - now; printf "%.2f", (s > 0 ? s : 0) }'; }
    fault pg-restart "$(at 0.15)" t/tools/soak-pg.sh restart "$dir/pg"
    fault redis-restart "$(at 0.35)" db/redis.sh restart "$dir/redis"
    fault redis-freeze-3s "$(at 0.55)" redis_freeze
    fault nginx-reload "$(at 0.75)" kill -HUP "$(cat "$nginx_pid")"
}

: >"$dir/nginx/logs/access.log"
: >"$dir/out/faults.log"
t0=$(now)
sampler >"$dir/out/rss.log" &
pids+=($!)
sampler_pid=$!
timeout $((duration + 60)) wrk -t2 -c"$conns" -d"${duration}s" --timeout 10s \
    -s t/tools/soak.lua "$api" >"$dir/out/wrk.out" 2>&1 &
pids+=($!)
wrk_pid=$!
timeout $((duration + 60)) t/tools/soak-writer.pl "$api" "$key" "$duration" \
    "$writers" "$dir/out" &
pids+=($!)
writer_pid=$!
SOAK_ARTISTS=$n_artists SOAK_ALBUMS=$n_albums SOAK_SONGS=$n_songs \
    schedule "$t0" &
pids+=($!)
schedule_pid=$!
export SOAK_ARTISTS=$n_artists SOAK_ALBUMS=$n_albums SOAK_SONGS=$n_songs

wait "$wrk_pid" || log "wrk ended with $?"
wait "$writer_pid" || log "the writer ended with $?"
wait "$schedule_pid" || true
sleep 2                                # the access log's flush=1s
kill "$sampler_pid" 2>/dev/null || true

# idle: the module's connections within its pools (each worker: its pool,
# its search connections, 1 for health)
max_backends=$((workers * (pool + search + 1)))
backends=0
for _ in $(seq 25); do
    backends=$(psql_ -Atc "SELECT count(*) FROM pg_stat_activity
                            WHERE application_name = 'tunesheap'")
    [ "$backends" -le "$max_backends" ] && break
    sleep 0.2
done

psql_ -Atc "SELECT name || ' ' || id FROM artists WHERE name LIKE 'soak-%'" \
    >"$dir/out/rows"
cat "$dir"/out/writer-*.log >"$dir/out/writes" 2>/dev/null || :

perl - "$dir/out" "$dir/nginx/logs/access.log" "$grace" "$t0" \
       "$backends" "$max_backends" <<'EOF'
use strict;
use warnings;
use Time::Local qw(timegm);

my ($out, $access, $grace, $t0, $backends, $max_backends) = @ARGV;
my %mon = (Jan => 0, Feb => 1, Mar => 2, Apr => 3, May => 4, Jun => 5,
           Jul => 6, Aug => 7, Sep => 8, Oct => 9, Nov => 10, Dec => 11);
sub lines { open my $f, '<', $_[0] or return (); return <$f> }

# writes: acknowledged (name => id), sent, statuses
my (%acked, %wst, $sent);
for (lines("$out/writes")) {
    my ($t, $st, $name, $id) = split;
    $sent++;
    $wst{$st}++;
    $acked{$name} = $id if $st == 201;    # no id: counted as lost
}
my %rows;
for (lines("$out/rows")) {
    my ($name, $id) = split;
    push @{ $rows{$name} }, $id;
}
my $lost = grep { my $n = $_; !grep { $_ eq $acked{$n} } @{ $rows{$n} // [] } }
           keys %acked;
my $dups = grep { @{ $rows{$_} } > 1 } keys %rows;
my $unacked = grep { !exists $acked{$_} } keys %rows;

# faults' windows
my @win;
for (lines("$out/faults.log")) {
    my ($name, $s, $e) = split;
    push @win, [$name, $s, $e];
}

# 5xx in the access log, in or out of a window
my ($total, $s5, $s500, $in, $outside, %by) = (0, 0, 0, 0, 0);
my @outside;
for (lines($access)) {
    my ($d, $m, $y, $H, $M, $S, $z, $st) =
        m{\[(\d+)/(\w+)/(\d+):(\d+):(\d+):(\d+) ([+-]\d{4})\] "[^"]*" (\d{3})}
        or next;
    $total++;
    next if $st < 500;
    $s5++;
    $s500++ if $st == 500;
    my $t = timegm($S, $M, $H, $d, $mon{$m}, $y);
    my $off = (substr($z, 1, 2) * 3600 + substr($z, 3, 2) * 60)
              * ($z =~ /^-/ ? -1 : 1);
    $t -= $off;
    my ($w) = grep { $t >= $_->[1] - 1 && $t <= $_->[2] + $grace } @win;
    if ($w) {
        $in++;
        $by{$w->[0]}{$st}++;
    } else {
        $outside++;
        push @outside, $_ if @outside < 10;
    }
}

# memory
my @rss = map { [split] } grep { (split)[2] > 0 } lines("$out/rss.log");
my ($first, $last, $max, $warm, $fds_first, $fds_last) = (0) x 6;
if (@rss) {
    my $dur = $rss[-1][0] - $rss[0][0];
    ($warm) = grep { $_->[0] - $rss[0][0] >= $dur / 10 } @rss;
    $warm //= $rss[0];
    $first = $rss[0][1];
    $last = $rss[-1][1];
    $max = (sort { $b <=> $a } map { $_->[1] } @rss)[0];
    ($fds_first, $fds_last) = ($warm->[3], $rss[-1][3]);
}
my $flat = @rss && $last <= $warm->[1] * 1.25 + 16384;

# wrk's summary
my ($wrk) = grep { /^SOAK / } lines("$out/wrk.out");
my %w = $wrk ? map { split /=/ } ($wrk =~ /(\w+=[\d.]+)/g) : ();

my $mb = sub { sprintf "%.1f MB", $_[0] / 1024 };
my @checks = (
    ['acknowledged writes', scalar keys %acked, "of $sent sent ("
        . join(' ', map { "$_:$wst{$_}" } sort keys %wst) . ")", 1],
    ['acknowledged writes lost', $lost, 'must be 0', $lost == 0],
    ['names written twice', $dups, 'must be 0', $dups == 0],
    ['written, not acknowledged', $unacked, 'answers lost in faults', 1],
    ['reads (wrk)', $w{requests} // 0,
        sprintf("2xx %d, 4xx %d, 5xx %d; socket errors %d; p50 %s ms,"
                . " p99 %s ms", $w{s2xx} // 0, $w{s4xx} // 0, $w{s5xx} // 0,
                ($w{connect} // 0) + ($w{read} // 0) + ($w{write} // 0)
                + ($w{timeout} // 0), $w{p50_ms} // '-', $w{p99_ms} // '-'),
        1],
    ['requests logged', $total, '', $total > 0],
    ['5xx inside faults', $in, join('; ', map {
        my $f = $_; "$f " . join(',', map { "$_:$by{$f}{$_}" }
                                 sort keys %{ $by{$f} }) } sort keys %by), 1],
    ['500s (not 503/504)', $s500, 'a fault is a 503 or 504; see the report',
        1],
    ['5xx outside faults', $outside, "must be 0 (grace ${grace} s)",
        $outside == 0],
    ['worker RSS first', $mb->($first), scalar(@rss) . " samples", 1],
    ['worker RSS after warm-up', $mb->($warm ? $warm->[1] : 0), '', 1],
    ['worker RSS last', $mb->($last),
        'at most 25% + 16 MB above warm-up', $flat],
    ['worker RSS max', $mb->($max), '', 1],
    ['worker descriptors', "$fds_first -> $fds_last", 'after warm-up, last',
        1],
    ['Postgres backends idle', $backends, "at most $max_backends", 
        $backends <= $max_backends],
);

printf "\n%-28s %-12s %s\n", 'soak', 'figure', '';
printf "%-28s %-12s %s\n", '-' x 28, '-' x 12, '-' x 36;
for my $f (@win) {
    printf "%-28s %-12s %s\n", "fault $f->[0]",
        sprintf("%.1f s", $f->[2] - $f->[1]),
        sprintf("at %.1f s", $f->[1] - $t0);
}
my $fail = 0;
for my $c (@checks) {
    my ($what, $n, $note, $ok) = @$c;
    $fail++ unless $ok;
    printf "%-28s %-12s %s%s\n", $what, $n, $note, $ok ? '' : '   FAILED';
}
print "\nsoak: 5xx outside the faults:\n", @outside if @outside;
print $fail ? "\nsoak: FAILED ($fail checks)\n" : "\nsoak: passed\n";
exit($fail ? 1 : 0);
EOF
