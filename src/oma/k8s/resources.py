"""lightkube resource classes for oma's kinds: the only place a Kind becomes a client-library type."""

from __future__ import annotations

import functools
from typing import Any

from lightkube.core.resource_registry import resource_registry
from lightkube.generic_resource import create_global_resource, create_namespaced_resource

from . import kinds
from .kinds import Kind


@functools.cache
def resource(kind: Kind) -> Any:
    """Built-in kinds load lightkube's models; others (our CRDs, prometheus-operator's) become generic."""
    known = resource_registry.get(kind.api_version, kind.kind)
    if known is not None:
        return known
    if kind.group and "." in kind.group and not kind.group.endswith(".k8s.io"):
        create = create_namespaced_resource if kind.namespaced else create_global_resource
        return create(kind.group, kind.version, kind.kind, kind.plural)
    return resource_registry.load(kind.api_version, kind.kind)


# For tests and tools that use lightkube directly.
VideoJobResource = resource(kinds.VIDEOJOB)
OmaStackResource = resource(kinds.OMASTACK)
ServiceMonitor = resource(kinds.SERVICE_MONITOR)
PodMonitor = resource(kinds.POD_MONITOR)
PrometheusRule = resource(kinds.PROMETHEUS_RULE)
