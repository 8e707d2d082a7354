#!/bin/bash
# t/tools/fleet.sh: a local fleet, the AWS shape on one machine.  N nginx
# nodes, each running the shipped conf/tunesheap.dev.conf on a port of its
# own (t/tools/devconf.pl), behind HAProxy standing in for the load
# balancer (round robin, health check on /api/v1/health), one Postgres
# (plus a streaming replica the nodes read from: tunesheap_postgres_replica)
# and one Redis shared by all, audio in one media folder.  Like an AWS load
# balancer, which is several machines, HAProxy runs as FLEET_LB processes
# sharing the listening port (SO_REUSEPORT): each holds a client's
# connection and one to a node, and 20,000 descriptors per process (this
# machine's cap) would not hold 10,000 clients in one.
#
#   fleet.sh start [N]        everything, N nodes (3); prints the URL
#   fleet.sh stop             everything (pid files only)
#   fleet.sh node-start K     node K (1..slots): HAProxy takes it in once
#                             its health check passes
#   fleet.sh node-stop K      node K, gracefully (SIGQUIT)
#   fleet.sh node-reload K    nginx -s reload on node K
#   fleet.sh status           each node as HAProxy sees it: "nodeK UP UP"
#   fleet.sh wait-status K S  until HAProxy sees node K in state S (UP/DOWN)
#   fleet.sh edge-start       a caching proxy in front of HAProxy, standing
#                             in for CloudFront (nginx proxy_cache): keeps
#                             what the API's Cache-Control allows, keyed
#                             like the playbook's distribution (URI with
#                             query, Authorization, Origin), asks for gzip,
#                             revalidates with If-None-Match, serves stale
#                             while it does; X-Cache-Status says HIT, MISS,
#                             REVALIDATED, STALE...
#   fleet.sh edge-stop        the caching proxy (stop stops it too)
#
# Environment: FLEET_DIR (var/fleet), FLEET_PORT (HAProxy, 8088),
# FLEET_NODE_PORT (node K listens on this + K, 8100), FLEET_SLOTS (servers
# HAProxy knows, 6: nodes started later join), FLEET_PG_DATA
# ($FLEET_DIR/pg, the sample catalog is imported when empty), FLEET_PG_PORT
# (5435), FLEET_REPLICA_PORT (the replica's, 5436; 0: no replica; its
# data in $FLEET_PG_DATA-replica), FLEET_REDIS_PORT (6391),
# FLEET_CPU (each node's CPU share in %
# of one CPU, through the cgroup v1 cpu controller; empty: no limit),
# FLEET_LB (HAProxy processes, 2; process I's statistics are on
# FLEET_PORT + 10 + I), FLEET_EDGE_PORT (the caching proxy, FLEET_PORT + 1).
set -eu

cd "$(dirname "$0")/../.."
root=$PWD
dir=${FLEET_DIR:-$root/var/fleet}
port=${FLEET_PORT:-8088}
node_port=${FLEET_NODE_PORT:-8100}
slots=${FLEET_SLOTS:-6}
pg_data=${FLEET_PG_DATA:-$dir/pg}
pg_port=${FLEET_PG_PORT:-5435}
replica_port=${FLEET_REPLICA_PORT:-5436}
redis_port=${FLEET_REDIS_PORT:-6391}
cpu=${FLEET_CPU:-}
lb=${FLEET_LB:-2}
edge_port=${FLEET_EDGE_PORT:-$((port + 1))}
cgroups=/sys/fs/cgroup/cpu

usage() {
    sed -n '2,/^set -eu/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2
    exit 2
}

node_pid() { echo "$dir/node$1/logs/nginx.pid"; }

node_start() {
    local k=$1 prefix=$dir/node$1 cg
    if [ "$k" -lt 1 ] || [ "$k" -gt "$slots" ]; then
        echo "fleet: no slot $k" >&2
        exit 2
    fi
    mkdir -p "$prefix/logs" "$prefix/tmp"
    t/tools/devconf.pl "$root" "$pg_port" "$redis_port" \
        $((node_port + k)) | replica_conf >"$dir/node$k.conf"
    if [ -n "$cpu" ]; then
        cg=$cgroups/tunesheap-fleet-node$k
        mkdir -p "$cg"
        echo 100000 >"$cg/cpu.cfs_period_us"
        echo $((cpu * 1000)) >"$cg/cpu.cfs_quota_us"
        # the master joins first: its workers are born in the group
        sh -c 'echo $$ >"$1/cgroup.procs" && shift && exec "$@"' sh "$cg" \
            /usr/sbin/nginx -p "$prefix/" -c "$dir/node$k.conf"
    else
        /usr/sbin/nginx -p "$prefix/" -c "$dir/node$k.conf"
    fi
    for _ in $(seq 50); do
        curl -fs -o /dev/null \
            "http://127.0.0.1:$((node_port + k))/api/v1/health" && return 0
        sleep 0.2
    done
    echo "fleet: node $k does not answer" >&2
    return 1
}

# the replica beside the primary in a node's configuration
replica_conf() {
    if [ "$replica_port" = 0 ]; then
        cat
        return
    fi
    sed "s|^\( *\)\(tunesheap_postgres \)|\1tunesheap_postgres_replica\
 \"host=127.0.0.1 port=$replica_port dbname=tunesheap user=tunesheap\";\n\1\2|"
}

node_stop() {
    local pid
    pid=$(node_pid "$1")
    [ -f "$pid" ] || return 0
    kill -QUIT "$(cat "$pid")" 2>/dev/null || true
    for _ in $(seq 150); do [ -f "$pid" ] || break; sleep 0.1; done
    if [ -d "$cgroups/tunesheap-fleet-node$1" ]; then
        rmdir "$cgroups/tunesheap-fleet-node$1" 2>/dev/null || true
    fi
}

# haproxy_conf I: the configuration of HAProxy process I
haproxy_conf() {
    local i=$1 k
    cat <<CONF
# t/tools/fleet.sh: HAProxy standing in for the AWS load balancer
global
    # two descriptors a connection, within 20,000
    maxconn 9500
    pidfile $dir/haproxy$i.pid

defaults
    mode http
    timeout connect 2s
    timeout client 30s
    timeout server 30s
    timeout http-keep-alive 10s
    option http-keep-alive
    # a node going away mid-request: another one answers, the client
    # sees nothing (the load balancer's retry of idempotent requests)
    retries 3
    option redispatch 1
    retry-on conn-failure empty-response response-timeout 503

frontend api
    bind 127.0.0.1:$port backlog 16384
    maxconn 9500
    default_backend nodes

backend nodes
    balance roundrobin
    option httpchk GET /api/v1/health
    http-check expect status 200
    # connections to the nodes are kept and shared by clients
    http-reuse safe
    default-server inter 500ms fall 2 rise 2
CONF
    for k in $(seq "$slots"); do
        echo "    server node$k 127.0.0.1:$((node_port + k)) check"
    done
    cat <<CONF

listen stats
    bind 127.0.0.1:$((port + 10 + i))
    stats enable
    stats uri /stats
CONF
}

# the caching proxy's configuration: CloudFront's behaviour for the API
# (ansible/aws.yml) as nginx says it
edge_conf() {
    cat <<CONF
# t/tools/fleet.sh: a caching proxy standing in for CloudFront
worker_processes  1;
pid               $dir/edge/logs/nginx.pid;
error_log         $dir/edge/logs/error.log warn;
events { worker_connections 4096; }
http {
    access_log  $dir/edge/logs/access.log;
    proxy_temp_path  $dir/edge/tmp;
    # CloudFront asks the origin for gzip or nothing, whatever the viewer
    # sent (compress: true), and keys on the forwarded headers
    map \$http_accept_encoding \$edge_encoding {
        ~*gzip   gzip;
        default  "";
    }
    proxy_cache_path  $dir/edge/cache levels=1:2 keys_zone=edge:10m
                      max_size=256m inactive=10m;
    server {
        listen  127.0.0.1:$edge_port;
        location / {
            proxy_pass          http://127.0.0.1:$port;
            proxy_http_version  1.1;
            proxy_set_header    Connection "";
            proxy_set_header    Accept-Encoding \$edge_encoding;
            proxy_cache         edge;
            proxy_cache_key     "\$request_uri \$http_authorization \$http_origin";
            # only what the API says: nothing kept that says nothing
            # (default_ttl 0), revalidation by ETag, stale-while-revalidate
            proxy_cache_revalidate        on;
            proxy_cache_use_stale         updating;
            proxy_cache_background_update on;
            proxy_cache_lock              on;
            add_header  X-Cache-Status \$upstream_cache_status always;
        }
    }
}
CONF
}

edge_start() {
    mkdir -p "$dir/edge/logs" "$dir/edge/tmp"
    edge_conf >"$dir/edge.conf"
    /usr/sbin/nginx -p "$dir/edge/" -c "$dir/edge.conf"
    echo "fleet: the caching proxy is http://127.0.0.1:$edge_port/api/v1/"
}

edge_stop() {
    local pid=$dir/edge/logs/nginx.pid
    [ -f "$pid" ] || return 0
    kill -QUIT "$(cat "$pid")" 2>/dev/null || true
    for _ in $(seq 50); do [ -f "$pid" ] || break; sleep 0.1; done
}

# each node as every HAProxy process sees it: "nodeK UP UP"
status() {
    local i
    for i in $(seq "$lb"); do
        curl -fs "http://127.0.0.1:$((port + 10 + i))/stats;csv" \
            | awk -F, '$1 == "nodes" && $2 ~ /^node/ { print $2, $18 }'
    done | awk '{ s[$1] = s[$1] " " $2 } END { for (k in s) print k s[k] }' \
         | sort -V
}

start() {
    local n=${1:-3} k i
    if [ "$n" -gt "$slots" ]; then
        echo "fleet: $n nodes, only $slots slots" >&2
        exit 2
    fi
    mkdir -p "$dir/media/.tmp"
    chmod 777 "$dir/media" "$dir/media/.tmp"
    db/pg.sh start "$pg_data" "$pg_port" >/dev/null 2>&1
    if [ "$(db/pg.sh psql "$pg_data" tunesheap -Atc \
            'SELECT count(*) FROM artists')" = 0 ]; then
        db/import.sh "$(db/pg.sh dsn "$pg_data")" db/sample-catalog.json >&2
    fi
    if [ "$replica_port" != 0 ]; then
        db/pg.sh replica "$pg_data-replica" "$pg_data" "$replica_port" \
            >/dev/null 2>&1
    fi
    db/redis.sh start "$dir/redis" "$redis_port" >/dev/null
    ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
    for k in $(seq "$n"); do
        node_start "$k"
    done
    for i in $(seq "$lb"); do
        haproxy_conf "$i" >"$dir/haproxy$i.cfg"
        haproxy -D -f "$dir/haproxy$i.cfg"
    done
    for k in $(seq "$n"); do
        wait_status "$k" UP
    done
    echo "fleet: $n nodes behind http://127.0.0.1:$port/api/v1/" \
         "(HAProxy's view: http://127.0.0.1:$((port + 11))/stats)"
}

stop() {
    local k i
    edge_stop
    for i in $(seq "$lb"); do
        if [ -f "$dir/haproxy$i.pid" ]; then
            kill "$(cat "$dir/haproxy$i.pid")" 2>/dev/null || true
            rm -f "$dir/haproxy$i.pid"
        fi
    done
    for k in $(seq "$slots"); do
        node_stop "$k"
    done
    db/redis.sh stop "$dir/redis" >/dev/null 2>&1 || true
    db/pg.sh stop "$pg_data-replica" >/dev/null 2>&1 || true
    db/pg.sh stop "$pg_data" >/dev/null 2>&1 || true
}

# until every HAProxy process sees node K as UP (or DOWN)
wait_status() {
    local k=$1 want=$2 all
    all=$(printf " $want%.0s" $(seq "$lb"))
    for _ in $(seq 100); do
        status | grep -q "^node$k$all\$" && return 0
        sleep 0.1
    done
    echo "fleet: node $k is not $want: $(status | grep "^node$k ")" >&2
    return 1
}

[ $# -ge 1 ] || usage
cmd=$1
shift
case $cmd in
    start)       start "$@" ;;
    stop)        stop ;;
    node-start)  [ $# -eq 1 ] || usage; node_start "$1" ;;
    node-stop)   [ $# -eq 1 ] || usage; node_stop "$1" ;;
    node-reload) [ $# -eq 1 ] || usage
                 /usr/sbin/nginx -p "$dir/node$1/" -c "$dir/node$1.conf" \
                     -s reload ;;
    status)      status ;;
    wait-status) [ $# -eq 2 ] || usage; wait_status "$1" "$2" ;;
    edge-start)  edge_start ;;
    edge-stop)   edge_stop ;;
    *)           usage ;;
esac
