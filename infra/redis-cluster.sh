#!/usr/bin/env bash
# A Redis Cluster on 127.0.0.1: three masters with one replica each (Debian's redis-server in
# cluster mode, joined by redis-cli --cluster create). Writes REDIS_URL as the list of its nodes,
# which puts the services' ioredis clients in cluster mode. Replication is asynchronous: a master
# killed right after a write may lose it when its replica takes over.
# Usage: infra/redis-cluster.sh up|down|status|wipe|kill PORT|start PORT
#   up          start the six nodes, create the cluster once, wait until every slot is served
#   down        stop the nodes (the cluster's layout is kept in each node's nodes.conf)
#   wipe        down, then delete the nodes' data (the next up creates a new cluster)
#   kill PORT   SIGKILL the node on PORT (a master's replica is promoted after cluster-node-timeout)
#   start PORT  start the node on PORT again; it rejoins, as a replica if it was replaced
# Env: REDIS_CLUSTER_PORT (7100: nodes on it and the next five), REDIS_CLUSTER_NODE_TIMEOUT_MS (3000).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

BASE_PORT="${REDIS_CLUSTER_PORT:-7100}"
NODE_TIMEOUT="${REDIS_CLUSTER_NODE_TIMEOUT_MS:-3000}"
CDIR="$VIGIL_HOME/redis-cluster"
PORTS=()
for i in 0 1 2 3 4 5; do PORTS+=($((BASE_PORT + i))); done

node_dir() { echo "$CDIR/$1"; }
pidfile_of() { echo "$(node_dir "$1")/redis.pid"; }
urls() { local list=() p; for p in "${PORTS[@]:0:3}"; do list+=("127.0.0.1:$p"); done; (IFS=,; echo "redis://${list[*]}"); }
cli() { redis-cli -h 127.0.0.1 -p "$@"; }

start_node() {
  local port=$1 dir; dir=$(node_dir "$1")
  if pid_alive "$(pidfile_of "$port")"; then return 0; fi
  port_open 127.0.0.1 "$port" && die "port $port is in use by another process: stop it or set REDIS_CLUSTER_PORT"
  mkdir -p "$dir"
  # No persistence, like the machine's own Redis: a restarted node comes back empty and resyncs
  # from its master; what a killed master had not passed on is lost, as the issue means to test.
  redis-server --bind 127.0.0.1 --port "$port" --daemonize yes --pidfile "$(pidfile_of "$port")" --dir "$dir" \
    --cluster-enabled yes --cluster-config-file nodes.conf --cluster-node-timeout "$NODE_TIMEOUT" \
    --save "" --appendonly no --logfile "$dir/redis.log" || die "redis-server on $port failed to start: see $dir/redis.log"
  wait_for 20 "redis node $port" - cli "$port" ping > /dev/null || die "redis node $port did not answer: see $dir/redis.log"
}

cluster_ok() { [ "$(cli "$1" cluster info 2>/dev/null | tr -d '\r' | sed -n 's/^cluster_state://p')" = ok ]; }
all_ok() { local p; for p in "$@"; do cluster_ok "$p" || return 1; done; }

up() {
  command -v redis-server > /dev/null || die "redis-server not found: apt-get install redis-server (the Debian package has cluster mode)"
  local p
  for p in "${PORTS[@]}"; do start_node "$p"; done
  if ! cluster_ok "${PORTS[0]}"; then
    if [ "$(cli "${PORTS[0]}" cluster info | tr -d '\r' | sed -n 's/^cluster_known_nodes://p')" = 1 ]; then
      log "creating the redis cluster (3 masters, 3 replicas)"
      local nodes=(); for p in "${PORTS[@]}"; do nodes+=("127.0.0.1:$p"); done
      redis-cli --cluster create "${nodes[@]}" --cluster-replicas 1 --cluster-yes > "$CDIR/create.log" 2>&1 \
        || die "redis-cli --cluster create failed: see $CDIR/create.log (infra/redis-cluster.sh wipe starts over)"
    fi
  fi
  wait_for 60 "redis cluster" - all_ok "${PORTS[@]}" \
    || die "the redis cluster does not report cluster_state:ok: redis-cli -p ${PORTS[0]} cluster nodes says why (infra/redis-cluster.sh wipe starts over)"
  set_env REDIS_URL "$(urls)"
}

down() { local p; for p in "${PORTS[@]}"; do stop_pid "redis node $p" "$(pidfile_of "$p")"; done; }

status() {
  local p rc=0 role
  for p in "${PORTS[@]}"; do
    if pid_alive "$(pidfile_of "$p")"; then
      role=$(cli "$p" role 2>/dev/null | head -n1)
      echo "redis node $p: up ($role, cluster_state $(cli "$p" cluster info | tr -d '\r' | sed -n 's/^cluster_state://p'))"
    else echo "redis node $p: down"; rc=1; fi
  done
  return $rc
}

port_arg() { [[ " ${PORTS[*]} " == *" ${1:-none} "* ]] || die "name a node by its port: ${PORTS[*]}"; }
verb_kill() { port_arg "${2:-}"; local f; f=$(pidfile_of "$2"); pid_alive "$f" && kill -KILL "$(cat "$f")"; rm -f "$f"; log "redis node $2 killed"; }
verb_start() { port_arg "${2:-}"; start_node "$2"; }
verb_wipe() { down; rm -rf "$CDIR"; log "redis cluster data removed"; }

component_main "$0" "$@"
