#!/usr/bin/env bash
# Bring up everything Vigil needs on 127.0.0.1: Kafka (KRaft), Apicurio Registry, Redis, an
# Alertmanager the notifier can push to, an S3-compatible server (S3Proxy) for backups, a trace
# backend (Zipkin; VIGIL_ZIPKIN=0 leaves it out) and Prometheus to scrape the services
# (VIGIL_PROMETHEUS=0 leaves it out).
# Idempotent: what already runs is reused. Writes .vigil/infra.env with KAFKA_BROKERS,
# SCHEMA_REGISTRY_URL and REDIS_URL for the services and tests. Any of those set in the
# environment replaces the local component (nothing is started for it).
# Usage: infra/up.sh [--help]
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
case "${1:-}" in -h|--help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;; esac
bash "$INFRA_DIR/redis.sh" up
bash "$INFRA_DIR/kafka.sh" up
bash "$INFRA_DIR/registry.sh" up
bash "$INFRA_DIR/alertmanager.sh" up
bash "$INFRA_DIR/s3.sh" up
[ "${VIGIL_ZIPKIN:-1}" = 0 ] || bash "$INFRA_DIR/zipkin.sh" up
[ "${VIGIL_PROMETHEUS:-1}" = 0 ] || bash "$INFRA_DIR/prometheus.sh" up
for k in KAFKA_BROKERS SCHEMA_REGISTRY_URL REDIS_URL; do [ -n "${!k:-}" ] && set_env "$k" "${!k}"; done
log "infra up: $(tr '\n' ' ' < "$ENV_FILE")"
