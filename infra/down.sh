#!/usr/bin/env bash
# Stop what infra/up.sh started, in reverse order; data is kept (infra/kafka.sh wipe removes it).
# Usage: infra/down.sh [--help]
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
case "${1:-}" in -h|--help) sed -n '2,3p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;; esac
bash "$INFRA_DIR/kafka-secure.sh" down
bash "$INFRA_DIR/prometheus.sh" down
bash "$INFRA_DIR/zipkin.sh" down
bash "$INFRA_DIR/s3.sh" down
bash "$INFRA_DIR/alertmanager.sh" down
bash "$INFRA_DIR/registry.sh" down
bash "$INFRA_DIR/kafka.sh" down
bash "$INFRA_DIR/redis.sh" down
# The cluster mode's nodes, whichever mode started them.
bash "$INFRA_DIR/kafka-cluster.sh" down
bash "$INFRA_DIR/redis-cluster.sh" down
rm -f "$ENV_FILE"
