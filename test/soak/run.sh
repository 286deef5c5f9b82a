#!/usr/bin/env bash
# The long chaos soak (issue 19): on the infra that is up (VIGIL_INFRA=cluster bash infra/up.sh for
# brokers and Redis masters to kill too), built code, the report in bench/results/soak-<seed>.json.
# Not part of the default test command; test/src/soak-short.test.ts runs a short variant there.
# Usage: bash test/soak/run.sh [--help] [soak options, see --help]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
[ -f test/dist/soak/main.js ] || { echo "test/dist/soak/main.js is missing: run npm run build (or bash infra/install.sh) first" >&2; exit 1; }
[ -f .vigil/infra.env ] || { echo ".vigil/infra.env is missing: bring the infra up first (bash infra/up.sh, or VIGIL_INFRA=cluster bash infra/up.sh)" >&2; exit 1; }
set -a; . .vigil/infra.env; set +a
exec node test/dist/soak/main.js "$@"
