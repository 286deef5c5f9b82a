#!/usr/bin/env bash
# A Prometheus Alertmanager for Vigil's notifier to push alerts to (a receiver of kind alertmanager).
# Installs Debian's prometheus-alertmanager when missing (as root), stops the package's own service
# (its default port 9093 is Kafka's controller port here), and runs one on the first free port from
# 9193 with its data under .vigil/alertmanager and clustering off. Writes ALERTMANAGER_URL to
# .vigil/infra.env. Its config is ALERTMANAGER_CONFIG when set, else one that routes to nobody.
# Usage: infra/alertmanager.sh up|down|status|bin (bin: print the binary's path, installing it)
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ADIR="$VIGIL_HOME/alertmanager"
PIDFILE="$ADIR/alertmanager.pid"
PORTFILE="$ADIR/port"

ready() { curl -fsS "http://127.0.0.1:$1/-/ready" >/dev/null 2>&1; }

ensure_binary() {
  local bin
  bin=$(command -v prometheus-alertmanager || command -v alertmanager || true)
  if [ -z "$bin" ]; then
    [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null \
      || die "alertmanager not found: apt-get install prometheus-alertmanager (as root), or put alertmanager on PATH"
    log "installing prometheus-alertmanager from Debian packages"
    (DEBIAN_FRONTEND=noninteractive apt-get install -y -qq prometheus-alertmanager >/dev/null 2>&1 \
      || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq prometheus-alertmanager >/dev/null; }) \
      || die "apt-get install prometheus-alertmanager failed: install it by hand (Debian package prometheus-alertmanager)"
    bin=$(command -v prometheus-alertmanager)
  fi
  # The package may start its own on 9093 (Kafka's controller port here): stop it, keep ours.
  if pgrep -f "^/usr/bin/prometheus-alertmanager$|prometheus-alertmanager --config.file=/etc" >/dev/null 2>&1; then
    log "stopping the Debian package's own alertmanager service (port 9093 belongs to Kafka here)"
    (service prometheus-alertmanager stop || systemctl stop prometheus-alertmanager) >/dev/null 2>&1 || true
  fi
  echo "$bin"
}

up() {
  if pid_alive "$PIDFILE" && ready "$(cat "$PORTFILE")"; then
    set_env ALERTMANAGER_URL "http://127.0.0.1:$(cat "$PORTFILE")"; return 0
  fi
  local bin port=9193 config="${ALERTMANAGER_CONFIG:-}"
  bin=$(ensure_binary)
  while port_open 127.0.0.1 $port; do port=$((port + 1)); done
  mkdir -p "$ADIR/data"
  if [ -z "$config" ]; then
    config="$ADIR/alertmanager.yml"
    cat > "$config" <<'YAML'
# Written by infra/alertmanager.sh: alerts are kept and shown, nobody is notified.
route:
  receiver: nobody
  group_by: [host]
receivers:
  - name: nobody
YAML
  fi
  log "starting alertmanager on 127.0.0.1:$port"
  nohup "$bin" --config.file="$config" --storage.path="$ADIR/data" \
    --web.listen-address="127.0.0.1:$port" --cluster.listen-address= \
    > "$ADIR/alertmanager.log" 2>&1 &
  echo $! > "$PIDFILE"
  echo "$port" > "$PORTFILE"
  wait_for 30 "alertmanager" "$PIDFILE" ready "$port" || die "alertmanager did not get ready on $port: see $ADIR/alertmanager.log"
  set_env ALERTMANAGER_URL "http://127.0.0.1:$port"
}

down() {
  [ -f "$PIDFILE" ] && stop_pid alertmanager "$PIDFILE" || log "alertmanager: nothing of ours to stop"
}

status() {
  if pid_alive "$PIDFILE"; then echo "alertmanager: up (pid $(cat "$PIDFILE"), http://127.0.0.1:$(cat "$PORTFILE"))";
  else echo "alertmanager: down"; return 1; fi
}

verb_bin() { ensure_binary; }

component_main "$0" "$@"
