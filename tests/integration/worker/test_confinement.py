"""Outputs stay in their volume: '..' is refused at admission and by both entry points, symlinks by the worker."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from lightkube import Client
from lightkube.core.exceptions import ApiError

from oma.devcluster.cluster import ClusterInfo
from oma.k8s.resources import VideoJobResource


def videojob(name: str, prefix: str) -> dict[str, Any]:
    return {
        "apiVersion": "video.oma.ai/v1alpha1",
        "kind": "VideoJob",
        "metadata": {"name": name},
        "spec": {
            "inputs": [{"titleCard": {"text": "x", "durationSeconds": 1, "width": 320, "height": 180}}],
            "outputs": {"mp4": [{"name": "a", "width": 320, "height": 180}]},
            "destination": {"claimName": "out", "pathPrefix": prefix},
        },
    }


def oma_run(tmp_path: Path, prefix: str) -> subprocess.CompletedProcess[str]:
    job = tmp_path / "job.yaml"
    job.write_text(yaml.safe_dump(videojob("x", prefix)))
    cmd = [sys.executable, "-m", "oma.cli.main", "run", "-f", str(job), "-o", str(tmp_path / "volume")]
    return subprocess.run(cmd, capture_output=True, text=True)


@pytest.fixture
def volume_with_a_link(tmp_path: Path) -> Path:
    """A destination volume whose `shared` directory is a symlink to a directory outside it."""
    (tmp_path / "volume").mkdir()
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "volume" / "shared").symlink_to(tmp_path / "elsewhere")
    return tmp_path


@pytest.mark.cluster
@pytest.mark.parametrize("prefix", ["../sources", "a/../../b", "a/\x01"])
def test_admission_refuses_a_prefix_that_could_escape(kube: Client, crds: None, namespace: str, prefix: str) -> None:
    with pytest.raises(ApiError) as e:
        kube.create(VideoJobResource.from_dict(videojob("escape", prefix)), namespace=namespace)
    assert e.value.status.code == 422 and "spec.destination.pathPrefix" in (e.value.status.message or "")


@pytest.mark.ffmpeg
def test_oma_run_refuses_a_parent_segment_with_exit_10(tmp_path: Path) -> None:
    out = oma_run(tmp_path, "../outside")
    assert out.returncode == 10 and "pathPrefix" in out.stderr
    assert not (tmp_path / "outside").exists()


@pytest.mark.ffmpeg
def test_oma_run_refuses_a_symlinked_destination_with_exit_11(volume_with_a_link: Path) -> None:
    out = oma_run(volume_with_a_link, "shared/videos")
    assert out.returncode == 11, out.stderr
    assert "spec.destination.pathPrefix: 'shared' is a symlink" in out.stderr
    assert list((volume_with_a_link / "elsewhere").iterdir()) == []


@pytest.mark.cluster
@pytest.mark.ffmpeg
def test_oma_worker_refuses_a_symlinked_destination_with_exit_11(
    kube: Client, crds: None, namespace: str, cluster: ClusterInfo, volume_with_a_link: Path
) -> None:
    # The pod mounts each claim at OMA_PVC_ROOT/<claim>; here the claim `out` is the test's volume.
    (volume_with_a_link / "pvcs").mkdir()
    (volume_with_a_link / "pvcs" / "out").symlink_to(volume_with_a_link / "volume")
    kube.create(VideoJobResource.from_dict(videojob("linked", "shared")), namespace=namespace)
    env = {
        **os.environ,
        "KUBECONFIG": str(cluster.kubeconfig),
        "OMA_VIDEOJOB_NAME": "linked",
        "OMA_VIDEOJOB_NAMESPACE": namespace,
        "OMA_PVC_ROOT": str(volume_with_a_link / "pvcs"),
    }
    done = subprocess.run([sys.executable, "-m", "oma.cli.main", "worker"], env=env, capture_output=True, text=True)
    assert done.returncode == 11, done.stderr
    failure = kube.get(VideoJobResource, "linked", namespace=namespace).status["failure"]
    assert failure["exitCode"] == 11 and failure["permanent"] is True
    assert "spec.destination.pathPrefix: 'shared' is a symlink" in failure["message"]
    assert list((volume_with_a_link / "elsewhere").iterdir()) == []
