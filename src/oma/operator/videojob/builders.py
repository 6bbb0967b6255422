"""Pure builders: a VideoJob and the worker defaults in, manifests out. No I/O, no clock, no randomness."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field, replace
from typing import Any

from oma.models import videojob
from oma.models.exitcodes import PERMANENT
from oma.models.omastack import WorkerDefaultsSpec
from oma.models.videojob import MIN_CHUNK_SECONDS, VideoJob

from ..common.labels import LABEL_MANAGED_BY, LABEL_VIDEOJOB, MANAGER, child_name, controller_reference, managed_labels
from ..common.podsecurity import restricted_container, restricted_pod
from ..common.resources import merge_resources

WORKER_SERVICE_ACCOUNT = "oma-worker"
WORKER_CONTAINER = "worker"
WORKER_UID = 65532
PVC_ROOT = "/mnt/pvc"
SCRATCH = "/tmp"

WORKER_EGRESS_POLICY = "oma-worker-egress"
# Ranges a worker may not reach unless a namespace allows them by name (video.oma.ai/worker-egress-allow-cidrs):
# "this" network, private (RFC 1918, ULA), carrier-grade NAT, loopback, link-local (cloud metadata lives at
# 169.254.169.254 and fd00:ec2::254), benchmarking, multicast and reserved; NAT64 too, since it reaches IPv4
# addresses through another door. (IPv4-mapped IPv6 is refused by the apiserver in an ipBlock, and never leaves a
# host as such.) The worker's own URL check refuses the same ranges.
DENIED_V4 = (
    "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12", "192.0.0.0/24",
    "192.168.0.0/16", "198.18.0.0/15", "224.0.0.0/4", "240.0.0.0/4",
)  # fmt: skip
DENIED_V6 = ("::1/128", "64:ff9b::/96", "fc00::/7", "fe80::/10", "ff00::/8")

# Split-and-stitch (issue 14): a VideoJob with parallelism > 1 runs as these Jobs in turn. `encode` is today's
# single Job (also what a plan that finds nothing to split leads to); a later step's Job supersedes an earlier one.
LABEL_STEP = "video.oma.ai/step"
STEP_RANK = {"plan": 0, "encode": 1, "chunks": 1, "stitch": 2}

__all__ = [
    "LABEL_MANAGED_BY",
    "LABEL_STEP",
    "LABEL_VIDEOJOB",
    "MANAGER",
    "STEP_RANK",
    "WorkerDefaults",
    "build_chunks_job",
    "build_job",
    "build_plan_job",
    "build_stitch_job",
    "build_worker_network_policy",
    "build_worker_rbac",
]


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
    # Finished Jobs (and their pods) go after a day unless the VideoJob says otherwise; the VideoJob stays.
    ttl_seconds_after_finished: int | None = 86400
    # For media servers on private networks (on-prem); off by default because it opens SSRF to the cluster.
    allow_private_inputs: bool = False
    # Networks the namespace allows by name (an annotation): the egress policy and the worker's URL check agree.
    allowed_cidrs: tuple[str, ...] = ()
    # The shortest chunk the plan step cuts (spec.parallelism); shorter sources get fewer chunks.
    min_chunk_seconds: float = MIN_CHUNK_SECONDS


def worker_defaults(base: WorkerDefaults, stack: WorkerDefaultsSpec | None) -> WorkerDefaults:
    """The operator's worker defaults with a stack's on top (a VideoJob's own resources go on top of these)."""
    if stack is None:
        return base
    merged = merge_resources(base.requests, base.limits, stack.resources.as_dict() if stack.resources else None)
    return replace(base, image=stack.image or base.image, requests=merged["requests"], limits=merged["limits"])


def job_name(vj: VideoJob, step: str = "encode") -> str:
    """The Job of one step: `<name>-vj` for the single encode (as before issue 14), `<name>-<step>` otherwise."""
    return child_name(vj.metadata.name, "vj" if step == "encode" else step)


def worker_selector() -> dict[str, str]:
    """The labels every worker pod carries, whoever's VideoJob it runs (a stack's too)."""
    return {"app.kubernetes.io/name": "oma-worker", **managed_labels()}


def job_labels(vj: VideoJob) -> dict[str, str]:
    return {**worker_selector(), LABEL_VIDEOJOB: vj.metadata.name}


def owner_reference(vj: VideoJob) -> dict[str, Any]:
    return controller_reference(videojob.KIND, vj.metadata.name, vj.metadata.uid)


def _claims(vj: VideoJob) -> list[str]:
    claims = [vj.spec.destination.claim_name]
    claims += [i.pvc.claim_name for i in vj.spec.inputs if i.pvc]
    return list(dict.fromkeys(claims))


def _resources(vj: VideoJob, defaults: WorkerDefaults) -> dict[str, Any]:
    own = vj.spec.resources
    out = merge_resources(defaults.requests, defaults.limits, own.as_dict() if own else None)
    # The scratch emptyDir may fill to its sizeLimit: ask the scheduler for that disk, or a full node evicts the
    # pod mid-encode. No limit: sizeLimit already bounds the volume.
    out["requests"].setdefault("ephemeral-storage", defaults.scratch_size)
    return out


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
            # status is optional since Kubernetes 1.26 but required by the OpenAPI schema of earlier minors that
            # strict validators (kubeconform) still use.
            {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}]},
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


def worker_pod_spec(
    vj: VideoJob, defaults: WorkerDefaults, step: str = "encode", env: tuple[tuple[str, str], ...] = ()
) -> dict[str, Any]:
    volumes, mounts = _volumes(vj, defaults)
    args = ["--allow-private-inputs"] if defaults.allow_private_inputs else []
    if step != "encode":
        args += ["--step", "chunk" if step == "chunks" else step]
    container = {
        "name": WORKER_CONTAINER,
        "image": defaults.image,
        "imagePullPolicy": defaults.image_pull_policy,
        "command": ["oma", "worker"],
        "args": args,
        "env": [
            {"name": "OMA_VIDEOJOB_NAME", "value": vj.metadata.name},
            {"name": "OMA_VIDEOJOB_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
            {"name": "OMA_PVC_ROOT", "value": PVC_ROOT},
            {"name": "TMPDIR", "value": SCRATCH},
            *(
                [{"name": "OMA_ALLOWED_CIDRS", "value": ",".join(defaults.allowed_cidrs)}]
                if defaults.allowed_cidrs
                else []
            ),
            *({"name": k, "value": v} for k, v in env),
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


def _step_job(
    vj: VideoJob, defaults: WorkerDefaults, step: str, env: tuple[tuple[str, str], ...] = ()
) -> dict[str, Any]:
    labels = job_labels(vj)
    if step != "encode":
        labels[LABEL_STEP] = step
    spec: dict[str, Any] = {
        "backoffLimit": vj.spec.retries.limit,
        "podFailurePolicy": pod_failure_policy(),
        "suspend": vj.spec.suspend,
        "template": {"metadata": {"labels": labels}, "spec": worker_pod_spec(vj, defaults, step, env)},
    }
    if vj.spec.timeouts.running_seconds:
        spec["activeDeadlineSeconds"] = vj.spec.timeouts.running_seconds
    ttl = vj.spec.ttl_seconds_after_finished
    ttl = defaults.ttl_seconds_after_finished if ttl is None else ttl
    if ttl is not None:
        spec["ttlSecondsAfterFinished"] = ttl
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": job_name(vj, step),
            "namespace": vj.metadata.namespace,
            "labels": labels,
            "ownerReferences": [owner_reference(vj)],
        },
        "spec": spec,
    }


def build_job(vj: VideoJob, defaults: WorkerDefaults) -> dict[str, Any]:
    """The batch/v1 Job that runs the worker for `vj`; same input, same output."""
    return _step_job(vj, defaults, "encode")


def build_plan_job(vj: VideoJob, defaults: WorkerDefaults, parallelism: int) -> dict[str, Any]:
    """The short Job that probes the source and records where to cut it in status.split."""
    env = (("OMA_PARALLELISM", str(parallelism)), ("OMA_MIN_CHUNK_SECONDS", f"{defaults.min_chunk_seconds:g}"))
    return _step_job(vj, defaults, "plan", env)


def build_chunks_job(vj: VideoJob, defaults: WorkerDefaults, chunks: int) -> dict[str, Any]:
    """An Indexed Job: pod i encodes chunk i for every rendition. A failed chunk is retried alone (up to
    retries.limit times); a permanent exit code, or a chunk out of retries, fails the whole Job at once."""
    job = _step_job(vj, defaults, "chunks")
    spec = job["spec"]
    del spec["backoffLimit"]  # with backoffLimitPerIndex the per-index limit is the one that counts
    spec.update(
        completionMode="Indexed",
        completions=chunks,
        parallelism=chunks,
        backoffLimitPerIndex=vj.spec.retries.limit,
        maxFailedIndexes=0,
    )
    return job


def build_stitch_job(vj: VideoJob, defaults: WorkerDefaults) -> dict[str, Any]:
    """The Job that joins the chunks, adds the audio, verifies and publishes the outputs."""
    return _step_job(vj, defaults, "stitch")


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


def allowed_networks(annotation: str | None) -> tuple[tuple[str, ...], list[str]]:
    """The networks a namespace's annotation names (comma-separated CIDRs), normalised, and what did not parse."""
    good: list[str] = []
    bad: list[str] = []
    for item in (annotation or "").split(","):
        if not (item := item.strip()):
            continue
        try:
            network = ipaddress.ip_network(item, strict=False)
        except ValueError:
            bad.append(item)
            continue
        if isinstance(network, ipaddress.IPv6Network) and network.network_address.ipv4_mapped is not None:
            bad.append(item)  # the apiserver refuses IPv4-mapped IPv6 in an ipBlock; name the IPv4 network
            continue
        good.append(str(network))
    return tuple(sorted(set(good))), bad


def _blocks(cidrs: list[str] | tuple[str, ...]) -> list[dict[str, Any]]:
    return [{"ipBlock": {"cidr": c}} for c in cidrs]


def build_worker_network_policy(
    namespace: str, apiserver: tuple[list[str], list[int]], allowed_cidrs: tuple[str, ...] = ()
) -> dict[str, Any]:
    """Egress of every worker pod in `namespace`: DNS, the apiserver, public addresses, and the named networks.

    `apiserver` is (CIDRs, ports) of the Kubernetes API as the operator found it; with no CIDRs, its ports are
    allowed to any address (weaker: private services on those ports become reachable), so say so in a log.
    The default-deny of everything else is what stops DNS rebinding between the worker's check and ffmpeg.
    """
    cidrs, ports = apiserver
    api_rule: dict[str, Any] = {"ports": [{"protocol": "TCP", "port": p} for p in ports]}
    if cidrs:
        api_rule["to"] = _blocks(cidrs)
    egress: list[dict[str, Any]] = [
        {
            # CoreDNS and kube-dns both carry k8s-app=kube-dns; NodeLocal DNSCache users allow 169.254.20.10/32.
            "to": [
                {
                    "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
                    "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
                }
            ],
            "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
        },
        api_rule,
        {
            "to": [
                {"ipBlock": {"cidr": "0.0.0.0/0", "except": list(DENIED_V4)}},
                {"ipBlock": {"cidr": "::/0", "except": list(DENIED_V6)}},
            ]
        },
    ]
    if allowed_cidrs:
        egress.append({"to": _blocks(allowed_cidrs)})
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": WORKER_EGRESS_POLICY, "namespace": namespace, "labels": managed_labels()},
        "spec": {"podSelector": {"matchLabels": worker_selector()}, "policyTypes": ["Egress"], "egress": egress},
    }
