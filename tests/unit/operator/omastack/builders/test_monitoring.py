"""prometheus-operator objects of a stack."""

from __future__ import annotations

from oma.operator.omastack import builders as b

from ..conftest import stack


def test_monitors_carry_the_selector_labels() -> None:
    monitors = b.build_monitors(stack(monitoring={"labels": {"release": "kps"}}))
    assert [m["kind"] for m in monitors] == ["ServiceMonitor", "PodMonitor", "PrometheusRule"]
    assert all(m["metadata"]["labels"]["release"] == "kps" for m in monitors)
    exprs = [r["expr"] for g in monitors[2]["spec"]["groups"] for r in g["rules"]]
    assert all('namespace="ns"' in e for e in exprs)
