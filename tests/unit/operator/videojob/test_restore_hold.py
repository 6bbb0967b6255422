"""A VideoJob held for a restore is left alone until released; released with a finished status, it is adopted."""

from __future__ import annotations

import copy
import time
from typing import Any

import pytest

from oma.models.videojob import RESTORING_ANNOTATION
from oma.operator.common.events import EventPoster
from oma.operator.videojob.cache import restoring
from oma.operator.videojob.controller import Settings, VideoJobController

from .test_phase_gauge import BODY


def body(version: str, held: bool, status: dict[str, Any] | None = None) -> dict[str, Any]:
    b = copy.deepcopy(BODY)
    b["metadata"]["resourceVersion"] = version
    if held:
        b["metadata"]["annotations"] = {RESTORING_ANNOTATION: "20261126T030000Z.yaml"}
    if status:
        b["status"] = status
    return b


@pytest.fixture
def controller() -> VideoJobController:
    # observe_* only bookkeep and queue Events; nothing here reaches the API.
    return VideoJobController(None, EventPoster(None), Settings())  # type: ignore[arg-type]


def events(c: VideoJobController) -> list[str]:
    queue = c.events._queue
    return [queue.get_nowait()[1] for _ in range(queue.qsize())]


def test_a_held_videojob_is_not_decided_for_and_a_finished_status_adopts_it(controller: VideoJobController) -> None:
    key = ("n", "v")
    controller.observe_videojob("ADDED", body("1", held=True))
    assert controller.videojobs[key].held
    assert key not in controller.active and key not in controller.loop.dirty
    controller.take_over()
    assert key not in controller.loop.dirty
    controller.observe_videojob("MODIFIED", body("2", held=True, status={"phase": "Succeeded"}))
    controller.observe_videojob("MODIFIED", body("3", held=False, status={"phase": "Succeeded"}))
    assert controller.videojobs[key].finished and key not in controller.loop.dirty
    assert events(controller) == ["RestoreHold", "Adopted"]


def test_the_annotation_alone_skips_no_work(controller: VideoJobController) -> None:
    key = ("n", "v")
    controller.observe_videojob("ADDED", body("1", held=True))
    controller.observe_videojob("MODIFIED", body("2", held=False))
    entry = controller.videojobs[key]
    assert not entry.held and not entry.finished
    assert key in controller.active and key in controller.loop.dirty


def test_only_unfinished_videojobs_are_held() -> None:
    assert restoring(body("1", held=True)) == "20261126T030000Z.yaml"
    assert restoring(body("1", held=True, status={"phase": "Running"})) is not None
    assert restoring(body("1", held=True, status={"phase": "Failed"})) is None
    assert restoring(body("1", held=False)) is None


async def test_a_job_event_for_a_held_videojob_decides_nothing(controller: VideoJobController) -> None:
    key = ("n", "v")
    controller.observe_videojob("ADDED", body("1", held=True))
    job = {"metadata": {"name": "v-encode", "namespace": "n", "labels": {"video.oma.ai/videojob": "v"}}}
    controller.observe_job("ADDED", job)
    assert key in controller.loop.dirty
    # No API client here: deciding (a Job to create, a status to write) would fail on it, and the loop would
    # back the key off.
    await controller.reconcile_pass(controller.loop.take(0.0))
    assert key not in controller.loop.backoff.waiting(time.monotonic())
