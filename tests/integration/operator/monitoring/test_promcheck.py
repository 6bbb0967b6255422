"""Alert rules and dashboards: parsed by Prometheus' own code (promcheck), over metrics the operator exports."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from oma.devcluster import cluster as devcluster
from oma.models.omastack import OmaStack
from oma.operator.omastack import builders as stack_builders

REPO = Path(__file__).resolve().parents[4]
pytestmark = pytest.mark.tools
CHART = REPO / "charts" / "oma-operator"


@pytest.fixture(scope="module")
def bin_dir() -> Path:
    return devcluster.find_bin_dir()  # promcheck and helm, built from hack/tools by hack/build-tools.sh


def promcheck(bin_dir: Path, tmp_path: Path, groups: dict[str, Any]) -> subprocess.CompletedProcess[str]:
    path = tmp_path / f"rules-{len(list(tmp_path.iterdir()))}.yaml"
    path.write_text(yaml.safe_dump(groups))
    return subprocess.run([str(bin_dir / "promcheck"), str(path)], capture_output=True, text=True, check=False)


def test_promcheck_rejects_what_prometheus_would(bin_dir: Path, tmp_path: Path) -> None:
    broken = {"groups": [{"name": "g", "rules": [{"alert": "A", "expr": "sum(rate(x[5m])"}]}]}
    out = promcheck(bin_dir, tmp_path, broken)
    assert out.returncode == 1 and "unclosed left parenthesis" in out.stderr


def test_stack_alerts_parse(bin_dir: Path, tmp_path: Path) -> None:
    stack = OmaStack.model_validate({"metadata": {"name": "media", "namespace": "video", "uid": "u"}})
    rule = next(m for m in stack_builders.build_monitors(stack) if m["kind"] == "PrometheusRule")
    out = promcheck(bin_dir, tmp_path, rule["spec"])
    assert out.returncode == 0, out.stderr


def test_operator_alerts_in_the_chart_parse_and_select_its_metrics_service(bin_dir: Path, tmp_path: Path) -> None:
    rendered = subprocess.run(
        [str(bin_dir / "helm"), "template", "oma", str(CHART), "--set", "metrics.prometheusRule.enabled=true"],
        capture_output=True, text=True, check=True, env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
    ).stdout  # fmt: skip
    docs = {d["kind"]: d for d in yaml.safe_load_all(rendered) if d}
    spec = docs["PrometheusRule"]["spec"]
    out = promcheck(bin_dir, tmp_path, spec)
    assert out.returncode == 0, out.stderr
    service = docs["Service"]["metadata"]["name"]
    exprs = [r["expr"] for g in spec["groups"] for r in g["rules"]]
    assert all(f'job="{service}"' in e for e in exprs), exprs


@pytest.mark.parametrize(
    ("flags", "down"),
    [
        ([], None),
        (["--set", "metrics.serviceMonitor.enabled=true"], 'absent(up{job="oma-oma-operator-metrics"} == 1)'),
        (["--set", "metrics.prometheusRule.job=my-scrape"], 'absent(up{job="my-scrape"} == 1)'),
    ],
)
def test_operator_down_is_rendered_only_for_a_known_scrape_target(
    bin_dir: Path, tmp_path: Path, flags: list[str], down: str | None
) -> None:
    """Without a ServiceMonitor nor a job name nothing scrapes the operator as far as the chart knows, and
    absent(up) would fire forever."""
    rendered = subprocess.run(
        [str(bin_dir / "helm"), "template", "oma", str(CHART), "--set", "metrics.prometheusRule.enabled=true", *flags],
        capture_output=True, text=True, check=True, env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
    ).stdout  # fmt: skip
    spec = next(d for d in yaml.safe_load_all(rendered) if d and d["kind"] == "PrometheusRule")["spec"]
    rules = {r["alert"]: r["expr"] for g in spec["groups"] for r in g["rules"]}
    assert rules.get("OmaOperatorDown") == down
    assert "OmaVideoJobsFailing" in rules
    assert promcheck(bin_dir, tmp_path, spec).returncode == 0
