#!/usr/bin/env bash
# The main job on local defaults: installs everything, brings up Kafka, the registry, Redis, Zipkin
# and Prometheus, starts the four services (tracing to Zipkin, scraped by Prometheus), runs the
# smoke publisher against them, then a simulated fleet (FLEET_AGENTS agents, default 200, through
# the real agent SDK, tracing at VIGIL_TRACE_RATIO, default 0.1) that breaks on a timer (agents
# killed, degraded, revived) and whose supervisor answers the notifier's heals (FLEET_HEAL_SUCCESS,
# default 0.5, of them work). The terminal shows the fleet live (`vigil watch`): the status table,
# counts by state and the event feed. More commands for the fleet: echo "kill 5" > .vigil/fleet.commands
# (see --help of tools/fleet-sim). Ctrl-C or SIGTERM stops everything, with the infra it started.
# FLEET_AGENTS (200), FLEET_PREFIX (demo), FLEET_HEAL_SUCCESS (0.5), VIGIL_DEMO_CHAOS (1; 0: none).
# Usage: infra/start.sh [--once] [--no-install] [--help]
#   --once        short scripted run: 3 of the fleet are killed and must be reported unreachable
#   --no-install  skip install.sh (already installed and built)
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
once=0 install=1
for arg in "$@"; do
  case "$arg" in
    -h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    --once) once=1 ;;
    --no-install) install=0 ;;
    *) die "unknown option $arg (see --help)" ;;
  esac
done
cd "$REPO_DIR"
# Agent ids are <prefix>-NNN (FLEET_PREFIX, default demo); the live view and the backup policy follow it.
prefix=${FLEET_PREFIX:-demo}
[[ "$prefix" =~ ^[A-Za-z0-9][A-Za-z0-9_-]*$ ]] || die "FLEET_PREFIX=$prefix: letters, digits, _ and - only"

if [ "$install" = 1 ]; then
  estimate="about 30 s"; [ -d node_modules ] || estimate="about 2 min on a first run (npm packages, Kafka and the registry from Maven Central)"
  log "[1/4] install and build: $estimate"
  bash "$INFRA_DIR/install.sh"
fi
[ -d "$VIGIL_HOME/kafka" ] || log "[2/4] infra: first start downloads Zipkin, Prometheus and S3Proxy too, about 1 min; later about 30 s"
[ -d "$VIGIL_HOME/kafka" ] && log "[2/4] infra: about 30 s"
was_up=1
bash "$INFRA_DIR/kafka.sh" status >/dev/null 2>&1 && bash "$INFRA_DIR/registry.sh" status >/dev/null 2>&1 || was_up=0
bash "$INFRA_DIR/up.sh"
# Read in subshells only, so that stop_all's down.sh still sees the infra as ours to stop.
with_infra_env() { (set -a; source "$ENV_FILE"; set +a; exec "$@"); }

LOGS="$VIGIL_HOME/logs"; mkdir -p "$LOGS"
declare -A PORTS=([heartbeat]=3001 [state-sync]=3002 [backup-orchestrator]=3003 [notifier]=3004)
# A service's node flags are those of its package.json start script (state-sync: the heap cap that bounds its RSS).
launch_flags() {
  node -p "const w = require('./services/$1/package.json').scripts.start.split(/\\s+/); w.slice(1, w.indexOf('dist/main.js')).join(' ')"
}
pids=()
stop_all() {
  log "stopping services"
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  [ "$was_up" = 1 ] || bash "$INFRA_DIR/down.sh"
}
trap stop_all EXIT
trap 'exit 130' INT TERM

# The notifier's demo policy: alerts grouped by host, also pushed to the Alertmanager up.sh started
# (its UI shows them); short waits so what happens on screen is notified within seconds.
am_url=$(sed -n 's/^ALERTMANAGER_URL=//p' "$ENV_FILE")
receivers="[]"
[ -n "$am_url" ] && receivers="[{ name: alertmanager, kind: alertmanager, url: \"$am_url\" }]"
cat > "$VIGIL_HOME/notifier-policy.yaml" <<YAML
# Written by infra/start.sh for the demo (README "notifier" explains every field).
receivers: $receivers
route: { group_by: [host], group_wait: 5s, group_interval: 30s, repeat_interval: 1h }
YAML

# The orchestrator's demo policy: every demo agent's config directory backed up in full every two
# minutes and incrementally each minute between, into a directory store the fleet's supervisor
# writes (the SDK's BackupRunner) and the orchestrator verifies; the newest three kept.
fleet_data="$VIGIL_HOME/fleet-data"; backup_store="$VIGIL_HOME/backups"
mkdir -p "$fleet_data" "$backup_store"
printf '{"fleet":"%s","written":"%s"}\n' "$prefix" "$(date -u +%FT%TZ)" > "$fleet_data/config.json"
cat > "$VIGIL_HOME/backup-policy.yaml" <<YAML
# Written by infra/start.sh for the demo (README "backup-orchestrator" explains every field).
policies:
  - id: demo
    selector: [fleet=$prefix]
    paths: [$fleet_data]
    full: { cron: '0 */2 * * * *' }
    incremental: { cron: '30 * * * * *' }
    retention: { keepLast: 3 }
    timeoutMs: 20000
    retryBackoffMs: 5000
YAML
fleet_backups=(--backup-store "$backup_store" --backup-allow "$fleet_data")

# Traces to the Zipkin up.sh started (VIGIL_ZIPKIN=0: none), the fleet's own sampled down to
# VIGIL_TRACE_RATIO (default 0.1) as a large fleet would; a heal chain is kept whatever the ratio.
zipkin_url=$(sed -n 's/^ZIPKIN_URL=//p' "$ENV_FILE")
prometheus_url=$(sed -n 's/^PROMETHEUS_URL=//p' "$ENV_FILE")
if [ -n "$zipkin_url" ]; then
  export OTEL_TRACES_EXPORTER=zipkin OTEL_TRACES_SAMPLER=parentbased_traceidratio \
    OTEL_TRACES_SAMPLER_ARG="${VIGIL_TRACE_RATIO:-0.1}"
fi

log "[3/4] the four services"
for svc in "${!PORTS[@]}"; do
  port_open 127.0.0.1 "${PORTS[$svc]}" && die "port ${PORTS[$svc]} for $svc is in use: stop that process (or another start.sh)"
  # One subshell that execs node, so $! is the service itself and gets the SIGTERM.
  (set -a; source "$ENV_FILE"; set +a; export HTTP_PORT=${PORTS[$svc]} NOTIFIER_POLICY_FILE="$VIGIL_HOME/notifier-policy.yaml" \
     BACKUP_POLICY_FILE="$VIGIL_HOME/backup-policy.yaml" BACKUP_STORE_DIR="$backup_store"
   exec node $(launch_flags "$svc") "services/$svc/dist/main.js") \
    > "$LOGS/$svc.log" 2>&1 &
  pids+=($!)
done
for svc in "${!PORTS[@]}"; do
  wait_for 60 "$svc" - curl -fs -o /dev/null "http://127.0.0.1:${PORTS[$svc]}/health/ready" \
    || die "$svc did not become ready: see $LOGS/$svc.log"
done
for svc in heartbeat state-sync backup-orchestrator notifier; do
  printf '  %-20s http://127.0.0.1:%s/health/ready  /metrics   log: %s\n' "$svc" "${PORTS[$svc]}" "$LOGS/$svc.log"
  [ -z "$prometheus_url" ] || bash "$INFRA_DIR/prometheus.sh" target "$svc" "${PORTS[$svc]}"
done
[ -z "$prometheus_url" ] || log "Prometheus scrapes the four services: $prometheus_url (dashboards for Grafana: infra/grafana)"
[ -z "$zipkin_url" ] || log "traces: $zipkin_url/zipkin/ (sampled at ${OTEL_TRACES_SAMPLER_ARG}; every heal chain kept)"
# A trace to open: the newest heal chain (an agent gone unreachable), else the newest trace at all.
sample_trace() {
  [ -n "$zipkin_url" ] || return 0
  local id
  id=$(curl -fs "$zipkin_url/api/v2/traces?spanName=liveness%20unreachable&limit=1&lookback=3600000" \
    | grep -o '"traceId":"[0-9a-f]*"' | head -1 | cut -d'"' -f4) || true
  [ -n "$id" ] && log "a heal chain, agent to alert, in one trace: $zipkin_url/zipkin/traces/$id"
}

status=0
with_infra_env node tools/smoke/dist/main.js || status=$?
[ "$status" = 0 ] || exit $status

agents=${FLEET_AGENTS:-200}
fleet_view="http://127.0.0.1:${PORTS[heartbeat]}/fleet"
if [ "$once" = 1 ]; then
  log "fleet: $agents agents for 20 s; 3 are killed after 5 s"
  with_infra_env node tools/fleet-sim/dist/main.js --agents "$agents" --prefix "$prefix" --state-change-rate 20 \
    "${fleet_backups[@]}" --duration-s 20 --at "5 kill 3" --at "6 degrade 1" > "$LOGS/fleet-sim.jsonl" || exit 1
  killed=$(node -e 'for (const l of require("fs").readFileSync(process.argv[1], "utf8").split("\n"))
    if (l.includes("\"event\":\"killed\"")) console.log(JSON.parse(l).agents.join(" "))' "$LOGS/fleet-sim.jsonl")
  for agent in $killed; do
    state=$(curl -fs "$fleet_view/$agent" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).state))')
    [ "$state" = unreachable ] || die "killed agent $agent is $state in the fleet view, not unreachable"
  done
  log "the killed agents ($killed) were found unreachable"
  sample_trace
  with_infra_env node tools/cli/dist/main.js watch --once --prefix "$prefix" --rows 10
  exit 0
fi
heal_success=${FLEET_HEAL_SUCCESS:-0.5}
# The fleet breaks on a timer so that detection, heals, alerts and resolutions show on screen
# (VIGIL_DEMO_CHAOS=0: only what you command).
chaos=(--every "20 kill 2" --every "30 degrade 1" --every "33 heal 1" --every "45 revive 2")
if [ "${VIGIL_DEMO_CHAOS:-1}" = 0 ]; then
  chaos=(); log "[4/4] fleet: $agents agents, breaking only on command"
else
  log "[4/4] fleet: $agents agents; every 20 s two die, every 30 s one degrades; killed agents are revived every 45 s"
fi
log "the notifier heals what dies: the fleet's supervisor restarts an agent with probability $heal_success (FLEET_HEAL_SUCCESS); after 3 failed heals it alerts"
# The fleet reads commands from a FIFO this script holds open (so it never sees end of input).
commands="$VIGIL_HOME/fleet.commands"
rm -f "$commands"; mkfifo "$commands"; exec 3<>"$commands"
(set -a; source "$ENV_FILE"; set +a
 exec node tools/fleet-sim/dist/main.js --agents "$agents" --prefix "$prefix" --state-change-rate 20 \
  --heal-success "$heal_success" "${fleet_backups[@]}" "${chaos[@]}") \
  < "$commands" > "$LOGS/fleet-sim.jsonl" 2> "$LOGS/fleet-sim.log" &
pids=("$!" "${pids[@]}")
# What to look at besides the live view, printed below each frame and in the log.
{
  echo "fleet commands: echo 'kill 5' > $commands   (revive 5, degrade 2, freeze 3 10000, stop 1)"
  echo "the CLI: npx vigil status | agents --state unreachable | alerts | agent <id> | trace <agent> | dlq vigil.agent.state-changes"
  [ -z "$am_url" ] || echo "alerts grouped by host in Alertmanager: $am_url"
  [ -z "$prometheus_url" ] || echo "metrics: $prometheus_url (dashboards: infra/grafana)"
  [ -z "$zipkin_url" ] || echo "heal chains in Zipkin: $zipkin_url/zipkin/?spanName=liveness%20unreachable"
} > "$VIGIL_HOME/demo-links.txt"
cat "$VIGIL_HOME/demo-links.txt"
sleep 3
with_infra_env node tools/cli/dist/main.js watch --prefix "$prefix" --rows "${VIGIL_WATCH_ROWS:-15}" \
  --links-file "$VIGIL_HOME/demo-links.txt" || true
