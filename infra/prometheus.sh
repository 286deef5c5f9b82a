#!/usr/bin/env bash
# A Prometheus that scrapes Vigil's services: Debian's prometheus package (installed when missing,
# as root, without recommends; the package's own service on 9090 is stopped), run on the first free
# port from 9190 with its data under .vigil/prometheus, scraping every PROMETHEUS_SCRAPE_INTERVAL
# (default 2s: a local fleet changes by the second). What it scrapes is file-based service
# discovery: one JSON file per service instance in .vigil/prometheus/targets, written by
# `infra/prometheus.sh target <service> <port>` (the demo and the tests do it) and picked up
# within seconds, without a restart. Writes PROMETHEUS_URL and PROMETHEUS_TARGETS_DIR to
# .vigil/infra.env. Usage: infra/prometheus.sh up|down|status|bin|target <service> <port>
# Env: PROMETHEUS_URL set => that server is used and nothing is started here.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PDIR="$VIGIL_HOME/prometheus"
PIDFILE="$PDIR/prometheus.pid"
PORTFILE="$PDIR/port"
TARGETS="$PDIR/targets"

ready() { curl -fsS "http://127.0.0.1:$1/-/ready" >/dev/null 2>&1; }

record() {
  set_env PROMETHEUS_URL "http://127.0.0.1:$1"
  set_env PROMETHEUS_TARGETS_DIR "$TARGETS"
}

ensure_binary() {
  local bin
  bin=$(command -v prometheus || true)
  if [ -z "$bin" ]; then
    [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null \
      || die "prometheus not found: apt-get install --no-install-recommends prometheus (as root), or put prometheus on PATH"
    log "installing prometheus from Debian packages"
    (DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null 2>&1 \
      || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null; }) \
      || die "apt-get install prometheus failed: install it by hand (Debian package prometheus)"
    bin=$(command -v prometheus)
  fi
  if pgrep -f "^/usr/bin/prometheus( |$)" | grep -qv "^$(cat "$PIDFILE" 2>/dev/null || echo none)$"; then
    log "stopping the Debian package's own prometheus service (ours runs on its own port and data)"
    (service prometheus stop || systemctl stop prometheus) >/dev/null 2>&1 || true
  fi
  echo "$bin"
}

up() {
  if [ -n "${PROMETHEUS_URL:-}" ]; then log "PROMETHEUS_URL=$PROMETHEUS_URL set: using it, starting nothing"; return 0; fi
  if pid_alive "$PIDFILE" && ready "$(cat "$PORTFILE")"; then record "$(cat "$PORTFILE")"; return 0; fi
  local bin port=9190 interval="${PROMETHEUS_SCRAPE_INTERVAL:-2s}"
  bin=$(ensure_binary)
  while port_open 127.0.0.1 $port; do port=$((port + 1)); done
  mkdir -p "$PDIR/data" "$TARGETS"
  cat > "$PDIR/prometheus.yml" <<YAML
# Written by infra/prometheus.sh. Targets: one file per service instance in $TARGETS.
global:
  scrape_interval: $interval
  evaluation_interval: $interval
scrape_configs:
  - job_name: vigil
    metrics_path: /metrics
    file_sd_configs:
      - files: ['$TARGETS/*.json']
        refresh_interval: 5s
YAML
  log "starting prometheus on 127.0.0.1:$port (scraping every $interval)"
  nohup "$bin" --config.file="$PDIR/prometheus.yml" --storage.tsdb.path="$PDIR/data" \
    --storage.tsdb.retention.time=1d --web.listen-address="127.0.0.1:$port" \
    > "$PDIR/prometheus.log" 2>&1 &
  echo $! > "$PIDFILE"
  echo "$port" > "$PORTFILE"
  wait_for 60 "prometheus" "$PIDFILE" ready "$port" || die "prometheus did not get ready on $port: see $PDIR/prometheus.log"
  record "$port"
}

down() {
  [ -n "${PROMETHEUS_URL:-}" ] && { log "PROMETHEUS_URL set: nothing local to stop"; return 0; }
  [ -f "$PIDFILE" ] && stop_pid prometheus "$PIDFILE" || log "prometheus: nothing of ours to stop"
}

status() {
  if pid_alive "$PIDFILE"; then echo "prometheus: up (pid $(cat "$PIDFILE"), http://127.0.0.1:$(cat "$PORTFILE"))";
  else echo "prometheus: down"; return 1; fi
}

verb_bin() { ensure_binary; }

# target SERVICE PORT: scrape http://127.0.0.1:PORT/metrics as the service's instance (atomically
# replaced, so Prometheus never reads half a file).
verb_target() {
  local service=${2:-} port=${3:-}
  [[ "$service" =~ ^[a-z][a-z0-9-]*$ && "$port" =~ ^[0-9]+$ ]] || die "usage: infra/prometheus.sh target <service> <port>"
  mkdir -p "$TARGETS"
  printf '[{"targets":["127.0.0.1:%s"],"labels":{"service_name":"%s"}}]\n' "$port" "$service" > "$TARGETS/.$service-$port.tmp"
  mv "$TARGETS/.$service-$port.tmp" "$TARGETS/$service-$port.json"
}

component_main "$0" "$@"
