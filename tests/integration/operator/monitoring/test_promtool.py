"""Every alert, fired and kept silent by `promtool test rules` (Prometheus' own rule evaluation) over the series it
reads: the operator's rules as the chart renders them, and one stack's."""

from __future__ import annotations

import subprocess
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
import yaml

from oma.operator.monitoring import operator_rules, stack_rules

pytestmark = pytest.mark.promtool
HERE = Path(__file__).resolve().parent / "promtool"
OPERATOR_JOB = "oma-operator-metrics"


def rule_files() -> dict[str, list[dict[str, Any]]]:
    """The rule files the tests name, by file name: the operator's scoped to its scrape job, stack media in video."""
    operator = yaml.safe_load(yaml.safe_dump(operator_rules.alert_rules()).replace(operator_rules.JOB, OPERATOR_JOB))
    return {"operator-rules.yaml": operator["groups"], "stack-rules.yaml": stack_rules.alert_groups("video", "media")}


def alerts(groups: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {r["alert"]: r for g in groups for r in g["rules"] if "alert" in r}


def with_annotations(tests: dict[str, Any], rules: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The test file with each expected alert's annotations taken from its rule (they are static text)."""
    for case in tests["tests"]:
        for check in case.get("alert_rule_test", []):
            for expected in check["exp_alerts"]:
                expected["exp_annotations"] = rules[check["alertname"]]["annotations"]
    return tests


@pytest.mark.parametrize("test_file", ["operator.test.yaml", "stack.test.yaml"])
def test_promtool_fires_and_silences_every_alert(test_file: str, tmp_path: Path) -> None:
    tests = yaml.safe_load((HERE / test_file).read_text())
    (rules_file,) = tests["rule_files"]
    groups = rule_files()[rules_file]
    (tmp_path / rules_file).write_text(yaml.safe_dump({"groups": groups}, sort_keys=False))
    (tmp_path / test_file).write_text(yaml.safe_dump(with_annotations(tests, alerts(groups)), sort_keys=False))
    out = subprocess.run(
        ["promtool", "test", "rules", test_file], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert out.returncode == 0, out.stdout + out.stderr

    outcomes: dict[str, set[str]] = defaultdict(set)
    for case in tests["tests"]:
        for check in case.get("alert_rule_test", []):
            outcomes[check["alertname"]].add("fires" if check["exp_alerts"] else "silent")
    missing = {a: {"fires", "silent"} - outcomes[a] for a in alerts(groups) if outcomes[a] != {"fires", "silent"}}
    assert not missing, f"{test_file} lacks cases: {missing}"


def test_promtool_catches_a_wrong_expectation(tmp_path: Path) -> None:
    """The harness can fail: an alert expected with a label it does not carry is reported."""
    groups = rule_files()["operator-rules.yaml"]
    tests = yaml.safe_load((HERE / "operator.test.yaml").read_text())
    tests["tests"] = tests["tests"][:1]
    tests["tests"][0]["alert_rule_test"][0]["exp_alerts"][0]["exp_labels"]["severity"] = "info"
    (tmp_path / "operator-rules.yaml").write_text(yaml.safe_dump({"groups": groups}))
    (tmp_path / "t.yaml").write_text(yaml.safe_dump(with_annotations(tests, alerts(groups))))
    out = subprocess.run(["promtool", "test", "rules", "t.yaml"], cwd=tmp_path, capture_output=True, text=True)
    assert out.returncode == 1 and "OmaOperatorDown" in out.stdout + out.stderr


def test_every_dashboard_query_parses(tmp_path: Path) -> None:
    """Grafana sends the panels' queries with its variables filled in; Prometheus' parser must accept them."""
    filled = {"$__rate_interval": "2m", "$job": "oma-operator-metrics", "$namespace": "oma-system"}
    rules = []
    for dashboard in (operator_rules.grafana_dashboard(), stack_rules.grafana_dashboard("video", "media")):
        for panel in dashboard["panels"]:
            expr = panel["targets"][0]["expr"]
            for variable, value in filled.items():
                expr = expr.replace(variable, value)
            rules.append({"record": f"dashboard:{dashboard['uid']}:{panel['id']}".replace("-", "_"), "expr": expr})
    (tmp_path / "dashboards.yaml").write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}))
    out = subprocess.run(["promtool", "check", "rules", "dashboards.yaml"], cwd=tmp_path, capture_output=True,
                         text=True, check=False)  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    assert "$" not in yaml.safe_dump(rules), "a variable was left unfilled"
