#!/bin/bash
# bench/somaxconn.sh [N]: make the kernel let a listen backlog reach N
# (default 16384, the backlog of conf/tunesheap.dev.conf): Linux caps every
# backlog at net.core.somaxconn (4096 by default), and 10,000 clients
# connecting at once overflow a queue that short (their SYNs are dropped and
# retried a second later).  Raises net.core.somaxconn and
# net.ipv4.tcp_max_syn_backlog when they are lower and we are root (in a
# network namespace of our own the change stays in it); otherwise says what
# to run.  Never lowers them, never fails: a short queue is slower, not
# broken.
n=${1:-16384}
for key in net.core.somaxconn net.ipv4.tcp_max_syn_backlog; do
    cur=$(sysctl -n "$key" 2>/dev/null) || continue
    [ "$cur" -ge "$n" ] && continue
    if [ "$(id -u)" = 0 ] && sysctl -qw "$key=$n" 2>/dev/null; then
        echo "$key: $cur -> $n (listen backlog)" >&2
    else
        echo "note: $key is $cur: listen backlogs above it are cut to it;" \
             "for 10,000 connections at once: sudo sysctl -w $key=$n" >&2
    fi
done
exit 0
