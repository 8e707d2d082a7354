#!/bin/sh
# A local S3 for the tests: s3rver 3.7.1 from npm, run by s3rver.js (next
# to this script) so that SigV4 signatures are checked, on 127.0.0.1 only.
# Access key S3RVER, secret key S3RVER, any region.
#
#     s3rver.sh install            npm install into $TS_NODE_DIR
#     s3rver.sh start DIR PORT BUCKET...
#                                  data, pid file and log in DIR; returns
#                                  once it answers
#     s3rver.sh stop DIR           stops the one whose pid file is in DIR
#
# TS_NODE_DIR defaults to var/node in the repository (never committed).

set -eu

S3RVER_VERSION=3.7.1

tools=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$tools/../.." && pwd)
node_dir=${TS_NODE_DIR:-$repo/var/node}

usage() {
    echo "usage: $0 install | start DIR PORT BUCKET... | stop DIR" >&2
    exit 2
}

installed() {
    [ -f "$node_dir/node_modules/s3rver/package.json" ] \
    && grep -q "\"version\": \"$S3RVER_VERSION\"" \
            "$node_dir/node_modules/s3rver/package.json"
}

running() {
    [ -f "$1/s3rver.pid" ] && kill -0 "$(cat "$1/s3rver.pid")" 2>/dev/null
}

[ $# -ge 1 ] || usage

case $1 in

install)
    if ! installed; then
        mkdir -p "$node_dir"
        npm install --prefix "$node_dir" --no-audit --no-fund \
            --loglevel=error "s3rver@$S3RVER_VERSION" >/dev/null
    fi
    installed
    ;;

start)
    [ $# -ge 4 ] || usage
    dir=$2
    port=$3
    shift 3

    if ! installed; then
        echo "$0: s3rver is not installed: $0 install" >&2
        exit 1
    fi

    if running "$dir"; then
        echo "$0: already running (pid $(cat "$dir/s3rver.pid"))" >&2
        exit 1
    fi

    mkdir -p "$dir/data"
    NODE_PATH="$node_dir/node_modules" nohup node "$tools/s3rver.js" \
        "$dir/data" "$port" "$@" >"$dir/s3rver.log" 2>&1 </dev/null &
    echo $! >"$dir/s3rver.pid"

    # its own line, not just anything answering on the port
    i=0
    while ! grep -q 'listening on' "$dir/s3rver.log" \
          || ! curl -s -o /dev/null "http://127.0.0.1:$port/"
    do
        i=$((i + 1))
        if [ $i -gt 100 ] || ! running "$dir"; then
            echo "$0: s3rver did not start:" >&2
            cat "$dir/s3rver.log" >&2
            if running "$dir"; then
                kill "$(cat "$dir/s3rver.pid")"
            fi
            rm -f "$dir/s3rver.pid"
            exit 1
        fi
        sleep 0.1
    done
    ;;

stop)
    [ $# -eq 2 ] || usage
    dir=$2

    if running "$dir"; then
        pid=$(cat "$dir/s3rver.pid")
        kill "$pid"

        i=0
        while kill -0 "$pid" 2>/dev/null && [ $i -lt 50 ]; do
            i=$((i + 1))
            sleep 0.1
        done

        if kill -0 "$pid" 2>/dev/null; then
            kill -9 "$pid"
        fi
    fi

    rm -f "$dir/s3rver.pid"
    ;;

*)
    usage
    ;;
esac
