"""Helpers shared by the tests, bench/ and the demo: install oma's CRDs, and objects they all create.

Not used by the cluster itself; they live here so that a test, a benchmark and `make demo` set a cluster up
the same way.
"""

from __future__ import annotations

import time
from typing import Any

from lightkube import ApiError, Client, KubeConfig
from lightkube.codecs import from_dict
from lightkube.resources.apiextensions_v1 import CustomResourceDefinition
from lightkube.resources.core_v1 import Namespace

from oma.devservices import wait_for
from oma.models import crd

from .errors import ClusterError


def install_crds(kubeconfig: str, timeout: float = 60) -> None:
    """Server-side apply oma's generated CRDs and wait until the apiserver serves them (Established)."""
    client = Client(KubeConfig.from_file(kubeconfig), field_manager="oma-devcluster")
    names = []
    for manifest in crd.all_crds().values():
        client.apply(from_dict(manifest), force=True)
        names.append(manifest["metadata"]["name"])
    deadline = time.monotonic() + timeout
    for name in names:
        while not _established(client, name):
            if time.monotonic() > deadline:
                raise ClusterError(f"CRD {name} was not Established within {timeout:.0f}s")
            time.sleep(0.1)


def _established(client: Client, name: str) -> bool:
    status = client.get(CustomResourceDefinition, name).status
    return any(c.type == "Established" and c.status == "True" for c in (status.conditions if status else None) or [])


def delete_namespaces(client: Client, *names: str) -> None:
    """Start deleting these namespaces (ones already gone are fine); the controller manager does the rest."""
    for name in names:
        try:
            client.delete(Namespace, name)
        except ApiError as e:
            if e.status.code != 404:
                raise


def quiet_namespaces(client: Client, *delete: str, timeout: float = 600) -> None:
    """Delete these namespaces, then wait until none is left terminating, theirs or an earlier run's.

    The controller manager removes a namespace's objects in the background; for a bench's thousands of them
    that takes a while, and measured as part of whatever ran next (the next phase, the next run)."""
    delete_namespaces(client, *delete)

    def terminating() -> list[str]:
        return [str(n.metadata and n.metadata.name) for n in client.list(Namespace) if _terminating(n)]

    try:
        wait_for("namespaces to finish terminating", lambda: not terminating(), timeout, 0.5)
    except TimeoutError as e:
        raise ClusterError(f"{e}: still {', '.join(terminating())}") from e


def _terminating(ns: Namespace) -> bool:
    return ns.status is not None and ns.status.phase == "Terminating"


def claim(name: str, size: str = "1Gi") -> dict[str, Any]:
    """A PersistentVolumeClaim for the default StorageClass (a directory under the state dir)."""
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": name},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": size}}},
    }
