#!/bin/sh
# The web player's and the OpenAPI document's test tools, from npm, next to
# s3rver in $TS_NODE_DIR (var/node by default; never committed):
# @redocly/cli (the linter), ajv and ajv-formats (the validator of recorded
# responses, t/tools/openapi-check.js), playwright-core (drives Debian's
# /usr/bin/chromium for t/tools/player-test.js).
#
#     webtools.sh install     npm install what is missing (needs network)
#     webtools.sh check       exits 1, saying what is missing

set -eu

PACKAGES="@redocly/cli@2.77.0 ajv@8.17.1 ajv-formats@3.0.1 playwright-core@1.57.0"

tools=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$tools/../.." && pwd)
node_dir=${TS_NODE_DIR:-$repo/var/node}

missing() {
    for p in $PACKAGES; do
        name=${p%@*}
        version=${p##*@}
        json=$node_dir/node_modules/$name/package.json
        if [ ! -f "$json" ] \
           || ! grep -q "\"version\": \"$version\"" "$json"
        then
            echo "$p"
        fi
    done
}

case ${1:-} in

install)
    todo=$(missing)
    if [ -n "$todo" ]; then
        mkdir -p "$node_dir"
        # shellcheck disable=SC2086
        npm install --prefix "$node_dir" --no-audit --no-fund \
            --loglevel=error $todo >/dev/null
    fi
    [ -z "$(missing)" ]
    ;;

check)
    todo=$(missing)
    if [ -n "$todo" ]; then
        echo "$0: not installed in $node_dir: $todo (make node)" >&2
        exit 1
    fi
    ;;

*)
    echo "usage: $0 install | check" >&2
    exit 2
    ;;
esac
