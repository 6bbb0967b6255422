"""Alert rules and the Grafana dashboard of one OmaStack: pure data, scoped to the stack's pods."""

from __future__ import annotations

from typing import Any


def _pods(namespace: str, stack: str, component: str) -> str:
    return f'namespace="{namespace}",pod=~"{stack}-{component}-[0-9]+"'


def alert_groups(namespace: str, stack: str) -> list[dict[str, Any]]:
    """PrometheusRule groups. Exporter metrics come from the PodMonitor; the backup and dashboard rules read
    kube-state-metrics, which kube-prometheus-stack installs."""
    redis, postgres = _pods(namespace, stack, "redis"), _pods(namespace, stack, "postgres")
    where = f"{namespace}/{stack}"

    def rule(name: str, expr: str, minutes: int, severity: str, summary: str) -> dict[str, Any]:
        return {
            "alert": name,
            "expr": expr,
            "for": f"{minutes}m",
            "labels": {"severity": severity, "oma_stack": stack},
            "annotations": {
                "summary": summary,
                "runbook_url": "https://github.com/oma-video/oma/blob/main/docs/runbook.md",
            },
        }

    return [
        {
            "name": f"oma-stack-{stack}",
            "rules": [
                rule(
                    "OmaRedisDown",
                    f"max(redis_up{{{redis}}}) < 1 or absent(redis_up{{{redis}}})",
                    5,
                    "critical",
                    f"Redis of OmaStack {where} is down: jobs cannot be queued.",
                ),
                rule(
                    "OmaPostgresDown",
                    f"max(pg_up{{{postgres}}}) < 1 or absent(pg_up{{{postgres}}})",
                    5,
                    "critical",
                    f"Postgres of OmaStack {where} is down: the dashboard cannot read or record jobs.",
                ),
                rule(
                    "OmaDashboardUnavailable",
                    f'kube_deployment_status_replicas_available{{namespace="{namespace}",'
                    f'deployment="{stack}-dashboard"}} < 1',
                    10,
                    "warning",
                    f"No dashboard replica of OmaStack {where} is available.",
                ),
                rule(
                    "OmaBackupFailed",
                    f'max by (job_name) (kube_job_status_failed{{namespace="{namespace}",'
                    f'job_name=~"{stack}-backup-.*"}}) > 0',
                    1,
                    "warning",
                    f"A backup Job of OmaStack {where} failed: check its pod's logs.",
                ),
                rule(
                    "OmaBackupTooOld",
                    f'time() - max by (cronjob) (kube_cronjob_status_last_successful_time{{namespace="{namespace}",'
                    f'cronjob=~"{stack}-backup-.*"}}) > 2 * 86400',
                    30,
                    "warning",
                    f"OmaStack {where} has no successful backup in two days.",
                ),
            ],
        }
    ]


def _panel(panel_id: int, title: str, expr: str, x: int, y: int, unit: str = "short") -> dict[str, Any]:
    return {
        "id": panel_id,
        "type": "timeseries",
        "title": title,
        "datasource": {"type": "prometheus", "uid": "${datasource}"},
        "gridPos": {"h": 8, "w": 12, "x": x, "y": y},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "targets": [{"refId": "A", "expr": expr, "legendFormat": "{{pod}}"}],
    }


def grafana_dashboard(namespace: str, stack: str) -> dict[str, Any]:
    redis, postgres = _pods(namespace, stack, "redis"), _pods(namespace, stack, "postgres")
    return {
        "uid": f"oma-stack-{namespace}-{stack}"[:40],
        "title": f"oma / {namespace} / {stack}",
        "tags": ["oma"],
        "schemaVersion": 39,
        "time": {"from": "now-6h", "to": "now"},
        "templating": {
            "list": [{"name": "datasource", "type": "datasource", "query": "prometheus", "label": "Data source"}]
        },
        "panels": [
            _panel(1, "Redis up", f"redis_up{{{redis}}}", 0, 0),
            _panel(2, "Postgres up", f"pg_up{{{postgres}}}", 12, 0),
            _panel(3, "Redis memory", f"redis_memory_used_bytes{{{redis}}}", 0, 8, "bytes"),
            _panel(4, "Postgres connections", f"sum(pg_stat_activity_count{{{postgres}}})", 12, 8),
            # The operator's own gauges cover every namespace it watches; the queue depth is per stack.
            _panel(5, "VideoJobs by phase (whole operator)", "sum by (phase) (oma_videojobs)", 0, 16),
            _panel(6, "Queue depth", f'sum(oma_queue_depth{{scope="{namespace}/stack/{stack}"}})', 12, 16),
        ],
    }
