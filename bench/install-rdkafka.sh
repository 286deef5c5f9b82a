#!/usr/bin/env bash
# Installs @confluentinc/kafka-javascript (librdkafka under a KafkaJS-compatible API) for the anchors
# bench's rdkafka rows, into .vigil/rdkafka, outside the workspace: it is a candidate being measured,
# not a dependency, so `npm ci` and the tests never build it.
# Its prebuilt binaries come from a host this machine cannot reach, and its default source build
# downloads zlib, OpenSSL, zstd and curl; CKJS_LINKING=dynamic builds librdkafka against the system's
# OpenSSL and zlib instead (about 3 minutes on 2 cores).
# Usage: bench/install-rdkafka.sh [--help]
source "$(dirname "${BASH_SOURCE[0]}")/../infra/lib.sh"
case "${1:-}" in -h|--help) sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;; esac
VERSION=1.10.1
DEST="$VIGIL_HOME/rdkafka"
for tool in gcc g++ make python3; do
  command -v "$tool" >/dev/null || die "$tool not found: apt-get install -y build-essential python3"
done
for header in /usr/include/zlib.h /usr/include/openssl/ssl.h; do
  [ -f "$header" ] || die "$header not found: apt-get install -y zlib1g-dev libssl-dev"
done
if node -e "process.exit(require('$DEST/node_modules/@confluentinc/kafka-javascript/package.json').version === '$VERSION' ? 0 : 1)" 2>/dev/null; then
  log "@confluentinc/kafka-javascript $VERSION already in $DEST"
  exit 0
fi
mkdir -p "$DEST"
[ -f "$DEST/package.json" ] || echo '{ "private": true }' > "$DEST/package.json"
log "building @confluentinc/kafka-javascript $VERSION against the system's librdkafka dependencies (about 3 min); output in $DEST/install.log"
CKJS_LINKING=dynamic npm install --prefix "$DEST" --no-audit --no-fund --loglevel=error \
  "@confluentinc/kafka-javascript@$VERSION" > "$DEST/install.log" 2>&1 \
  || die "building @confluentinc/kafka-javascript failed: see $DEST/install.log"
node -e "const k = require('$DEST/node_modules/@confluentinc/kafka-javascript'); console.error('librdkafka ' + k.librdkafkaVersion)" \
  || die "@confluentinc/kafka-javascript was installed but does not load: see $DEST/install.log (rm -rf $DEST and rerun)"
log "installed in $DEST"
