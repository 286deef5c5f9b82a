#!/usr/bin/env bash
# Bring up everything Vigil needs on 127.0.0.1: Kafka (KRaft), Apicurio Registry, Redis, an
# Alertmanager the notifier can push to, an S3-compatible server (S3Proxy) for backups, a trace
# backend (Zipkin; VIGIL_ZIPKIN=0 leaves it out) and Prometheus to scrape the services
# (VIGIL_PROMETHEUS=0 leaves it out).
# Idempotent: what already runs is reused. Writes .vigil/infra.env with KAFKA_BROKERS,
# SCHEMA_REGISTRY_URL and REDIS_URL for the services and tests. Any of those set in the
# environment replaces the local component (nothing is started for it).
# VIGIL_INFRA=cluster: a three-broker KRaft cluster (replication factor 3, min.insync.replicas=2)
# and a Redis Cluster of three masters with a replica each instead (infra/kafka-cluster.sh,
# infra/redis-cluster.sh); the services run on it unchanged, their config read from infra.env.
# Usage: infra/up.sh [--help]
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
case "${1:-}" in -h|--help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;; esac
case "${VIGIL_INFRA:-single}" in
  single) bash "$INFRA_DIR/redis.sh" up; bash "$INFRA_DIR/kafka.sh" up ;;
  cluster) bash "$INFRA_DIR/redis-cluster.sh" up; bash "$INFRA_DIR/kafka-cluster.sh" up ;;
  *) die "VIGIL_INFRA=${VIGIL_INFRA} is neither single nor cluster" ;;
esac
bash "$INFRA_DIR/registry.sh" up
bash "$INFRA_DIR/alertmanager.sh" up
bash "$INFRA_DIR/s3.sh" up
[ "${VIGIL_ZIPKIN:-1}" = 0 ] || bash "$INFRA_DIR/zipkin.sh" up
[ "${VIGIL_PROMETHEUS:-1}" = 0 ] || bash "$INFRA_DIR/prometheus.sh" up
for k in KAFKA_BROKERS SCHEMA_REGISTRY_URL REDIS_URL; do [ -n "${!k:-}" ] && set_env "$k" "${!k}"; done
log "infra up: $(tr '\n' ' ' < "$ENV_FILE")"
