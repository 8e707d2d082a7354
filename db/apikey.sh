#!/bin/bash
# db/apikey.sh -- manage Tunesheap API keys in a cluster run by db/pg.sh.
#
# Usage:
#   db/apikey.sh DATADIR create NAME [SCOPES]   SCOPES: read,write (default)
#       prints the new key once; only its SHA-256 is stored
#   db/apikey.sh DATADIR revoke NAME            effective at the key's next use
#   db/apikey.sh DATADIR list                   names, scopes, times; no keys
set -euo pipefail

PROG=apikey.sh
SCRIPT_DIR=$(cd "$(dirname "$0")" && pwd)

die() { echo "$PROG: error: $*" >&2; exit 1; }

[ $# -ge 2 ] || { sed -n '2,/^set -euo/p' "$0" | sed '$d;s/^# \{0,1\}//' >&2; exit 2; }
data=$1 cmd=$2
psql() { "$SCRIPT_DIR/pg.sh" psql "$data" tunesheap -X -q -v ON_ERROR_STOP=1 "$@"; }

case $cmd in
create)
    name=${3:-}
    scopes=${4:-read,write}
    [ -n "$name" ] || die "a NAME is required"
    [[ $name =~ ^[A-Za-z0-9._-]{1,64}$ ]] \
        || die "NAME must be 1 to 64 of A-Z a-z 0-9 . _ -"
    [[ $scopes =~ ^(read|write)(,(read|write))*$ ]] \
        || die "SCOPES must be a comma-separated list of read and write"

    # 256 random bits; the key is "tsk_" and 64 hex digits
    key=tsk_$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')
    hash=$(printf '%s' "$key" | sha256sum | cut -d' ' -f1)

    psql -v name="$name" -v hash="$hash" -v scopes="{$scopes}" <<'SQL' \
        || die "could not create the key (is \"$name\" already in use?)"
INSERT INTO api_keys (name, key_hash, scopes)
VALUES (:'name', :'hash', :'scopes'::text[]);
SQL
    echo "API key for $name ($scopes), shown only now:"
    echo "$key"
    ;;
revoke)
    name=${3:-}
    [ -n "$name" ] || die "a NAME is required"
    n=$(psql -At -v name="$name" <<'SQL'
WITH r AS (UPDATE api_keys SET revoked_at = now()
           WHERE name = :'name' AND revoked_at IS NULL RETURNING 1)
SELECT count(*) FROM r;
SQL
)
    [ "$n" != 0 ] || die "no live key named $name"
    echo "revoked the key of $name"
    ;;
list)
    psql -c "SELECT name, array_to_string(scopes, ',') AS scopes,
                    created_at, last_used_at, revoked_at
             FROM api_keys ORDER BY name, created_at"
    ;;
*)
    die "unknown command $cmd (create, revoke, list)"
    ;;
esac
