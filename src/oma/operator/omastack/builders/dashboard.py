"""The dashboard: Deployment, Service, HorizontalPodAutoscaler and PodDisruptionBudget."""

from __future__ import annotations

from typing import Any

from oma.models.omastack import OmaStack

from ...common.podsecurity import restricted_container
from .common import (
    ANNOTATION_ROTATION,
    APP_UID,
    DASHBOARD_PORT,
    POSTGRES_PORT,
    REDIS_PORT,
    Manifest,
    Names,
    child_meta,
    labels,
    pod_security,
    secret_env,
    selector,
)


def dashboard_env(stack: OmaStack) -> list[dict[str, Any]]:
    """Where the dashboard finds Redis, Postgres (credentials from the Secret) and its stack."""
    n, ns = Names(stack.metadata.name), stack.metadata.namespace
    return [
        {"name": "OMA_REDIS_URL", "value": f"redis://{n.redis}.{ns}.svc:{REDIS_PORT}/0"},
        {"name": "OMA_POSTGRES_HOST", "value": f"{n.postgres}.{ns}.svc"},
        {"name": "OMA_POSTGRES_PORT", "value": str(POSTGRES_PORT)},
        secret_env(stack, "OMA_POSTGRES_DB", "database"),
        secret_env(stack, "OMA_POSTGRES_USER", "username"),
        secret_env(stack, "OMA_POSTGRES_PASSWORD", "password"),
        {"name": "OMA_STACK", "value": stack.metadata.name},
        {"name": "OMA_NAMESPACE", "value": ns},
    ]


def build_dashboard_deployment(stack: OmaStack) -> Manifest:
    n, spec = Names(stack.metadata.name), stack.spec.dashboard
    container = {
        "name": "dashboard",
        "image": spec.image,
        "env": dashboard_env(stack),
        "ports": [{"name": "http", "containerPort": DASHBOARD_PORT, "protocol": "TCP"}],
        "readinessProbe": {"httpGet": {"path": "/healthz", "port": "http"}, "periodSeconds": 5},
        "livenessProbe": {"httpGet": {"path": "/healthz", "port": "http"}, "periodSeconds": 10, "failureThreshold": 6},
        "resources": spec.resources.as_dict(),
        "securityContext": restricted_container(),
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
    }
    deploy_spec: dict[str, Any] = {
        "selector": {"matchLabels": selector(stack, "dashboard")},
        "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
        "template": {
            "metadata": {
                "labels": labels(stack, "dashboard", "oma-dashboard"),
                # A rotated password reaches the dashboard's environment only through a new pod.
                "annotations": {ANNOTATION_ROTATION: stack.spec.postgres.credentials_rotation or ""},
            },
            "spec": {
                "enableServiceLinks": False,
                "automountServiceAccountToken": False,
                "securityContext": pod_security(APP_UID),
                "containers": [container],
                "volumes": [{"name": "tmp", "emptyDir": {}}],
            },
        },
    }
    if not spec.autoscaling.enabled:
        # With an HPA, replicas belong to the HPA: applying them here would fight it on every reconcile.
        deploy_spec["replicas"] = spec.replicas
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": child_meta(stack, n.dashboard, "dashboard", "oma-dashboard"),
        "spec": deploy_spec,
    }


def build_dashboard_service(stack: OmaStack) -> Manifest:
    n, svc = Names(stack.metadata.name), stack.spec.dashboard.service
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": child_meta(stack, n.dashboard, "dashboard", "oma-dashboard"),
        "spec": {
            "type": svc.type,
            "selector": selector(stack, "dashboard"),
            "ports": [{"name": "http", "port": svc.port, "targetPort": "http", "protocol": "TCP"}],
        },
    }


def build_dashboard_hpa(stack: OmaStack) -> Manifest | None:
    n, auto = Names(stack.metadata.name), stack.spec.dashboard.autoscaling
    if not auto.enabled:
        return None
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": child_meta(stack, n.dashboard, "dashboard", "oma-dashboard"),
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": n.dashboard},
            "minReplicas": auto.min_replicas,
            "maxReplicas": auto.max_replicas,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {"type": "Utilization", "averageUtilization": auto.target_cpu_utilization_percentage},
                    },
                }
            ],
        },
    }


def build_dashboard_pdb(stack: OmaStack) -> Manifest:
    """Drains take dashboard pods one at a time. Redis and Postgres get none: with one replica a PDB either
    blocks every drain or does nothing (docs/decisions.md)."""
    n = Names(stack.metadata.name)
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": child_meta(stack, n.dashboard, "dashboard", "oma-dashboard"),
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": selector(stack, "dashboard")}},
    }
