"""The shapes Redis and Postgres share: a headless Service, a StatefulSet with its claim, an exporter."""

from __future__ import annotations

from typing import Any

from oma.models.omastack import OmaStack

from ...common.podsecurity import restricted_container
from ...common.resources import claim_spec
from .common import Manifest, child_meta, labels, selector


def headless_service(stack: OmaStack, name: str, component: str, app: str, port: int, port_name: str) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": child_meta(stack, name, component, app),
        "spec": {
            "clusterIP": "None",
            "selector": selector(stack, component),
            # Clients connect through this name before readiness matters to them (StatefulSet DNS).
            "publishNotReadyAddresses": False,
            "ports": [{"name": port_name, "port": port, "targetPort": port_name, "protocol": "TCP"}],
        },
    }


def claim_template(size: str, storage_class: str | None) -> dict[str, Any]:
    spec = claim_spec(size, storage_class)
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "data"}, "spec": spec}


def statefulset(
    stack: OmaStack,
    name: str,
    component: str,
    app: str,
    pod_spec: dict[str, Any],
    claim: dict[str, Any] | None,
    annotations: dict[str, str],
) -> Manifest:
    spec: dict[str, Any] = {
        "serviceName": name,
        "replicas": 1,
        "selector": {"matchLabels": selector(stack, component)},
        "podManagementPolicy": "OrderedReady",
        "updateStrategy": {"type": "RollingUpdate"},
        "template": {
            "metadata": {"labels": labels(stack, component, app), "annotations": annotations},
            "spec": pod_spec,
        },
    }
    if claim is not None:
        spec["volumeClaimTemplates"] = [claim]
        policy = stack.spec.volumes_on_delete
        spec["persistentVolumeClaimRetentionPolicy"] = {"whenDeleted": policy, "whenScaled": "Retain"}
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": child_meta(stack, name, component, app),
        "spec": spec,
    }


def exporter(image: str, port: int, env: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "name": "exporter",
        "image": image,
        "env": env,
        "ports": [{"name": "metrics", "containerPort": port, "protocol": "TCP"}],
        "resources": {"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"memory": "128Mi"}},
        "securityContext": restricted_container(),
    }
