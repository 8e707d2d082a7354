#!/bin/bash
# ansible/test/converge.sh -- converge site.yml onto a fresh Debian 12 root
# and prove the node serves: make deb; debootstrap bookworm into a
# throwaway directory; run site.yml (postgres, redis, tunesheap_node) with
# the chroot connection; GET /api/v1/health must answer 200; a second run
# must report changed=0.  Then it stops what it started (pid files),
# unmounts and removes the root.
#
# Run as root.  Everything after debootstrap runs in private PID, IPC and
# mount namespaces: the daemons the roles start inside the chroot cannot
# outlive the test, and its mounts vanish with it.  The servers share the
# host's network and listen on loopback only, on these ports:
#   TS_CONVERGE_HTTP_PORT (18091), TS_CONVERGE_PG_PORT (15491),
#   TS_CONVERGE_REDIS_PORT (16391)
# Other settings: TS_CONVERGE_MIRROR (http://deb.debian.org/debian),
# TS_CONVERGE_DIR (a new directory under /var/tmp), TS_CONVERGE_TIMEOUT
# (seconds for the playbook runs, 900), TS_CONVERGE_KEEP=1 keeps the root.
# The last line says "converge: 1 passed, 0 failed" (or 0 passed, 1 failed).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
ansible_dir=$(dirname "$here")
repo=$(dirname "$ansible_dir")

export TS_CONVERGE_HTTP_PORT=${TS_CONVERGE_HTTP_PORT:-18091}
export TS_CONVERGE_PG_PORT=${TS_CONVERGE_PG_PORT:-15491}
export TS_CONVERGE_REDIS_PORT=${TS_CONVERGE_REDIS_PORT:-16391}
mirror=${TS_CONVERGE_MIRROR:-http://deb.debian.org/debian}
limit=${TS_CONVERGE_TIMEOUT:-900}

say() { echo "converge: $*" >&2; }

# --- inside the namespaces --------------------------------------------------
if [ "${1:-}" = --inner ]; then
    root=$TS_CONVERGE_ROOT
    log=$TS_CONVERGE_LOG

    stop_daemons() {
        local pidfile pid i
        for pidfile in run/nginx.pid run/redis/redis-server.pid \
                var/run/postgresql/*-main.pid; do
            for pidfile in "$root"/$pidfile; do
                [ -f "$pidfile" ] || continue
                pid=$(head -n 1 "$pidfile")
                kill -TERM "$pid" 2>/dev/null || continue
                for i in $(seq 100); do
                    kill -0 "$pid" 2>/dev/null || break
                    sleep 0.1
                done
            done
        done
        umount "$root/dev/shm" "$root/proc" 2>/dev/null || true
    }
    trap stop_daemons EXIT

    mount -t proc proc "$root/proc"
    mount -t tmpfs -o mode=1777,size=256m tmpfs "$root/dev/shm"

    cd "$ansible_dir"
    export ANSIBLE_CONFIG=$ansible_dir/ansible.cfg
    export ANSIBLE_FORCE_COLOR=0 ANSIBLE_NOCOLOR=1
    for run in 1 2; do
        start=$(date +%s)
        ansible-playbook -i test/inventory.yml site.yml \
            >"$log.run$run" 2>&1 || {
            tail -n 60 "$log.run$run"; say "run $run failed"; exit 1; }
        say "run $run: $(grep -E '^converge +:' "$log.run$run" \
            | tr -s ' ') ($(( $(date +%s) - start )) s)"
    done

    code=$(curl -s -o /dev/null -w '%{http_code}' \
        "http://127.0.0.1:$TS_CONVERGE_HTTP_PORT/api/v1/health")
    body=$(curl -s "http://127.0.0.1:$TS_CONVERGE_HTTP_PORT/api/v1/health")
    say "GET /api/v1/health: $code $body"
    [ "$code" = 200 ] || exit 1
    grep -Eq '^converge +:.* changed=0 .*failed=0' "$log.run2" || {
        say "the second run changed something:"
        grep -E 'changed:' "$log.run2" >&2 || true
        exit 1
    }
    exit 0
fi

# --- outside ----------------------------------------------------------------
[ "$(id -u)" = 0 ] || { say "run me as root (debootstrap, chroot)"; exit 2; }
for p in "$TS_CONVERGE_HTTP_PORT" "$TS_CONVERGE_PG_PORT" \
        "$TS_CONVERGE_REDIS_PORT"; do
    if ss -Hltn "sport = :$p" | grep -q .; then
        say "port $p is in use"; exit 2
    fi
done

# throwaway secrets for the throwaway target, the same for both runs
export TUNESHEAP_DB_PASSWORD=${TUNESHEAP_DB_PASSWORD:-$(head -c 18 /dev/urandom | base64 | tr '+/' '-_')}
export TUNESHEAP_MEDIA_SECRET=${TUNESHEAP_MEDIA_SECRET:-$(head -c 24 /dev/urandom | base64 | tr '+/' '-_')}

work=${TS_CONVERGE_DIR:-$(mktemp -d /var/tmp/tunesheap-converge.XXXXXX)}
mkdir -p "$work"
export TS_CONVERGE_ROOT=$work/root TS_CONVERGE_LOG=$work/ansible.log
cleanup() {
    local rc=$?
    if [ "${TS_CONVERGE_KEEP:-0}" = 1 ]; then
        say "kept $work"
    else
        # the namespaces are gone, and their mounts with them
        if grep -q " $work/" /proc/mounts; then
            say "still mounted under $work: not removing it"
        else
            rm -rf "$work"
        fi
    fi
    if [ "$rc" = 0 ]; then
        echo "converge: 1 passed, 0 failed"
    else
        echo "converge: 0 passed, 1 failed"
    fi
}
trap cleanup EXIT

t0=$(date +%s)
make -s -C "$repo" deb >"$work/deb.log" 2>&1 || {
    tail -n 30 "$work/deb.log"; say "make deb failed"; exit 1; }
t1=$(date +%s)
say "make deb: $(( t1 - t0 )) s"

timeout 600 debootstrap --variant=minbase --include=python3,python3-apt \
    bookworm "$TS_CONVERGE_ROOT" "$mirror" >"$work/debootstrap.log" 2>&1 || {
    tail -n 20 "$work/debootstrap.log"; say "debootstrap failed"; exit 1; }
# packages' maintainer scripts start no daemon: the roles' service tasks do
printf '#!/bin/sh\nexit 101\n' >"$TS_CONVERGE_ROOT/usr/sbin/policy-rc.d"
chmod 755 "$TS_CONVERGE_ROOT/usr/sbin/policy-rc.d"
t2=$(date +%s)
say "debootstrap: $(( t2 - t1 )) s"

timeout --kill-after=10 "$limit" \
    unshare --pid --ipc --mount --fork --kill-child --mount-proc \
    "$0" --inner
t3=$(date +%s)
say "playbook runs and checks: $(( t3 - t2 )) s; total $(( t3 - t0 )) s"
