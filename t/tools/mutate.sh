#!/bin/bash
# Mutation check: applies each deliberate breakage of t/tools/mutations,
# one at a time, to a scratch copy of the source tree (never the working
# tree), builds it, runs the suites named for it, and prints whether they
# failed ("caught") or not ("MISSED").  A breakage whose sed expression no
# longer changes its file is "STALE": the list needs updating.
#
#   t/tools/mutate.sh [NAME-PATTERN]      (make mutate [ONLY=pattern])
#
# MUTATE_TIMEOUT bounds each run of suites (300 s by default): a run that
# takes longer counts as caught only if it had already failed a test.
# Exits 0 only when every breakage was caught.
set -u

cd "$(dirname "$0")/../.."
root=$PWD
only=${1:-}
limit=${MUTATE_TIMEOUT:-300}
export TS_NODE_DIR=${TS_NODE_DIR:-$root/var/node}

scratch=$(mktemp -d /tmp/tunesheap-mutate.XXXXXX)
trap 'rm -rf "$scratch"' EXIT

# the tree as it is now (committed or not), without build/ and var/
git ls-files -z --cached --others --exclude-standard \
    | (cd "$root" && xargs -0 cp --parents -t "$scratch" 2>/dev/null)
cd "$scratch" || exit 1

echo "building the scratch copy in $scratch ..."
make -s build >"$scratch/build.log" 2>&1 \
    || { cat "$scratch/build.log"; echo "the unbroken tree does not build"; exit 1; }

results=()
missed=0
# the list on descriptor 3: the suites must not read it from stdin
while IFS= read -r line <&3; do
    case "$line" in ''|'#'*) continue ;; esac

    name=$(awk -F' :: ' '{print $1}' <<<"$line")
    file=$(awk -F' :: ' '{print $2}' <<<"$line")
    expr=$(awk -F' :: ' '{print $3}' <<<"$line")
    suites=$(awk -F' :: ' '{print $4}' <<<"$line")

    [ -z "$only" ] || [[ "$name" == *$only* ]] || continue

    cp "$file" "$scratch/pristine"
    sed -i -e "$expr" "$file"

    if cmp -s "$file" "$scratch/pristine"; then
        result=STALE
        missed=$((missed + 1))
    elif ! make -s build </dev/null >"$scratch/build.log" 2>&1; then
        # proves nothing: the breakage must build to be tested
        result="BROKEN (does not build)"
        missed=$((missed + 1))
    else
        start=$(date +%s)
        timeout "$limit" t/run.sh $suites </dev/null >"$scratch/run.log" 2>&1
        status=$?
        took=$(( $(date +%s) - start ))
        failed=$(sed -n 's/^tests: [0-9]* passed, \([0-9]*\) failed$/\1/p' \
                 "$scratch/run.log")
        nok=$(grep -c '^not ok' "$scratch/run.log")
        if [ "$status" = 124 ] && [ "$nok" = 0 ]; then
            result="MISSED (timed out after ${limit}s)"
            missed=$((missed + 1))
        elif [ "$status" != 0 ] || [ "${failed:-0}" != 0 ] || [ "$nok" != 0 ]
        then
            result="caught ($nok failed, ${took}s)"
        else
            result="MISSED (${took}s)"
            missed=$((missed + 1))
        fi
    fi

    cp "$scratch/pristine" "$file"
    results+=("$(printf '%-42.42s %-28.28s %s' "$name" "$suites" "$result")")
    echo "${results[-1]}"
done 3<"$root/t/tools/mutations"

# the last build had a breakage in it: nothing is left behind but scratch
echo
printf '%-42s %-28s %s\n' "breakage" "suites" "result"
printf '%s\n' "${results[@]}"
echo
echo "${#results[@]} breakages, $missed missed or stale"
[ "$missed" = 0 ]
