#!/usr/bin/env bash
# Apache Kafka, single node in KRaft mode (broker + controller in one JVM), on 127.0.0.1.
# Usage: infra/kafka.sh fetch|up|down|status|wipe
#   fetch   copy the broker's jars from Maven Central (infra/kafka/pom.xml pins the version)
#   up      fetch if needed, format storage once, start, wait until it answers (idempotent)
#   down    stop cleanly (SIGTERM, controlled shutdown); data is kept
#   wipe    down, then delete the data dir
# Env: KAFKA_BROKERS set => an existing cluster is used and nothing is started here.
#      KAFKA_PORT (9092), KAFKA_CONTROLLER_PORT (9093), KAFKA_HEAP (1g).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

KAFKA_PORT="${KAFKA_PORT:-9092}"
KAFKA_CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-9093}"
KAFKA_HEAP="${KAFKA_HEAP:-1g}"
JARS="$INFRA_DIR/kafka/target/dependency"
KDIR="$VIGIL_HOME/kafka"
PIDFILE="$KDIR/kafka.pid"
PROPS="$KDIR/server.properties"
# A fixed cluster id: the data dir is ours alone, and a stable id makes re-formatting detectable.
CLUSTER_ID="dmlnaWwtbG9jYWwtMDAwMQ"

kafka_version() { sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$INFRA_DIR/kafka/pom.xml"; }

fetch() {
  local v; v=$(kafka_version)
  local stamp; stamp=$(sha256sum "$INFRA_DIR/kafka/pom.xml" | cut -c1-16)
  if [ -f "$JARS/.pom-$stamp" ]; then return 0; fi
  log "fetching Apache Kafka $v jars with Maven"
  rm -rf "$JARS"
  (cd "$INFRA_DIR/kafka" && mvn_quiet dependency:copy-dependencies -DincludeScope=runtime) \
    || die "could not fetch org.apache.kafka:kafka_2.13:$v from Maven Central: check network access to the Maven repository (mvn -X in infra/kafka for details)"
  [ -f "$JARS/kafka_2.13-$v.jar" ] || die "Maven ran but $JARS/kafka_2.13-$v.jar is missing"
  touch "$JARS/.pom-$stamp"
}

JAVA_ARGS=(-Xms256m "-Xmx$KAFKA_HEAP" -XX:+UseG1GC -Djava.awt.headless=true
  "-Dlog4j2.configurationFile=$INFRA_DIR/kafka/log4j2.properties" "-Dkafka.logs.dir=$KDIR/logs"
  -cp "$JARS/*")

write_props() {
  mkdir -p "$KDIR/data" "$KDIR/logs"
  cat > "$PROPS" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=127.0.0.1:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,CONTROLLER://127.0.0.1:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,CONTROLLER://127.0.0.1:$KAFKA_CONTROLLER_PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$KDIR/data
log.retention.hours=168
log.segment.bytes=104857600
PROPS
  single_node_kafka_props >> "$PROPS"
}

ready() { port_open 127.0.0.1 "$KAFKA_PORT" && grep -q "Kafka Server started" "$KDIR/logs/server.log" 2>/dev/null; }

up() {
  if [ -n "${KAFKA_BROKERS:-}" ]; then log "KAFKA_BROKERS=$KAFKA_BROKERS set: using it, starting nothing"; return 0; fi
  if pid_alive "$PIDFILE"; then
    wait_for 60 "kafka (already running)" "$PIDFILE" ready || die "kafka pid $(cat "$PIDFILE") runs but does not answer on $KAFKA_PORT: see $KDIR/logs/server.log"
    set_env KAFKA_BROKERS "127.0.0.1:$KAFKA_PORT"; return 0
  fi
  port_open 127.0.0.1 "$KAFKA_PORT" && die "port $KAFKA_PORT is in use by another process: stop it, or set KAFKA_PORT, or point KAFKA_BROKERS at that broker"
  port_open 127.0.0.1 "$KAFKA_CONTROLLER_PORT" && die "port $KAFKA_CONTROLLER_PORT (controller) is in use: stop that process or set KAFKA_CONTROLLER_PORT"
  JAVA=$(find_java 17)
  fetch
  write_props
  if [ ! -f "$KDIR/data/meta.properties" ]; then
    log "formatting KRaft storage in $KDIR/data"
    "$JAVA" "${JAVA_ARGS[@]}" kafka.tools.StorageTool format --standalone -t "$CLUSTER_ID" -c "$PROPS" > "$KDIR/logs/format.log" 2>&1 \
      || die "kafka storage format failed: see $KDIR/logs/format.log"
  fi
  rm -f "$KDIR/logs/server.log"
  log "starting kafka $(kafka_version) on 127.0.0.1:$KAFKA_PORT"
  nohup "$JAVA" "${JAVA_ARGS[@]}" kafka.Kafka "$PROPS" > "$KDIR/logs/stdout.log" 2>&1 < /dev/null &
  echo $! > "$PIDFILE"
  if ! wait_for 120 "kafka" "$PIDFILE" ready; then
    pid_alive "$PIDFILE" || die "kafka exited during start: see $KDIR/logs/stdout.log and $KDIR/logs/server.log"
    die "kafka did not answer on $KAFKA_PORT within 120s: see $KDIR/logs/server.log"
  fi
  set_env KAFKA_BROKERS "127.0.0.1:$KAFKA_PORT"
}

down() { [ -n "${KAFKA_BROKERS:-}" ] && { log "KAFKA_BROKERS set: nothing local to stop"; return 0; }; stop_pid kafka "$PIDFILE"; }

status() {
  if pid_alive "$PIDFILE" && ready; then echo "kafka: up (pid $(cat "$PIDFILE"), 127.0.0.1:$KAFKA_PORT, $(kafka_version))"; else echo "kafka: down"; return 1; fi
}

case "${1:-}" in
  fetch) fetch ;;
  up) up ;;
  down) down ;;
  status) status ;;
  wipe) down; rm -rf "$KDIR"; log "kafka data removed" ;;
  -h|--help|help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//' ;;
  *) echo "usage: $0 fetch|up|down|status|wipe (--help)" >&2; exit 2 ;;
esac
