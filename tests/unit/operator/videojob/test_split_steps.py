"""Split-and-stitch in the operator: the step Jobs' manifests and the walk plan -> chunks -> stitch (issue 14)."""

from __future__ import annotations

from typing import Any

from oma.models.omastack import WorkerDefaultsSpec
from oma.models.videojob import VideoJob
from oma.operator.videojob import builders
from oma.operator.videojob.builders import WorkerDefaults
from oma.operator.videojob.controller import Settings, VideoJobController
from oma.operator.videojob.decide import JobState, QueueSlot, decide

NOW = "2026-11-26T00:00:10Z"
RUN = QueueSlot(admitted=True, limit=2)
SPLIT = {
    "chunks": [
        {"index": 0, "startSeconds": 0, "frames": 300, "keyframe": True},
        {"index": 1, "startSeconds": 12, "seekSeconds": 11.98, "frames": 300, "keyframe": True},
        {"index": 2, "startSeconds": 24, "seekSeconds": 23.98, "frames": 100, "keyframe": False},
    ],
    "message": "3 chunks of about 9.3s",
}


def vj(status: dict[str, Any] | None = None, **spec: Any) -> VideoJob:
    base: dict[str, Any] = {
        "inputs": [{"pvc": {"claimName": "media", "path": "long.mp4"}}],
        "outputs": {"mp4": [{"name": "a", "width": 320, "height": 240}]},
        "destination": {"claimName": "media"},
        "parallelism": 3,
        "retries": {"limit": 2},
    }
    base.update(spec)
    body: dict[str, Any] = {"metadata": {"name": "v", "namespace": "n", "uid": "u", "generation": 1}, "spec": base}
    if status:
        body["status"] = status
    return VideoJob.model_validate(body)


def container(job: dict[str, Any]) -> dict[str, Any]:
    c: dict[str, Any] = job["spec"]["template"]["spec"]["containers"][0]
    return c


def test_chunks_run_as_an_indexed_job_with_per_index_retries() -> None:
    job = builders.build_chunks_job(vj(), WorkerDefaults(), 3)
    spec = job["spec"]
    assert job["metadata"]["name"] == "v-chunks"
    assert (spec["completionMode"], spec["completions"], spec["parallelism"]) == ("Indexed", 3, 3)
    assert spec["backoffLimitPerIndex"] == 2 and spec["maxFailedIndexes"] == 0
    assert "backoffLimit" not in spec
    fail_job = spec["podFailurePolicy"]["rules"][0]
    assert fail_job["action"] == "FailJob" and 12 in fail_job["onExitCodes"]["values"]
    assert container(job)["args"] == ["--step", "chunk"]
    assert spec["template"]["metadata"]["labels"][builders.LABEL_STEP] == "chunks"


def test_the_plan_job_is_told_the_parallelism_and_minimum_chunk() -> None:
    job = builders.build_plan_job(vj(), WorkerDefaults(min_chunk_seconds=2), 3)
    env = {e["name"]: e.get("value") for e in container(job)["env"]}
    assert (env["OMA_PARALLELISM"], env["OMA_MIN_CHUNK_SECONDS"]) == ("3", "2")
    assert container(job)["args"] == ["--step", "plan"] and job["spec"]["backoffLimit"] == 2


def test_a_single_encode_is_unchanged() -> None:
    job = builders.build_job(vj(parallelism=1), WorkerDefaults())
    assert job["metadata"]["name"] == "v-vj" and container(job)["args"] == []
    assert builders.LABEL_STEP not in job["metadata"]["labels"]


def test_admission_starts_with_the_plan_step() -> None:
    d = decide(vj(), None, RUN, NOW, parallelism=3)
    assert d.create_job == "plan" and d.status["jobName"] == "v-plan"
    assert decide(vj(), None, RUN, NOW, parallelism=1).create_job == "encode"


def test_a_completed_plan_starts_the_chunks_and_says_so() -> None:
    plan = JobState(name="v-plan", succeeded=1, complete=True, step="plan")
    waiting = decide(vj({"phase": "Running"}), plan, RUN, NOW, parallelism=3)
    assert waiting.create_job is None and waiting.status.get("phase") is None  # status.split not seen yet
    d = decide(vj({"phase": "Running", "split": SPLIT}), plan, RUN, NOW, parallelism=3)
    assert d.create_job == "chunks" and d.status["jobName"] == "v-chunks"
    assert d.status["chunks"] == {"count": 3, "succeeded": 0, "failed": 0, "retried": 0}
    assert d.event is not None and d.event[0] == "Planned" and "3 chunks" in d.event[1]


def test_a_plan_that_does_not_split_runs_one_pod() -> None:
    plan = JobState(name="v-plan", succeeded=1, complete=True, step="plan")
    status = {"phase": "Running", "split": {"chunks": [], "message": "thumbnails are not split"}}
    d = decide(vj(status), plan, RUN, NOW, parallelism=3)
    assert d.create_job == "encode" and d.status["jobName"] == "v-vj"
    assert d.event == ("Planned", "encoding in one pod: thumbnails are not split", False)


def test_running_chunks_fold_their_progress_and_count_retries() -> None:
    status = {
        "phase": "Running",
        "split": SPLIT,
        "chunkProgress": {
            "0": {"phase": "Done", "percent": 100},
            "1": {"phase": "Encoding", "percent": 50, "fps": 40, "etaSeconds": 6},
            "2": {"phase": "Encoding", "percent": 10, "fps": 30, "etaSeconds": 20},
        },
    }
    chunks = JobState(name="v-chunks", active=2, succeeded=1, failed=1, step="chunks", completions=3)
    d = decide(vj(status), chunks, RUN, NOW, parallelism=3)
    assert d.status["progress"] == {"phase": "Encoding", "percent": 65.7, "fps": 70.0, "etaSeconds": 20.0}
    assert d.status["chunks"] == {"count": 3, "succeeded": 1, "failed": 0, "retried": 1}
    assert "1 of 3 chunks encoded, 2 running, 1 retried" in d.status["conditions"][0]["message"]


def test_completed_chunks_start_the_stitch_and_the_stitch_finishes_the_job() -> None:
    chunks = JobState(name="v-chunks", succeeded=3, complete=True, step="chunks", completions=3)
    d = decide(vj({"phase": "Running", "split": SPLIT}), chunks, RUN, NOW, parallelism=3)
    assert d.create_job == "stitch" and d.event is not None and d.event[0] == "Stitching"
    stitch = JobState(name="v-stitch", succeeded=1, complete=True, step="stitch")
    done = decide(vj({"phase": "Running", "split": SPLIT}), stitch, RUN, NOW, parallelism=3)
    assert done.status["phase"] == "Succeeded" and done.create_job is None


def test_a_permanent_chunk_failure_fails_the_job_with_the_chunks_reason() -> None:
    worker = {"reason": "DestinationUnwritable", "message": "chunk 2: no space", "exitCode": 13, "permanent": True}
    chunks = JobState(
        name="v-chunks",
        failed=1,
        succeeded=1,
        step="chunks",
        completions=3,
        failure=("PodFailurePolicy", "Container worker for pod n/v-chunks-2 failed with exit code 13"),
    )
    d = decide(vj({"phase": "Running", "split": SPLIT, "failure": worker}), chunks, RUN, NOW, parallelism=3)
    assert d.status["phase"] == "Failed" and "failure" not in d.status  # the chunk's own account stays
    assert d.event == ("DestinationUnwritable", "chunk 2: no space", True)
    assert d.status["chunks"] == {"count": 3, "succeeded": 1, "failed": 1, "retried": 0}


def test_a_chunk_out_of_retries_says_which() -> None:
    chunks = JobState(
        name="v-chunks",
        failed=3,
        step="chunks",
        completions=3,
        failed_indexes="1",
        failure=("FailedIndexes", "Job has failed indexes"),
    )
    d = decide(vj({"phase": "Running", "split": SPLIT}), chunks, RUN, NOW, parallelism=3)
    assert d.status["failure"]["reason"] == "RetriesExhausted"
    assert "chunk(s) 1 failed 3 time(s)" in d.status["failure"]["message"]
    assert d.status["chunks"]["failed"] == 1


def test_suspending_between_steps_waits_instead_of_succeeding() -> None:
    plan = JobState(name="v-plan", succeeded=1, complete=True, step="plan")
    d = decide(vj({"phase": "Running", "split": SPLIT}, suspend=True), plan, RUN, NOW, parallelism=3)
    assert d.status["phase"] == "Suspended" and d.create_job is None


def test_failed_indexes_are_counted_from_ranges() -> None:
    assert JobState(name="j", failed_indexes="1,3-5").failed_index_count == 4
    assert JobState(name="j", step="plan", complete=True).holds_slot
    assert not JobState(name="j", step="stitch", complete=True).holds_slot


def job_body(step: str | None, name: str, **status: Any) -> dict[str, Any]:
    labels = {"video.oma.ai/videojob": "v", **({builders.LABEL_STEP: step} if step else {})}
    return {"metadata": {"name": name, "namespace": "n", "labels": labels}, "spec": {}, "status": status}


def test_the_controller_follows_the_latest_step_and_ignores_late_events_of_earlier_ones() -> None:
    c = VideoJobController(None, None, Settings())  # type: ignore[arg-type]  # observe_job makes no API call
    c.observe_job("ADDED", job_body("plan", "v-plan", succeeded=1))
    c.observe_job("ADDED", job_body("chunks", "v-chunks", active=3))
    c.observe_job("MODIFIED", job_body("plan", "v-plan", succeeded=1, conditions=[]))  # a late echo
    assert c.jobs[("n", "v")].name == "v-chunks"
    c.observe_job("DELETED", job_body("plan", "v-plan"))  # e.g. its TTL: the chunks Job is still the one
    assert c.jobs[("n", "v")].name == "v-chunks"
    c.observe_job("ADDED", job_body("stitch", "v-stitch", active=1))
    assert c.jobs[("n", "v")].step == "stitch"


def test_parallelism_comes_from_the_spec_else_the_stack_else_one() -> None:
    c = VideoJobController(None, None, Settings())  # type: ignore[arg-type]  # _parallelism makes no API call
    c.stacks[("n", "big")] = WorkerDefaultsSpec.model_validate({"parallelism": 4})
    assert c._parallelism(vj(parallelism=None, stackRef={"name": "big"})) == 4
    assert c._parallelism(vj(parallelism=2, stackRef={"name": "big"})) == 2
    assert c._parallelism(vj(parallelism=None, stackRef={"name": "missing"})) == 1
    assert c._parallelism(vj(parallelism=None)) == 1
