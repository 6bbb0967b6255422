"""`oma worker`: what a VideoJob's Job runs. Reads its VideoJob, does the work, reports on the status subresource.

Synchronous on purpose: one job per process, and ffmpeg's progress is read from a pipe in this thread.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from pydantic import ValidationError

from oma.k8s import ApiFailure, NotFound, SyncKube, kinds
from oma.models.exitcodes import PERMANENT, Exit
from oma.models.videojob import Progress, VideoJob

from .execute import TerminalReporter, Volumes, destination, execute
from .exitcodes import WorkerError

log = logging.getLogger("oma.worker")
FIELD_MANAGER = "oma-worker"
# How long the worker waits out an API server that does not answer (a control-plane restart) before it gives up
# with the transient exit code, so the Job retries it rather than fail the VideoJob or lose its outputs.
API_PATIENCE_SECONDS = 120.0
T = TypeVar("T")


def _transient(e: ApiFailure) -> bool:
    return e.code is None or e.code == 429 or e.code >= 500


def patiently(call: Callable[[], T], what: str, patience: float = API_PATIENCE_SECONDS, delay: float = 0.5) -> T:
    """`call()`, retried with back-off (from `delay` s) while the API server is unreachable or overloaded."""
    deadline = time.monotonic() + patience
    while True:
        try:
            return call()
        except ApiFailure as e:
            if not _transient(e) or time.monotonic() + delay > deadline:
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
        self.patch({"progress": progress.model_dump(by_alias=True, exclude_none=True)})


def main(allow_private: bool = False) -> int:
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
    reporter = StatusReporter(kube, namespace, name)
    try:
        return _run(body, reporter, allow_private)
    except ApiFailure as e:
        print(f"error: the outcome could not be recorded in the VideoJob's status: {e.message}", file=sys.stderr)
        return int(Exit.TRANSIENT)


def parse(body: dict[str, Any]) -> VideoJob:
    """The VideoJob, validated as admission does today (it may have been stored under a laxer schema)."""
    try:
        return VideoJob.model_validate(body)
    except ValidationError as e:
        raise WorkerError(Exit.INVALID_SPEC, "InvalidSpec", f"the VideoJob is not valid: {e}") from e


def _run(body: dict[str, Any], reporter: StatusReporter, allow_private: bool) -> int:
    root = Path(os.environ.get("OMA_PVC_ROOT", "/mnt/pvc"))
    try:
        vj = parse(body)
        dest = destination(vj.spec, root / vj.spec.destination.claim_name)
        allowed = tuple(n for n in os.environ.get("OMA_ALLOWED_CIDRS", "").split(",") if n)
        results = execute(vj.spec, dest, Volumes(root, {}), reporter, allow_private, allowed)
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
