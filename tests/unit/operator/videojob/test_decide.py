"""decide(): the whole status machine, without an API."""

from __future__ import annotations

from typing import Any

from oma.models.videojob import VideoJob
from oma.operator.videojob.decide import (
    JobState,
    QueueSlot,
    decide,
    failure_class,
    invalid_spec_status,
    queued_expired,
)

NOW = "2026-11-26T00:00:10Z"
RUN = QueueSlot(admitted=True, limit=2)


def vj(status: dict[str, Any] | None = None, **spec: Any) -> VideoJob:
    base: dict[str, Any] = {
        "inputs": [{"titleCard": {"text": "x", "durationSeconds": 1}}],
        "outputs": {"mp4": [{"name": "a", "width": 320, "height": 240}]},
        "destination": {"claimName": "media"},
    }
    base.update(spec)
    body: dict[str, Any] = {"metadata": {"name": "v", "namespace": "n", "uid": "u", "generation": 2}, "spec": base}
    if status:
        body["status"] = status
    return VideoJob.model_validate(body)


def test_admitted_job_is_created_and_reported_running() -> None:
    d = decide(vj(), None, RUN, NOW)
    assert d.create_job and d.status["phase"] == "Running" and d.status["jobName"] == "v-vj"
    assert d.status["observedGeneration"] == 2
    assert d.event == ("JobCreated", "the worker Job was created", False)


def test_the_jobs_first_events_write_nothing_after_its_creation() -> None:
    """The status written with the create already says what the running Job would: attempt 1. A retry does
    change it."""
    created = decide(vj(), None, RUN, NOW)
    status = created.status
    for job in (JobState(name="v-vj"), JobState(name="v-vj", active=1)):
        later = decide(vj(status=status), job, RUN, "2026-11-26T00:00:11Z")
        assert later.status == {} and later.event is None, job
    retried = decide(vj(status=status), JobState(name="v-vj", active=1, failed=1), RUN, "2026-11-26T00:00:12Z")
    running = next(c for c in retried.status["conditions"] if c["type"] == "Running")
    assert (retried.status["attempts"], running["message"]) == (2, "attempt 2 of 3")


def test_waiting_job_reports_its_position() -> None:
    d = decide(vj(), None, QueueSlot(admitted=False, position=3, limit=2), NOW)
    assert not d.create_job
    assert (d.status["phase"], d.status["queuePosition"]) == ("Queued", 3)


def test_no_write_when_nothing_changed() -> None:
    first = decide(vj(), JobState(name="v-vj", active=1), RUN, NOW)
    again = decide(vj(status=first.status), JobState(name="v-vj", active=1), RUN, "2026-11-26T00:01:00Z")
    assert again.status == {} and again.event is None and not again.create_job


def test_permanent_exit_code_becomes_an_actionable_failure() -> None:
    job = JobState(
        name="v-vj",
        failed=1,
        failure=(
            "PodFailurePolicy",
            "Container worker for pod n/p failed with exit code 11 matching FailJob rule at index 0",
        ),
    )
    d = decide(vj(status={"phase": "Running"}), job, RUN, NOW)
    assert d.status["phase"] == "Failed"
    assert d.status["failure"]["reason"] == "InputRefused" and d.status["failure"]["exitCode"] == 11
    assert d.event is not None and d.event[2] is True  # a Warning


def test_workers_own_failure_message_wins() -> None:
    worker = {
        "reason": "InputUndecodable",
        "message": "inputs[0]: moov atom not found",
        "exitCode": 12,
        "permanent": True,
    }
    job = JobState(name="v-vj", failed=1, failure=("PodFailurePolicy", "exit code 12"))
    d = decide(vj(status={"phase": "Running", "failure": worker}), job, RUN, NOW)
    assert d.status["phase"] == "Failed"
    assert "failure" not in d.status  # the worker's account (with ffmpeg's line) stays as written


def test_retries_exhausted_and_deadline() -> None:
    d = decide(
        vj(status={"phase": "Running"}), JobState(name="v-vj", failed=3, failure=("BackoffLimitExceeded", "")), RUN, NOW
    )
    assert d.status["failure"]["reason"] == "RetriesExhausted" and d.status["attempts"] == 3
    d = decide(
        vj(status={"phase": "Running"}, timeouts={"runningSeconds": 5}),
        JobState(name="v-vj", failed=1, failure=("DeadlineExceeded", "")),
        RUN,
        NOW,
    )
    assert d.status["failure"]["reason"] == "RunningTimeout"


def test_cancel_deletes_the_job_and_finishes() -> None:
    d = decide(vj(status={"phase": "Running"}, cancel=True), JobState(name="v-vj", active=1), RUN, NOW)
    assert d.delete_job and d.status["phase"] == "Cancelled"


def test_suspend_and_resume_toggle_the_job() -> None:
    d = decide(vj(status={"phase": "Running"}, suspend=True), JobState(name="v-vj", active=1), RUN, NOW)
    assert d.suspend_job is True and d.status["phase"] == "Suspended"
    d = decide(vj(status={"phase": "Suspended"}), JobState(name="v-vj", suspended=True), RUN, NOW)
    assert d.suspend_job is False and d.status["phase"] == "Running"


def test_queued_timeout_fails_without_a_job() -> None:
    d = decide(
        vj(timeouts={"queuedSeconds": 5}),
        None,
        QueueSlot(admitted=False, position=1, limit=1),
        NOW,
        queued_expired=True,
    )
    assert not d.create_job and d.status["failure"]["reason"] == "QueuedTimeout"


def test_finished_jobs_are_left_alone() -> None:
    assert decide(vj(status={"phase": "Succeeded"}, cancel=True), None, RUN, NOW).status == {}


def test_a_spec_that_does_not_parse_fails_once_with_the_reason() -> None:
    patch = invalid_spec_status({}, "outputs: field required", NOW)
    assert patch is not None and patch["phase"] == "Failed"
    assert patch["failure"]["reason"] == "InvalidSpec" and "outputs: field required" in patch["failure"]["message"]
    assert patch["conditions"][0]["type"] == "Failed" and patch["conditions"][0]["lastTransitionTime"] == NOW
    assert invalid_spec_status({"phase": "Failed"}, "x", NOW) is None


def test_queued_deadline_counts_from_creation_and_only_without_a_job() -> None:
    job = vj(timeouts={"queuedSeconds": 5})
    job.metadata.creation_timestamp = "2026-11-26T00:00:00Z"
    assert queued_expired(job, None, NOW)  # 10 s after creation
    assert not queued_expired(job, JobState(name="v-vj"), NOW)
    assert not queued_expired(vj(), None, NOW)


def test_failed_attempts_are_classed_by_exit_code() -> None:
    assert [failure_class(c) for c in (None, 11, 20)] == ["unknown", "permanent", "transient"]
