#!/usr/bin/env bash
# The main job on local defaults: installs everything, brings up Kafka, the registry and Redis,
# starts the four services, runs the smoke publisher against them, and keeps the services running
# until Ctrl-C (or SIGTERM), when it stops them gracefully and stops the infra it started.
# Usage: infra/start.sh [--once] [--help]
#   --once   stop everything after the smoke run instead of waiting (exit status = the smoke's)
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
case "${1:-}" in -h|--help) sed -n '2,6p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;; esac
once=0; [ "${1:-}" = --once ] && once=1
cd "$REPO_DIR"

bash "$INFRA_DIR/install.sh"
was_up=1
bash "$INFRA_DIR/kafka.sh" status >/dev/null 2>&1 && bash "$INFRA_DIR/registry.sh" status >/dev/null 2>&1 || was_up=0
bash "$INFRA_DIR/up.sh"
# Read in subshells only, so that stop_all's down.sh still sees the infra as ours to stop.
with_infra_env() { (set -a; source "$ENV_FILE"; set +a; exec "$@"); }

LOGS="$VIGIL_HOME/logs"; mkdir -p "$LOGS"
declare -A PORTS=([heartbeat]=3001 [state-sync]=3002 [backup-orchestrator]=3003 [notifier]=3004)
pids=()
stop_all() {
  log "stopping services"
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  [ "$was_up" = 1 ] || bash "$INFRA_DIR/down.sh"
}
trap stop_all EXIT
trap 'exit 130' INT TERM

for svc in "${!PORTS[@]}"; do
  port_open 127.0.0.1 "${PORTS[$svc]}" && die "port ${PORTS[$svc]} for $svc is in use: stop that process (or another start.sh)"
  # One subshell that execs node, so $! is the service itself and gets the SIGTERM.
  (set -a; source "$ENV_FILE"; set +a; export HTTP_PORT=${PORTS[$svc]}; exec node "services/$svc/dist/main.js") \
    > "$LOGS/$svc.log" 2>&1 &
  pids+=($!)
done
for svc in "${!PORTS[@]}"; do
  wait_for 60 "$svc" - curl -fs -o /dev/null "http://127.0.0.1:${PORTS[$svc]}/health/ready" \
    || die "$svc did not become ready: see $LOGS/$svc.log"
done
for svc in heartbeat state-sync backup-orchestrator notifier; do
  printf '  %-20s http://127.0.0.1:%s/health/ready  /metrics   log: %s\n' "$svc" "${PORTS[$svc]}" "$LOGS/$svc.log"
done

status=0
with_infra_env node tools/smoke/dist/main.js || status=$?
[ "$once" = 1 ] && exit $status
log "services are running; Ctrl-C stops them"
wait
