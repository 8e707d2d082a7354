#!/bin/bash
# t/tools/soak-pg.sh start|stop|restart DATADIR: a cluster made by
# db/pg.sh, controlled with pg_ctl alone (fast shutdown; waits for each),
# as the faults suites and the soak do under load.  Unlike db/pg.sh it
# applies no schema on start: DDL under load can deadlock with the
# module's queries (db/schema.sql's CREATE INDEX IF NOT EXISTS against
# the writes: "deadlock detected", and db/pg.sh fails).
set -eu
action=$1
dir=$(realpath -- "$2")
case $action in start|stop|restart) ;; *) echo "usage: $0 start|stop|restart DATADIR" >&2; exit 2 ;; esac
bin=/usr/lib/postgresql/$(cat "$dir/PG_VERSION")/bin
owner=$(stat -c %U "$dir")
run=()
[ "$(id -u)" = 0 ] && [ "$owner" != root ] && run=(runuser -u "$owner" --)
opts=(-D "$dir" -w -t 60 -s)
[ "$action" = start ] || opts+=(-m fast)
[ "$action" = stop ] || opts+=(-l "$dir/postgresql.log")
cd /
"${run[@]}" "$bin/pg_ctl" "$action" "${opts[@]}" 9<&-
