"""Pure decisions: from a VideoJob, its Job (if any) and its place in the queue to a status and actions."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from oma.models.chunks import fold_progress
from oma.models.exitcodes import PERMANENT, Exit
from oma.models.videojob import VideoJob

from ..common.clock import age_seconds
from ..common.conditions import MAX_MESSAGE, Cond, merge_conditions, same_conditions
from .builders import LABEL_STEP, job_name
from .cache import TERMINAL

CONDITION_TYPES = ("Queued", "Running", "Suspended", "Succeeded", "Failed", "Cancelled")
_EXIT_REASON = {
    Exit.INVALID_SPEC: "InvalidSpec",
    Exit.INPUT_REFUSED: "InputRefused",
    Exit.INPUT_UNREADABLE: "InputUnreadable",
    Exit.DESTINATION_UNWRITABLE: "DestinationUnwritable",
}


@dataclass(frozen=True)
class JobState:
    """What the operator needs from a batch/v1 Job."""

    name: str
    suspended: bool = False
    active: int = 0
    succeeded: int = 0
    failed: int = 0
    complete: bool = False
    failure: tuple[str, str] | None = None  # (reason, message) of the Failed condition
    start_time: str | None = None
    completion_time: str | None = None
    step: str = "encode"  # plan, chunks and stitch with spec.parallelism > 1 (builders.STEP_RANK)
    completions: int = 1
    failed_indexes: str = ""  # an Indexed Job's status.failedIndexes, e.g. "1,3-5"
    failing: bool = False  # FailureTarget: the Job controller is stopping the pods before it says Failed

    @property
    def finished(self) -> bool:
        return self.complete or self.failure is not None

    @property
    def holds_slot(self) -> bool:
        """Counts against the concurrency limit: running, or between two steps of a split job."""
        if self.suspended:
            return False
        return not self.finished or (self.complete and self.step in ("plan", "chunks"))

    @property
    def failed_index_count(self) -> int:
        count = 0
        for part in filter(None, self.failed_indexes.split(",")):
            lo, _, hi = part.partition("-")
            count += int(hi) - int(lo) + 1 if hi else 1
        return count

    def chunk_counts(self) -> dict[str, int]:
        """status.chunks from the chunks' Indexed Job."""
        failed = self.failed_index_count
        if self.failure is not None and self.failure[0] == "PodFailurePolicy" and self.failed > failed:
            failed += 1  # the chunk whose permanent exit code failed the Job: not retried, failed for good
        return {
            "count": self.completions,
            "succeeded": self.succeeded,
            "failed": failed,
            "retried": max(self.failed - failed, 0),
        }

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> JobState:
        status = body.get("status") or {}
        conds = {c.get("type"): c for c in status.get("conditions") or [] if c.get("status") == "True"}
        failed = conds.get("Failed")
        return cls(
            name=body["metadata"]["name"],
            suspended=bool((body.get("spec") or {}).get("suspend")),
            active=int(status.get("active") or 0),
            succeeded=int(status.get("succeeded") or 0),
            failed=int(status.get("failed") or 0),
            complete="Complete" in conds,
            failure=(failed.get("reason", ""), failed.get("message", "")) if failed else None,
            start_time=status.get("startTime"),
            completion_time=status.get("completionTime"),
            step=(body["metadata"].get("labels") or {}).get(LABEL_STEP, "encode"),
            completions=int((body.get("spec") or {}).get("completions") or 1),
            failed_indexes=str(status.get("failedIndexes") or ""),
            failing="FailureTarget" in conds,
        )


@dataclass
class Decision:
    status: dict[str, Any]  # a merge patch for .status (None deletes a field); empty when nothing changes
    create_job: str | None = None  # the step whose Job to create: encode, plan, chunks or stitch
    delete_job: bool = False
    suspend_job: bool | None = None
    event: tuple[str, str, bool] | None = None  # reason, message, warning


@dataclass(frozen=True)
class QueueSlot:
    admitted: bool
    position: int | None = None
    limit: int = 0
    missing_stack: str | None = None  # spec.stackRef names an OmaStack that does not exist (yet)


@dataclass
class _Next:
    phase: str
    reason: str
    message: str
    fields: dict[str, Any] = field(default_factory=dict)
    create: str | None = None  # a step's Job to create
    event: tuple[str, str] | None = None  # an Event (reason, message) for a step that begins


def _exit_code(message: str) -> int | None:
    m = re.search(r"exit code (\d+)", message)
    return int(m.group(1)) if m else None


def _from_finished_job(vj: VideoJob, job: JobState, now: str) -> _Next:
    attempts = job.failed + job.succeeded
    done = {"completionTime": job.completion_time or now, "attempts": attempts, "queuePosition": None}
    if job.complete:
        outputs = len(vj.status.outputs) if vj.status else 0
        return _Next("Succeeded", "Completed", f"{outputs} verified output(s) written", {**done, "failure": None})
    assert job.failure is not None
    reason, message = job.failure
    worker_failure = vj.status.failure if vj.status else None
    failure: dict[str, Any]
    if reason == "DeadlineExceeded":
        failure = {
            "reason": "RunningTimeout",
            "permanent": True,
            "message": f"ran longer than timeouts.runningSeconds={vj.spec.timeouts.running_seconds}",
        }
    elif reason == "PodFailurePolicy":
        code = _exit_code(message)
        name = _EXIT_REASON.get(Exit(code), "WorkerFailed") if code in {int(c) for c in PERMANENT} else "WorkerFailed"
        failure = {"reason": name, "message": message, "exitCode": code, "permanent": True}
    elif reason == "FailedIndexes":
        last = f"; last error: {worker_failure.message}" if worker_failure else ""
        failure = {
            "reason": "RetriesExhausted",
            "permanent": False,
            "message": f"chunk(s) {job.failed_indexes} failed {vj.spec.retries.limit + 1} time(s), "
            f"retries.limit={vj.spec.retries.limit}{last}",
        }
        if worker_failure and worker_failure.exit_code is not None:
            failure["exitCode"] = worker_failure.exit_code
    elif reason == "BackoffLimitExceeded":
        last = f"; last error: {worker_failure.message}" if worker_failure else ""
        failure = {
            "reason": "RetriesExhausted",
            "permanent": False,
            "message": f"failed {attempts} time(s), retries.limit={vj.spec.retries.limit}{last}",
        }
        if worker_failure and worker_failure.exit_code is not None:
            failure["exitCode"] = worker_failure.exit_code
    else:
        failure = {"reason": reason or "JobFailed", "message": message, "permanent": True}
    if worker_failure and failure["reason"] not in ("RunningTimeout", "RetriesExhausted"):
        # The worker's own account (reason and ffmpeg's last line) beats what the Job controller knows.
        failure = worker_failure.model_dump(by_alias=True, exclude_none=True)
    if job.step == "chunks":
        # A failed Job's other pods are stopped and counted as failed too: retries are what was seen running.
        seen = vj.status.chunks.retried if vj.status and vj.status.chunks else 0
        done["chunks"] = {**job.chunk_counts(), "retried": seen}
    return _Next("Failed", failure["reason"], failure["message"], {**done, "failure": failure})


def _next_step(vj: VideoJob, job: JobState) -> _Next:
    """A split job's plan or chunks step completed: start the next one."""
    fields: dict[str, Any] = {"queuePosition": None}
    split = vj.status.split if vj.status else None
    if job.step == "chunks":
        counts = job.chunk_counts()
        fields.update(jobName=job_name(vj, "stitch"), chunks=counts)
        message = f"all {counts['count']} chunks encoded; stitching them"
        return _Next("Running", "Stitching", message, fields, create="stitch", event=("Stitching", message))
    if split is None:
        # The plan pod writes status.split before it exits; its watch event may trail the Job's.
        return _Next("Running", "Planning", "waiting for the plan step's status.split", fields)
    if len(split.chunks) >= 2:
        fields.update(
            jobName=job_name(vj, "chunks"),
            chunks={"count": len(split.chunks), "succeeded": 0, "failed": 0, "retried": 0},
        )
        message = f"split into {len(split.chunks)} chunks: {split.message}"
        return _Next("Running", "Planned", message, fields, create="chunks", event=("Planned", message))
    fields["jobName"] = job_name(vj)
    message = f"encoding in one pod: {split.message}"
    return _Next("Running", "Planned", message, fields, create="encode", event=("Planned", message))


def _running_step(vj: VideoJob, job: JobState, fields: dict[str, Any]) -> _Next:
    if job.step == "plan":
        return _Next("Running", "Planning", "probing the source for where to cut it", fields)
    if job.step == "stitch":
        return _Next("Running", "Stitching", "joining the chunks, encoding the audio, verifying", fields)
    counts = job.chunk_counts()
    status = vj.status
    if job.failing:
        # Pods stopped because the Job is failing count as failed; they are not retries.
        counts["retried"] = status.chunks.retried if status and status.chunks else 0
    fields["chunks"] = counts
    if status and status.split and status.chunk_progress:
        fields["progress"] = fold_progress(status.split.chunks, status.chunk_progress).model_dump(
            by_alias=True, exclude_none=True
        )
    message = f"{counts['succeeded']} of {counts['count']} chunks encoded, {job.active} running"
    if counts["retried"]:
        message += f", {counts['retried']} retried"
    return _Next("Running", "ChunksRunning", message, fields)


def _started(vj: VideoJob, job: JobState, now: str) -> _Next:
    """The Job exists: finished, suspended or running."""
    if job.complete and job.step in ("plan", "chunks"):
        if vj.spec.suspend:
            message = f"spec.suspend is true; the {job.step} step is done, the next waits"
            return _Next("Suspended", "Suspended", message, {"queuePosition": None})
        return _next_step(vj, job)
    if job.finished:
        return _from_finished_job(vj, job, now)
    attempts = max(job.failed + job.active + job.succeeded, 1)
    fields = {"jobName": job.name, "attempts": attempts, "queuePosition": None}
    if vj.spec.suspend:
        return _Next("Suspended", "Suspended", "spec.suspend is true; running pods were stopped", fields)
    if job.step != "encode":
        return _running_step(vj, job, fields)
    return _Next("Running", "JobRunning", f"attempt {attempts} of {vj.spec.retries.limit + 1}", fields)


def _not_started(vj: VideoJob, slot: QueueSlot, now: str, queued_expired: bool, parallelism: int = 1) -> _Next:
    """No Job yet: suspended, timed out in the queue, admitted, or waiting (for its stack or a slot)."""
    spec = vj.spec
    if spec.suspend:
        message = "spec.suspend is true; the job waits without a place in the queue"
        return _Next("Suspended", "Suspended", message, {"queuePosition": None})
    if queued_expired:
        message = (
            f"not started within timeouts.queuedSeconds={spec.timeouts.queued_seconds}; "
            f"the concurrency limit ({slot.limit}) stayed full"
        )
        failure = {"reason": "QueuedTimeout", "permanent": True, "message": message}
        fields: dict[str, Any] = {"failure": failure, "completionTime": now, "queuePosition": None}
        return _Next("Failed", "QueuedTimeout", message, fields)
    if slot.admitted:
        step = "plan" if parallelism > 1 else "encode"
        fields = {"jobName": job_name(vj, step), "startTime": now, "attempts": 1, "queuePosition": None}
        if step == "plan":
            message = f"the plan Job was created (parallelism {parallelism})"
            return _Next("Running", "JobCreated", message, fields, create=step)
        # The condition already says what the Job's first event would (attempt 1), so that event writes nothing:
        # one status write fewer per job. The Event still tells of the creation.
        message = f"attempt 1 of {spec.retries.limit + 1}"
        created = ("JobCreated", "the worker Job was created")
        return _Next("Running", "JobRunning", message, fields, create=step, event=created)
    if slot.missing_stack:
        message = (
            f"waiting for OmaStack {slot.missing_stack} (spec.stackRef) to exist in namespace "
            f"{vj.metadata.namespace}; create it or remove spec.stackRef"
        )
        return _Next("Queued", "StackNotFound", message, {"queuePosition": None})
    message = f"waiting for one of {slot.limit} concurrent slots (position {slot.position})"
    return _Next("Queued", "ConcurrencyLimit", message, {"queuePosition": slot.position})


def _next_state(
    vj: VideoJob, job: JobState | None, slot: QueueSlot, now: str, queued_expired: bool, parallelism: int
) -> _Next:
    if vj.spec.cancel:
        fields = {"completionTime": now, "queuePosition": None}
        return _Next("Cancelled", "Cancelled", "spec.cancel is true; the Job was deleted", fields)
    if job is not None:
        return _started(vj, job, now)
    return _not_started(vj, slot, now, queued_expired, parallelism)


def _conditions(
    current: list[dict[str, Any]], phase: str, reason: str, message: str, now: str, generation: int | None
) -> list[dict[str, Any]]:
    """The phase's condition True; every other one seen before False, keeping what it last said."""
    wanted = []
    by_type = {c["type"]: c for c in current}
    for t in CONDITION_TYPES:
        if t == phase:
            wanted.append(Cond(t, True, reason, message))
        elif (old := by_type.get(t)) is not None:
            wanted.append(Cond(t, False, old.get("reason", ""), old.get("message", "")))
    return merge_conditions(current, wanted, now, generation, CONDITION_TYPES)


def decide(
    vj: VideoJob, job: JobState | None, slot: QueueSlot, now: str, queued_expired: bool = False, parallelism: int = 1
) -> Decision:
    """What the VideoJob's status should say and which actions bring the world there. `parallelism` (the spec's,
    else its stack's) above 1 starts with the plan step of a split job."""
    current = vj.status.model_dump(by_alias=True, exclude_none=True) if vj.status else {}
    phase_now = current.get("phase")
    if phase_now in TERMINAL:
        # Finished for good. Only a cancel of a finished job is a no-op; nothing is re-run.
        return Decision(status={})
    nxt = _next_state(vj, job, slot, now, queued_expired, parallelism)
    generation = vj.metadata.generation
    desired: dict[str, Any] = {"phase": nxt.phase, "observedGeneration": generation, **nxt.fields}
    if "startTime" in desired and current.get("startTime"):
        desired["startTime"] = current["startTime"]
    desired["conditions"] = _conditions(
        current.get("conditions", []), nxt.phase, nxt.reason, nxt.message, now, generation
    )
    patch: dict[str, Any] = {}
    for key, value in desired.items():
        if value is None:
            if key in current:
                patch[key] = None
        elif current.get(key) != value and not (key == "conditions" and same_conditions(current.get(key), value)):
            patch[key] = value
    decision = Decision(status=patch)
    if nxt.event is not None:
        decision.event = (*nxt.event, False)
    elif phase_now != nxt.phase:
        decision.event = (nxt.reason, nxt.message, nxt.phase == "Failed")
    if nxt.phase == "Cancelled" and job is not None:
        decision.delete_job = True
    if nxt.phase == "Running" and nxt.create is not None:
        decision.create_job = nxt.create
    if job is not None and not job.finished and job.suspended != vj.spec.suspend and nxt.phase != "Cancelled":
        decision.suspend_job = vj.spec.suspend
    return decision


def invalid_spec_status(current: dict[str, Any], error: str, now: str) -> dict[str, Any] | None:
    """The status patch for a VideoJob whose stored spec does not parse (None once it says so)."""
    if current.get("phase") == "Failed":
        return None
    message = f"the spec does not validate: {error}"[:MAX_MESSAGE]
    failure = {"reason": "InvalidSpec", "message": message, "permanent": True}
    conditions = merge_conditions([], [Cond("Failed", True, "InvalidSpec", message)], now, None)
    return {"phase": "Failed", "failure": failure, "conditions": conditions}


def queued_expired(vj: VideoJob, job: JobState | None, now: str) -> bool:
    """Whether a job that never started has waited past timeouts.queuedSeconds."""
    limit = vj.spec.timeouts.queued_seconds
    return bool(limit and job is None and age_seconds(vj.metadata.creation_timestamp, now) > limit)


def failure_class(exit_code: int | None) -> str:
    """How a failed attempt is counted in metrics: by the worker's exit code taxonomy."""
    if exit_code is None:
        return "unknown"
    return "permanent" if exit_code in {int(c) for c in PERMANENT} else "transient"
