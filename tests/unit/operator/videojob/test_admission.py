"""Queue order: who starts next when a namespace or stack is at its concurrency limit."""

from __future__ import annotations

from oma.operator.videojob.admission import Waiting, assign


def test_queue_orders_by_priority_then_age() -> None:
    waiting = [
        Waiting(("n", "old-low"), 0, "2026-01-01T00:00:00Z", "a"),
        Waiting(("n", "new-high"), 5, "2026-01-02T00:00:00Z", "b"),
        Waiting(("n", "new-low"), 0, "2026-01-02T00:00:00Z", "c"),
    ]
    slots = assign(waiting, running=1, limit=2)
    assert slots[("n", "new-high")].admitted
    assert slots[("n", "old-low")].position == 1 and slots[("n", "new-low")].position == 2
