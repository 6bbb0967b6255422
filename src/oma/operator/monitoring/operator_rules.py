"""The operator's own alert rules and Grafana dashboard: pure data over the metrics in `metrics.py`.

`python -m oma.operator.monitoring.operator_rules DIR...` writes them (the chart ships them; `make generate`); a test
fails on drift, and another parses the rules with Prometheus' own parser (promcheck).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import yaml

from .grafana import RATE, dashboard, label_variable, panel
from .rules import alert_rule

# The chart replaces this with its metrics Service's name (the `job` label a ServiceMonitor gives the targets).
JOB = "OMA_OPERATOR_JOB"


def alert_rules() -> dict[str, Any]:
    """A Prometheus rule file (`groups:`), scoped to the operator's scrape job."""
    job = f'job="{JOB}"'
    # Every replica (leader and standbys) watches the same VideoJobs and counts the same transitions: take the
    # largest count of any one pod, not the sum, and a pod's restart is a counter reset increase() handles.
    count = "max(sum by (pod) (increase(oma_videojobs_finished_total{{{}}}[30m])))"
    failed, finished = count.format(f'{job},phase="Failed"'), count.format(job)
    return {
        "groups": [
            {
                "name": "oma-operator",
                "rules": [
                    alert_rule("OmaOperatorDown", f"absent(up{{{job}}} == 1)", 5, "critical",
                          "The oma operator is not scraped as up: VideoJobs and OmaStacks are not reconciled."),
                    alert_rule(
                        "OmaOperatorReconcileSlow",
                        "histogram_quantile(0.95, sum by (le) "
                        f"(rate(oma_reconcile_duration_seconds_bucket{{{job}}}[10m]))) > 5",
                        15, "warning", "95% of VideoJob reconcile passes take over 5 s.",
                    ),
                    alert_rule(
                        "OmaVideoJobStartSlow",
                        "histogram_quantile(0.95, sum by (le) "
                        f"(rate(oma_videojob_to_job_latency_seconds_bucket{{{job}}}[10m]))) > 10",
                        15, "warning", "Runnable VideoJobs wait over 10 s (p95) for their Job.",
                    ),
                    alert_rule("OmaVideoJobsFailing", f"{failed} > 5 and {failed} / {finished} > 0.25", 0, "warning",
                          "More than 5 VideoJobs, over a quarter of those that finished, failed in 30 minutes: "
                          "see their status.failure."),
                    alert_rule("OmaQueueBacklog", f"max by (scope) (oma_queue_depth{{{job}}}) > 50", 30, "warning",
                          "A namespace or stack has had over 50 VideoJobs queued for 30 minutes."),
                    alert_rule("OmaStackReconcileErrors",
                          f'sum(increase(oma_omastack_reconciles_total{{{job},result="error"}}[15m])) > 10', 0,
                          "warning", "OmaStack reconciles keep failing: see the stacks' Ready condition."),
                    alert_rule("OmaEventsDropped", f"increase(oma_events_dropped_total{{{job}}}[15m]) > 0", 0, "info",
                          "The operator dropped Kubernetes Events (its Event queue was full)."),
                ],
            }
        ]
    }  # fmt: skip


def grafana_dashboard() -> dict[str, Any]:
    """The operator's dashboard for one release: `job` picks the release's scrape job, `namespace` where it runs.
    Leader and standbys export the same VideoJob gauges, so those take the max over pods, never the sum."""
    sel = 'job="$job",namespace="$namespace"'
    p95 = "histogram_quantile(0.95, sum by (le) (rate({}_bucket{{" + sel + "}}[" + RATE + "])))"
    variables = [
        label_variable(
            "job",
            "Operator (scrape job)",
            "oma_videojobs",
            "The operator release: the job label its metrics Service or ServiceMonitor gives.",
        ),
        label_variable("namespace", "Namespace", 'oma_videojobs{job="$job"}', "Where that operator runs."),
    ]
    return dashboard("oma-operator", "oma / operator", [
        panel(1, "VideoJobs by phase", f"max by (phase) (oma_videojobs{{{sel}}})", "{{phase}}", 0, 0, "short",
              "VideoJobs the operator knows, by phase (the largest count of any replica: all of them watch)."),
        panel(2, "Queued VideoJobs by scope", f"max by (scope) (oma_queue_depth{{{sel}}})", "{{scope}}", 12, 0,
              "short", "VideoJobs waiting for a concurrency slot, per namespace or per stack."),
        panel(3, "VideoJob -> Job p95", p95.format("oma_videojob_to_job_latency_seconds"), "p95", 0, 8, "s",
              "95th percentile from a runnable VideoJob to its Job existing."),
        panel(4, "Reconcile pass p95", p95.format("oma_reconcile_duration_seconds"), "p95", 12, 8, "s",
              "95th percentile duration of one pass over the changed VideoJobs."),
        panel(5, "Worker retries", f"sum by (failure_class) (rate(oma_videojob_retries_total{{{sel}}}[{RATE}]))",
              "{{failure_class}}", 0, 16, "ops", "Failed worker attempts per second, by failure class."),
        panel(6, "OmaStack reconciles",
              f"sum by (kind, result) (rate(oma_omastack_reconciles_total{{{sel}}}[{RATE}]))",
              "{{kind}} {{result}}", 12, 16, "ops", "OmaStack reconciles per second, by kind and result."),
        panel(7, "Operator memory", f"process_resident_memory_bytes{{{sel}}}", "{{pod}}", 0, 24, "bytes",
              "Resident memory of each operator pod of this release."),
        panel(8, "Events dropped", f"sum(increase(oma_events_dropped_total{{{sel}}}[{RATE}]))", "dropped", 12, 24,
              "short", "Kubernetes Events not posted because the operator's Event queue was full."),
        panel(9, "Finished VideoJobs", f"max by (phase) (rate(oma_videojobs_finished_total{{{sel}}}[{RATE}])) * 60",
              "{{phase}}", 0, 32, "opm", "VideoJobs reaching Succeeded, Failed or Cancelled, per minute."),
        panel(10, "Leader", f"max by (pod) (oma_leader{{{sel}}})", "{{pod}}", 12, 32, "bool",
              "1 for the replica holding the leader lease; a gap means no replica leads."),
    ], variables)  # fmt: skip


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
