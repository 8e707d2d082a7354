#!/bin/bash
# Runs every suite under t/ against throwaway servers: a Postgres cluster
# made for this run, loaded with t/data/catalog.json, a Redis, and the
# nginx that each suite starts through the harness in t/lib.
#
# Everything runs in a private network and PID namespace when the kernel
# allows it: listeners stay on a loopback nobody else sees, and every
# process left over is gone when the run ends.
#
#   t/run.sh [prove arguments]     e.g. t/run.sh t/010-read.t
set -eu

cd "$(dirname "$0")/.."
root=$PWD

if [ -z "${TS_TEST_NAMESPACE:-}" ] \
   && unshare -fpn --mount-proc true 2>/dev/null
then
    export TS_TEST_NAMESPACE=1
    exec unshare -fpn --mount-proc \
        bash -c 'ip link set lo up && exec "$0" "$@"' "$0" "$@"
fi

tmp=$(mktemp -d /tmp/tunesheap-test.XXXXXX)
chmod 755 "$tmp"
pg_data=$tmp/pg
pg_port=${TS_TEST_PG_PORT:-55432}
redis_dir=$tmp/redis
redis_port=${TS_TEST_REDIS_PORT:-56379}

cleanup() {
    t/tools/s3rver.sh stop "$tmp/s3" >/dev/null 2>&1 || true
    db/redis.sh stop "$redis_dir" >/dev/null 2>&1 || true
    db/pg.sh stop "$pg_data" >/dev/null 2>&1 || true
    rm -rf "$tmp"
}
trap cleanup EXIT

db/pg.sh start "$pg_data" "$pg_port" >"$tmp/pg-start.log" 2>&1 \
    || { cat "$tmp/pg-start.log"; exit 1; }

db/redis.sh start "$redis_dir" "$redis_port"

dsn=$(db/pg.sh dsn "$pg_data")
db/import.sh "$dsn" t/data/catalog.json
for f in t/data/slow.sql t/data/keys.sql; do
    db/pg.sh psql "$pg_data" tunesheap -q -v ON_ERROR_STOP=1 -f "$f"
done

# real audio of every kind, a media root, an RSA key for CloudFront, and
# an S3 that checks signatures (t/tools/s3rver.sh)
t/tools/mkaudio.sh "$tmp/audio" >"$tmp/audio.log" 2>&1 \
    && t/tools/mkaudio.sh --big "$tmp/audio" >>"$tmp/audio.log" 2>&1 \
    || { cat "$tmp/audio.log"; exit 1; }
mkdir -p "$tmp/media/.tmp"
chmod 777 "$tmp/media" "$tmp/media/.tmp"   # whoever the workers run as
openssl genrsa -out "$tmp/cloudfront.pem" 2048 2>/dev/null
openssl rsa -in "$tmp/cloudfront.pem" -pubout -out "$tmp/cloudfront.pub" \
    2>/dev/null
s3_port=${TS_TEST_S3_PORT:-54569}
t/tools/s3rver.sh start "$tmp/s3" "$s3_port" tunes >/dev/null

export TEST_NGINX_AUDIO=$tmp/audio
export TEST_NGINX_MEDIA=$tmp/media
export TEST_NGINX_CLOUDFRONT_KEY=$tmp/cloudfront.pem
export TEST_NGINX_CLOUDFRONT_PUB=$tmp/cloudfront.pub
export TEST_NGINX_S3=http://127.0.0.1:$s3_port
export TEST_NGINX_LOAD_MODULES=$root/build/nginx/objs/ngx_tunesheap_module.so
export TEST_NGINX_PG_DSN=$dsn
export TEST_NGINX_PG_DATA=$pg_data
export TEST_NGINX_PG_CTL=$root/db/pg.sh
export TEST_NGINX_REDIS=127.0.0.1:$redis_port
export TEST_NGINX_REDIS_DIR=$redis_dir
export TEST_NGINX_REDIS_CTL=$root/db/redis.sh
export TEST_NGINX_SERVROOT=$tmp/servroot

# every response the suites receive, for t/990-openapi.t; run whole, every
# route the API documents must have been exercised too
export TS_RECORD=${TS_RECORD:-$tmp/record}
mkdir -p "$TS_RECORD"
[ $# -gt 0 ] || export TS_RECORD_ALL=1
# the player's screenshots (t/200-player.t) outlive the run
export TS_SCREENSHOTS=${TS_SCREENSHOTS:-$root/var/screenshots}

log=$tmp/prove.log
status=0
# TS_PROVE_INC puts another harness (the real Test::Nginx) in front of ours
prove -v ${TS_PROVE_INC:+-I"$TS_PROVE_INC"} -It/lib -r "${@:-t}" 2>&1 \
    | tee "$log" || status=1
[ "${PIPESTATUS[0]}" = 0 ] || status=1

passed=$(grep -c '^ok ' "$log" || true)
failed=$(grep '^not ok ' "$log" | grep -vc '# TODO' || true)
# a failing TODO test is a known bug, marked so in its suite: not a failure
todo=$(grep -c '^not ok .*# TODO' "$log" || true)
[ "$todo" = 0 ] && todo= || todo=", $todo todo (known bugs)"
echo "tests: $passed passed, $failed failed$todo"

exit $status
