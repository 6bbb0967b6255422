"""What a user of VideoJob sees, on the real control plane with the real worker in process-backed pods."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from lightkube import Client
from lightkube.codecs import from_dict
from lightkube.core.exceptions import ApiError
from lightkube.resources.batch_v1 import Job
from lightkube.resources.core_v1 import Event, Namespace, PersistentVolume, PersistentVolumeClaim
from lightkube.types import PatchType

from oma.devcluster.operator_process import OperatorProcess
from oma.k8s.resources import VideoJobResource
from oma.worker.probe import probe

from ..conftest import wait_for
from .conftest import example, get_vj, phase_is, videojob

pytestmark = [pytest.mark.cluster, pytest.mark.usefixtures("operator", "media_pvc")]


def create(kube: Client, ns: str, manifest: dict[str, Any]) -> None:
    kube.create(from_dict(manifest), namespace=ns)


def patch_spec(kube: Client, ns: str, name: str, spec: dict[str, Any]) -> None:
    kube.patch(VideoJobResource, name, {"spec": spec}, namespace=ns, patch_type=PatchType.MERGE)


def jobs_of(kube: Client, ns: str, name: str) -> list[Job]:
    return list(kube.list(Job, namespace=ns, labels={"video.oma.ai/videojob": name}))


def pvc_dir(kube: Client, ns: str) -> Path:
    claim = kube.get(PersistentVolumeClaim, "media", namespace=ns)
    return Path(kube.get(PersistentVolume, claim.spec.volumeName).spec.hostPath.path)


def test_title_card_succeeds_with_verified_outputs(kube: Client, namespace: str) -> None:
    create(kube, namespace, example("title-card.yaml"))
    vj = wait_for(
        "title-card to succeed", lambda: phase_is(kube, namespace, "title-card", "Succeeded", "Failed"), timeout=120
    )
    status = vj["status"]
    assert status["phase"] == "Succeeded", status
    assert status["attempts"] == 1 and status["progress"]["percent"] == 100
    conds = {c["type"]: c["status"] for c in status["conditions"]}
    assert conds["Succeeded"] == "True" and conds["Running"] == "False"
    mp4 = next(o for o in status["outputs"] if o["kind"] == "mp4")
    assert (mp4["width"], mp4["height"], mp4["codec"]) == (1280, 720, "h264")
    # The file the status points to exists on the PVC and is what the status says it is.
    path = pvc_dir(kube, namespace) / "title-card" / mp4["uri"]
    info = probe(str(path))
    assert (info.width, info.height, info.video_codec) == (1280, 720, "h264")
    assert path.stat().st_size == mp4["sizeBytes"]
    assert any(o["kind"] == "hls-master" for o in status["outputs"])

    def reasons() -> set[str] | None:
        seen = {e.reason for e in kube.list(Event, namespace=namespace) if e.involvedObject.kind == "VideoJob"}
        return seen if {"JobCreated", "Completed"} <= seen else None

    wait_for("Events for the phase changes", reasons, timeout=30)
    job = jobs_of(kube, namespace, "title-card")[0]
    assert job.metadata.ownerReferences[0].uid == vj["metadata"]["uid"]
    pod = job.spec.template.spec
    assert pod.securityContext.runAsNonRoot and pod.containers[0].securityContext.readOnlyRootFilesystem
    assert pod.containers[0].securityContext.capabilities.drop == ["ALL"]


def test_permanent_input_error_fails_without_retry(kube: Client, namespace: str) -> None:
    # '..' in a path is refused at admission now; a work budget is the permanent refusal that reaches the worker.
    create(kube, namespace, videojob("greedy", limits={"maxEncodedFrames": 1}, retries={"limit": 3}))
    vj = wait_for("greedy to fail", lambda: phase_is(kube, namespace, "greedy", "Failed"), timeout=90)
    status = vj["status"]
    assert status["attempts"] == 1
    assert status["failure"]["reason"] == "BudgetExceeded" and status["failure"]["permanent"] is True
    assert "limits.maxEncodedFrames=1" in status["failure"]["message"]
    assert status["failure"]["exitCode"] == 11


def test_transient_failure_is_retried_and_attempts_counted(kube: Client, namespace: str) -> None:
    # Nothing listens on this port: the connection is refused, which is worth a retry.
    create(kube, namespace, videojob("flaky", inputs=[{"url": "http://127.0.0.1:9/gone.mp4"}], retries={"limit": 1}))
    vj = wait_for("flaky to fail after its retry", lambda: phase_is(kube, namespace, "flaky", "Failed"), timeout=120)
    failure = vj["status"]["failure"]
    assert vj["status"]["attempts"] == 2
    assert failure["reason"] == "RetriesExhausted" and failure["permanent"] is False
    assert "Connection refused" in failure["message"] and failure["exitCode"] == 20


def test_a_title_with_a_next_line_character_does_not_stop_the_watches(kube: Client, namespace: str) -> None:
    """U+0085 travels raw in the watch stream's JSON. Split as a line end, it once cut an event in two and ended
    the operator's watch of VideoJobs for good: every later VideoJob waited forever."""
    odd = videojob("nel")
    odd["metadata"]["annotations"] = {"video.oma.ai/title": "before\u0085after\u2028end"}
    create(kube, namespace, odd)
    create(kube, namespace, videojob("after-nel"))
    for name in ("nel", "after-nel"):
        wait_for(f"{name} to succeed", lambda n=name: phase_is(kube, namespace, n, "Succeeded"), timeout=120)


def test_running_timeout(kube: Client, namespace: str, stalling_server: str) -> None:
    create(kube, namespace, videojob("slow", inputs=[{"url": stalling_server}], timeouts={"runningSeconds": 3}))
    vj = wait_for("slow to hit its running timeout", lambda: phase_is(kube, namespace, "slow", "Failed"), timeout=90)
    assert vj["status"]["failure"]["reason"] == "RunningTimeout"
    assert "runningSeconds=3" in vj["status"]["failure"]["message"]


def limit_namespace(kube: Client, ns: str, limit: int) -> None:
    kube.patch(Namespace, ns, {"metadata": {"annotations": {"video.oma.ai/max-concurrent-jobs": str(limit)}}})


def test_queued_timeout(kube: Client, namespace: str, stalling_server: str) -> None:
    limit_namespace(kube, namespace, 1)
    create(kube, namespace, videojob("blocker", inputs=[{"url": stalling_server}]))
    wait_for("blocker to run", lambda: phase_is(kube, namespace, "blocker", "Running"))
    create(kube, namespace, videojob("waiter", timeouts={"queuedSeconds": 3}))
    queued = wait_for("waiter to queue", lambda: phase_is(kube, namespace, "waiter", "Queued", "Failed"))
    assert queued["status"]["queuePosition"] == 1
    vj = wait_for("waiter to time out in the queue", lambda: phase_is(kube, namespace, "waiter", "Failed"), timeout=60)
    assert vj["status"]["failure"]["reason"] == "QueuedTimeout"
    assert jobs_of(kube, namespace, "waiter") == []
    patch_spec(kube, namespace, "blocker", {"cancel": True})


def test_concurrency_limit_and_priority_order(kube: Client, namespace: str, stalling_server: str) -> None:
    limit_namespace(kube, namespace, 1)
    create(kube, namespace, videojob("blocker", inputs=[{"url": stalling_server}]))
    wait_for("blocker to run", lambda: phase_is(kube, namespace, "blocker", "Running"))
    for name, prio in (("low", 0), ("high", 5), ("mid", 1)):
        create(kube, namespace, videojob(name, priority=prio))

    def positions() -> dict[str, int]:
        names = ("low", "high", "mid")
        return {n: (get_vj(kube, namespace, n).get("status") or {}).get("queuePosition") for n in names}

    # A move alone is written at most every 10 s (low was first, then passed twice), so wait for the order.
    expected = {"high": 1, "mid": 2, "low": 3}
    wait_for(f"queue positions {expected}", lambda: positions() == expected, timeout=60)
    patch_spec(kube, namespace, "blocker", {"cancel": True})
    for name in ("high", "mid", "low"):
        wait_for(f"{name} to succeed", lambda n=name: phase_is(kube, namespace, n, "Succeeded"), timeout=90)
    starts = {n: get_vj(kube, namespace, n)["status"]["startTime"] for n in ("high", "mid", "low")}
    assert starts["high"] <= starts["mid"] <= starts["low"]


def test_cancel_stops_the_work(kube: Client, namespace: str, stalling_server: str) -> None:
    create(kube, namespace, videojob("stopme", inputs=[{"url": stalling_server}]))
    wait_for("stopme to run", lambda: phase_is(kube, namespace, "stopme", "Running"))
    patch_spec(kube, namespace, "stopme", {"cancel": True})
    vj = wait_for("stopme to be Cancelled", lambda: phase_is(kube, namespace, "stopme", "Cancelled"))
    assert {c["type"]: c["status"] for c in vj["status"]["conditions"]}["Cancelled"] == "True"
    wait_for("the Job to be deleted", lambda: jobs_of(kube, namespace, "stopme") == [], timeout=60)
    with pytest.raises(ApiError, match="cancel cannot be undone"):
        patch_spec(kube, namespace, "stopme", {"cancel": False})


def test_suspend_and_resume(kube: Client, namespace: str, stalling_server: str) -> None:
    create(kube, namespace, videojob("pausable", inputs=[{"url": stalling_server}]))
    wait_for("pausable to run", lambda: phase_is(kube, namespace, "pausable", "Running"))
    patch_spec(kube, namespace, "pausable", {"suspend": True})
    wait_for("pausable to be Suspended", lambda: phase_is(kube, namespace, "pausable", "Suspended"))
    wait_for(
        "the Job to be suspended with no active pods",
        lambda: (j := jobs_of(kube, namespace, "pausable")) and j[0].spec.suspend and not j[0].status.active,
        timeout=60,
    )
    patch_spec(kube, namespace, "pausable", {"suspend": False})
    wait_for("pausable to run again", lambda: phase_is(kube, namespace, "pausable", "Running"))
    wait_for(
        "the Job to have an active pod again",
        lambda: (j := jobs_of(kube, namespace, "pausable")) and not j[0].spec.suspend and j[0].status.active,
        timeout=60,
    )
    patch_spec(kube, namespace, "pausable", {"cancel": True})


def test_deleting_the_videojob_deletes_its_job(kube: Client, namespace: str, stalling_server: str) -> None:
    create(kube, namespace, videojob("gone", inputs=[{"url": stalling_server}]))
    wait_for("gone to run", lambda: jobs_of(kube, namespace, "gone"))
    kube.delete(VideoJobResource, "gone", namespace=namespace)
    wait_for("its Job to be garbage-collected", lambda: jobs_of(kube, namespace, "gone") == [], timeout=60)


def test_operator_restart_mid_run_keeps_one_job(kube: Client, namespace: str, operator: OperatorProcess) -> None:
    create(
        kube,
        namespace,
        videojob(
            "survivor",
            inputs=[{"titleCard": {"text": "restart", "durationSeconds": 30, "width": 1280, "height": 720}}],
            outputs={"mp4": [{"name": "out", "width": 1280, "height": 720, "preset": "veryfast"}]},
        ),
    )
    wait_for("survivor to run", lambda: phase_is(kube, namespace, "survivor", "Running"))
    operator.kill()
    try:
        # Changes made while the operator is down are picked up when it returns.
        create(kube, namespace, videojob("while-down"))
    finally:
        operator.start()
    vj = wait_for(
        "survivor to succeed", lambda: phase_is(kube, namespace, "survivor", "Succeeded", "Failed"), timeout=180
    )
    assert vj["status"]["phase"] == "Succeeded" and vj["status"]["attempts"] == 1
    assert len(jobs_of(kube, namespace, "survivor")) == 1
    wait_for("while-down to succeed", lambda: phase_is(kube, namespace, "while-down", "Succeeded"), timeout=90)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            {"inputs": [{"url": "http://a/b.mp4", "titleCard": {"text": "x", "durationSeconds": 1}}]},
            "exactly one of url, pvc or titleCard",
        ),
        (
            {"outputs": {"mp4": [{"name": "a", "width": 320, "height": 240, "crf": 20, "bitrate": "1M"}]}},
            "set crf or bitrate, not both",
        ),
        ({"outputs": {"mp4": [{"name": "a", "width": 321, "height": 240}]}}, "multiple of 2"),
        ({"inputs": [{"url": "file:///etc/passwd"}]}, "should match '^https?://'"),
        ({"outputs": {}}, "at least one of mp4, hls or thumbnails"),
    ],
)
def test_invalid_specs_are_rejected_at_admission(
    kube: Client, namespace: str, spec: dict[str, Any], message: str
) -> None:
    with pytest.raises(ApiError) as e:
        create(kube, namespace, videojob("bad", **spec))
    assert e.value.status.code == 422
    assert message in e.value.status.message


def test_inputs_are_immutable(kube: Client, namespace: str, stalling_server: str) -> None:
    create(kube, namespace, videojob("fixed", inputs=[{"url": stalling_server}]))
    with pytest.raises(ApiError, match=r"spec\.inputs is immutable"):
        patch_spec(kube, namespace, "fixed", {"inputs": [{"url": "http://example.com/other.mp4"}]})
    patch_spec(kube, namespace, "fixed", {"cancel": True})


def test_metrics_and_liveness_report_what_happened(kube: Client, namespace: str, operator: OperatorProcess) -> None:
    import json
    import urllib.request

    create(kube, namespace, videojob("counted"))
    wait_for("counted to succeed", lambda: phase_is(kube, namespace, "counted", "Succeeded"), timeout=90)

    def scrape() -> dict[str, float] | None:
        with urllib.request.urlopen(f"http://127.0.0.1:{operator.metrics_port}/metrics", timeout=5) as r:
            text = r.read().decode()
        samples = {}
        for line in text.splitlines():
            if line.startswith("oma_") and " " in line:
                name, value = line.rsplit(" ", 1)
                samples[name] = float(value)
        # Phase gauges are recounted every few seconds.
        return samples if samples.get('oma_videojobs{phase="Succeeded"}', 0) >= 1 else None

    # Generous: a session operator just restarted by another test may first wait out a lease (15 s).
    samples = wait_for("the Succeeded gauge to count the job", scrape, timeout=90)
    assert samples["oma_videojob_to_job_latency_seconds_count"] >= 1
    assert samples["oma_reconcile_duration_seconds_count"] >= 1
    with urllib.request.urlopen(f"http://127.0.0.1:{operator.health_port}/healthz", timeout=5) as r:
        health = json.load(r)
    assert health["reconcileLoopAgeSeconds"] < 30
