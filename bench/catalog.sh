#!/bin/bash
# bench/catalog.sh DIR PORT: starts the benchmarks' Postgres (DIR/pg on
# 127.0.0.1:PORT) with the catalog of 10,000 artists, 50,000 albums and
# 500,000 songs (ids dense from 1), generated and imported the first time
# (DIR/catalog.json is kept), then analysed.  Prints its DSN.
set -eu
cd "$(dirname "$0")/.."
dir=$1 port=$2
artists=10000 albums=50000 songs=500000

db/pg.sh start "$dir/pg" "$port" >/dev/null 2>&1
dsn=$(db/pg.sh dsn "$dir/pg")
psql_() { db/pg.sh psql "$dir/pg" tunesheap "$@"; }

count=$(psql_ -Atc 'SELECT count(*) FROM songs')
if [ "$count" != "$songs" ]; then
    echo "bench: generating and importing $artists/$albums/$songs" >&2
    [ -s "$dir/catalog.json" ] \
        || db/gen-catalog.pl $artists $albums $songs 42 >"$dir/catalog.json"
    start=$(date +%s)
    db/import.sh "$dsn" "$dir/catalog.json" >&2
    echo "bench: import took $(($(date +%s) - start)) s" >&2
fi
psql_ -qc 'VACUUM ANALYZE'
echo "$dsn"
