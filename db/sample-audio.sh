#!/bin/bash
# db/sample-audio.sh -- gives every song without audio a short spoken clip
# ("Takeover, by Jay-Z": espeak-ng, then lame), uploaded through the API
# itself with a key made for the run and revoked after it.
#
# Usage: db/sample-audio.sh DATADIR URL    e.g. var/pg http://127.0.0.1:8080
set -euo pipefail

[ $# -eq 2 ] || { sed -n '2,/^set -euo/p' "$0" | sed '$d;s/^# \{0,1\}//' >&2; exit 2; }
data=$1 url=$2
dir=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$dir")

psql() { "$dir/pg.sh" psql "$data" tunesheap -X -q -At -v ON_ERROR_STOP=1 "$@"; }

songs=$(psql -F $'\t' -c "SELECT s.id, s.title || ', by ' || a.name
                          FROM songs s JOIN artists a ON a.id = s.artist_id
                          WHERE s.audio_key IS NULL ORDER BY s.id")
[ -n "$songs" ] || exit 0

name=sample-audio-$$
key=$("$dir/apikey.sh" "$data" create "$name" write | tail -n 1)
tmp=$(mktemp -d)
trap '"$dir/apikey.sh" "$data" revoke "$name" >/dev/null; rm -rf "$tmp"' EXIT

echo "sample-audio.sh: recording $(wc -l <<<"$songs") songs' clips"

upload() {
    local id=$1 text=$2
    "$root/t/tools/mkaudio.sh" --say "$text" "$tmp/$id.mp3" >/dev/null 2>&1
    curl -fsS -o /dev/null -X PUT --data-binary "@$tmp/$id.mp3" \
         -H "Authorization: Bearer $key" "$url/api/v1/songs/$id/audio"
    rm -f "$tmp/$id.mp3"
}

# two at a time: one core encodes while the other uploads
while IFS=$'\t' read -r id text; do
    upload "$id" "$text" &
    [ "$(jobs -rp | wc -l)" -lt 2 ] || wait -n
done <<<"$songs"
wait
