"""The phase gauge follows every change the controller keeps, with no periodic recount."""

from __future__ import annotations

import copy
from dataclasses import replace
from typing import Any

import pytest
from prometheus_client import REGISTRY

from oma.operator.videojob.controller import Settings, VideoJobController

BODY: dict[str, Any] = {
    "apiVersion": "video.oma.ai/v1alpha1",
    "kind": "VideoJob",
    "metadata": {
        "name": "v",
        "namespace": "n",
        "uid": "u",
        "generation": 1,
        "resourceVersion": "1",
        "creationTimestamp": "2026-11-26T00:00:00Z",
    },
    "spec": {
        "inputs": [{"titleCard": {"text": "x", "durationSeconds": 1}}],
        "outputs": {"mp4": [{"name": "a", "width": 320, "height": 240}]},
        "destination": {"claimName": "media"},
    },
}


def gauge(phase: str) -> float:
    value = REGISTRY.get_sample_value("oma_videojobs", {"phase": phase})
    assert value is not None, f"no oma_videojobs series for {phase}"
    return value


def body(name: str, phase: str | None, version: str = "1") -> dict[str, Any]:
    b = copy.deepcopy(BODY)
    b["metadata"].update(name=name, uid=name, resourceVersion=version)
    if phase:
        b["status"] = {"phase": phase}
    return b


@pytest.fixture
def controller() -> VideoJobController:
    # observe_* only bookkeep; nothing here reaches the API.
    return VideoJobController(None, None, Settings())  # type: ignore[arg-type]


def test_the_gauge_moves_with_each_observed_change_and_our_own_terminal_write(controller: VideoJobController) -> None:
    before = {p: gauge(p) for p in ("Pending", "Running", "Succeeded", "Failed")}
    controller.observe_videojob("ADDED", body("a", None))
    controller.observe_videojob("ADDED", body("b", "Running"))
    controller.observe_videojob("ADDED", body("c", "Failed"))
    assert gauge("Pending") == before["Pending"] + 1
    assert gauge("Running") == before["Running"] + 1
    assert gauge("Failed") == before["Failed"] + 1

    # Our own write of the terminal phase: its echo is skipped, so the gauge must move on the write itself.
    controller._remember_status(("n", "b"), {"phase": "Succeeded"}, written="9")
    controller.observe_videojob("MODIFIED", body("b", "Succeeded", version="9"))
    assert gauge("Running") == before["Running"]
    assert gauge("Succeeded") == before["Succeeded"] + 1

    # Re-observing the same phase counts nothing twice; deletion takes the job out.
    controller.observe_videojob("MODIFIED", body("c", "Failed", version="2"))
    assert gauge("Failed") == before["Failed"] + 1
    for name in ("a", "b", "c"):
        controller.observe_videojob("DELETED", body(name, None))
    assert {p: gauge(p) for p in before} == before


def test_our_own_running_write_moves_the_phase_without_parsing_the_spec_again(
    controller: VideoJobController, monkeypatch: pytest.MonkeyPatch
) -> None:
    controller.observe_videojob("ADDED", body("d", "Queued"))
    key = ("n", "d")
    before = controller.videojobs[key].summary
    running = gauge("Running")

    def no_parse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a status write parsed the spec again")

    monkeypatch.setattr("oma.operator.videojob.controller.VideoJob.model_validate", no_parse)
    controller._remember_status(key, {"phase": "Running", "jobName": "d-vj", "queuePosition": None}, written="7")

    entry = controller.videojobs[key]
    assert before is not None and entry.summary == replace(before, phase="Running")
    assert entry.body["status"] == {"phase": "Running", "jobName": "d-vj"}
    assert entry.written == "7" and key in controller.active
    assert gauge("Running") == running + 1
    controller.observe_videojob("DELETED", body("d", None))
