#!/usr/bin/env bash
# Apache Kafka as a three-node KRaft cluster on 127.0.0.1: each node is broker and controller (a
# controller quorum of three, so one node down keeps quorum), with its own ports and data dir.
# Topics get replication factor 3 and min.insync.replicas=2 by default, internal topics too, so
# an acks=all write survives the loss of any one broker.
# Usage: infra/kafka-cluster.sh up|down|status|wipe|kill N|start N
#   up       fetch the jars if needed, format each node once, start all three, wait for them
#   down     stop all three cleanly (SIGTERM, controlled shutdown); data is kept
#   wipe     down, then delete the cluster's data
#   kill N   SIGKILL node N (1-3), as a crash would; start N brings it back
#   start N  start node N alone (the others keep running)
# Env: KAFKA_CLUSTER_PORT (29092: brokers listen on it and the next two ports),
#      KAFKA_CLUSTER_CONTROLLER_PORT (29192, and the next two), KAFKA_CLUSTER_HEAP (512m per node).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

BASE_PORT="${KAFKA_CLUSTER_PORT:-29092}"
BASE_CONTROLLER_PORT="${KAFKA_CLUSTER_CONTROLLER_PORT:-29192}"
HEAP="${KAFKA_CLUSTER_HEAP:-512m}"
NODES=(1 2 3)
JARS="$INFRA_DIR/kafka/target/dependency"
CDIR="$VIGIL_HOME/kafka-cluster"
# Its own cluster id, so a data dir of the single-node broker is never taken for one of these.
CLUSTER_ID="dmlnaWwtY2x1c3Rlci0wMDM"

port_of() { echo $((BASE_PORT + $1 - 1)); }
controller_port_of() { echo $((BASE_CONTROLLER_PORT + $1 - 1)); }
node_dir() { echo "$CDIR/node-$1"; }
pidfile_of() { echo "$(node_dir "$1")/kafka.pid"; }
brokers() { local list=() n; for n in "${NODES[@]}"; do list+=("127.0.0.1:$(port_of "$n")"); done; (IFS=,; echo "${list[*]}"); }
voters() { local list=() n; for n in "${NODES[@]}"; do list+=("$n@127.0.0.1:$(controller_port_of "$n")"); done; (IFS=,; echo "${list[*]}"); }

# set_java_args N: JAVA_ARGS for node N (an array: the classpath's * is Java's, not the shell's).
set_java_args() {
  JAVA_ARGS=(-Xms128m "-Xmx$HEAP" -XX:+UseG1GC -Djava.awt.headless=true
    "-Dlog4j2.configurationFile=$INFRA_DIR/kafka/log4j2.properties" "-Dkafka.logs.dir=$(node_dir "$1")/logs" -cp "$JARS/*")
}

write_props() {
  local n=$1 dir; dir=$(node_dir "$n")
  mkdir -p "$dir/data" "$dir/logs"
  cat > "$dir/server.properties" <<PROPS
process.roles=broker,controller
node.id=$n
controller.quorum.voters=$(voters)
listeners=PLAINTEXT://127.0.0.1:$(port_of "$n"),CONTROLLER://127.0.0.1:$(controller_port_of "$n")
advertised.listeners=PLAINTEXT://127.0.0.1:$(port_of "$n")
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$dir/data
log.segment.bytes=104857600
num.partitions=6
default.replication.factor=3
min.insync.replicas=2
offsets.topic.replication.factor=3
offsets.topic.num.partitions=6
transaction.state.log.replication.factor=3
transaction.state.log.min.isr=2
share.coordinator.state.topic.replication.factor=3
share.coordinator.state.topic.min.isr=2
auto.create.topics.enable=false
group.initial.rebalance.delay.ms=0
# A restarted node must catch up before it leads again; the preferred leader comes back on its own.
unclean.leader.election.enable=false
leader.imbalance.check.interval.seconds=10
PROPS
}

node_ready() { port_open 127.0.0.1 "$(port_of "$1")" && grep -q "Kafka Server started" "$(node_dir "$1")/logs/server.log" 2>/dev/null; }

start_node() {
  local n=$1 dir java; dir=$(node_dir "$n")
  if pid_alive "$(pidfile_of "$n")"; then return 0; fi
  port_open 127.0.0.1 "$(port_of "$n")" && die "port $(port_of "$n") (kafka node $n) is in use by another process: stop it or set KAFKA_CLUSTER_PORT"
  port_open 127.0.0.1 "$(controller_port_of "$n")" && die "port $(controller_port_of "$n") (controller $n) is in use: stop that process or set KAFKA_CLUSTER_CONTROLLER_PORT"
  java=$(find_java 17)
  write_props "$n"
  set_java_args "$n"
  if [ ! -f "$dir/data/meta.properties" ]; then
    "$java" "${JAVA_ARGS[@]}" kafka.tools.StorageTool format -t "$CLUSTER_ID" -c "$dir/server.properties" > "$dir/logs/format.log" 2>&1 \
      || die "formatting kafka node $n failed: see $dir/logs/format.log"
  fi
  rm -f "$dir/logs/server.log"
  log "starting kafka node $n on 127.0.0.1:$(port_of "$n")"
  nohup "$java" "${JAVA_ARGS[@]}" kafka.Kafka "$dir/server.properties" > "$dir/logs/stdout.log" 2>&1 < /dev/null &
  echo $! > "$(pidfile_of "$n")"
}

wait_node() {
  local n=$1
  if ! wait_for 180 "kafka node $n" "$(pidfile_of "$n")" node_ready "$n"; then
    pid_alive "$(pidfile_of "$n")" || die "kafka node $n exited during start: see $(node_dir "$n")/logs/stdout.log and server.log"
    die "kafka node $n did not answer on $(port_of "$n") within 180s: see $(node_dir "$n")/logs/server.log"
  fi
}

up() {
  bash "$INFRA_DIR/kafka.sh" fetch
  local n
  # All three start before any is waited for: a node answers only once the quorum has a leader.
  for n in "${NODES[@]}"; do start_node "$n"; done
  for n in "${NODES[@]}"; do wait_node "$n"; done
  set_env KAFKA_BROKERS "$(brokers)"
}

down() { local n; for n in "${NODES[@]}"; do stop_pid "kafka node $n" "$(pidfile_of "$n")"; done; }

status() {
  local n rc=0
  for n in "${NODES[@]}"; do
    if pid_alive "$(pidfile_of "$n")" && node_ready "$n"; then echo "kafka node $n: up (pid $(cat "$(pidfile_of "$n")"), 127.0.0.1:$(port_of "$n"))"
    else echo "kafka node $n: down"; rc=1; fi
  done
  return $rc
}

node_arg() { case "${1:-}" in 1|2|3) ;; *) die "name a node: 1, 2 or 3" ;; esac; }
verb_kill() { node_arg "${2:-}"; local f; f=$(pidfile_of "$2"); pid_alive "$f" && kill -KILL "$(cat "$f")"; rm -f "$f"; log "kafka node $2 killed"; }
verb_start() { node_arg "${2:-}"; start_node "$2"; wait_node "$2"; }
verb_wipe() { down; rm -rf "$CDIR"; log "kafka cluster data removed"; }

component_main "$0" "$@"
