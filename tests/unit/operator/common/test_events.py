"""Event pacing: a bounded rate with a burst allowance, and a queue that keeps only an object's reference."""

from __future__ import annotations

from oma.operator.common.events import TokenBucket, reference


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_goes_at_once_then_the_rate_holds() -> None:
    clock = Clock()
    bucket = TokenBucket(rate=10, burst=3, clock=clock)
    assert [bucket.take() for _ in range(3)] == [0.0, 0.0, 0.0]
    # Each further one waits a tenth of a second longer: they are reservations, not refusals.
    waits = [bucket.take() for _ in range(3)]
    assert [round(w, 6) for w in waits] == [0.1, 0.2, 0.3]


def test_quiet_time_refills_up_to_the_burst_only() -> None:
    clock = Clock()
    bucket = TokenBucket(rate=10, burst=3, clock=clock)
    for _ in range(3):
        bucket.take()
    clock.now += 0.25  # 2.5 tokens back
    assert bucket.take() == 0.0 and bucket.take() == 0.0
    assert round(bucket.take(), 6) == 0.05
    clock.now += 3600  # a quiet hour saves no more than the burst
    assert [bucket.take() for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.take() > 0


def test_the_queue_keeps_an_objects_reference_not_its_body() -> None:
    body = {
        "apiVersion": "video.oma.ai/v1alpha1",
        "kind": "VideoJob",
        "metadata": {"name": "a", "namespace": "n", "uid": "u", "labels": {"x": "y"}},
        "spec": {"inputs": []},
        "status": {"phase": "Running", "conditions": [{"type": "Running"}]},
    }
    assert reference(body) == {
        "apiVersion": "video.oma.ai/v1alpha1",
        "kind": "VideoJob",
        "metadata": {"name": "a", "namespace": "n", "uid": "u"},
    }
