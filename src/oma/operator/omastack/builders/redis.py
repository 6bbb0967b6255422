"""Redis: its config, headless Service and StatefulSet (with the exporter sidecar when monitoring is on)."""

from __future__ import annotations

from typing import Any

from oma.models.omastack import OmaStack

from ...common.podsecurity import restricted_container
from .common import DATA_UID, REDIS_EXPORTER_PORT, REDIS_PORT, Manifest, Names, child_meta, digest, pod_security
from .workloads import claim_template, exporter, headless_service, statefulset


def redis_conf() -> str:
    # AOF for durability between RDB snapshots; protected-mode off because the NetworkPolicy is the boundary.
    lines = [
        "bind 0.0.0.0",
        f"port {REDIS_PORT}",
        "protected-mode no",
        "dir /data",
        "appendonly yes",
        "appendfsync everysec",
        "save 900 1 300 10 60 10000",
    ]
    return "\n".join(lines) + "\n"


def build_redis_config(stack: OmaStack) -> Manifest:
    n = Names(stack.metadata.name)
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": child_meta(stack, n.redis_config, "redis", "redis"),
        "data": {"redis.conf": redis_conf()},
    }


def build_redis_service(stack: OmaStack) -> Manifest:
    return headless_service(stack, Names(stack.metadata.name).redis, "redis", "redis", REDIS_PORT, "redis")


def build_redis_statefulset(stack: OmaStack) -> Manifest:
    n, spec = Names(stack.metadata.name), stack.spec.redis
    persistent = spec.persistence.enabled
    volumes: list[dict[str, Any]] = [
        {"name": "config", "configMap": {"name": n.redis_config}},
        {"name": "tmp", "emptyDir": {}},
    ]
    if not persistent:
        volumes.append({"name": "data", "emptyDir": {}})
    redis = {
        "name": "redis",
        "image": spec.image,
        "command": ["redis-server", "/etc/redis/redis.conf"],
        "ports": [{"name": "redis", "containerPort": REDIS_PORT, "protocol": "TCP"}],
        "readinessProbe": {"exec": {"command": ["redis-cli", "ping"]}, "periodSeconds": 5, "timeoutSeconds": 3},
        "livenessProbe": {"tcpSocket": {"port": "redis"}, "periodSeconds": 10, "failureThreshold": 6},
        "resources": spec.resources.as_dict(),
        "securityContext": restricted_container(),
        "volumeMounts": [
            {"name": "data", "mountPath": "/data"},
            {"name": "config", "mountPath": "/etc/redis", "readOnly": True},
            {"name": "tmp", "mountPath": "/tmp"},
        ],
    }
    containers = [redis]
    if stack.spec.monitoring.enabled:
        env = [{"name": "REDIS_ADDR", "value": f"redis://127.0.0.1:{REDIS_PORT}"}]
        containers.append(exporter(stack.spec.monitoring.redis_exporter_image, REDIS_EXPORTER_PORT, env))
    pod = {
        "enableServiceLinks": False,
        "automountServiceAccountToken": False,
        "securityContext": pod_security(DATA_UID),
        "containers": containers,
        "volumes": volumes,
    }
    claim = claim_template(spec.persistence.size, spec.persistence.storage_class_name) if persistent else None
    # A changed redis.conf must restart Redis: the hash in the template rolls the pod.
    annotations = {"video.oma.ai/config-hash": digest(redis_conf())}
    return statefulset(stack, n.redis, "redis", "redis", pod, claim, annotations)
