"""The control plane's own controllers run: namespaces finish deleting, owners garbage-collect children."""

from __future__ import annotations

import pytest
from lightkube import Client
from lightkube.codecs import from_dict
from lightkube.core.exceptions import ApiError
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import ConfigMap, Namespace

from ..conftest import wait_for

pytestmark = pytest.mark.cluster


def gone(kube: Client, res: type, name: str, namespace: str | None = None) -> bool:
    try:
        kube.get(res, name, namespace=namespace) if namespace else kube.get(res, name)
    except ApiError as e:
        return e.status.code == 404
    return False


def test_deleted_namespace_finishes_deleting(kube: Client) -> None:
    kube.create(Namespace(metadata=ObjectMeta(name="ns-delete-check")))
    kube.create(ConfigMap(metadata=ObjectMeta(name="content"), data={"a": "b"}), namespace="ns-delete-check")
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "j"},
        "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "x:1"}]}}},
    }
    kube.create(from_dict(job), namespace="ns-delete-check")
    kube.delete(Namespace, "ns-delete-check")
    wait_for(
        "namespace ns-delete-check to be gone (namespace controller)",
        lambda: gone(kube, Namespace, "ns-delete-check"),
        timeout=90,
    )


def test_deleting_an_owner_garbage_collects_its_child(kube: Client, namespace: str) -> None:
    owner = kube.create(ConfigMap(metadata=ObjectMeta(name="owner")), namespace=namespace)
    ref = {"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": owner.metadata.uid}
    kube.create(
        from_dict({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "child", "ownerReferences": [ref]}}),
        namespace=namespace,
    )
    kube.delete(ConfigMap, "owner", namespace=namespace)
    wait_for("child ConfigMap to be garbage-collected", lambda: gone(kube, ConfigMap, "child", namespace), timeout=60)
