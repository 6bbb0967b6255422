"""Queue order: who starts next when a namespace or stack is at its concurrency limit."""

from __future__ import annotations

from typing import Any

from oma.models.videojob import VideoJob
from oma.operator.videojob.admission import PositionWrites, Waiting, assign
from oma.operator.videojob.controller import Settings, VideoJobController
from oma.operator.videojob.decide import QueueSlot, decide

NOW = "2026-11-26T00:00:10Z"


def vj(status: dict[str, Any], **spec: Any) -> VideoJob:
    body: dict[str, Any] = {
        "metadata": {"name": "v", "namespace": "n", "uid": "u", "generation": 2},
        "spec": {
            "inputs": [{"titleCard": {"text": "x", "durationSeconds": 1}}],
            "outputs": {"mp4": [{"name": "a", "width": 320, "height": 240}]},
            "destination": {"claimName": "media"},
            **spec,
        },
    }
    if status:
        body["status"] = status
    return VideoJob.model_validate(body)


def test_queue_orders_by_priority_then_age() -> None:
    waiting = [
        Waiting(("n", "old-low"), 0, "2026-01-01T00:00:00Z", "a"),
        Waiting(("n", "new-high"), 5, "2026-01-02T00:00:00Z", "b"),
        Waiting(("n", "new-low"), 0, "2026-01-02T00:00:00Z", "c"),
    ]
    slots = assign(waiting, running=1, limit=2)
    assert slots[("n", "new-high")].admitted
    assert slots[("n", "old-low")].position == 1 and slots[("n", "new-low")].position == 2


def test_a_move_in_the_queue_is_written_at_most_once_per_interval() -> None:
    pace, key = PositionWrites(every=10, per_position=0.2), ("n", "v")
    assert pace.allow(key, 7, now=0)  # nothing written yet
    pace.wrote(key, 0)
    assert not pace.allow(key, 6, now=3)
    assert pace.due(now=9) == set()
    assert pace.due(now=10) == {key}  # handed back once, when it may be written
    assert pace.due(now=11) == set()
    assert pace.allow(key, 5, now=10)
    pace.wrote(key, 10)


def test_becoming_next_in_line_is_written_soon_unless_the_job_starts_first() -> None:
    pace, key = PositionWrites(every=10, per_position=0.2, next_in_line=2), ("n", "v")
    pace.wrote(key, 0)
    assert not pace.allow(key, 1, now=3)  # a fast queue starts it before this would be read
    assert not pace.allow(key, 1, now=4)  # asked again: the grace still counts from the first time
    assert pace.due(now=4.9) == set()
    assert pace.due(now=5) == {key}
    assert pace.allow(key, 1, now=5)  # still waiting: now it says so
    pace.wrote(key, 5)
    assert not pace.allow(key, 1, now=6)  # written: like any position, not again within the interval
    pace.forget(key)  # started
    assert pace.allow(key, 1, now=6)  # a new job entering the queue at the front is written at once


def test_next_in_line_never_waits_longer_than_any_move() -> None:
    pace, key = PositionWrites(every=10, per_position=0.2, next_in_line=30), ("n", "v")
    pace.wrote(key, 0)
    assert not pace.allow(key, 1, now=9)
    assert pace.allow(key, 1, now=10)


def test_deep_in_a_long_queue_moves_are_written_less_often() -> None:
    pace = PositionWrites(every=10, per_position=0.2)
    assert pace.interval(3) == 10 and pace.interval(500) == 100
    pace.wrote(("n", "deep"), 0)
    assert not pace.allow(("n", "deep"), 499, now=60)
    assert pace.allow(("n", "deep"), 499, now=100)


def test_the_controller_holds_back_only_a_bare_move() -> None:
    controller = VideoJobController(None, None, Settings())  # type: ignore[arg-type]
    key = ("n", "v")
    first = decide(vj({}), None, QueueSlot(admitted=False, position=3, limit=1), NOW)
    controller._pace_position(key, vj({}), first)  # entering the queue: written, and the interval starts
    assert first.status["queuePosition"] == 3
    queued = first.status
    moved = decide(vj(queued), None, QueueSlot(admitted=False, position=2, limit=1), NOW)
    assert moved.status.keys() == {"queuePosition", "conditions"}
    controller._pace_position(key, vj(queued), moved)
    assert moved.status == {}  # held back
    front = decide(vj(queued), None, QueueSlot(admitted=False, position=1, limit=1), NOW)
    controller._pace_position(key, vj(queued), front)
    assert front.status == {}  # next in line: held for a moment, in case it starts at once
    controller.positions.next_in_line = 0
    front = decide(vj(queued), None, QueueSlot(admitted=False, position=1, limit=1), NOW)
    controller._pace_position(key, vj(queued), front)
    assert front.status["queuePosition"] == 1  # and written once that moment has passed
    edited = decide(vj(queued, priority=3), None, QueueSlot(admitted=False, position=2, limit=1), NOW)
    edited.status["observedGeneration"] = 3  # a spec change rides along: written at once
    controller._pace_position(key, vj(queued), edited)
    assert edited.status["queuePosition"] == 2
