"""The objects a fresh cluster needs before anything runs on it: its two nodes and the default StorageClass.

`kwok-node-0` is simulated by kwok (pods there "run" without running); `oma-local` is tainted so that only
pods that ask for it land there, and the node runner (node.py) runs those as local processes.
"""

from __future__ import annotations

from typing import Any

from lightkube import Client, KubeConfig
from lightkube.codecs import from_dict
from lightkube.core.exceptions import ApiError
from lightkube.resources.core_v1 import Node, ServiceAccount
from lightkube.types import PatchType

from .layout import FAKE_NODE, PROCESS_NODE, PROCESS_TAINT_KEY, PROVISIONER, STORAGE_CLASS, ClusterInfo, Layout
from .processes import wait_until


def node_resources(pods: str) -> dict[str, str]:
    # ephemeral-storage: worker Jobs request their scratch space, and a node without it fits no such pod.
    return {"cpu": "32", "memory": "256Gi", "ephemeral-storage": "2Ti", "pods": pods}


def node_manifest(name: str, process_backed: bool) -> dict[str, Any]:
    # The simulated node holds bursts of a thousand pods (bench/); the process-backed one is bounded by CPU.
    pods = "250" if process_backed else "2000"
    labels = {
        "kubernetes.io/hostname": name,
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        "type": "kwok",
    }
    spec: dict[str, Any] = {}
    if process_backed:
        labels[PROCESS_TAINT_KEY] = "true"
        # Only pods that ask for it (toleration + nodeSelector) run as real processes.
        spec["taints"] = [{"key": PROCESS_TAINT_KEY, "value": "true", "effect": "NoSchedule"}]
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": labels,
            "annotations": {"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
        },
        "spec": spec,
        "status": {
            "allocatable": node_resources(pods),
            "capacity": node_resources(pods),
        },
    }


def storage_class() -> dict[str, Any]:
    return {
        "apiVersion": "storage.k8s.io/v1",
        "kind": "StorageClass",
        "metadata": {"name": STORAGE_CLASS, "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
        "provisioner": PROVISIONER,
        "reclaimPolicy": "Delete",
        "volumeBindingMode": "Immediate",
    }


def create_bootstrap_objects(info: ClusterInfo, fake_nodes: bool = True) -> None:
    """Nodes (unless the real node registers itself) and the default StorageClass, with the sync client."""
    client = Client(KubeConfig.from_file(info.kubeconfig), field_manager="oma-devcluster")
    nodes = [node_manifest(FAKE_NODE, False), node_manifest(PROCESS_NODE, True)] if fake_nodes else []
    for obj in (*nodes, storage_class()):
        try:
            client.create(from_dict(obj))
        except ApiError as e:
            if e.status.code != 409:
                raise
            if obj["kind"] == "Node":  # a cluster started by an older version: give it today's resources
                client.patch(
                    Node.Status, obj["metadata"]["name"], {"status": obj["status"]}, patch_type=PatchType.MERGE
                )


def wait_bootstrap_ready(info: ClusterInfo, layout: Layout, timeout: float, fake_nodes: bool = True) -> None:
    """Both nodes Ready (kwok heartbeats them) and the default ServiceAccount made (the controller-manager runs)."""
    client = Client(KubeConfig.from_file(info.kubeconfig))

    def nodes_ready() -> bool:
        for name in (FAKE_NODE, PROCESS_NODE):
            node = client.get(Node, name)
            conds = {c.type: c.status for c in (node.status.conditions or [])} if node.status else {}
            if conds.get("Ready") != "True":
                return False
        return True

    def default_sa() -> bool:
        try:
            client.get(ServiceAccount, "default", namespace="default")
        except ApiError:
            return False
        return True

    if fake_nodes:
        wait_until("the kwok nodes to become Ready", nodes_ready, layout, "kwok", timeout)
    wait_until(
        "the default ServiceAccount (controller-manager)", default_sa, layout, "kube-controller-manager", timeout
    )
