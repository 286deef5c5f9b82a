#!/usr/bin/env bash
# An S3-compatible server for Vigil's S3 backup store: S3Proxy (org.gaul:s3proxy, from Maven Central,
# the self-contained jar) on Java 17 with its filesystem backend under .vigil/s3proxy, on the first
# free port from 9380. Writes S3_ENDPOINT, S3_ACCESS_KEY_ID, S3_SECRET_ACCESS_KEY to .vigil/infra.env.
# Usage: infra/s3.sh up|down|status
# Env: S3_ENDPOINT set => that server is used and nothing is started here.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

VERSION=2.6.0
SDIR="$VIGIL_HOME/s3proxy"
JAR="$SDIR/s3proxy-$VERSION-jar-with-dependencies.jar"
PIDFILE="$SDIR/s3proxy.pid"
PORTFILE="$SDIR/port"
IDENTITY=vigil
CREDENTIAL=vigil-local-secret

answers() { [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$1/" 2>/dev/null)" = 403 ]; }

fetch() {
  [ -f "$JAR" ] && return 0
  mkdir -p "$SDIR"
  log "fetching S3Proxy $VERSION from Maven Central"
  mvn_quiet dependency:copy -Dartifact="org.gaul:s3proxy:$VERSION:jar:jar-with-dependencies" -DoutputDirectory="$SDIR" \
    >"$SDIR/fetch.log" 2>&1 || die "could not fetch org.gaul:s3proxy:$VERSION (see $SDIR/fetch.log): check Maven's access to Maven Central"
}

up() {
  if [ -n "${S3_ENDPOINT:-}" ]; then log "S3_ENDPOINT=$S3_ENDPOINT set: using it, starting nothing"; return 0; fi
  if pid_alive "$PIDFILE" && answers "$(cat "$PORTFILE")"; then
    set_env S3_ENDPOINT "http://127.0.0.1:$(cat "$PORTFILE")"; set_env S3_ACCESS_KEY_ID "$IDENTITY"; set_env S3_SECRET_ACCESS_KEY "$CREDENTIAL"
    return 0
  fi
  fetch
  local java port=9380
  java=$(find_java 17)
  while port_open 127.0.0.1 $port; do port=$((port + 1)); done
  mkdir -p "$SDIR/data"
  cat > "$SDIR/s3proxy.conf" <<CONF
s3proxy.endpoint=http://127.0.0.1:$port
s3proxy.authorization=aws-v2-or-v4
s3proxy.identity=$IDENTITY
s3proxy.credential=$CREDENTIAL
jclouds.provider=filesystem
jclouds.filesystem.basedir=$SDIR/data
CONF
  log "starting S3Proxy on 127.0.0.1:$port"
  nohup "$java" -jar "$JAR" --properties "$SDIR/s3proxy.conf" > "$SDIR/s3proxy.log" 2>&1 &
  echo $! > "$PIDFILE"
  echo "$port" > "$PORTFILE"
  wait_for 60 "s3proxy" "$PIDFILE" answers "$port" || die "S3Proxy did not answer on $port: see $SDIR/s3proxy.log"
  set_env S3_ENDPOINT "http://127.0.0.1:$port"
  set_env S3_ACCESS_KEY_ID "$IDENTITY"
  set_env S3_SECRET_ACCESS_KEY "$CREDENTIAL"
}

down() {
  [ -n "${S3_ENDPOINT:-}" ] && { log "S3_ENDPOINT set: nothing local to stop"; return 0; }
  [ -f "$PIDFILE" ] && stop_pid s3proxy "$PIDFILE" || log "s3proxy: nothing of ours to stop"
}

status() {
  if pid_alive "$PIDFILE"; then echo "s3proxy: up (pid $(cat "$PIDFILE"), http://127.0.0.1:$(cat "$PORTFILE"))";
  else echo "s3proxy: down"; return 1; fi
}

component_main "$0" "$@"
