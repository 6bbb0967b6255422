"""Typed handles for the resources oma writes: its own CRDs, prometheus-operator's, and built-in kinds."""

from __future__ import annotations

from typing import Any

from lightkube.core.resource_registry import resource_registry
from lightkube.generic_resource import create_namespaced_resource

from oma.models import omastack, videojob

VideoJobResource = create_namespaced_resource(videojob.GROUP, videojob.VERSION, videojob.KIND, videojob.PLURAL)
OmaStackResource = create_namespaced_resource(omastack.GROUP, omastack.VERSION, omastack.KIND, omastack.PLURAL)

MONITORING_GROUP = "monitoring.coreos.com"
ServiceMonitor = create_namespaced_resource(MONITORING_GROUP, "v1", "ServiceMonitor", "servicemonitors")
PodMonitor = create_namespaced_resource(MONITORING_GROUP, "v1", "PodMonitor", "podmonitors")
PrometheusRule = create_namespaced_resource(MONITORING_GROUP, "v1", "PrometheusRule", "prometheusrules")


def resource_for(manifest: dict[str, Any]) -> Any:
    """The lightkube resource class of a manifest (built-in kinds, or one of the generic ones above)."""
    return resource_registry.load(manifest["apiVersion"], manifest["kind"])
