#!/bin/bash
# db/pg.sh -- control a private PostgreSQL cluster for Tunesheap
# (development, `make run`, `make test`, benchmarks).
#
# Usage:
#   db/pg.sh start   DATADIR [PORT] [DBNAME]
#       Create the cluster in DATADIR if there is none (initdb: UTF8,
#       locale C.UTF-8, trust auth for the unix socket and 127.0.0.1 only),
#       start it on 127.0.0.1:PORT unless it is already running, wait until
#       it accepts connections (bounded), then make sure that the login role
#       `tunesheap` (not superuser, no password) and the database DBNAME
#       (default `tunesheap`, owned by that role) exist, apply db/schema.sql
#       to it as superuser (extensions need that) and grant the role
#       SELECT/INSERT/UPDATE/DELETE/TRUNCATE on the tables and
#       USAGE/SELECT/UPDATE on the sequences of schema public (also as
#       default privileges for tables `postgres` creates later).
#       Every step is idempotent: run it as often as you like.
#       PORT may be omitted once the cluster exists (the last one is reused).
#   db/pg.sh stop    DATADIR          fast shutdown; fine if not running
#   db/pg.sh restart DATADIR [DBNAME] stop, then start on the remembered port
#   db/pg.sh status  DATADIR          exit 0 if running, 3 if not
#   db/pg.sh psql    DATADIR [DBNAME] [psql args...]
#       psql as the superuser (`postgres`); a 2nd argument starting with `-`
#       is taken as a psql argument, not as DBNAME.  ~/.psqlrc is read only
#       when used interactively (so scripts can parse the output).
#   db/pg.sh dsn     DATADIR [DBNAME]
#       print the libpq connection string of the app role, e.g.
#       host=127.0.0.1 port=5433 dbname=tunesheap user=tunesheap
#   db/pg.sh replica DATADIR PRIMARY_DATADIR PORT
#       Make DATADIR a streaming replica (hot standby) of the running
#       cluster in PRIMARY_DATADIR: pg_basebackup -R (primary_conninfo and
#       standby.signal), then start it on 127.0.0.1:PORT and wait until it
#       accepts connections.  The primary's pg_hba.conf gets the
#       replication lines it lacks (clusters made before they were there).
#       Once made, `start`, `stop`, `psql` and `dsn` work on it as on any
#       cluster (`start` leaves a standby's database alone: it is read-only).
#
# Notes:
#   * PostgreSQL refuses to run as root.  When this script runs as root, the
#     server tools (initdb, pg_ctl) run as the `postgres` system user via
#     runuser, DATADIR is chown'ed to it, and any ancestor directory of
#     DATADIR that `postgres` cannot traverse gets o+x (search only, no read)
#     with a notice on stderr.  Otherwise everything runs as the current user.
#   * The cluster superuser is always called `postgres` (initdb -U postgres).
#   * Settings live in DATADIR/tunesheap.conf (included from postgresql.conf),
#     rewritten on every start; the port is remembered there.  The server
#     log is DATADIR/postgresql.log.  Clients connect over TCP 127.0.0.1;
#     the unix socket lives in DATADIR itself (disabled, with a warning, if
#     the path is too long for a unix socket).
#   * Durability: fsync stays on; synchronous_commit=off only risks the last
#     fraction of a second of commits on an OS crash, never corruption.
#   * start/stop/restart of one DATADIR are serialized with flock(1) on the
#     directory, so parallel `make` jobs cannot race each other.
#   * Environment: PG_BINDIR overrides where initdb/pg_ctl/psql are found.
set -euo pipefail

PROG=pg.sh
APP_ROLE=tunesheap
SUPERUSER=postgres
DEFAULT_DB=tunesheap
START_TIMEOUT=30        # seconds to wait for the server to accept connections
STOP_TIMEOUT=60         # seconds to wait for a fast shutdown
LOCK_TIMEOUT=120        # seconds to wait for another pg.sh on the same DATADIR

SCRIPT_DIR=$(cd "$(dirname "$0")" && pwd)
SCHEMA=$SCRIPT_DIR/schema.sql

die()  { echo "$PROG: error: $*" >&2; exit 1; }
note() { echo "$PROG: $*" >&2; }   # stderr, so that `dsn` output stays clean

usage() {
    sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//' >&2
    exit 2
}

# --- who runs the server ----------------------------------------------------
if [ "$(id -u)" = 0 ]; then
    getent passwd postgres >/dev/null ||
        die "running as root but there is no 'postgres' system user to run the server"
    AS_PG=(runuser -u postgres --)
else
    AS_PG=()
fi
# Run a server tool as the user owning the cluster.  `cd /` first so that a
# current directory that user cannot enter (e.g. /root) causes no warnings.
as_pg() { (cd / && "${AS_PG[@]}" "$@"); }

# --- where are the PostgreSQL binaries ---------------------------------------
# Prefer PG_BINDIR, then the version the cluster was created with, then the
# newest /usr/lib/postgresql/*/bin, then whatever is in PATH.
find_bindir() {
    local datadir=$1 d v
    if [ -n "${PG_BINDIR:-}" ]; then echo "$PG_BINDIR"; return; fi
    if [ -r "$datadir/PG_VERSION" ]; then
        v=$(cat "$datadir/PG_VERSION")
        if [ -x "/usr/lib/postgresql/$v/bin/pg_ctl" ]; then
            echo "/usr/lib/postgresql/$v/bin"; return
        fi
    fi
    for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k5,5nr); do
        if [ -x "$d/initdb" ]; then echo "$d"; return; fi
    done
    d=$(command -v initdb 2>/dev/null) || die "cannot find PostgreSQL binaries (set PG_BINDIR)"
    dirname "$d"
}

# --- small helpers -----------------------------------------------------------
is_cluster() { [ -s "$DATADIR/PG_VERSION" ]; }

# pg_ctl status: 0 running, 3 not running, 4 no (accessible) data directory
is_running() {
    is_cluster || return 1
    as_pg "$BIN/pg_ctl" status -D "$DATADIR" >/dev/null 2>&1
}

conf_port() {   # the port remembered in tunesheap.conf (empty if none)
    sed -n "s/^port *= *\([0-9][0-9]*\).*/\1/p" "$DATADIR/tunesheap.conf" 2>/dev/null | tail -n 1
}

pid_port() {    # the port of the running server, from postmaster.pid line 4
    sed -n '4p' "$DATADIR/postmaster.pid" 2>/dev/null
}

current_port() {
    local p
    p=$(pid_port)
    [ -n "$p" ] && is_running && { echo "$p"; return; }
    p=$(conf_port)
    [ -n "$p" ] || die "$DATADIR: no port known (run '$PROG start $DATADIR PORT' first)"
    echo "$p"
}

check_port() {
    case $1 in
        ''|*[!0-9]*) die "port must be a number, got '$1'" ;;
    esac
    [ "$1" -ge 1 ] && [ "$1" -le 65535 ] || die "port out of range: $1"
}

check_dbname() {
    case $1 in
        ''|-*) die "bad database name '$1'" ;;
    esac
}

# Take an exclusive lock on DATADIR (fd 9) so that concurrent pg.sh calls on
# the same cluster serialize.  Every command that may start a long-lived
# process must close fd 9 (`9<&-`), or the server would hold the lock.
lock_datadir() {
    exec 9<"$DATADIR"
    flock -w "$LOCK_TIMEOUT" 9 || die "$DATADIR: another $PROG is busy with it (waited ${LOCK_TIMEOUT}s)"
}

# Make every ancestor of DATADIR traversable by `postgres` (root only).
# Top-down, so a non-traversable ancestor is fixed before its children are
# tested.  Only the search bit for "others" is added, never read/write.
fix_traversal() {
    [ ${#AS_PG[@]} -gt 0 ] || return 0
    local rest path="" comp
    rest=$(dirname "$DATADIR")/
    while [ -n "$rest" ]; do
        comp=${rest%%/*}
        rest=${rest#*/}
        [ -n "$comp" ] || continue
        path="$path/$comp"
        if ! runuser -u postgres -- test -x "$path" 2>/dev/null; then
            chmod o+x "$path"
            note "notice: added o+x to $path so that the postgres user can reach $DATADIR"
        fi
    done
}

# Create DATADIR (if needed) with the right owner and mode for initdb.
prepare_datadir() {
    if [ ! -d "$DATADIR" ]; then
        [ ! -e "$DATADIR" ] || die "$DATADIR exists and is not a directory"
        mkdir -p "$DATADIR"
    fi
    if [ ${#AS_PG[@]} -gt 0 ]; then
        fix_traversal
        if [ "$(stat -c %U "$DATADIR")" != postgres ]; then
            chown -R postgres:postgres "$DATADIR"
        fi
    else
        [ -O "$DATADIR" ] || die "$DATADIR is not owned by $(id -un); the server must run as its owner"
    fi
    chmod 700 "$DATADIR"
}

# Write stdin to a file inside DATADIR, owned by the cluster owner.
write_pg_file() { as_pg tee "$1" >/dev/null; }

init_cluster() {
    if [ -n "$(ls -A "$DATADIR")" ]; then
        die "$DATADIR is not empty and holds no PostgreSQL cluster; refusing to initdb there"
    fi
    note "initializing a new cluster in $DATADIR"
    # Default messages in English so that callers (and import.sh) can parse them.
    local initlog
    initlog=$(mktemp)
    if ! as_pg "$BIN/initdb" -D "$DATADIR" -U "$SUPERUSER" --encoding=UTF8 \
            --locale=C.UTF-8 --lc-messages=C --auth=trust >"$initlog" 2>&1; then
        cat "$initlog" >&2
        rm -f "$initlog"
        die "initdb failed for $DATADIR"
    fi
    rm -f "$initlog"
    # Trust only the unix socket (inside the 0700 DATADIR) and IPv4 loopback.
    write_pg_file "$DATADIR/pg_hba.conf" <<'EOF'
# Written by db/pg.sh: trust the unix socket and 127.0.0.1 only.
# TYPE  DATABASE  USER  ADDRESS        METHOD
local   all       all                  trust
host    all       all   127.0.0.1/32   trust
local   replication all                trust
host    replication all 127.0.0.1/32   trust
EOF
    # Our settings live in a separate file that pg.sh rewrites on each start.
    echo "include = 'tunesheap.conf'    # settings managed by db/pg.sh" |
        as_pg tee -a "$DATADIR/postgresql.conf" >/dev/null
}

write_conf() {
    local port=$1 sockdir qdir
    # sun_path holds 107 bytes: "$DATADIR/.s.PGSQL.$PORT" must fit.
    sockdir=$DATADIR
    if [ $(( ${#DATADIR} + ${#port} + 10 )) -gt 107 ]; then
        note "warning: $DATADIR is too long a path for a unix socket; TCP 127.0.0.1:$port only"
        sockdir=
    fi
    qdir=${sockdir//\'/\'\'}
    write_pg_file "$DATADIR/tunesheap.conf" <<EOF
# Managed by db/pg.sh and rewritten on every 'pg.sh start': edit the script.
port = $port
listen_addresses = '127.0.0.1'
unix_socket_directories = '$qdir'
unix_socket_permissions = 0700

# Sized for a dev box and for benchmarks.  shared_buffers holds the whole
# working set: a catalog of 500,000 songs is 690 MB with its search
# tables, and with 256MB a search for a new text read most of its index
# pages from the OS's cache (the bench's mix at 10,000 connections: 18,600
# req/s, p99 2.6 s; with 1GB 29,200 req/s, p99 0.87 s).
max_connections = 300
shared_buffers = 1GB
work_mem = 16MB
maintenance_work_mem = 256MB
effective_cache_size = 1GB
random_page_cost = 1.1

# Keep fsync on (data survives); don't wait for the WAL flush at commit.
fsync = on
synchronous_commit = off
max_wal_size = 2GB
min_wal_size = 256MB
checkpoint_timeout = 15min

timezone = 'UTC'
log_timezone = 'UTC'
datestyle = 'iso, mdy'
lc_messages = 'C'

# Logging goes to stderr, which pg_ctl sends to DATADIR/postgresql.log.
logging_collector = off
log_destination = 'stderr'
log_line_prefix = '%m [%p] %q%u@%d '
log_min_messages = warning
log_min_error_statement = error
EOF
}

start_server() {
    local log=$DATADIR/postgresql.log
    if ! as_pg "$BIN/pg_ctl" start -D "$DATADIR" -l "$log" -w -t "$START_TIMEOUT" -s 9<&-; then
        note "server did not start; last lines of $log:"
        tail -n 20 "$log" >&2 || true
        die "could not start PostgreSQL in $DATADIR"
    fi
}

wait_ready() {
    local port=$1 i=0
    while ! "$BIN/pg_isready" -q -h 127.0.0.1 -p "$port" -U "$SUPERUSER" -d postgres -t 1 9<&-; do
        i=$((i + 1))
        [ "$i" -lt "$START_TIMEOUT" ] || die "server on 127.0.0.1:$port not ready after ${START_TIMEOUT}s (see $DATADIR/postgresql.log)"
        sleep 1
    done
}

# psql as superuser, non-interactive: no psqlrc, stop at the first error.
su_psql() {
    local port=$1 db=$2; shift 2
    PGCLIENTENCODING=UTF8 PGOPTIONS="-c client_min_messages=warning" \
        "$BIN/psql" -X -q -v ON_ERROR_STOP=1 \
        -h 127.0.0.1 -p "$port" -U "$SUPERUSER" -d "$db" "$@" 9<&-
}

# Role, database, schema and grants; all idempotent.
prepare_db() {
    local port=$1 db=$2
    [ -r "$SCHEMA" ] || die "cannot read $SCHEMA"
    su_psql "$port" postgres -v role="$APP_ROLE" -v dbname="$db" <<'EOF'
SELECT format('CREATE ROLE %I LOGIN', :'role')
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'role') \gexec
SELECT format('ALTER ROLE %I WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS PASSWORD NULL', :'role') \gexec
SELECT format('CREATE DATABASE %I OWNER %I TEMPLATE template0 ENCODING %L LOCALE %L',
              :'dbname', :'role', 'UTF8', 'C.UTF-8')
 WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'dbname') \gexec
SELECT format('ALTER DATABASE %I OWNER TO %I', :'dbname', :'role') \gexec
EOF
    # Extensions need superuser, hence the schema is applied as `postgres`.
    su_psql "$port" "$db" --single-transaction -f "$SCHEMA" ||
        die "applying $SCHEMA to database $db failed"
    su_psql "$port" "$db" -v role="$APP_ROLE" <<'EOF'
SELECT format('GRANT USAGE ON SCHEMA public TO %I', :'role') \gexec
SELECT format('GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON ALL TABLES IN SCHEMA public TO %I', :'role') \gexec
SELECT format('GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO %I', :'role') \gexec
SELECT format('ALTER DEFAULT PRIVILEGES FOR ROLE postgres IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON TABLES TO %I', :'role') \gexec
SELECT format('ALTER DEFAULT PRIVILEGES FOR ROLE postgres IN SCHEMA public GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO %I', :'role') \gexec
EOF
}

# --- commands ------------------------------------------------------------------
cmd_start() {
    local port=${1:-} db=${2:-$DEFAULT_DB} running_port
    check_dbname "$db"
    [ -z "$port" ] || check_port "$port"
    if [ -z "$port" ] && ! is_cluster; then
        die "usage: $PROG start DATADIR PORT [DBNAME] (PORT is needed for a new cluster)"
    fi
    prepare_datadir
    lock_datadir
    BIN=$(find_bindir "$DATADIR")
    if is_cluster && is_running; then
        running_port=$(pid_port)
        if [ -n "$port" ] && [ "$port" != "$running_port" ]; then
            die "$DATADIR is already running on port $running_port, not $port (restart it to change the port)"
        fi
        port=$running_port
    else
        if [ -z "$port" ]; then
            is_cluster && port=$(conf_port)
            [ -n "$port" ] || die "usage: $PROG start DATADIR PORT [DBNAME] (PORT is needed for a new cluster)"
        fi
        check_port "$port"
        is_cluster || init_cluster
        BIN=$(find_bindir "$DATADIR")
        write_conf "$port"
        note "starting PostgreSQL on 127.0.0.1:$port (data $DATADIR)"
        start_server
    fi
    wait_ready "$port"
    # a standby is read-only: its database comes from the primary
    [ -e "$DATADIR/standby.signal" ] || prepare_db "$port" "$db"
}

system_id() {   # the cluster's identifier, which a replica shares
    as_pg "$(find_bindir "$1")/pg_controldata" "$1" |
        sed -n 's/^Database system identifier: *//p'
}

cmd_replica() {
    local primary port pport
    primary=$(realpath -m -- "$1") port=$2
    check_port "$port"
    [ -s "$primary/PG_VERSION" ] || die "no cluster in $primary"
    if is_cluster; then
        [ -e "$DATADIR/standby.signal" ] || die "$DATADIR holds a cluster that is no replica"
        if [ "$(system_id "$DATADIR")" = "$(system_id "$primary")" ]; then
            cmd_start "$port"
            return
        fi
        # a copy of a cluster made again since: it would never catch up
        note "$DATADIR is a replica of another cluster: making it again"
        ( cmd_stop )
        rm -rf "$DATADIR"
    fi
    pport=$(DATADIR=$primary; BIN=$(find_bindir "$primary"); current_port)
    if ! grep -q '^host *replication' "$primary/pg_hba.conf"; then
        printf '%s\n' 'local   replication all                trust' \
            'host    replication all 127.0.0.1/32   trust' |
            as_pg tee -a "$primary/pg_hba.conf" >/dev/null
        BIN=$(find_bindir "$primary")
        as_pg "$BIN/pg_ctl" reload -D "$primary" -s
    fi
    prepare_datadir
    lock_datadir
    BIN=$(find_bindir "$primary")
    note "copying the cluster on 127.0.0.1:$pport into $DATADIR (pg_basebackup)"
    as_pg "$BIN/pg_basebackup" -h 127.0.0.1 -p "$pport" -U "$SUPERUSER" \
        -D "$DATADIR" -R -X stream -c fast 9<&- ||
        die "pg_basebackup from $primary failed"
    write_conf "$port"
    # the copy's log is its own
    as_pg rm -f "$DATADIR/postgresql.log"
    note "starting the replica on 127.0.0.1:$port (data $DATADIR)"
    start_server
    wait_ready "$port"
}

cmd_stop() {
    if [ ! -d "$DATADIR" ] || ! is_cluster; then
        note "no cluster in $DATADIR; nothing to stop"
        return 0
    fi
    lock_datadir
    BIN=$(find_bindir "$DATADIR")
    if ! is_running; then
        note "not running: $DATADIR"
        return 0
    fi
    note "stopping PostgreSQL (data $DATADIR)"
    if ! as_pg "$BIN/pg_ctl" stop -D "$DATADIR" -m fast -w -t "$STOP_TIMEOUT" -s; then
        note "fast shutdown timed out after ${STOP_TIMEOUT}s; trying immediate shutdown"
        as_pg "$BIN/pg_ctl" stop -D "$DATADIR" -m immediate -w -t 30 -s ||
            die "could not stop PostgreSQL in $DATADIR"
    fi
}

cmd_restart() {
    local db=${1:-$DEFAULT_DB} port
    is_cluster || die "no cluster in $DATADIR (use '$PROG start $DATADIR PORT')"
    BIN=$(find_bindir "$DATADIR")
    port=$(current_port)
    # stop and start take the lock themselves; run them in subshells so the
    # lock fd of the first is closed before the second one opens its own.
    ( cmd_stop )
    ( cmd_start "$port" "$db" )
}

cmd_status() {
    is_cluster || { note "no cluster in $DATADIR"; return 4; }
    BIN=$(find_bindir "$DATADIR")
    as_pg "$BIN/pg_ctl" status -D "$DATADIR"
}

cmd_psql() {
    local db=$DEFAULT_DB port
    if [ $# -gt 0 ] && [ "${1#-}" = "$1" ]; then db=$1; shift; fi
    is_cluster || die "no cluster in $DATADIR"
    BIN=$(find_bindir "$DATADIR")
    port=$(current_port)
    # Scripts parse psql's output: skip ~/.psqlrc unless used interactively.
    local norc=-X
    if [ -t 0 ] && [ -t 1 ]; then norc=; fi
    PGCLIENTENCODING=${PGCLIENTENCODING:-UTF8} exec "$BIN/psql" $norc \
        -h 127.0.0.1 -p "$port" -U "$SUPERUSER" -d "$db" "$@"
}

cmd_dsn() {
    local db=${1:-$DEFAULT_DB} port
    is_cluster || die "no cluster in $DATADIR"
    BIN=$(find_bindir "$DATADIR")
    port=$(current_port)
    case $db in
        *[!A-Za-z0-9_]*)        # libpq quoting: 'value' with \ and ' escaped
            db=${db//\\/\\\\}; db=${db//\'/\\\'}; db="'$db'" ;;
    esac
    echo "host=127.0.0.1 port=$port dbname=$db user=$APP_ROLE"
}

# --- main ----------------------------------------------------------------------
[ $# -ge 2 ] || usage
CMD=$1 DATADIR=$(realpath -m -- "$2"); shift 2
[ "$DATADIR" != / ] || die "refusing to use / as DATADIR"

case $CMD in
    start)   [ $# -le 2 ] || usage; cmd_start "$@" ;;
    stop)    [ $# -eq 0 ] || usage; cmd_stop ;;
    restart) [ $# -le 1 ] || usage; cmd_restart "$@" ;;
    status)  [ $# -eq 0 ] || usage; cmd_status ;;
    psql)    cmd_psql "$@" ;;
    dsn)     [ $# -le 1 ] || usage; cmd_dsn "$@" ;;
    replica) [ $# -eq 2 ] || usage; cmd_replica "$@" ;;
    *)       usage ;;
esac
