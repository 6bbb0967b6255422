"""The alert rules and dashboards: every metric they use is one the operator or the dashboard exports; generated
files match."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from oma.dashboard import metrics as dashboard_metrics
from oma.models.omastack import OmaStack
from oma.operator.monitoring import metrics, operator_rules, stack_rules
from oma.operator.omastack import builders as stack_builders

REPO = Path(__file__).resolve().parents[4]


def exported() -> set[str]:
    """Every sample name the operator's and the dashboard's metrics can have (counters end in _total,
    histograms in _bucket...)."""
    names = set()
    for family in [*REGISTRY.collect(), *dashboard_metrics.REGISTRY.collect()]:
        suffixes = {"counter": ["_total"], "histogram": ["_bucket", "_sum", "_count"]}.get(family.type, [""])
        names |= {family.name + s for s in suffixes}
    return names


def oma_metrics(text: str) -> set[str]:
    return set(re.findall(r"\boma_[a-z_]+", text))


def test_every_oma_metric_the_alerts_and_dashboards_use_is_exported() -> None:
    assert metrics.VIDEOJOBS  # registers the operator's metrics
    used = oma_metrics(json.dumps(operator_rules.alert_rules()))
    used |= oma_metrics(json.dumps(operator_rules.grafana_dashboard()))
    stack = OmaStack.model_validate({"metadata": {"name": "s", "uid": "u"}})
    grafana = stack_builders.build_grafana_dashboards(stack)
    assert grafana is not None
    used |= oma_metrics(json.dumps(grafana["data"]))
    used |= oma_metrics(" ".join(r["expr"] for g in stack_rules.alert_groups("ns", "s") for r in g["rules"]))
    assert {"oma_cost_usd_total", "oma_dashboard_rate_limited_total"} <= used
    assert used and used <= exported(), used - exported()


@pytest.mark.parametrize("directory", ["monitoring", "charts/oma-operator/files/monitoring"])
def test_generated_files_match_the_code(directory: str) -> None:
    for name, content in operator_rules.files().items():
        assert (REPO / directory / name).read_text() == content, f"{directory}/{name} drifted: make generate"
