#!/bin/bash
# Runs the fuzz targets, each for FUZZ_SECONDS (60), at nice FUZZ_NICE (19):
#
#   t/fuzz/run.sh                 every target
#   t/fuzz/run.sh json audio      some
#
# Debian's nginx loads build/fuzz/ngx_tunesheap_fuzz.so (t/fuzz/build.sh)
# with t/fuzz/nginx.conf and runs libFuzzer in its single process, with
# ASan's runtime preloaded.  Each target starts from its seeds in
# t/fuzz/corpus/TARGET/ and from what earlier runs found (kept in
# build/fuzz/corpus/TARGET/).  A crash, a sanitizer report or a failed
# check of an answer (ts_fuzz.c) is a finding: its input is kept as
# build/fuzz/findings/TARGET-crash-*, the report printed, and the run
# fails.  Prints executions and CPU seconds per target.
#
# Replay a finding: t/fuzz/run.sh TARGET with FUZZ_INPUT=file.

set -uo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
OUT=${FUZZ_BUILD:-$ROOT/build/fuzz}
SECONDS_EACH=${FUZZ_SECONDS:-60}
NICE=${FUZZ_NICE:-19}
NGINX=${NGINX:-/usr/sbin/nginx}
TARGETS="request args json if_match link audio auth s3"

"$ROOT/t/fuzz/build.sh" || exit 1

run=$OUT/run
mkdir -p "$run/conf" "$run/logs" "$run/tmp" "$run/media" "$OUT/findings"

# a file a signed link may name (the seeds of "link" name it)
: > "$run/media/3-0123456789abcdef.mp3"

sed -e "s|%MODULE%|$OUT/ngx_tunesheap_fuzz.so|" -e "s|%RUN%|$run|g" \
    "$ROOT/t/fuzz/nginx.conf" > "$run/conf/nginx.conf"

asan=$(clang -print-file-name=libclang_rt.asan-x86_64.so)
[ -f "$asan" ] || { echo "fuzz: no ASan runtime ($asan)" >&2; exit 1; }

targets=${*:-$TARGETS}
failed=0
total_execs=0
total_cpu=0

for t in $targets; do
    seeds=$ROOT/t/fuzz/corpus/$t
    corpus=$OUT/corpus/$t
    log=$OUT/$t.log
    mkdir -p "$corpus"
    rm -f "$run/fuzz.sock"    # nginx leaves it behind when libFuzzer exits

    if [ -n "${FUZZ_INPUT:-}" ]; then
        args="-runs=1 $FUZZ_INPUT"
    else
        args="-max_total_time=$SECONDS_EACH -print_final_stats=1"
        args="$args -artifact_prefix=$OUT/findings/$t- -max_len=65536"
        args="$args -timeout=10 -rss_limit_mb=1024 $corpus"
        [ -d "$seeds" ] && args="$args $seeds"
    fi

    TIMEFORMAT='%3U %3S'
    cpu=$( { time env TS_FUZZ_TARGET="$t" TS_FUZZ_ARGS="$args" \
                LD_PRELOAD="$asan" \
                ASAN_OPTIONS="detect_leaks=1:allocator_may_return_null=1" \
                UBSAN_OPTIONS="print_stacktrace=1" \
                timeout -k 10 $((SECONDS_EACH + 300)) \
                nice -n "$NICE" "$NGINX" -e stderr -p "$run/" -c "$run/conf/nginx.conf" \
                >"$log" 2>&1; echo "rc $?" >>"$log"; } 2>&1 )

    rc=$(sed -n 's/^rc //p' "$log" | tail -n 1)
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    cpu=$(echo "$cpu" | awk '{ printf "%.1f", $1 + $2 }')
    units=$(ls "$corpus" | wc -l)

    total_execs=$((total_execs + ${execs:-0}))
    total_cpu=$(awk -v a="$total_cpu" -v b="$cpu" 'BEGIN { printf "%.1f", a + b }')

    if [ "$rc" = 0 ]; then
        echo "fuzz $t: ${execs:-?} executions, $cpu s of CPU, corpus $units, no finding"
    else
        failed=$((failed + 1))
        echo "fuzz $t: FINDING (exit $rc) after ${execs:-?} executions, $cpu s of CPU; log $log"
        grep -E -m 40 -A 25 'ERROR: |runtime error|tunesheap fuzz:|deadly signal' "$log" | head -n 60
        ls "$OUT"/findings/"$t"-* 2>/dev/null | sed 's/^/  input: /'
    fi
done

echo "fuzz: $(echo $targets | wc -w) targets, $total_execs executions, $total_cpu s of CPU, $failed with findings"

[ "$failed" = 0 ]
