"""The Grafana dashboards: every panel says what it shows and in what unit; rates follow $__rate_interval; the
operator's panels are scoped to the chosen release, so two releases are never summed."""

from __future__ import annotations

import re
from typing import Any

import pytest

from oma.operator.monitoring import operator_rules, stack_rules


def dashboards() -> list[dict[str, Any]]:
    return [operator_rules.grafana_dashboard(), stack_rules.grafana_dashboard("video", "media")]


def exprs(dashboard: dict[str, Any]) -> list[str]:
    return [t["expr"] for p in dashboard["panels"] for t in p["targets"]]


@pytest.mark.parametrize("dashboard", dashboards(), ids=lambda d: d["uid"])
def test_every_panel_has_a_description_and_a_unit(dashboard: dict[str, Any]) -> None:
    for p in dashboard["panels"]:
        assert len(p["description"]) > 20, p["title"]
        assert p["fieldConfig"]["defaults"]["unit"], p["title"]


@pytest.mark.parametrize("dashboard", dashboards(), ids=lambda d: d["uid"])
def test_rates_follow_the_rate_interval_and_every_variable_is_defined(dashboard: dict[str, Any]) -> None:
    defined = {v["name"] for v in dashboard["templating"]["list"]}
    for expr in exprs(dashboard):
        windows = set(re.findall(r"\}\[([^\]]+)\]", expr))  # range selectors; [0-9] in a regex is not one
        assert windows <= {"$__rate_interval", "1h"}, expr  # 1h: the cost panel, explained beside it
        used = set(re.findall(r"\$(\w+)", expr)) - {"__rate_interval"}
        assert used <= defined, (expr, used - defined)


def test_the_operator_dashboard_shows_one_release_in_one_namespace() -> None:
    dashboard = operator_rules.grafana_dashboard()
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["job"]["query"]["query"] == "label_values(oma_videojobs, job)"
    assert "$job" in variables["namespace"]["query"]["query"]
    for expr in exprs(dashboard):
        for selector in re.findall(r"\b(?:oma_\w+|process_\w+)\{([^}]*)\}", expr):
            assert 'job="$job"' in selector and 'namespace="$namespace"' in selector, expr
    memory = next(p for p in dashboard["panels"] if p["title"] == "Operator memory")
    assert memory["targets"][0]["expr"].startswith("process_resident_memory_bytes{job=")
    assert not any(e.startswith("sum by (phase) (oma_videojobs") for e in exprs(dashboard)), "replicas would add up"


def test_the_stack_dashboard_reads_the_operator_through_its_job_variable() -> None:
    dashboard = stack_rules.grafana_dashboard("video", "media")
    operator = [e for e in exprs(dashboard) if "oma_videojobs" in e or "oma_queue_depth" in e]
    assert len(operator) == 2 and all('job="$job"' in e for e in operator)
