#!/bin/bash
# make valgrind: every suite (t/run.sh) with nginx under valgrind's
# memcheck, as the harness does for TEST_NGINX_USE_VALGRIND=1: one nginx
# process per block (master_process off; a suite that turns the master on
# gets its workers checked too, valgrind follows forks), a full leak check
# at each exit, the client's timeouts scaled (TEST_NGINX_VALGRIND_SLOWDOWN).
#
# Every valgrind log is kept in $VALGRIND_OUT (var/valgrind): logs/*.log,
# logs/runs.tsv (a line per nginx run), prove.log, summary.txt.
# It fails on:
#   - any memcheck report not suppressed by t/valgrind.supp, or a valgrind
#     that did not finish (killed before its leak check);
#   - a suppression in t/valgrind.supp without a reason (a "#" line);
#   - any other test failure, except in the suites t/tools/valgrind.list
#     marks "timing" (listed, not counted).
#
#   t/tools/valgrind.sh [suites]      default: every t/*.t not skipped
set -u

cd "$(dirname "$0")/../.."
root=$PWD
out=${VALGRIND_OUT:-$root/var/valgrind}
list=$root/t/tools/valgrind.list
supp=$root/t/valgrind.supp
start=$(date +%s)

rm -rf "$out"
mkdir -p "$out/logs"

# every suppression says why: a comment right before its "{"
perl -ne '
    if (/^\s*#/) { $why = 1; next }
    if (/^\s*\{\s*$/) { $in = 1; $start = $.; $n = 0; next }
    if ($in && ++$n == 1) {
        s/^\s+|\s+$//g;
        print "t/valgrind.supp:$start: $_: no reason (a # line before it)\n"
            unless $why && $_ !~ /insert_a_suppression_name_here/;
    }
    if (/^\s*\}\s*$/) { $in = 0; $why = 0 }
' "$supp" >"$out/supp-check.txt"

declare -A mode reason
while read -r suite m why; do
    case $suite in ''|\#*) continue ;; esac
    mode[$suite]=$m
    reason[$suite]=$why
done <"$list"

suites=()
skipped=()
for f in ${@:-t/*.t}; do
    if [ "${mode[$f]:-}" = skip ]; then
        skipped+=("$f")
    else
        suites+=("$f")
    fi
done

TEST_NGINX_USE_VALGRIND=${TEST_NGINX_USE_VALGRIND:-1} \
TEST_NGINX_VALGRIND_SUPP=$supp \
TEST_NGINX_VALGRIND_LOGS=$out/logs \
    t/run.sh "${suites[@]}" >"$out/prove.log" 2>&1
prove_status=$?

# a test failure: memcheck's (the harness's "valgrind ..." tests) or
# another, by suite
perl -ne '
    $suite = $1 if /^(t\/[\w.-]+\.t) \.\./;
    next unless /^not ok \d+/ && !/# TODO/;
    print((/ - valgrind (reported|was killed|exited)/ ? "memcheck" : "test"),
          "\t$suite\t$_");
' "$out/prove.log" >"$out/failures.tsv"

runs=$(wc -l <"$out/logs/runs.tsv" 2>/dev/null || echo 0)
bad_runs=$(grep -c '^FAIL' "$out/logs/runs.tsv" 2>/dev/null)
memcheck=$(grep -c '^memcheck' "$out/failures.tsv")
tests_failed=0
tolerated=0
while IFS=$'\t' read -r kind suite line; do
    [ "$kind" = test ] || continue
    if [ "${mode[$suite]:-}" = timing ]; then
        tolerated=$((tolerated + 1))
    else
        tests_failed=$((tests_failed + 1))
    fi
done <"$out/failures.tsv"
secs=$(( $(date +%s) - start ))

{
    echo "make valgrind: $((secs / 60)) min $((secs % 60)) s," \
        "${#suites[@]} suites, $runs nginx runs under memcheck"
    for f in "${skipped[@]}"; do
        echo "  skipped $f: ${reason[$f]}"
    done
    for f in "${suites[@]}"; do
        [ "${mode[$f]:-}" = timing ] \
            && echo "  timing  $f: ${reason[$f]}"
    done
    echo "memcheck: $bad_runs runs with findings ($memcheck failing tests)"
    # each report once: its first line and the first frame of ours
    cat "$out"/logs/*.log 2>/dev/null | perl -ne '
        sub done {
            return unless $head;
            my ($f) = grep { /\b(?:ts_|ngx_http_tunesheap)/ } @frames;
            ($f) = grep { !/vgpreload|\?\?\?|\b(?:[mc]alloc|realloc|
                                ngx_(?:[cp]?alloc|memalign))\b/x }
                        @frames unless $f;
            $seen{"$head\n      in " . ($f // "?")}++;
            undef $head; @frames = ();
        }
        if (/^==\d+==\s+(?:at|by) 0x\w+: (.*)/) {
            push @frames, $1 if $head;
        } elsif (/^==\d+== (\S.*)/) {
            done(); ($head = $1) =~ s/\d[\d,]*/N/g;
        } else {
            done();
        }
        END { done(); print "  $seen{$_}x $_\n" for sort keys %seen }'
    [ -s "$out/supp-check.txt" ] && cat "$out/supp-check.txt"
    echo "tests: $tests_failed failed (not memcheck)," \
        "$tolerated tolerated in timing suites"
    grep -P '^test\t' "$out/failures.tsv" | cut -f2- | sed 's/^/  /'
} | tee "$out/summary.txt"

status=0
[ "$bad_runs" = 0 ] && [ "$memcheck" = 0 ] || status=1
[ -s "$out/supp-check.txt" ] && status=1
[ "$tests_failed" = 0 ] || status=1
# prove failed with no failing test counted above (a crash, a bail out)
if [ "$prove_status" != 0 ] && [ "$memcheck" = 0 ] && [ "$tests_failed" = 0 ] \
   && [ "$tolerated" = 0 ]; then
    echo "t/run.sh failed: see $out/prove.log"
    status=1
fi
echo "valgrind logs: $out/logs ($([ $status = 0 ] && echo PASS || echo FAIL))"
exit $status
