#!/usr/bin/env bash
# Installs everything, brings up Kafka, the registry and Redis (reusing what already runs), then
# builds, lints and runs every test against them. Infra started here is stopped at the end;
# infra that was already running is left running.
# VIGIL_INFRA=cluster runs them on the three-broker Kafka and the Redis Cluster (infra/up.sh says how).
# Usage: infra/test.sh [--help] [test file filter, e.g. dead-letters]
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
case "${1:-}" in -h|--help) sed -n '2,6p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;; esac
cd "$REPO_DIR"
started=$(date +%s)

bash "$INFRA_DIR/install.sh"

# VIGIL_TEST_INFRA=testcontainers: Kafka, the registry and Redis run as containers (a Docker engine
# is needed); the rest (Alertmanager, S3Proxy, Zipkin, Prometheus) still comes from the scripts.
tc_pid=
case "${VIGIL_TEST_INFRA:-local}" in
  local) ;;
  testcontainers)
    tc_env="$VIGIL_HOME/testcontainers.env"; rm -f "$tc_env"; mkdir -p "$VIGIL_HOME"
    log "Kafka, registry and Redis from testcontainers"
    node libs/test-kit/dist/testcontainers-infra.js "$tc_env" & tc_pid=$!
    until [ -s "$tc_env" ]; do
      kill -0 "$tc_pid" 2>/dev/null || die "testcontainers-infra stopped (see its message above)"
      sleep 1
    done
    set -a; source "$tc_env"; set +a ;;
  *) die "VIGIL_TEST_INFRA=$VIGIL_TEST_INFRA: local (the default) or testcontainers" ;;
esac

was_up=1
kafka_script=kafka.sh; [ "${VIGIL_INFRA:-single}" = cluster ] && kafka_script=kafka-cluster.sh
bash "$INFRA_DIR/$kafka_script" status >/dev/null 2>&1 && bash "$INFRA_DIR/registry.sh" status >/dev/null 2>&1 || was_up=0
[ -z "$tc_pid" ] || was_up=0
cleanup() {
  [ -z "$tc_pid" ] || { kill -TERM "$tc_pid" 2>/dev/null; wait "$tc_pid" 2>/dev/null || true; }
  [ "$was_up" = 1 ] || { log "stopping the infra this run started"; bash "$INFRA_DIR/down.sh"; }
}
trap cleanup EXIT
bash "$INFRA_DIR/up.sh"

log "lint"
npm run -s lint

# Tests sit beside the code (libs/*/src, services/*/src) and in test/ for cross-process scenarios.
mapfile -t files < <(find libs services tools test -path '*/node_modules' -prune -o -path '*/dist/*' -name '*.test.js' -print | sort | grep -- "${1:-}")
[ "${#files[@]}" -gt 0 ] || die "no test files found (did the build run?)"
log "running ${#files[@]} test files"
# One file at a time: each test brings its own consumers and processes, and two cores are few.
# Each file gets TEST_FILE_TIMEOUT_S (default 360 s; the slowest takes about 150 s): a file that
# hangs (a handle left open after a failure) is killed with its whole process group and counted as
# failed, instead of holding CI for the test runner's ten minutes.
per_file=${TEST_FILE_TIMEOUT_S:-360}
status=0 passed=0 failed=0 failed_files=()
out=$(mktemp)
for f in "${files[@]}"; do
  # The env file is read in a subshell only: exported here, it would make the EXIT trap's down.sh
  # take the local infra for an external one and leave it running.
  set +e
  (set -a; source "$ENV_FILE"; set +a
   exec timeout --kill-after=15 "$per_file" node --test --test-reporter=tap --test-timeout=$(( per_file * 1000 )) "$f") \
    2>&1 | tee "$out"
  rc=${PIPESTATUS[0]}
  set -e
  p=$(grep -E '^# pass [0-9]+' "$out" | tail -n 1 | awk '{print $3}' || true)
  n=$(grep -E '^# fail [0-9]+' "$out" | tail -n 1 | awk '{print $3}' || true)
  passed=$(( passed + ${p:-0} )); failed=$(( failed + ${n:-0} ))
  if [ "$rc" -ne 0 ]; then
    status=1
    if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
      log "TIMEOUT: $f did not finish within ${per_file}s"
      failed=$(( failed + 1 ))
    fi
    failed_files+=("$f")
  fi
done
rm -f "$out"
log "tests finished in $(( $(date +%s) - started ))s with status $status"
[ ${#failed_files[@]} -eq 0 ] || log "failed files: ${failed_files[*]}"
echo "tests: $passed passed, $failed failed"
exit $status
