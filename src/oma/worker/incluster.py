"""`oma worker`: what a VideoJob's Job runs. Reads its VideoJob, does the work, reports on the status subresource.

Synchronous on purpose: one job per process, and ffmpeg's progress is read from a pipe in this thread.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from pydantic import ValidationError

from oma.k8s import ApiFailure, NotFound, SyncKube, kinds
from oma.models.exitcodes import PERMANENT, Exit
from oma.models.videojob import MIN_CHUNK_SECONDS, OutputFile, Progress, SplitPlan, VideoJob

from . import parallel
from . import plan as planner
from .execute import TerminalReporter, Volumes, check_writable, destination, execute, resolve_sources
from .exitcodes import WorkerError

Allowed = tuple[bool, tuple[str, ...]]  # private inputs allowed; networks a namespace allows by name

log = logging.getLogger("oma.worker")
FIELD_MANAGER = "oma-worker"
# How long the worker waits out an API server that does not answer (a control-plane restart) before it gives up
# with the transient exit code, so the Job retries it rather than fail the VideoJob or lose its outputs.
API_PATIENCE_SECONDS = 120.0
# A (re)starting API server answers 403 ("RBAC: clusterrole ... not found") until its RBAC caches fill, and may
# answer 401 until its token authenticator is ready: the same outage, seen a moment later. A shorter wait than an
# outage's, so a real permission error still fails the attempt soon, with the API server's own message.
AUTH_PATIENCE_SECONDS = 30.0
T = TypeVar("T")


def _transient(e: ApiFailure) -> bool:
    return e.code is None or e.code == 429 or e.code >= 500


def patiently(
    call: Callable[[], T],
    what: str,
    patience: float = API_PATIENCE_SECONDS,
    delay: float = 0.5,
    auth_patience: float = AUTH_PATIENCE_SECONDS,
) -> T:
    """`call()`, retried with back-off (from `delay` s) while the API server is unreachable or overloaded, and for
    `auth_patience` s while it refuses the worker's credentials (it may be starting)."""
    start = time.monotonic()
    while True:
        try:
            return call()
        except ApiFailure as e:
            retry_until = start + (patience if _transient(e) else auth_patience if e.code in (401, 403) else 0.0)
            if time.monotonic() + delay > retry_until:
                raise
            log.warning("%s: %s; retrying in %.1fs", what, e.message, delay)
            time.sleep(delay)
            delay = min(delay * 2, 10.0)


class StatusReporter:
    """Patches status.progress at most every `interval` seconds (and on every phase change)."""

    def __init__(self, kube: SyncKube, namespace: str, name: str, interval: float = 3.0) -> None:
        self.kube, self.namespace, self.name, self.interval = kube, namespace, name, interval
        self.last = 0.0
        self.last_phase = ""
        self.terminal = TerminalReporter(sys.stderr)

    def patch(self, status: dict[str, Any]) -> None:
        try:
            self.kube.patch_status(kinds.VIDEOJOB, self.name, status, namespace=self.namespace)
        except ApiFailure as e:  # progress is best effort; the outcome is written by record(), patiently
            log.warning("status patch failed: %s", e.message)

    def record(self, status: dict[str, Any]) -> None:
        """The outcome (outputs or failure): waits out an API outage, raises ApiFailure if it never ends."""
        patiently(
            lambda: self.kube.patch_status(kinds.VIDEOJOB, self.name, status, namespace=self.namespace),
            "recording the outcome",
        )

    def progress(self, progress: Progress) -> None:
        self.terminal.progress(progress)
        now = time.monotonic()
        if progress.phase == self.last_phase and now - self.last < self.interval:
            return
        self.last, self.last_phase = now, progress.phase
        self.patch(self.progress_patch(progress.model_dump(by_alias=True, exclude_none=True)))

    def progress_patch(self, progress: dict[str, Any]) -> dict[str, Any]:
        return {"progress": progress}


class ChunkStatusReporter(StatusReporter):
    """A chunk pod's progress goes to status.chunkProgress.<index> (a merge patch touches its own key only);
    the operator folds every chunk's into status.progress."""

    def __init__(self, kube: SyncKube, namespace: str, name: str, index: int, interval: float = 3.0) -> None:
        super().__init__(kube, namespace, name, interval)
        self.index = index

    def progress_patch(self, progress: dict[str, Any]) -> dict[str, Any]:
        return {"chunkProgress": {str(self.index): progress}}


def main(allow_private: bool = False, step: str = "encode") -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    name = os.environ.get("OMA_VIDEOJOB_NAME")
    namespace = os.environ.get("OMA_VIDEOJOB_NAMESPACE")
    if not name or not namespace:
        print(
            "error: OMA_VIDEOJOB_NAME and OMA_VIDEOJOB_NAMESPACE must be set (the operator sets them)", file=sys.stderr
        )
        return int(Exit.INVALID_SPEC)
    kube = SyncKube.connect(field_manager=FIELD_MANAGER)
    try:
        body = patiently(lambda: kube.get(kinds.VIDEOJOB, name, namespace=namespace), f"reading VideoJob {name}")
    except NotFound:
        print(f"error: VideoJob {namespace}/{name} does not exist (deleted?)", file=sys.stderr)
        return int(Exit.INVALID_SPEC)
    except ApiFailure as e:
        print(f"error: cannot read VideoJob {namespace}/{name}: {e.message}", file=sys.stderr)
        return int(Exit.TRANSIENT)
    index = int(os.environ.get("JOB_COMPLETION_INDEX", "0"))
    reporter = (
        ChunkStatusReporter(kube, namespace, name, index) if step == "chunk" else StatusReporter(kube, namespace, name)
    )
    try:
        return _run(body, reporter, allow_private, step)
    except ApiFailure as e:
        print(f"error: the outcome could not be recorded in the VideoJob's status: {e.message}", file=sys.stderr)
        return int(Exit.TRANSIENT)


def parse(body: dict[str, Any]) -> VideoJob:
    """The VideoJob, validated as admission does today (it may have been stored under a laxer schema)."""
    try:
        return VideoJob.model_validate(body)
    except ValidationError as e:
        raise WorkerError(Exit.INVALID_SPEC, "InvalidSpec", f"the VideoJob is not valid: {e}") from e


def _split(vj: VideoJob) -> SplitPlan:
    split = vj.status.split if vj.status else None
    if split is None or len(split.chunks) < 2:
        raise WorkerError(Exit.INVALID_SPEC, "SplitMissing", "status.split has no chunks: the plan step did not run")
    return split


def _plan(vj: VideoJob, dest: Path, volumes: Volumes, reporter: StatusReporter, allowed: Allowed) -> int:
    """The plan step: check and probe the source, find the cuts, record them in status.split."""
    reporter.progress(Progress(phase="Probing", percent=0))
    sources = resolve_sources(vj.spec, volumes, *allowed)
    check_writable(dest)
    parallel.check_budget(vj.spec, sources)
    n = int(os.environ.get("OMA_PARALLELISM", "1"))
    minimum = float(os.environ.get("OMA_MIN_CHUNK_SECONDS", str(MIN_CHUNK_SECONDS)))
    split = parallel.plan(vj.spec, sources, n, minimum)
    reporter.record({"split": split.model_dump(by_alias=True, exclude_none=True)})
    print(f"split: {len(split.chunks)} chunk(s): {split.message}")
    return 0


def _chunk(vj: VideoJob, dest: Path, volumes: Volumes, reporter: StatusReporter, allowed: Allowed) -> int:
    """One pod of the Indexed Job: chunk $JOB_COMPLETION_INDEX for every rendition, under the destination."""
    index = int(os.environ.get("JOB_COMPLETION_INDEX", "-1"))
    split = _split(vj)
    if not 0 <= index < len(split.chunks):
        raise WorkerError(Exit.INVALID_SPEC, "SplitMissing", f"chunk index {index} is not in status.split")
    sources = resolve_sources(vj.spec, volumes, *allowed)
    seconds = planner.expected_seconds(vj.spec, sources)
    work = parallel.split_dir(dest, vj.metadata.uid or vj.metadata.name)
    parallel.encode_chunk(vj.spec, sources[0], split, index, work, reporter, seconds)
    reporter.progress(Progress(phase="Done", percent=100))
    return 0


def _stitch(vj: VideoJob, dest: Path, volumes: Volumes, reporter: StatusReporter, allowed: Allowed) -> list[OutputFile]:
    """The last step: join the chunks, add the audio, verify, publish; then remove the chunks."""
    split = _split(vj)
    sources = resolve_sources(vj.spec, volumes, *allowed)
    work = parallel.split_dir(dest, vj.metadata.uid or vj.metadata.name)
    reporter.progress(Progress(phase="Packaging", percent=100))
    results = parallel.stitch(vj.spec, sources, split, work, dest, uuid.uuid4().hex[:12])
    shutil.rmtree(work, ignore_errors=True)
    reporter.progress(Progress(phase="Done", percent=100))
    return results


def _run(body: dict[str, Any], reporter: StatusReporter, allow_private: bool, step: str = "encode") -> int:
    root = Path(os.environ.get("OMA_PVC_ROOT", "/mnt/pvc"))
    try:
        vj = parse(body)
        dest = destination(vj.spec, root / vj.spec.destination.claim_name)
        allowed = (allow_private, tuple(n for n in os.environ.get("OMA_ALLOWED_CIDRS", "").split(",") if n))
        volumes = Volumes(root, {})
        if step == "plan":
            return _plan(vj, dest, volumes, reporter, allowed)
        if step == "chunk":
            return _chunk(vj, dest, volumes, reporter, allowed)
        if step == "stitch":
            results = _stitch(vj, dest, volumes, reporter, allowed)
        else:
            results = execute(vj.spec, dest, volumes, reporter, *allowed)
    except WorkerError as e:
        print(f"error: {e.reason}: {e.message}", file=sys.stderr)
        reporter.record(
            {
                "failure": {
                    "reason": e.reason,
                    "message": e.message[:4000],
                    "exitCode": int(e.code),
                    "permanent": e.code in PERMANENT,
                }
            }
        )
        return int(e.code)
    reporter.record(
        {
            "outputs": [r.model_dump(by_alias=True, exclude_none=True) for r in results[:500]],
            "failure": None,
        }
    )
    for r in results:
        print(dest / r.uri)
    return 0
