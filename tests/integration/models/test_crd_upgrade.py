"""Upgrading the CRDs over objects the v0.1.0 CRDs accepted: they stay readable and parse, the operator's next
status writes pass the stricter metav1.Condition schema, malformed new writes are refused, and the new short name
replaces `stack`."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from lightkube import Client
from lightkube.codecs import from_dict
from lightkube.core.exceptions import ApiError
from lightkube.resources.apiextensions_v1 import CustomResourceDefinition
from lightkube.types import PatchType

from oma.devcluster import cluster as devcluster
from oma.devcluster import fixtures
from oma.k8s.resources import OmaStackResource, VideoJobResource
from oma.models.omastack import OmaStack
from oma.models.videojob import VideoJob
from oma.operator.common.conditions import Cond, merge_conditions

from ..conftest import wait_for

pytestmark = pytest.mark.cluster
OLD = Path(__file__).resolve().parent / "crds-v0.1.0"  # crds/ as released in v0.1.0, before issue 17


@pytest.fixture
def old_crds(cluster: devcluster.ClusterInfo, kube: Client) -> Iterator[None]:
    """The v0.1.0 CRDs for the test's first half; today's again afterwards, whatever happens."""
    try:
        for path in sorted(OLD.glob("*.yaml")):
            crd = yaml.safe_load(path.read_text())
            kube.apply(from_dict(crd), field_manager="oma-devcluster", force=True)
            wait_for(f"{crd['metadata']['name']} Established", lambda n=crd["metadata"]["name"]: established(kube, n))
        yield
    finally:
        fixtures.install_crds(cluster.kubeconfig)


def established(kube: Client, name: str) -> bool:
    conditions = (kube.get(CustomResourceDefinition, name).status or {}).conditions or []  # type: ignore[union-attr]
    return any(c.type == "Established" and c.status == "True" for c in conditions)


def old_style_conditions() -> list[dict[str, Any]]:
    """What the old schema allowed and metav1.Condition does not: an empty reason, no message."""
    return [{"type": "Queued", "status": "True", "reason": "", "lastTransitionTime": "2026-01-01T00:00:00Z"}]


def videojob(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "video.oma.ai/v1alpha1",
        "kind": "VideoJob",
        "metadata": {"name": name},
        "spec": {
            "inputs": [{"pvc": {"claimName": "sources", "path": "in.mp4"}}],
            "outputs": {"mp4": [{"name": "a", "width": 640, "height": 360}]},
            "destination": {"claimName": "media", "pathPrefix": "out"},
        },
    }


def kubectl(cluster: devcluster.ClusterInfo, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    argv = [str(Path(cluster.bin_dir) / "kubectl"), f"--kubeconfig={cluster.kubeconfig}", f"--cache-dir={tmp_path}"]
    return subprocess.run([*argv, *args], capture_output=True, text=True, check=False)


def test_objects_from_v0_1_0_survive_the_crd_upgrade(
    no_session_operators: None,
    old_crds: None,
    kube: Client,
    namespace: str,
    cluster: devcluster.ClusterInfo,
    tmp_path: Path,
) -> None:
    """No operator runs meanwhile: the statuses written here are the only ones (an operator would rewrite them)."""
    kube.create(from_dict({**videojob("old"), "metadata": {"name": "old", "namespace": namespace}}))
    kube.patch(VideoJobResource.Status, "old", {"status": {"phase": "Queued", "conditions": old_style_conditions()}},
               namespace=namespace, patch_type=PatchType.MERGE)  # fmt: skip
    stack = {"apiVersion": "video.oma.ai/v1alpha1", "kind": "OmaStack", "metadata": {"name": "media"}, "spec": {}}
    kube.create(from_dict({**stack, "metadata": {"name": "media", "namespace": namespace}}))
    kube.patch(OmaStackResource.Status, "media", {"status": {"conditions": old_style_conditions()}},
               namespace=namespace, patch_type=PatchType.MERGE)  # fmt: skip
    assert kubectl(cluster, tmp_path, "-n", namespace, "get", "stack", "media").returncode == 0

    fixtures.install_crds(cluster.kubeconfig)

    # Still served and still parsed by the operator's models (a failed parse would mark the job InvalidSpec).
    body = kube.get(VideoJobResource, "old", namespace=namespace).to_dict()
    assert VideoJob.model_validate(body).status is not None
    stack_body = kube.get(OmaStackResource, "media", namespace=namespace).to_dict()
    assert OmaStack.model_validate(stack_body).status is not None
    # A write that leaves the old conditions alone passes (the apiserver ratchets unchanged values).
    kube.patch(VideoJobResource.Status, "old", {"status": {"queuePosition": 2}}, namespace=namespace,
               patch_type=PatchType.MERGE)  # fmt: skip
    # The operator's next conditions replace them, valid under metav1.Condition's rules.
    for resource, name, current in ((VideoJobResource, "old", body), (OmaStackResource, "media", stack_body)):
        merged = merge_conditions(current["status"]["conditions"], [Cond("Queued", True, "", "waiting")],
                                  "2026-01-02T00:00:00Z", 1)  # fmt: skip
        kube.patch(resource.Status, name, {"status": {"conditions": merged}}, namespace=namespace,
                   patch_type=PatchType.MERGE)  # fmt: skip
        stored = kube.get(resource, name, namespace=namespace).to_dict()["status"]["conditions"]
        assert stored[0]["reason"] == "Unspecified" and stored[0]["message"] == "waiting"
    # A malformed new condition is refused with the field that is wrong.
    bad = [{"type": "Queued", "status": "True", "reason": "not a reason", "message": "",
            "lastTransitionTime": "yesterday"}]  # fmt: skip
    with pytest.raises(ApiError) as refused:
        kube.patch(VideoJobResource.Status, "old", {"status": {"conditions": bad}}, namespace=namespace,
                   patch_type=PatchType.MERGE)  # fmt: skip
    assert refused.value.status.code == 422
    assert "reason" in str(refused.value) and "lastTransitionTime" in str(refused.value)

    got = kubectl(cluster, tmp_path, "-n", namespace, "get", "oms", "media", "-o", "name")
    assert got.returncode == 0 and got.stdout.strip() == "omastack.video.oma.ai/media", got.stderr
    gone = kubectl(cluster, tmp_path, "-n", namespace, "get", "stack", "media")
    assert gone.returncode != 0 and "doesn't have a resource type" in gone.stderr
