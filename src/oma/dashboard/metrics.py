"""The dashboard's Prometheus metrics, in its own registry (GET /metrics)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics

disable_created_metrics()  # type: ignore[no-untyped-call]  # *_created series double the output and no dashboard or alert reads them
REGISTRY = CollectorRegistry(auto_describe=True)

REQUEST_SECONDS = Histogram(
    "oma_dashboard_http_request_duration_seconds",
    "HTTP request latency, by route template (not raw path, to bound cardinality), method and status.",
    ["route", "method", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
    registry=REGISTRY,
)
SUBMISSIONS = Counter(
    "oma_dashboard_submissions_total",
    "Submissions, by outcome (accepted, replayed, invalid, refused, unavailable).",
    ["outcome"],
    registry=REGISTRY,
)
RATE_LIMITED = Counter(
    "oma_dashboard_rate_limited_total",
    "Requests refused with 429, by endpoint class.",
    ["endpoint_class"],
    registry=REGISTRY,
)
COST = Counter("oma_cost_usd_total", "Cost of finished jobs recorded by this replica, in USD.", registry=REGISTRY)
BUDGET_USED = Gauge(
    "oma_dashboard_token_budget_used_ratio",
    "Share of its monthly budget a token had spent at its last submission.",
    ["token"],
    registry=REGISTRY,
)
RECORDER_PENDING = Gauge(
    "oma_dashboard_recorder_pending", "VideoJob states waiting for Postgres to come back.", registry=REGISTRY
)
RECORDED = Counter("oma_dashboard_recorded_total", "VideoJob states written to history.", registry=REGISTRY)
