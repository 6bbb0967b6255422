"""Alert rules and the Grafana dashboard of one OmaStack: pure data, scoped to the stack's pods."""

from __future__ import annotations

from typing import Any

from .grafana import RATE, dashboard, label_variable, panel
from .rules import alert_rule


def _scope(namespace: str, stack: str) -> dict[str, str]:
    """Labels every stack alert carries: max(), sum() and absent() drop the series' own, and Alertmanager routes
    and silences by namespace."""
    return {"namespace": namespace, "oma_stack": stack}


def _pods(namespace: str, stack: str, component: str) -> str:
    return f'namespace="{namespace}",pod=~"{stack}-{component}-[0-9]+"'


# long: one rule after another, read as a table
def alert_groups(namespace: str, stack: str) -> list[dict[str, Any]]:
    """PrometheusRule groups. Exporter metrics come from the PodMonitor; the backup and dashboard rules read
    kube-state-metrics, which kube-prometheus-stack installs."""
    redis, postgres = _pods(namespace, stack, "redis"), _pods(namespace, stack, "postgres")
    where = f"{namespace}/{stack}"
    scope = _scope(namespace, stack)
    cronjobs = f'namespace="{namespace}",cronjob=~"{stack}-backup-.*"'

    return [
        {
            "name": f"oma-stack-{stack}",
            "rules": [
                alert_rule(
                    "OmaRedisDown",
                    f"max(redis_up{{{redis}}}) < 1 or absent(redis_up{{{redis}}})",
                    5,
                    "critical",
                    f"Redis of OmaStack {where} is down: jobs cannot be queued.",
                    labels=scope,
                ),
                alert_rule(
                    "OmaPostgresDown",
                    f"max(pg_up{{{postgres}}}) < 1 or absent(pg_up{{{postgres}}})",
                    5,
                    "critical",
                    f"Postgres of OmaStack {where} is down: the dashboard cannot read or record jobs.",
                    labels=scope,
                ),
                alert_rule(
                    "OmaDashboardUnavailable",
                    f'kube_deployment_status_replicas_available{{namespace="{namespace}",'
                    f'deployment="{stack}-dashboard"}} < 1',
                    10,
                    "warning",
                    f"No dashboard replica of OmaStack {where} is available.",
                    labels=scope,
                ),
                alert_rule(
                    "OmaBackupFailed",
                    f'max by (job_name) (kube_job_status_failed{{namespace="{namespace}",'
                    f'job_name=~"{stack}-backup-.*"}}) > 0',
                    1,
                    "warning",
                    f"A backup Job of OmaStack {where} failed: check its pod's logs.",
                    labels=scope,
                ),
                # Too old is two scheduled intervals, whatever the schedule: kube-state-metrics' next schedule
                # time minus the last one is the interval the CronJob is on now (hourly or weekly alike).
                alert_rule(
                    "OmaBackupTooOld",
                    f"time() - max by (cronjob) (kube_cronjob_status_last_successful_time{{{cronjobs}}}) > 2 * "
                    f"max by (cronjob) (kube_cronjob_next_schedule_time{{{cronjobs}}} "
                    f"- kube_cronjob_status_last_schedule_time{{{cronjobs}}})",
                    30,
                    "warning",
                    f"OmaStack {where} has had no successful backup for two of its scheduled intervals.",
                    labels=scope,
                ),
            ],
        },
        {"name": f"oma-stack-{stack}-dashboard", "rules": _dashboard_rules(namespace, stack)},
    ]


def _dashboard_rules(namespace: str, stack: str) -> list[dict[str, Any]]:
    """The dashboard's own metrics (scraped through the stack's ServiceMonitor)."""
    where, scope = f"{namespace}/{stack}", _scope(namespace, stack)
    pods = f'namespace="{namespace}",pod=~"{stack}-dashboard-.+"'
    requests = f"sum(rate(oma_dashboard_http_request_duration_seconds_count{{{pods}}}[5m]))"
    errors = f'sum(rate(oma_dashboard_http_request_duration_seconds_count{{{pods},status=~"5.."}}[5m]))'
    buckets = f"oma_dashboard_http_request_duration_seconds_bucket{{{pods}}}"
    p95 = f"histogram_quantile(0.95, sum by (le) (rate({buckets}[5m])))"
    return [
        alert_rule(
            "OmaDashboardErrors",
            f"{errors} / {requests} > 0.05",
            10,
            "warning",
            f"More than 5 % of the dashboard's requests in OmaStack {where} fail with 5xx.",
            labels=scope,
        ),
        alert_rule(
            "OmaDashboardSlow",
            f"{p95} > 0.5",
            10,
            "warning",
            f"The dashboard of OmaStack {where} answers slowly: p95 above 500 ms.",
            labels=scope,
        ),
        alert_rule(
            "OmaDashboardRateLimitedSpike",
            f"sum(rate(oma_dashboard_rate_limited_total{{{pods}}}[5m])) > 1",
            10,
            "info",
            f"The dashboard of OmaStack {where} refuses more than one request a second for rate limits.",
            labels=scope,
        ),
        alert_rule(
            "OmaDashboardBudgetNearlySpent",
            f"max by (token) (oma_dashboard_token_budget_used_ratio{{{pods}}}) > 0.9",
            0,
            "info",
            f"A token of OmaStack {where} has spent over 90 % of its monthly budget.",
            labels=scope,
        ),
    ]


def grafana_dashboard(namespace: str, stack: str) -> dict[str, Any]:
    """One stack's dashboard; its own series are fixed to the stack's pods, the operator's to the `job` variable
    (the operator release that serves this namespace)."""
    redis, postgres = _pods(namespace, stack, "redis"), _pods(namespace, stack, "postgres")
    dash = f'namespace="{namespace}",pod=~"{stack}-dashboard-.+"'
    requests = f"oma_dashboard_http_request_duration_seconds_count{{{dash}}}"
    buckets = f"oma_dashboard_http_request_duration_seconds_bucket{{{dash}}}"
    submissions = f"oma_dashboard_submissions_total{{{dash}}}"
    operator = label_variable(
        "job", "Operator (scrape job)", "oma_videojobs", "The operator release whose queue and phases are shown."
    )
    return dashboard(
        f"oma-stack-{namespace}-{stack}"[:40],
        f"oma / {namespace} / {stack}",
        [
            panel(1, "Redis up", f"redis_up{{{redis}}}", "{{pod}}", 0, 0, "bool",
                  "1 while the exporter reaches Redis."),
            panel(2, "Postgres up", f"pg_up{{{postgres}}}", "{{pod}}", 12, 0, "bool",
                  "1 while the exporter reaches Postgres."),
            panel(3, "Redis memory", f"redis_memory_used_bytes{{{redis}}}", "{{pod}}", 0, 8, "bytes",
                  "Memory Redis holds for the job queue and caches."),
            panel(4, "Postgres connections", f"sum(pg_stat_activity_count{{{postgres}}})", "connections", 12, 8,
                  "short", "Open connections to the stack's Postgres."),
            panel(5, "VideoJobs by phase (whole operator)", 'max by (phase) (oma_videojobs{job="$job"})', "{{phase}}",
                  0, 16, "short", "Every VideoJob the operator release knows, by phase; not only this stack's."),
            panel(6, "Queue depth", f'max(oma_queue_depth{{job="$job",scope="{namespace}/stack/{stack}"}})', "queued",
                  12, 16, "short", "This stack's VideoJobs waiting for a concurrency slot."),
            panel(7, "Dashboard requests by status", f"sum by (status) (rate({requests}[{RATE}]))", "{{status}}", 0,
                  24, "reqps", "Requests per second the dashboard answered, by HTTP status."),
            panel(8, "Dashboard p95 latency by route",
                  f"histogram_quantile(0.95, sum by (le, route) (rate({buckets}[{RATE}])))", "{{route}}", 12, 24, "s",
                  "95th percentile response time per route."),
            panel(9, "Submissions by outcome", f"sum by (outcome) (rate({submissions}[{RATE}])) * 60", "{{outcome}}",
                  0, 32, "opm", "Job submissions per minute, by outcome (accepted, refused, rate limited...)."),
            # An hour, not $__rate_interval: costs are recorded once per finished job, so short windows are spikes.
            panel(10, "Cost (USD per hour)", f"sum(rate(oma_cost_usd_total{{{dash}}}[1h])) * 3600", "USD/h", 12, 32,
                  "currencyUSD", "Cost of the jobs finished in the last hour, as USD per hour."),
        ],
        [operator],
    )  # fmt: skip
