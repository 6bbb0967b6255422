"""A VideoJob with parallelism 3 on the real control plane: plan, an Indexed Job of process-backed pods, stitch."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import psutil
import pytest
from lightkube import Client
from lightkube.core.exceptions import ApiError
from lightkube.resources.batch_v1 import Job
from lightkube.resources.core_v1 import Event, PersistentVolumeClaim, Pod

from oma.worker.probe import probe

from ..conftest import wait_for
from ..worker.conftest import make_clip
from .conftest import get_vj, phase_is
from .test_videojob import create, patch_spec, pvc_dir

pytestmark = [pytest.mark.cluster, pytest.mark.usefixtures("operator", "media_pvc")]

# The operator under test cuts chunks of at least 2 s (--worker-min-chunk-seconds), so 9 s make three.
SECONDS, FPS = 9, 25


def split_job(name: str, preset: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "video.oma.ai/v1alpha1",
        "kind": "VideoJob",
        "metadata": {"name": name},
        "spec": {
            "inputs": [{"pvc": {"claimName": "media", "path": "long.mp4"}}],
            "outputs": {"mp4": [{"name": "out", "width": 320, "height": 180, "preset": preset}]},
            "destination": {"claimName": "media", "pathPrefix": name},
            "parallelism": 3,
            "retries": {"limit": 2},
            **spec,
        },
    }


@pytest.fixture
def source(kube: Client, namespace: str) -> Path:
    bound = lambda: kube.get(PersistentVolumeClaim, "media", namespace=namespace).spec.volumeName  # noqa: E731
    wait_for("the media claim to be bound", bound, timeout=60)
    return make_clip(pvc_dir(kube, namespace) / "long.mp4", seconds=SECONDS, size="640x360", rate=FPS)


def chunk_pods(kube: Client, ns: str, name: str) -> dict[int, list[Pod]]:
    by_index: dict[int, list[Pod]] = {}
    for pod in kube.list(Pod, namespace=ns, labels={"job-name": f"{name}-chunks"}):
        index = int(pod.metadata.annotations["batch.kubernetes.io/job-completion-index"])
        by_index.setdefault(index, []).append(pod)
    return by_index


def chunk_encoder(marker: str) -> psutil.Process | None:
    """The ffmpeg of one chunk pod (process-backed pods are processes on this host), found by its output path."""
    for proc in psutil.process_iter(["name", "cmdline"]):
        cmdline = proc.info["cmdline"] or []
        if proc.info["name"] == "ffmpeg" and any(marker in arg for arg in cmdline):
            return proc
    return None


def test_a_chunk_killed_once_is_retried_alone_and_the_job_succeeds(kube: Client, namespace: str, source: Path) -> None:
    create(kube, namespace, split_job("split", preset="slow"))
    # Chunk 1's encoder dies mid-run (as an OOM kill would): the worker exits 20, a transient code.
    victim = wait_for(
        "chunk 1's ffmpeg to start", lambda: chunk_encoder("/chunk-0001/.partial-"), timeout=120, interval=0.05
    )
    os.kill(victim.pid, signal.SIGKILL)
    vj = wait_for("split to finish", lambda: phase_is(kube, namespace, "split", "Succeeded", "Failed"), timeout=240)
    status = vj["status"]
    assert status["phase"] == "Succeeded", status
    assert [c["index"] for c in status["split"]["chunks"]] == [0, 1, 2]
    assert sum(c["frames"] for c in status["split"]["chunks"]) == SECONDS * FPS
    assert status["chunks"] == {"count": 3, "succeeded": 3, "failed": 0, "retried": 1}
    # The Indexed Job retried index 1 alone: two pods for it, one for each of the others.
    chunks = kube.get(Job, "split-chunks", namespace=namespace)
    assert (chunks.spec.completionMode, chunks.spec.completions, chunks.spec.backoffLimitPerIndex) == ("Indexed", 3, 2)
    pods = chunk_pods(kube, namespace, "split")
    assert {i: len(p) for i, p in pods.items()} == {0: 1, 1: 2, 2: 1}
    assert sorted(p.status.phase for p in pods[1]) == ["Failed", "Succeeded"]
    names = sorted(j.metadata.name for j in kube.list(Job, namespace=namespace))
    assert names == ["split-chunks", "split-plan", "split-stitch"]
    mp4 = next(o for o in status["outputs"] if o["kind"] == "mp4")
    path = pvc_dir(kube, namespace) / "split" / mp4["uri"]
    assert abs(probe(str(path)).duration - SECONDS) <= 1 / FPS
    assert status["progress"]["phase"] == "Done"
    leftovers = [p.name for p in path.parent.iterdir() if p.name.startswith(".")]
    assert leftovers == []

    def reasons() -> set[str] | None:
        seen = {e.reason for e in kube.list(Event, namespace=namespace) if e.involvedObject.name == "split"}
        return seen if {"Planned", "Stitching", "Completed"} <= seen else None

    wait_for("Planned, Stitching and Completed Events", reasons, timeout=30)


def test_a_chunk_failing_for_good_fails_the_videojob_with_its_reason(
    kube: Client, namespace: str, source: Path
) -> None:
    create(kube, namespace, split_job("blocked", preset="veryfast"))
    uid = get_vj(kube, namespace, "blocked")["metadata"]["uid"]
    # Chunk 2's place under the destination is a file, not a directory: the worker exits 13 (permanent).
    work = pvc_dir(kube, namespace) / "blocked" / f".oma-split.{uid}"
    work.mkdir(parents=True)
    (work / "chunk-0002").write_text("in the way")
    vj = wait_for("blocked to fail", lambda: phase_is(kube, namespace, "blocked", "Succeeded", "Failed"), timeout=180)
    failure = vj["status"]["failure"]
    assert vj["status"]["phase"] == "Failed", vj["status"]
    assert failure["reason"] == "DestinationUnwritable" and failure["exitCode"] == 13 and failure["permanent"]
    assert failure["message"].startswith("chunk 2: ")
    assert vj["status"]["chunks"]["retried"] == 0 and vj["status"]["chunks"]["failed"] == 1
    assert len(chunk_pods(kube, namespace, "blocked")[2]) == 1  # a permanent code is not retried
    job = kube.get(Job, "blocked-chunks", namespace=namespace)
    assert any(c.type == "Failed" and c.reason == "PodFailurePolicy" for c in job.status.conditions or [])


def test_parallelism_is_bounded_and_cannot_change(kube: Client, namespace: str) -> None:
    create(kube, namespace, split_job("held", preset="veryfast", suspend=True))
    with pytest.raises(ApiError, match=r"spec\.parallelism is immutable"):
        patch_spec(kube, namespace, "held", {"parallelism": 4})
    with pytest.raises(ApiError, match=r"spec\.parallelism: Invalid value: 33"):
        create(kube, namespace, split_job("wide", preset="veryfast", parallelism=33))


def test_a_deleted_chunk_pod_is_replaced_without_restarting_the_others(
    kube: Client, namespace: str, source: Path
) -> None:
    create(kube, namespace, split_job("gone", preset="slow"))
    before = wait_for("three chunk pods running", lambda: running_chunks(kube, namespace, "gone"), timeout=120)
    kube.delete(Pod, before[0], namespace=namespace)
    vj = wait_for("gone to finish", lambda: phase_is(kube, namespace, "gone", "Succeeded", "Failed"), timeout=240)
    assert vj["status"]["phase"] == "Succeeded", vj["status"]
    after = {i: [p.metadata.name for p in pods] for i, pods in chunk_pods(kube, namespace, "gone").items()}
    assert after[1] == [before[1]] and after[2] == [before[2]]  # the others ran once, undisturbed
    assert before[0] not in after[0] and len(after[0]) == 1


def running_chunks(kube: Client, ns: str, name: str) -> dict[int, str] | None:
    """Index -> pod name once every chunk has exactly one pod and it runs."""
    pods = chunk_pods(kube, ns, name)
    running = {i: p[0].metadata.name for i, p in pods.items() if len(p) == 1 and p[0].status.phase == "Running"}
    return running if len(running) == 3 else None


def test_suspend_stops_every_chunk_pod_and_resume_finishes(kube: Client, namespace: str, source: Path) -> None:
    create(kube, namespace, split_job("paused", preset="slow"))
    wait_for("three chunk pods running", lambda: running_chunks(kube, namespace, "paused"), timeout=120)
    patch_spec(kube, namespace, "paused", {"suspend": True})

    def stopped() -> bool:
        pods = [p for ps in chunk_pods(kube, namespace, "paused").values() for p in ps]
        phase = (get_vj(kube, namespace, "paused").get("status") or {}).get("phase")
        return phase == "Suspended" and all(p.status.phase not in ("Pending", "Running") for p in pods)

    wait_for("every chunk pod stopped and the VideoJob Suspended", stopped, timeout=90)
    assert kube.get(Job, "paused-chunks", namespace=namespace).spec.suspend is True
    patch_spec(kube, namespace, "paused", {"suspend": False})
    vj = wait_for("paused to finish", lambda: phase_is(kube, namespace, "paused", "Succeeded", "Failed"), timeout=300)
    assert vj["status"]["phase"] == "Succeeded", vj["status"]


def test_cancel_deletes_the_chunks_job_and_its_pods(kube: Client, namespace: str, source: Path) -> None:
    create(kube, namespace, split_job("dropped", preset="slow"))
    wait_for("three chunk pods running", lambda: running_chunks(kube, namespace, "dropped"), timeout=120)
    patch_spec(kube, namespace, "dropped", {"cancel": True})
    wait_for("dropped to be Cancelled", lambda: phase_is(kube, namespace, "dropped", "Cancelled"), timeout=60)
    wait_for("no chunk pods left", lambda: not chunk_pods(kube, namespace, "dropped"), timeout=90)
    names = sorted(j.metadata.name for j in kube.list(Job, namespace=namespace))
    assert names == ["dropped-plan"]  # the finished plan stays, like a finished Job before it
