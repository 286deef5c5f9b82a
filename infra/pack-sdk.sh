#!/usr/bin/env bash
# Packs the agent SDK as one installable tarball for agent authors outside this repo: @vigil/agent-sdk
# with the workspace libs it needs (@vigil/events, @vigil/kafka, @vigil/backup) bundled inside it, so installing
# it looks up no @vigil/* name on any registry; their third-party dependencies become the SDK's own.
# Usage: infra/pack-sdk.sh [--help] [output dir, default .vigil/packages]   (run `npm run build` first)
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
case "${1:-}" in -h|--help) sed -n '2,5p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;; esac
out=$(mkdir -p "${1:-$REPO_DIR/.vigil/packages}" && cd "${1:-$REPO_DIR/.vigil/packages}" && pwd)
[ -f "$REPO_DIR/libs/agent-sdk/dist/index.js" ] || die "libs/agent-sdk is not built: run \`npm run build\` first"
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
for lib in events kafka backup agent-sdk; do
  (cd "$REPO_DIR/libs/$lib" && npm pack --silent --pack-destination "$stage" >/dev/null) || die "npm pack of libs/$lib failed"
done
mkdir -p "$stage/sdk/node_modules/@vigil/events" "$stage/sdk/node_modules/@vigil/kafka" "$stage/sdk/node_modules/@vigil/backup"
tar xzf "$stage"/vigil-agent-sdk-*.tgz -C "$stage/sdk" --strip-components=1
tar xzf "$stage"/vigil-events-*.tgz -C "$stage/sdk/node_modules/@vigil/events" --strip-components=1
tar xzf "$stage"/vigil-kafka-*.tgz -C "$stage/sdk/node_modules/@vigil/kafka" --strip-components=1
tar xzf "$stage"/vigil-backup-*.tgz -C "$stage/sdk/node_modules/@vigil/backup" --strip-components=1
# The bundled libs' own third-party dependencies are hoisted into the SDK's, so npm installs them.
node -e '
  const fs = require("fs");
  const dir = process.argv[1];
  const read = (p) => JSON.parse(fs.readFileSync(p, "utf8"));
  const sdk = read(`${dir}/package.json`);
  const bundled = ["@vigil/events", "@vigil/kafka", "@vigil/backup"];
  for (const name of bundled) {
    for (const [dep, range] of Object.entries(read(`${dir}/node_modules/${name}/package.json`).dependencies ?? {}))
      if (!dep.startsWith("@vigil/")) sdk.dependencies[dep] ??= range;
  }
  sdk.bundleDependencies = bundled;
  delete sdk.nx;
  fs.writeFileSync(`${dir}/package.json`, JSON.stringify(sdk, null, 2) + "\n");
' "$stage/sdk"
tarball=$(cd "$stage/sdk" && npm pack --silent --pack-destination "$out") || die "npm pack of the bundled SDK failed"
log "agent SDK packed: $out/$tarball"
echo "$out/$tarball"
