#!/usr/bin/env python3
"""Writes the Grafana dashboards in dashboards/ from the panel lists below: one place to read what
each dashboard shows, the JSON boilerplate made alike. Run after editing:
  python3 infra/grafana/generate.py && npx prettier --write infra/grafana/dashboards
(test/src/dashboards.test.ts checks every panel's query against a real Prometheus)."""
import json
import os

DS = {"type": "prometheus", "uid": "vigil-prometheus"}

# (title, unit, [(expr, legend)], kind)
DASHBOARDS = {
    "fleet-liveness": ("Vigil: fleet liveness", [
        ("Agents by state", "short", [("sum by (state) (vigil_heartbeat_agents)", "{{state}}")], "timeseries"),
        ("Liveness transitions per second, by new state", "ops", [("sum by (to) (rate(vigil_liveness_transitions_total[1m]))", "{{to}}")], "timeseries"),
        ("Heartbeats applied per second", "ops", [("sum(rate(vigil_heartbeats_applied_total[1m]))", "heartbeats")], "timeseries"),
        ("Detection latency (last heartbeat to unreachable published)", "s", [
            ("histogram_quantile(0.5, sum by (le) (rate(vigil_heartbeat_detection_latency_seconds_bucket[5m])))", "p50"),
            ("histogram_quantile(0.99, sum by (le) (rate(vigil_heartbeat_detection_latency_seconds_bucket[5m])))", "p99"),
        ], "timeseries"),
        ("Heartbeat backlog per partition", "short", [("max by (partition) (vigil_heartbeat_partition_lag_records)", "partition {{partition}}")], "timeseries"),
        ("Stale heartbeats dropped per second", "ops", [("sum(rate(vigil_heartbeat_stale_beats_total[1m]))", "stale")], "timeseries"),
    ]),
    "state-sync": ("Vigil: state-sync throughput and lag", [
        ("State changes per second, by outcome", "ops", [("sum by (outcome) (rate(vigil_state_events_total[1m]))", "{{outcome}}")], "timeseries"),
        ("Consumer lag (records behind the end), by service and topic", "short", [("sum by (service, topic) (vigil_consumer_lag_records)", "{{service}} {{topic}}")], "timeseries"),
        ("Redis apply per batch", "s", [
            ("histogram_quantile(0.5, sum by (le) (rate(vigil_state_batch_seconds_bucket[1m])))", "p50"),
            ("histogram_quantile(0.99, sum by (le) (rate(vigil_state_batch_seconds_bucket[1m])))", "p99"),
        ], "timeseries"),
        ("Kafka produce, acks=all, p99 by topic", "s", [("histogram_quantile(0.99, sum by (le, topic) (rate(vigil_kafka_send_seconds_bucket[1m])))", "{{topic}}")], "timeseries"),
        ("Changelog records published per second", "ops", [("sum by (kind) (rate(vigil_state_changelog_published_total[1m]))", "{{kind}}")], "timeseries"),
        ("Dead letters in the last 15 minutes, by topic and reason", "short", [("sum by (topic, reason) (increase(vigil_consumer_dead_letters_total[15m]))", "{{topic}} {{reason}}")], "timeseries"),
        ("Resident memory by service", "bytes", [("max by (service) (process_resident_memory_bytes)", "{{service}}")], "timeseries"),
    ]),
    "heals-alerts": ("Vigil: heals and alerts", [
        ("Heals in the last 15 minutes, by action and outcome", "short", [("sum by (action, outcome) (increase(vigil_notifier_heals_total[15m]))", "{{action}} {{outcome}}")], "timeseries"),
        ("Alerts published in the last 15 minutes, by status", "short", [("sum by (status) (increase(vigil_notifier_alerts_total[15m]))", "{{status}}")], "timeseries"),
        ("Alerts firing", "short", [("sum(vigil_notifier_alerts_firing)", "firing")], "stat"),
        ("Notifications in the last 15 minutes, by receiver and outcome", "short", [("sum by (receiver, outcome) (increase(vigil_notifier_notifications_total[15m]))", "{{receiver}} {{outcome}}")], "timeseries"),
        ("Unreachable to alert", "s", [("histogram_quantile(0.99, sum by (le) (rate(vigil_notifier_unreachable_to_alert_seconds_bucket[15m])))", "p99")], "timeseries"),
        ("Notifications waiting for their receiver", "short", [("sum(vigil_notifier_deliveries_pending)", "pending")], "timeseries"),
    ]),
    "backups": ("Vigil: backups", [
        ("Backup jobs in the last hour, by outcome", "short", [("sum by (outcome) (increase(vigil_backup_jobs_total[1h]))", "{{outcome}}")], "timeseries"),
        ("Verified bytes per second", "Bps", [("sum(rate(vigil_backup_verified_bytes_total[5m]))", "verified")], "timeseries"),
        ("Oldest last verified backup", "s", [("max(vigil_backup_last_verified_age_seconds)", "oldest")], "stat"),
        ("Agents with the oldest verified backups", "s", [("topk(10, vigil_backup_last_verified_age_seconds)", "{{agent}}")], "timeseries"),
    ]),
}


def panel(i, title, unit, queries, kind):
    return {
        "id": i + 1,
        "type": kind,
        "title": title,
        "datasource": DS,
        "gridPos": {"h": 8, "w": 12, "x": (i % 2) * 12, "y": (i // 2) * 8},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "options": {"legend": {"displayMode": "list", "placement": "bottom"}} if kind == "timeseries" else {},
        "targets": [
            {"refId": chr(ord("A") + j), "datasource": DS, "expr": expr, "legendFormat": legend}
            for j, (expr, legend) in enumerate(queries)
        ],
    }


here = os.path.dirname(os.path.abspath(__file__))
for name, (title, panels) in DASHBOARDS.items():
    board = {
        "uid": f"vigil-{name}",
        "title": title,
        "tags": ["vigil"],
        "schemaVersion": 39,
        "time": {"from": "now-30m", "to": "now"},
        "refresh": "10s",
        "links": [{"title": "Traces (Zipkin)", "url": "http://127.0.0.1:9411/zipkin/", "type": "link"}],
        "panels": [panel(i, *p) for i, p in enumerate(panels)],
    }
    with open(os.path.join(here, "dashboards", f"{name}.json"), "w") as f:
        json.dump(board, f, indent=2)
        f.write("\n")
