"""`oma worker`: what a VideoJob's Job runs. Reads its VideoJob, does the work, reports on the status subresource.

Synchronous on purpose: one job per process, and ffmpeg's progress is read from a pipe in this thread.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

from oma.k8s import ApiFailure, SyncKube, kinds
from oma.models.exitcodes import PERMANENT, Exit
from oma.models.videojob import Progress, VideoJob

from .execute import TerminalReporter, Volumes, execute
from .exitcodes import WorkerError

log = logging.getLogger("oma.worker")
FIELD_MANAGER = "oma-worker"


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
        except ApiFailure as e:  # progress is best effort; the outcome is written with retries below
            log.warning("status patch failed: %s", e.message)

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
    vj = VideoJob.model_validate(kube.get(kinds.VIDEOJOB, name, namespace=namespace))
    reporter = StatusReporter(kube, namespace, name)
    root = Path(os.environ.get("OMA_PVC_ROOT", "/mnt/pvc"))
    dest = root / vj.spec.destination.claim_name / vj.spec.destination.path_prefix
    try:
        results = execute(vj.spec, dest, Volumes(root, {}), reporter, allow_private)
    except WorkerError as e:
        print(f"error: {e.reason}: {e.message}", file=sys.stderr)
        reporter.patch(
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
    reporter.patch(
        {
            "outputs": [r.model_dump(by_alias=True, exclude_none=True) for r in results[:500]],
            "failure": None,
        }
    )
    for r in results:
        print(dest / r.uri)
    return 0
