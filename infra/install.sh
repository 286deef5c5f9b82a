#!/usr/bin/env bash
# Installs what Vigil needs on a fresh machine: the npm workspace (npm ci) and the broker and
# registry artifacts from Maven Central (cached in ~/.m2, so a second run is fast).
# Usage: infra/install.sh [--help]
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
case "${1:-}" in -h|--help) sed -n '2,4p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;; esac
cd "$REPO_DIR"
command -v node >/dev/null || die "node not found: install Node.js 20.19+ (apt-get install -y nodejs npm)"
node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a===20&&b>=19)?0:1)' \
  || die "node $(node --version) is too old: Vigil needs Node.js 20.19+"
# npm ci when the lockfile changed since the last install (or on CI, always): reproducible and quick.
if [ -n "${CI:-}" ] || [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  log "npm ci"
  npm ci --no-audit --no-fund --loglevel=error || die "npm ci failed: see the npm output above"
fi
# The fixes in patches/ (kafkajs: a send that lost records when a partition's leader moved), also on
# a node_modules the lockfile check kept; applying an applied patch is a no-op.
npx --no-install patch-package > "$VIGIL_HOME/patch-package.log" 2>&1 \
  || die "patch-package could not apply patches/ to node_modules: see $VIGIL_HOME/patch-package.log (rm -rf node_modules and rerun)"
# Containers bring their own broker and registry (VIGIL_TEST_INFRA=testcontainers).
if [ "${VIGIL_TEST_INFRA:-}" != testcontainers ]; then
  [ -n "${KAFKA_BROKERS:-}" ] || bash "$INFRA_DIR/kafka.sh" fetch
  [ -n "${SCHEMA_REGISTRY_URL:-}" ] || bash "$INFRA_DIR/registry.sh" fetch
fi
log "build"
npm run -s build || die "TypeScript build failed"
