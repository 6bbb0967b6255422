"""prometheus-operator objects (ServiceMonitor, PodMonitor, PrometheusRule) and the Grafana dashboard ConfigMap."""

from __future__ import annotations

import json
from typing import Any

from oma.models.omastack import OmaStack

from ...common.labels import LABEL_COMPONENT, LABEL_STACK
from ...monitoring import stack_rules
from .common import Manifest, Names, child_meta, selector


def build_monitors(stack: OmaStack) -> list[Manifest]:
    """prometheus-operator objects; applied only when its CRDs exist (the MonitoringReady condition says which)."""
    if not stack.spec.monitoring.enabled:
        return []
    n, mon = Names(stack.metadata.name), stack.spec.monitoring

    def meta(name: str) -> dict[str, Any]:
        m = child_meta(stack, name, "monitoring", "oma-monitoring")
        m["labels"] = {**mon.labels, **m["labels"]}
        return m

    return [
        {
            "apiVersion": "monitoring.coreos.com/v1",
            "kind": "ServiceMonitor",
            "metadata": meta(n.dashboard),
            "spec": {
                "selector": {"matchLabels": selector(stack, "dashboard")},
                "endpoints": [{"port": "http", "path": "/metrics", "interval": "30s"}],
            },
        },
        {
            "apiVersion": "monitoring.coreos.com/v1",
            "kind": "PodMonitor",
            "metadata": meta(n.exporters),
            "spec": {
                "selector": {
                    "matchLabels": {LABEL_STACK: stack.metadata.name},
                    "matchExpressions": [{"key": LABEL_COMPONENT, "operator": "In", "values": ["redis", "postgres"]}],
                },
                "podMetricsEndpoints": [{"port": "metrics", "interval": "30s"}],
            },
        },
        {
            "apiVersion": "monitoring.coreos.com/v1",
            "kind": "PrometheusRule",
            "metadata": meta(n.alerts),
            "spec": {"groups": stack_rules.alert_groups(stack.metadata.namespace, stack.metadata.name)},
        },
    ]


def build_grafana_dashboards(stack: OmaStack) -> Manifest | None:
    g = stack.spec.monitoring.grafana
    if not (stack.spec.monitoring.enabled and g.enabled):
        return None
    n = Names(stack.metadata.name)
    meta = child_meta(stack, n.grafana, "monitoring", "oma-monitoring")
    meta["labels"][g.label_key] = g.label_value
    dashboard = stack_rules.grafana_dashboard(stack.metadata.namespace, stack.metadata.name)
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": meta,
        "data": {f"oma-stack-{stack.metadata.name}.json": json.dumps(dashboard, indent=1, sort_keys=True)},
    }
