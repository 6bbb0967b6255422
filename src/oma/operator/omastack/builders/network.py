"""NetworkPolicies: only the dashboard, the backup jobs and labelled clients reach Redis and Postgres."""

from __future__ import annotations

from typing import Any

from oma.models.omastack import OmaStack

from ...common.labels import LABEL_CLIENT_OF, LABEL_COMPONENT, LABEL_STACK
from .common import (
    POSTGRES_EXPORTER_PORT,
    POSTGRES_PORT,
    REDIS_EXPORTER_PORT,
    REDIS_PORT,
    Manifest,
    child_meta,
    selector,
)


def _data_policy(stack: OmaStack, component: str, port: int, metrics_port: int, clients: list[str]) -> Manifest:
    name = f"{stack.metadata.name}-{component}"
    peers = [
        {
            "podSelector": {
                "matchLabels": {LABEL_STACK: stack.metadata.name},
                "matchExpressions": [{"key": LABEL_COMPONENT, "operator": "In", "values": clients}],
            }
        },
        {"podSelector": {"matchLabels": {LABEL_CLIENT_OF: stack.metadata.name}}},
    ]
    ingress: list[dict[str, Any]] = [{"from": peers, "ports": [{"protocol": "TCP", "port": port}]}]
    if stack.spec.monitoring.enabled:
        # Prometheus may live in any namespace; only the exporter's port is open to it.
        ingress.append({"from": [{"namespaceSelector": {}}], "ports": [{"protocol": "TCP", "port": metrics_port}]})
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": child_meta(stack, name, component, component),
        "spec": {
            "podSelector": {"matchLabels": selector(stack, component)},
            "policyTypes": ["Ingress"],
            "ingress": ingress,
        },
    }


def build_network_policies(stack: OmaStack) -> list[Manifest]:
    if not stack.spec.network_policies.enabled:
        return []
    return [
        _data_policy(stack, "redis", REDIS_PORT, REDIS_EXPORTER_PORT, ["dashboard", "backup-redis"]),
        _data_policy(stack, "postgres", POSTGRES_PORT, POSTGRES_EXPORTER_PORT, ["dashboard", "backup-postgres"]),
    ]
