# Shared helpers for the infra scripts. Sourced, not run.
# Runtime state (data dirs, logs, pids, unpacked registry) lives under $VIGIL_HOME, outside git.
set -euo pipefail
INFRA_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_DIR="$(cd "$INFRA_DIR/.." && pwd)"
VIGIL_HOME="${VIGIL_HOME:-$REPO_DIR/.vigil}"
ENV_FILE="$VIGIL_HOME/infra.env"
mkdir -p "$VIGIL_HOME"

log() { printf '[infra %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
# One clear line naming the fix, then a non-zero exit.
die() { printf '[infra] ERROR: %s\n' "$*" >&2; exit 1; }

port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

# pid_alive FILE: the pid recorded in FILE is a running process.
pid_alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

# wait_for SECONDS DESCRIPTION PIDFILE COMMAND...: poll COMMAND until it succeeds; give up early
# when the process in PIDFILE has died (pass - for no process to watch).
wait_for() {
  local secs=$1 what=$2 pidfile=$3; shift 3
  local deadline=$((SECONDS + secs))
  until "$@"; do
    [ $SECONDS -lt $deadline ] || return 1
    [ "$pidfile" = - ] || pid_alive "$pidfile" || return 1
    sleep 0.5
  done
  log "$what ready after $((SECONDS + secs - deadline))s"
}

java_major() { "$1" -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -n1; }

# find_java MIN: print the path of a java binary of at least version MIN ($JAVA_HOME first, then PATH,
# then every JDK under /usr/lib/jvm), or die naming the fix.
find_java() {
  local min=$1 candidate v
  for candidate in ${JAVA_HOME:+"$JAVA_HOME/bin/java"} "$(command -v java 2>/dev/null)" /usr/lib/jvm/*/bin/java; do
    [ -x "$candidate" ] || continue
    v=$(java_major "$candidate")
    if [ "${v:-0}" -ge "$min" ]; then echo "$candidate"; return 0; fi
  done
  die "no Java $min+ found (looked at JAVA_HOME, PATH, /usr/lib/jvm): install a JDK $min+ and set JAVA_HOME"
}

# Maven, quiet: its output (only errors with -q) is shown, without the colour codes Maven 3.8's
# jansi writes even in batch mode, only when it fails.
mvn_quiet() {
  require_mvn
  local out rc=0
  out=$(mvn -q -B -Dstyle.color=never "$@" 2>&1) || rc=$?
  [ "$rc" = 0 ] || printf '%s\n' "$out" | sed 's/\x1b\[[0-9;]*m//g' >&2
  return "$rc"
}
require_mvn() {
  command -v mvn >/dev/null || die "mvn not found: install Maven (apt-get install -y maven), it fetches the broker and registry from Maven Central"
}

# set_env KEY VALUE: record where a component answers, for the services and tests.
set_env() {
  touch "$ENV_FILE"
  grep -v "^$1=" "$ENV_FILE" > "$ENV_FILE.tmp" || true
  echo "$1=$2" >> "$ENV_FILE.tmp"
  mv "$ENV_FILE.tmp" "$ENV_FILE"
}

# stop_pid NAME PIDFILE: SIGTERM, wait, then SIGKILL as a last resort.
stop_pid() {
  local name=$1 pidfile=$2
  if ! pid_alive "$pidfile"; then rm -f "$pidfile"; log "$name not running"; return 0; fi
  local pid; pid=$(cat "$pidfile")
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
  if kill -0 "$pid" 2>/dev/null; then log "$name did not stop in 30s, killing"; kill -KILL "$pid" 2>/dev/null || true; fi
  rm -f "$pidfile"
  log "$name stopped"
}

# component_main SCRIPT ARGS...: the dispatch every component script shares. The script defines
# up, down and status (and verb_<name> for verbs of its own); --help prints its header comment.
component_main() {
  local script=$1; shift
  case "${1:-}" in
    up|down|status) "$1" ;;
    -h|--help|help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$script" ;;
    *)
      if [ -n "${1:-}" ] && declare -F "verb_$1" >/dev/null; then "verb_$1" "$@"
      else echo "usage: $script up|down|status (--help)" >&2; exit 2; fi ;;
  esac
}

# single_node_kafka_props: the broker settings every one-node KRaft of ours shares (internal topics
# with one replica, as one node can hold; topics only from the catalogue, never from a typo).
single_node_kafka_props() {
  cat <<PROPS
num.partitions=6
offsets.topic.replication.factor=1
offsets.topic.num.partitions=6
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
auto.create.topics.enable=false
group.initial.rebalance.delay.ms=0
PROPS
}
