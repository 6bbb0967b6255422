"""Helpers shared by the tests, bench/ and the demo: install oma's CRDs, and objects they all create.

Not used by the cluster itself; they live here so that a test, a benchmark and `make demo` set a cluster up
the same way.
"""

from __future__ import annotations

import time
from typing import Any

from lightkube import Client, KubeConfig
from lightkube.codecs import from_dict
from lightkube.resources.apiextensions_v1 import CustomResourceDefinition

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


def claim(name: str, size: str = "1Gi") -> dict[str, Any]:
    """A PersistentVolumeClaim for the default StorageClass (a directory under the state dir)."""
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": name},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": size}}},
    }
