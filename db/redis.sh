#!/bin/bash
# db/redis.sh -- control a private Redis for Tunesheap (make run, make test,
# make bench): loopback only, no persistence (it is a cache), a pid file.
#
# Usage:
#   db/redis.sh start DATADIR PORT   start unless running; wait until it answers
#   db/redis.sh stop DATADIR         stop it (by its pid file); fine if stopped
#   db/redis.sh restart DATADIR      stop, then start on the same port
#   db/redis.sh cli DATADIR [args]   redis-cli against it
set -euo pipefail

PROG=redis.sh
die() { echo "$PROG: error: $*" >&2; exit 1; }

[ $# -ge 2 ] || { sed -n '2,/^set -euo/p' "$0" | sed '$d;s/^# \{0,1\}//' >&2; exit 2; }
cmd=$1 dir=$2
pidfile=$dir/redis.pid

running() { [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; }
port() { cat "$dir/port"; }

start() {
    local port=${1:-}
    mkdir -p "$dir"
    [ -n "$port" ] || port=$(port 2>/dev/null) || die "a PORT is needed"
    echo "$port" >"$dir/port"
    if running; then
        return 0
    fi
    redis-server --bind 127.0.0.1 --port "$port" --daemonize yes \
        --pidfile "$pidfile" --dir "$dir" --logfile "$dir/redis.log" \
        --save '' --appendonly no --maxmemory 256mb \
        --maxmemory-policy allkeys-lru --enable-debug-command local >/dev/null
    for _ in $(seq 50); do
        redis-cli -p "$port" ping >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    die "redis did not answer on 127.0.0.1:$port (see $dir/redis.log)"
}

stop() {
    running || { rm -f "$pidfile"; return 0; }
    kill "$(cat "$pidfile")"
    for _ in $(seq 50); do
        running || { rm -f "$pidfile"; return 0; }
        sleep 0.1
    done
    die "redis (pid $(cat "$pidfile")) did not stop"
}

case $cmd in
start)   start "${3:-}" ;;
stop)    stop ;;
restart) stop; start ;;
cli)     shift 2; redis-cli -p "$(port)" "$@" ;;
*)       die "unknown command $cmd (start, stop, restart, cli)" ;;
esac
