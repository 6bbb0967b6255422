"""In a burst, Job creates go first: a pass's status writes wait for a pass that creates no Job.

The controller's own ordering, with a recorder in place of the API client (what the API server makes of these
writes is the integration tests' and bench/operator_throughput.py's).
"""

from __future__ import annotations

import asyncio
from typing import Any

from oma.operator.common.events import EventPoster
from oma.operator.videojob.controller import Settings, VideoJobController

from .test_phase_gauge import body


class Recorder:
    """Answers what the controller asks of the API while it creates Jobs and writes statuses, in order."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    async def create(self, manifest: dict[str, Any]) -> bool:
        self.calls.append(("create", manifest["metadata"]["name"]))
        return True

    async def apply(self, manifest: dict[str, Any]) -> str:
        return "1"

    async def get(self, kind: Any, name: str, namespace: str | None = None) -> dict[str, Any]:
        return {"metadata": {"name": name}, "spec": {"clusterIP": "10.96.0.1", "ports": [{"port": 443}]}}

    async def patch_status(self, kind: Any, name: str, status: dict[str, Any], namespace: str) -> str:
        self.calls.append(("status", name))
        return "2"


async def test_status_writes_wait_for_a_pass_without_creates() -> None:
    api = Recorder()
    controller = VideoJobController(api, EventPoster(None), Settings())  # type: ignore[arg-type]
    controller.jobs_synced.set()
    for name in ("a", "b"):
        controller.observe_videojob("ADDED", body(name, None))
    await controller.reconcile_pass(controller.loop.take(0.0))
    controller.observe_videojob("ADDED", body("c", None))  # more of the burst, while a and b wait to be told
    await controller.reconcile_pass(controller.loop.take(0.0))
    await asyncio.sleep(0.05)
    assert sorted(api.calls[:2]) == [("create", "a-vj"), ("create", "b-vj")]
    assert api.calls[2:] == [("create", "c-vj")]
    await controller.reconcile_pass(set())  # the burst is over: nothing to create
    async with asyncio.timeout(5):
        await asyncio.gather(*controller._report_tasks)
    assert sorted(api.calls[3:]) == [("status", "a"), ("status", "b"), ("status", "c")]
    assert not controller._reporting
