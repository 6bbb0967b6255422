"""The dashboard: Deployment, Service, HorizontalPodAutoscaler, PodDisruptionBudget, its ServiceAccount with a
Role that allows only what it does with VideoJobs, and an optional Ingress."""

from __future__ import annotations

import json
from typing import Any

from oma.models.omastack import OmaStack
from oma.models.videojob import GROUP, PLURAL

from ...common.podsecurity import restricted_container
from ...videojob.builders import WorkerDefaults
from .common import (
    ANNOTATION_ROTATION,
    APP_UID,
    DASHBOARD_PORT,
    PASSWORD_FILE,
    POSTGRES_PORT,
    REDIS_PORT,
    Manifest,
    Names,
    child_meta,
    labels,
    password_file,
    pod_security,
    secret_env,
    selector,
)

MEDIA_MOUNT = "/media"
PRESETS_MOUNT = "/etc/oma-dashboard"
# Exactly what the dashboard does with VideoJobs: submit (create), read and follow (get, list, watch), cancel
# (patch). Nothing else: no Secrets, no other kinds, no other namespace.
DASHBOARD_VERBS = ["create", "get", "list", "watch", "patch"]
# What a worker without a CPU request of its own (or the stack's) gets: the basis of its cost.
WORKER_CPU_REQUEST = WorkerDefaults().requests["cpu"]


def dashboard_env(stack: OmaStack) -> list[dict[str, Any]]:
    """Where the dashboard finds Redis, Postgres (credentials from the Secret) and its stack, and the stack's
    settings for it: media volume, presets, prices and limits."""
    n, ns, spec = Names(stack.metadata.name), stack.metadata.namespace, stack.spec.dashboard
    worker = stack.spec.worker_defaults.resources
    worker_cpu = (worker.requests.cpu if worker and worker.requests else None) or WORKER_CPU_REQUEST
    limits = spec.rate_limits
    settings = {
        "OMA_DESTINATION_CLAIM": spec.media_claim or "media",
        "OMA_MEDIA_ROOT": MEDIA_MOUNT,
        "OMA_SOURCE_CLAIMS": json.dumps(spec.source_claims),
        "OMA_PRICE_PER_CPU_HOUR": str(spec.price_per_cpu_hour),
        "OMA_WORKER_CPU_REQUEST": worker_cpu,
        "OMA_RATE_SUBMIT_PER_MINUTE": str(limits.submit_per_token),
        "OMA_RATE_READ_PER_MINUTE": str(limits.read_per_token),
        "OMA_RATE_IP_SUBMIT_PER_MINUTE": str(limits.submit_per_ip),
        "OMA_RATE_IP_READ_PER_MINUTE": str(limits.read_per_ip),
    }
    if spec.presets_config_map:
        settings["OMA_PRESETS_FILE"] = f"{PRESETS_MOUNT}/presets.yaml"
    if spec.ingress.enabled and spec.ingress.tls:
        settings["OMA_SECURE_COOKIES"] = "true"  # TLS ends at the ingress; the hop to the pod is plain HTTP
    return [
        {"name": "OMA_REDIS_URL", "value": f"redis://{n.redis}.{ns}.svc:{REDIS_PORT}/0"},
        {"name": "OMA_POSTGRES_HOST", "value": f"{n.postgres}.{ns}.svc"},
        {"name": "OMA_POSTGRES_PORT", "value": str(POSTGRES_PORT)},
        secret_env(stack, "OMA_POSTGRES_DB", "database"),
        secret_env(stack, "OMA_POSTGRES_USER", "username"),
        {"name": "OMA_POSTGRES_PASSWORD_FILE", "value": PASSWORD_FILE},
        {"name": "OMA_STACK", "value": stack.metadata.name},
        {"name": "OMA_NAMESPACE", "value": ns},
        *({"name": k, "value": v} for k, v in settings.items()),
    ]


def _volumes(stack: OmaStack) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(volumes, mounts): scratch space, the media PVC read-only (outputs are served, never written) when the
    stack names one, presets."""
    spec = stack.spec.dashboard
    credentials, credentials_mount = password_file(stack)
    volumes: list[dict[str, Any]] = [{"name": "tmp", "emptyDir": {}}, credentials]
    mounts: list[dict[str, Any]] = [{"name": "tmp", "mountPath": "/tmp"}, credentials_mount]
    if spec.media_claim:  # a claim that does not exist would keep every dashboard pod Pending
        volumes.append({"name": "media", "persistentVolumeClaim": {"claimName": spec.media_claim, "readOnly": True}})
        mounts.append({"name": "media", "mountPath": MEDIA_MOUNT, "readOnly": True})
    if spec.presets_config_map:
        volumes.append({"name": "presets", "configMap": {"name": spec.presets_config_map}})
        mounts.append({"name": "presets", "mountPath": PRESETS_MOUNT, "readOnly": True})
    return volumes, mounts


def spread(match: dict[str, str]) -> list[dict[str, Any]]:
    """Replicas on different nodes and zones when the cluster has them; never Pending because it has not (a
    one-node cluster, or nodes without zone labels)."""
    return [
        {
            "maxSkew": 1,
            "topologyKey": key,
            "whenUnsatisfiable": "ScheduleAnyway",
            "labelSelector": {"matchLabels": match},
        }
        for key in ("kubernetes.io/hostname", "topology.kubernetes.io/zone")
    ]


def build_dashboard_deployment(stack: OmaStack) -> Manifest:
    n, spec = Names(stack.metadata.name), stack.spec.dashboard
    volumes, mounts = _volumes(stack)
    container = {
        "name": "dashboard",
        "image": spec.image,
        "env": dashboard_env(stack),
        "ports": [{"name": "http", "containerPort": DASHBOARD_PORT, "protocol": "TCP"}],
        # Ready only with Redis, Postgres and the apiserver reachable; alive whenever the process serves, so an
        # outage of a dependency takes replicas out of the Service without restarting them.
        "readinessProbe": {"httpGet": {"path": "/readyz", "port": "http"}, "periodSeconds": 5},
        "livenessProbe": {"httpGet": {"path": "/healthz", "port": "http"}, "periodSeconds": 10, "failureThreshold": 6},
        "resources": spec.resources.as_dict(),
        "securityContext": restricted_container(),
        "volumeMounts": mounts,
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
                "serviceAccountName": n.dashboard,
                "automountServiceAccountToken": True,  # it creates and watches VideoJobs
                "securityContext": pod_security(APP_UID),
                "containers": [container],
                "volumes": volumes,
                "topologySpreadConstraints": spread(selector(stack, "dashboard")),
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
        "spec": {
            "maxUnavailable": 1,
            # A replica that is not ready (crash-looping, stuck starting) serves nothing: a drain may evict it.
            "unhealthyPodEvictionPolicy": "AlwaysAllow",
            "selector": {"matchLabels": selector(stack, "dashboard")},
        },
    }


def build_dashboard_rbac(stack: OmaStack) -> list[Manifest]:
    """The dashboard's identity: a ServiceAccount, a Role on this namespace's VideoJobs only, and the binding."""
    n = Names(stack.metadata.name)
    meta = child_meta(stack, n.dashboard, "dashboard", "oma-dashboard")
    rbac = "rbac.authorization.k8s.io/v1"
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta, "automountServiceAccountToken": False},
        {
            "apiVersion": rbac,
            "kind": "Role",
            "metadata": meta,
            "rules": [{"apiGroups": [GROUP], "resources": [PLURAL], "verbs": DASHBOARD_VERBS}],
        },
        {
            "apiVersion": rbac,
            "kind": "RoleBinding",
            "metadata": meta,
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": n.dashboard},
            "subjects": [{"kind": "ServiceAccount", "name": n.dashboard, "namespace": stack.metadata.namespace}],
        },
    ]


def build_dashboard_ingress(stack: OmaStack) -> Manifest | None:
    n, spec = Names(stack.metadata.name), stack.spec.dashboard
    ingress = spec.ingress
    if not ingress.enabled:
        return None
    meta = child_meta(stack, n.dashboard, "dashboard", "oma-dashboard")
    if ingress.annotations:
        meta = {**meta, "annotations": dict(ingress.annotations)}
    backend = {"service": {"name": n.dashboard, "port": {"name": "http"}}}
    rule: dict[str, Any] = {"http": {"paths": [{"path": "/", "pathType": "Prefix", "backend": backend}]}}
    if ingress.host:
        rule["host"] = ingress.host
    body: dict[str, Any] = {"rules": [rule]}
    if ingress.class_name:
        body["ingressClassName"] = ingress.class_name
    if ingress.tls:
        body["tls"] = [{"secretName": ingress.tls.secret_name, **({"hosts": [ingress.host]} if ingress.host else {})}]
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": meta, "spec": body}
