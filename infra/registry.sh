#!/usr/bin/env bash
# Apicurio Registry serving the Confluent-compatible API at http://127.0.0.1:$REGISTRY_PORT/apis/ccompat/v7.
# Usage: infra/registry.sh fetch|up|down|status   (needs Java 21+: Apicurio 3 is built for it)
# Schemas are stored on disk (Apicurio's SQL storage on an H2 file in .vigil/registry/db), so they
# and their ids survive a registry restart, and the registry does not depend on Kafka being up.
# kafkasql storage (schemas in a Kafka topic) is available but not the default: its journal consumer
# was seen to stall under concurrent registrations, which hangs every registration until it recovers.
# Env: SCHEMA_REGISTRY_URL set => an existing registry is used and nothing is started here.
#      REGISTRY_PORT (8081), REGISTRY_MANAGEMENT_PORT (REGISTRY_PORT+1), REGISTRY_STORAGE (h2 | kafkasql | mem),
#      REGISTRY_HEAP (512m).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

APICURIO_VERSION=3.3.3
REGISTRY_PORT="${REGISTRY_PORT:-8081}"
REGISTRY_STORAGE="${REGISTRY_STORAGE:-h2}"
# Quarkus serves health/metrics on a separate management port (by default 0.0.0.0:9000).
REGISTRY_MANAGEMENT_PORT="${REGISTRY_MANAGEMENT_PORT:-$((REGISTRY_PORT + 1))}"
REGISTRY_HEAP="${REGISTRY_HEAP:-512m}"
RDIR="$VIGIL_HOME/registry"
APP="$RDIR/app-$APICURIO_VERSION"
PIDFILE="$RDIR/registry.pid"
ARTIFACT="io.apicurio:apicurio-registry-app:$APICURIO_VERSION:tar.gz:all"
TARBALL="$HOME/.m2/repository/io/apicurio/apicurio-registry-app/$APICURIO_VERSION/apicurio-registry-app-$APICURIO_VERSION-all.tar.gz"
URL="http://127.0.0.1:$REGISTRY_PORT/apis/ccompat/v7"

fetch() {
  [ -f "$APP/quarkus-run.jar" ] && return 0
  if [ ! -f "$TARBALL" ]; then
    log "fetching $ARTIFACT (about 159 MB) with Maven"
    mvn_quiet dependency:get "-Dartifact=$ARTIFACT" -Dtransitive=false \
      || die "could not fetch $ARTIFACT from Maven Central: check network access to the Maven repository"
  fi
  log "unpacking Apicurio Registry $APICURIO_VERSION"
  rm -rf "$APP.tmp" && mkdir -p "$APP.tmp"
  tar -xzf "$TARBALL" -C "$APP.tmp" || die "could not unpack $TARBALL: delete it and run again to re-download"
  mv "$APP.tmp" "$APP"
}

ready() { curl -fs -o /dev/null "$URL/subjects" 2>/dev/null; }

up() {
  if [ -n "${SCHEMA_REGISTRY_URL:-}" ]; then log "SCHEMA_REGISTRY_URL=$SCHEMA_REGISTRY_URL set: using it, starting nothing"; return 0; fi
  if pid_alive "$PIDFILE"; then
    wait_for 90 "registry (already running)" "$PIDFILE" ready || die "registry pid $(cat "$PIDFILE") runs but $URL does not answer: see $RDIR/registry.log"
    set_env SCHEMA_REGISTRY_URL "$URL"; return 0
  fi
  port_open 127.0.0.1 "$REGISTRY_PORT" && die "port $REGISTRY_PORT is in use by another process: stop it, or set REGISTRY_PORT, or point SCHEMA_REGISTRY_URL at that registry"
  port_open 127.0.0.1 "$REGISTRY_MANAGEMENT_PORT" && die "port $REGISTRY_MANAGEMENT_PORT (registry management) is in use: stop that process or set REGISTRY_MANAGEMENT_PORT"
  command -v curl >/dev/null || die "curl not found: apt-get install -y curl"
  local java; java=$(find_java 21)
  fetch
  local storage=()
  if [ "$REGISTRY_STORAGE" = h2 ]; then
    mkdir -p "$RDIR/db"
    storage=(-Dapicurio.storage.kind=sql -Dapicurio.storage.sql.kind=h2 "-Dapicurio.datasource.url=jdbc:h2:file:$RDIR/db/registry")
  elif [ "$REGISTRY_STORAGE" = kafkasql ]; then
    local brokers="${KAFKA_BROKERS:-}"
    [ -n "$brokers" ] || brokers=$(sed -n 's/^KAFKA_BROKERS=//p' "$ENV_FILE" 2>/dev/null)
    [ -n "$brokers" ] || die "kafkasql storage needs Kafka: run infra/kafka.sh up first (or REGISTRY_STORAGE=h2)"
    storage=(-Dapicurio.storage.kind=kafkasql "-Dapicurio.kafkasql.bootstrap.servers=$brokers")
  elif [ "$REGISTRY_STORAGE" != mem ]; then
    die "REGISTRY_STORAGE=$REGISTRY_STORAGE is not one of h2, kafkasql, mem"
  fi
  mkdir -p "$RDIR"
  log "starting Apicurio Registry $APICURIO_VERSION ($REGISTRY_STORAGE storage) on $URL"
  # Java itself goes in the background (not a subshell), so the pid file names the JVM.
  cd "$APP"
  nohup "$java" -Xms128m "-Xmx$REGISTRY_HEAP" "-Dquarkus.http.port=$REGISTRY_PORT" -Dquarkus.http.host=127.0.0.1 \
    "-Dquarkus.management.port=$REGISTRY_MANAGEMENT_PORT" -Dquarkus.management.host=127.0.0.1 \
    "${storage[@]}" -jar quarkus-run.jar > "$RDIR/registry.log" 2>&1 < /dev/null &
  echo $! > "$PIDFILE"
  cd "$REPO_DIR"
  if ! wait_for 180 "registry" "$PIDFILE" ready; then
    pid_alive "$PIDFILE" || die "registry exited during start: see $RDIR/registry.log"
    die "registry did not answer at $URL within 180s: see $RDIR/registry.log"
  fi
  set_env SCHEMA_REGISTRY_URL "$URL"
}

down() { [ -n "${SCHEMA_REGISTRY_URL:-}" ] && { log "SCHEMA_REGISTRY_URL set: nothing local to stop"; return 0; }; stop_pid registry "$PIDFILE"; }

status() {
  if pid_alive "$PIDFILE" && ready; then echo "registry: up (pid $(cat "$PIDFILE"), $URL, Apicurio $APICURIO_VERSION)"; else echo "registry: down"; return 1; fi
}

case "${1:-}" in
  fetch) fetch ;;
  up) up ;;
  down) down ;;
  status) status ;;
  -h|--help|help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//' ;;
  *) echo "usage: $0 fetch|up|down|status (--help)" >&2; exit 2 ;;
esac
