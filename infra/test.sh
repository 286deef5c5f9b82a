#!/usr/bin/env bash
# Installs everything, brings up Kafka, the registry and Redis (reusing what already runs), then
# builds, lints and runs every test against them. Infra started here is stopped at the end;
# infra that was already running is left running.
# Usage: infra/test.sh [--help] [test file filter, e.g. dead-letters]
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
case "${1:-}" in -h|--help) sed -n '2,5p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;; esac
cd "$REPO_DIR"
started=$(date +%s)

bash "$INFRA_DIR/install.sh"

was_up=1
bash "$INFRA_DIR/kafka.sh" status >/dev/null 2>&1 && bash "$INFRA_DIR/registry.sh" status >/dev/null 2>&1 || was_up=0
[ "$was_up" = 1 ] || trap 'log "stopping the infra this run started"; bash "$INFRA_DIR/down.sh"' EXIT
bash "$INFRA_DIR/up.sh"

log "lint"
npm run -s lint

# Tests sit beside the code (libs/*/src, services/*/src) and in test/ for cross-process scenarios.
mapfile -t files < <(find libs services test -path '*/node_modules' -prune -o -path '*/dist/*' -name '*.test.js' -print | sort | grep -- "${1:-}")
[ "${#files[@]}" -gt 0 ] || die "no test files found (did the build run?)"
log "running ${#files[@]} test files"
# One file at a time: each test brings its own consumers and processes, and two cores are few.
status=0
# The env file is read in a subshell only: exported here, it would make the EXIT trap's down.sh take
# the local infra for an external one and leave it running.
(set -a; source "$ENV_FILE"; set +a; exec node --test --test-concurrency=1 --test-timeout=600000 "${files[@]}") || status=$?
log "tests finished in $(( $(date +%s) - started ))s with status $status"
exit $status
