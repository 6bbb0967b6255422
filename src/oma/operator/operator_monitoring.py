"""The operator's own alert rules and Grafana dashboard: pure data over the metrics in `metrics.py`.

`python -m oma.operator.operator_monitoring DIR...` writes them (the chart ships them; `make generate`); a test
fails on drift, and another parses the rules with Prometheus' own parser (promcheck).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import yaml

# The chart replaces this with its metrics Service's name (the `job` label a ServiceMonitor gives the targets).
JOB = "OMA_OPERATOR_JOB"
RUNBOOK = "https://github.com/oma-video/oma/blob/main/docs/runbook.md"


def _rule(name: str, expr: str, minutes: int, severity: str, summary: str) -> dict[str, Any]:
    rule: dict[str, Any] = {"alert": name, "expr": expr}
    if minutes:
        rule["for"] = f"{minutes}m"
    rule["labels"] = {"severity": severity}
    rule["annotations"] = {"summary": summary, "runbook_url": f"{RUNBOOK}#{name.lower()}"}
    return rule


def alert_rules() -> dict[str, Any]:
    """A Prometheus rule file (`groups:`), scoped to the operator's scrape job."""
    job = f'job="{JOB}"'
    return {
        "groups": [
            {
                "name": "oma-operator",
                "rules": [
                    _rule("OmaOperatorDown", f"absent(up{{{job}}} == 1)", 5, "critical",
                          "The oma operator is not scraped as up: VideoJobs and OmaStacks are not reconciled."),
                    _rule(
                        "OmaOperatorReconcileSlow",
                        "histogram_quantile(0.95, sum by (le) "
                        f"(rate(oma_reconcile_duration_seconds_bucket{{{job}}}[10m]))) > 5",
                        15, "warning", "95% of VideoJob reconcile passes take over 5 s.",
                    ),
                    _rule(
                        "OmaVideoJobStartSlow",
                        "histogram_quantile(0.95, sum by (le) "
                        f"(rate(oma_videojob_to_job_latency_seconds_bucket{{{job}}}[10m]))) > 10",
                        15, "warning", "Runnable VideoJobs wait over 10 s (p95) for their Job.",
                    ),
                    _rule("OmaVideoJobsFailing", f'sum(delta(oma_videojobs{{{job},phase="Failed"}}[30m])) > 5', 0,
                          "warning", "More than 5 VideoJobs failed in 30 minutes: see their status.failure."),
                    _rule("OmaQueueBacklog", f"max by (scope) (oma_queue_depth{{{job}}}) > 50", 30, "warning",
                          "A namespace or stack has had over 50 VideoJobs queued for 30 minutes."),
                    _rule("OmaStackReconcileErrors",
                          f'sum(increase(oma_omastack_reconciles_total{{{job},result="error"}}[15m])) > 10', 0,
                          "warning", "OmaStack reconciles keep failing: see the stacks' Ready condition."),
                    _rule("OmaEventsDropped", f"increase(oma_events_dropped_total{{{job}}}[15m]) > 0", 0, "info",
                          "The operator dropped Kubernetes Events (its Event queue was full)."),
                ],
            }
        ]
    }  # fmt: skip


def _panel(panel_id: int, title: str, expr: str, legend: str, x: int, y: int, unit: str = "short") -> dict[str, Any]:
    return {
        "id": panel_id,
        "type": "timeseries",
        "title": title,
        "datasource": {"type": "prometheus", "uid": "${datasource}"},
        "gridPos": {"h": 8, "w": 12, "x": x, "y": y},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "targets": [{"refId": "A", "expr": expr, "legendFormat": legend}],
    }


def grafana_dashboard() -> dict[str, Any]:
    p95 = "histogram_quantile(0.95, sum by (le) (rate({}_bucket[5m])))"
    return {
        "uid": "oma-operator",
        "title": "oma / operator",
        "tags": ["oma"],
        "schemaVersion": 39,
        "time": {"from": "now-6h", "to": "now"},
        "templating": {
            "list": [{"name": "datasource", "type": "datasource", "query": "prometheus", "label": "Data source"}]
        },
        "panels": [
            _panel(1, "VideoJobs by phase", "sum by (phase) (oma_videojobs)", "{{phase}}", 0, 0),
            _panel(2, "Queued VideoJobs by scope", "sum by (scope) (oma_queue_depth)", "{{scope}}", 12, 0),
            _panel(3, "VideoJob -> Job p95", p95.format("oma_videojob_to_job_latency_seconds"), "p95", 0, 8, "s"),
            _panel(4, "Reconcile pass p95", p95.format("oma_reconcile_duration_seconds"), "p95", 12, 8, "s"),
            _panel(5, "Worker retries", "sum by (failure_class) (rate(oma_videojob_retries_total[5m]))",
                   "{{failure_class}}", 0, 16, "ops"),
            _panel(6, "OmaStack reconciles", "sum by (kind, result) (rate(oma_omastack_reconciles_total[5m]))",
                   "{{kind}} {{result}}", 12, 16, "ops"),
            _panel(7, "Operator memory", "process_resident_memory_bytes", "{{pod}}", 0, 24, "bytes"),
            _panel(8, "Events dropped", "increase(oma_events_dropped_total[5m])", "dropped", 12, 24),
        ],
    }  # fmt: skip


def files() -> dict[str, str]:
    """File name -> content, as shipped in the chart's files/ and in monitoring/."""
    return {
        "oma-operator-rules.yaml": "# Generated by `make generate`; do not edit by hand.\n"
        + yaml.safe_dump(alert_rules(), sort_keys=False, width=120),
        "oma-operator-dashboard.json": json.dumps(grafana_dashboard(), indent=1, sort_keys=True) + "\n",
    }


def main(argv: list[str]) -> int:
    for out in map(Path, argv[1:] or ["monitoring"]):
        out.mkdir(parents=True, exist_ok=True)
        for name, content in files().items():
            (out / name).write_text(content)
            print(out / name)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
