#!/bin/bash
# db/import.sh -- load a catalog file into the Tunesheap database.
#
# Usage:
#   db/import.sh DSN FILE
#     DSN   libpq connection string or URI, e.g. the output of
#           `db/pg.sh dsn DATADIR`: host=127.0.0.1 port=5433 dbname=tunesheap user=tunesheap
#     FILE  {"artists":[...],"albums":[...],"songs":[...]}  ("-" = stdin):
#           one array per resource of the API, items with their ids and
#           the fields a write of the API takes
#
# All or nothing: the whole file is loaded in ONE transaction (psql
# --single-transaction + ON_ERROR_STOP), so on any problem nothing is loaded.
# Ids are kept; an existing id is updated (upsert), so importing the same
# file twice changes nothing.  Afterwards the id sequences are moved past
# the largest id.  Missing top-level arrays count as empty.
#
# On success prints one line to stdout, e.g.
#   import.sh: catalog.json: artists 36 (36 new, 0 updated), albums ... in 0.4 s
# On failure prints one line to stderr naming the problem and exits 1, e.g.
#   import.sh: error: bad.json: songs[17] (id 18): title: is required
#   import.sh: error: bad.json: albums[3] (id 4): artist_id: artist 999 does not exist
#   import.sh: error: bad.json: not valid JSON: Token "x" is invalid. (line 3)
#
# The work is done by db/import.sql (next to this script): the server
# parses the JSON, so 500,000 songs load in seconds.  What it imports and
# how it checks each field are the API's descriptions, printed by
# db/import-gen (make build) to build/import-resources.sql; installed, or
# named by TS_IMPORT_DESCRIPTIONS, next to this script.  Runs as any database
# user with SELECT/INSERT/UPDATE on the tables, UPDATE on the sequences and
# TEMP on the database -- no superuser needed.
# Environment: PG_BINDIR may point to the directory holding psql.
set -euo pipefail

PROG=import.sh
SCRIPT_DIR=$(cd "$(dirname "$0")" && pwd)
SQL=$SCRIPT_DIR/import.sql
# what to import and how to check it: the API's descriptions, printed by
# db/import-gen (make build); installed next to this script
DESC=${TS_IMPORT_DESCRIPTIONS:-}
if [ -z "$DESC" ]; then
    DESC=$SCRIPT_DIR/import-resources.sql
    [ -e "$DESC" ] || DESC=$SCRIPT_DIR/../build/import-resources.sql
fi

die() { echo "$PROG: error: $*" >&2; exit 1; }

if [ $# -ne 2 ]; then
    sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//' >&2
    exit 2
fi
DSN=$1 FILE=$2

[ -r "$SQL" ] || die "cannot read $SQL"
[ -r "$DESC" ] || die "cannot read $DESC (make build prints it)"
if [ "$FILE" != - ]; then
    [ -e "$FILE" ] || die "$FILE: no such file"
    [ -f "$FILE" ] || die "$FILE: not a regular file"
    [ -r "$FILE" ] || die "$FILE: permission denied"
fi

# psql: PG_BINDIR, then PATH, then the newest /usr/lib/postgresql/*/bin.
PSQL=
if [ -n "${PG_BINDIR:-}" ]; then
    PSQL=$PG_BINDIR/psql
elif command -v psql >/dev/null 2>&1; then
    PSQL=$(command -v psql)
else
    for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k5,5nr); do
        if [ -x "$d/psql" ]; then PSQL=$d/psql; break; fi
    done
fi
[ -n "$PSQL" ] && [ -x "$PSQL" ] || die "cannot find psql (set PG_BINDIR)"

errfile=$(mktemp)
trap 'rm -f "$errfile"' EXIT

t0=$(date +%s.%N)
status=0
# stdin of psql is the catalog file: import.sql reads it with `\copy ... FROM pstdin`.
# The file is read as UTF-8 whatever the locale; NOTICEs are not wanted.
if [ "$FILE" = - ]; then
    exec 3<&0
else
    exec 3<"$FILE"
fi
out=$(PGCLIENTENCODING=UTF8 PGOPTIONS="${PGOPTIONS:-} -c client_min_messages=warning" \
      "$PSQL" -X -q -v ON_ERROR_STOP=1 --single-transaction -d "$DSN" -v descriptions="$DESC" -f "$SQL" \
      <&3 2>"$errfile") || status=$?
exec 3<&-
t1=$(date +%s.%N)

if [ "$status" -ne 0 ]; then
    # Boil psql's report down to one line: the ERROR message, plus its DETAIL
    # and, for errors while reading the file, the line number; or else the
    # first line psql printed (e.g. a connection failure).
    msg=$(awk '
        !err && /ERROR:  / { sub(/^.*ERROR:  /, ""); err = $0; next }
        err && !det && /^DETAIL:  / { sub(/^DETAIL:  /, ""); det = $0; next }
        err && !where && /^CONTEXT:  COPY [^,]*, line [0-9]+/ {
            match($0, /line [0-9]+/); where = substr($0, RSTART, RLENGTH) }
        !first && NF { first = $0; sub(/^psql: error: /, "", first) }
        END {
            if (err) {
                if (det) err = err ": " det
                if (where) err = err " (file " where ")"
                print err
            } else print first
        }' "$errfile")
    [ -n "$msg" ] || msg="psql failed with exit status $status"
    die "$FILE: $msg"
fi

echo "$PROG: $FILE: $out in $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f s", b - a }')"
