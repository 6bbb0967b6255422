"""Pure builders: a VideoJob and the worker defaults in, manifests out. No I/O, no clock, no randomness."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from oma.models import videojob
from oma.models.exitcodes import PERMANENT
from oma.models.omastack import WorkerDefaultsSpec
from oma.models.videojob import VideoJob

from ..common.labels import LABEL_MANAGED_BY, LABEL_VIDEOJOB, MANAGER, child_name, controller_reference, managed_labels
from ..common.podsecurity import restricted_container, restricted_pod
from ..common.resources import merge_resources

WORKER_SERVICE_ACCOUNT = "oma-worker"
WORKER_CONTAINER = "worker"
WORKER_UID = 65532
PVC_ROOT = "/mnt/pvc"
SCRATCH = "/tmp"

__all__ = ["LABEL_MANAGED_BY", "LABEL_VIDEOJOB", "MANAGER", "WorkerDefaults", "build_job", "build_worker_rbac"]


@dataclass(frozen=True)
class WorkerDefaults:
    """Operator-wide defaults for worker pods (an OmaStack's workerDefaults override them)."""

    image: str = "ghcr.io/oma-video/oma-worker:0.1.0"
    image_pull_policy: str = "IfNotPresent"
    requests: dict[str, str] = field(default_factory=lambda: {"cpu": "1", "memory": "1Gi"})
    limits: dict[str, str] = field(default_factory=lambda: {"memory": "4Gi"})
    node_selector: dict[str, str] = field(default_factory=dict)
    tolerations: list[dict[str, Any]] = field(default_factory=list)
    scratch_size: str = "20Gi"
    # For media servers on private networks (on-prem); off by default because it opens SSRF to the cluster.
    allow_private_inputs: bool = False


def worker_defaults(base: WorkerDefaults, stack: WorkerDefaultsSpec | None) -> WorkerDefaults:
    """The operator's worker defaults with a stack's on top (a VideoJob's own resources go on top of these)."""
    if stack is None:
        return base
    merged = merge_resources(base.requests, base.limits, stack.resources.as_dict() if stack.resources else None)
    return replace(base, image=stack.image or base.image, requests=merged["requests"], limits=merged["limits"])


def job_name(vj: VideoJob) -> str:
    return child_name(vj.metadata.name, "vj")


def job_labels(vj: VideoJob) -> dict[str, str]:
    return {"app.kubernetes.io/name": "oma-worker", **managed_labels(), LABEL_VIDEOJOB: vj.metadata.name}


def owner_reference(vj: VideoJob) -> dict[str, Any]:
    return controller_reference(videojob.KIND, vj.metadata.name, vj.metadata.uid)


def _claims(vj: VideoJob) -> list[str]:
    claims = [vj.spec.destination.claim_name]
    claims += [i.pvc.claim_name for i in vj.spec.inputs if i.pvc]
    return list(dict.fromkeys(claims))


def _resources(vj: VideoJob, defaults: WorkerDefaults) -> dict[str, Any]:
    own = vj.spec.resources
    return merge_resources(defaults.requests, defaults.limits, own.as_dict() if own else None)


def pod_failure_policy() -> dict[str, Any]:
    """Permanent worker exit codes fail the Job at once; node disruptions do not count as attempts."""
    return {
        "rules": [
            {
                "action": "FailJob",
                "onExitCodes": {
                    "containerName": WORKER_CONTAINER,
                    "operator": "In",
                    "values": sorted(int(c) for c in PERMANENT),
                },
            },
            {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]},
        ]
    }


def _volumes(vj: VideoJob, defaults: WorkerDefaults) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Scratch space and every PVC the job reads or writes, each mounted at PVC_ROOT/<claim>."""
    volumes: list[dict[str, Any]] = [{"name": "scratch", "emptyDir": {"sizeLimit": defaults.scratch_size}}]
    mounts: list[dict[str, Any]] = [{"name": "scratch", "mountPath": SCRATCH}]
    for i, claim in enumerate(_claims(vj)):
        volumes.append({"name": f"pvc-{i}", "persistentVolumeClaim": {"claimName": claim}})
        mounts.append({"name": f"pvc-{i}", "mountPath": f"{PVC_ROOT}/{claim}"})
    return volumes, mounts


def worker_pod_spec(vj: VideoJob, defaults: WorkerDefaults) -> dict[str, Any]:
    volumes, mounts = _volumes(vj, defaults)
    container = {
        "name": WORKER_CONTAINER,
        "image": defaults.image,
        "imagePullPolicy": defaults.image_pull_policy,
        "command": ["oma", "worker"],
        "args": ["--allow-private-inputs"] if defaults.allow_private_inputs else [],
        "env": [
            {"name": "OMA_VIDEOJOB_NAME", "value": vj.metadata.name},
            {"name": "OMA_VIDEOJOB_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
            {"name": "OMA_PVC_ROOT", "value": PVC_ROOT},
            {"name": "TMPDIR", "value": SCRATCH},
        ],
        "resources": _resources(vj, defaults),
        "volumeMounts": mounts,
        "terminationMessagePolicy": "FallbackToLogsOnError",
        "securityContext": restricted_container(),
    }
    pod_spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "serviceAccountName": WORKER_SERVICE_ACCOUNT,
        "securityContext": restricted_pod(WORKER_UID),
        "containers": [container],
        "volumes": volumes,
    }
    if defaults.node_selector:
        pod_spec["nodeSelector"] = dict(defaults.node_selector)
    if defaults.tolerations:
        pod_spec["tolerations"] = [dict(t) for t in defaults.tolerations]
    return pod_spec


def build_job(vj: VideoJob, defaults: WorkerDefaults) -> dict[str, Any]:
    """The batch/v1 Job that runs the worker for `vj`; same input, same output."""
    labels = job_labels(vj)
    spec: dict[str, Any] = {
        "backoffLimit": vj.spec.retries.limit,
        "podFailurePolicy": pod_failure_policy(),
        "suspend": vj.spec.suspend,
        "template": {"metadata": {"labels": labels}, "spec": worker_pod_spec(vj, defaults)},
    }
    if vj.spec.timeouts.running_seconds:
        spec["activeDeadlineSeconds"] = vj.spec.timeouts.running_seconds
    if vj.spec.ttl_seconds_after_finished is not None:
        spec["ttlSecondsAfterFinished"] = vj.spec.ttl_seconds_after_finished
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": job_name(vj),
            "namespace": vj.metadata.namespace,
            "labels": labels,
            "ownerReferences": [owner_reference(vj)],
        },
        "spec": spec,
    }


def build_worker_rbac(namespace: str) -> list[dict[str, Any]]:
    """The worker's identity in a namespace: read its VideoJob, write its status. Nothing else."""
    meta = {"name": WORKER_SERVICE_ACCOUNT, "namespace": namespace, "labels": managed_labels()}
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta},
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": meta,
            "rules": [
                {"apiGroups": [videojob.GROUP], "resources": [videojob.PLURAL], "verbs": ["get"]},
                {"apiGroups": [videojob.GROUP], "resources": [f"{videojob.PLURAL}/status"], "verbs": ["patch"]},
            ],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": meta,
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": WORKER_SERVICE_ACCOUNT},
            "subjects": [{"kind": "ServiceAccount", "name": WORKER_SERVICE_ACCOUNT, "namespace": namespace}],
        },
    ]
