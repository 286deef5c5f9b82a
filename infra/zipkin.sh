#!/usr/bin/env bash
# A trace backend: Zipkin's server (io.zipkin:zipkin-server, the exec jar from Maven Central) on
# Java 17 with in-memory storage, on the first free port from 9411. Writes ZIPKIN_URL and
# OTEL_EXPORTER_ZIPKIN_ENDPOINT to .vigil/infra.env; a service exports to it with
# OTEL_TRACES_EXPORTER=zipkin. Usage: infra/zipkin.sh up|down|status
# Env: ZIPKIN_URL set => that server is used and nothing is started here.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

VERSION=3.5.1
ZDIR="$VIGIL_HOME/zipkin"
JAR="$ZDIR/zipkin-server-$VERSION-exec.jar"
PIDFILE="$ZDIR/zipkin.pid"
PORTFILE="$ZDIR/port"

answers() { curl -fsS "http://127.0.0.1:$1/health" 2>/dev/null | grep -q '"UP"'; }

record() {
  set_env ZIPKIN_URL "http://127.0.0.1:$1"
  set_env OTEL_EXPORTER_ZIPKIN_ENDPOINT "http://127.0.0.1:$1/api/v2/spans"
}

fetch() {
  [ -f "$JAR" ] && return 0
  mkdir -p "$ZDIR"
  log "fetching Zipkin $VERSION from Maven Central"
  mvn_quiet dependency:copy -Dartifact="io.zipkin:zipkin-server:$VERSION:jar:exec" -DoutputDirectory="$ZDIR" \
    >"$ZDIR/fetch.log" 2>&1 || die "could not fetch io.zipkin:zipkin-server:$VERSION (see $ZDIR/fetch.log): check Maven's access to Maven Central"
}

up() {
  if [ -n "${ZIPKIN_URL:-}" ]; then log "ZIPKIN_URL=$ZIPKIN_URL set: using it, starting nothing"; return 0; fi
  if pid_alive "$PIDFILE" && answers "$(cat "$PORTFILE")"; then record "$(cat "$PORTFILE")"; return 0; fi
  fetch
  local java port=9411
  java=$(find_java 17)
  while port_open 127.0.0.1 $port; do port=$((port + 1)); done
  log "starting Zipkin on 127.0.0.1:$port (in-memory storage)"
  # In memory, bounded: the newest 200k spans; its own tracing off.
  STORAGE_TYPE=mem MEM_MAX_SPANS=200000 SELF_TRACING_ENABLED=false QUERY_PORT=$port \
    nohup "$java" -Xms64m -Xmx512m -jar "$JAR" > "$ZDIR/zipkin.log" 2>&1 &
  echo $! > "$PIDFILE"
  echo "$port" > "$PORTFILE"
  wait_for 90 "zipkin" "$PIDFILE" answers "$port" || die "Zipkin did not answer on $port: see $ZDIR/zipkin.log"
  record "$port"
}

down() {
  [ -n "${ZIPKIN_URL:-}" ] && { log "ZIPKIN_URL set: nothing local to stop"; return 0; }
  [ -f "$PIDFILE" ] && stop_pid zipkin "$PIDFILE" || log "zipkin: nothing of ours to stop"
}

status() {
  if pid_alive "$PIDFILE"; then echo "zipkin: up (pid $(cat "$PIDFILE"), http://127.0.0.1:$(cat "$PORTFILE"))";
  else echo "zipkin: down"; return 1; fi
}

component_main "$0" "$@"
