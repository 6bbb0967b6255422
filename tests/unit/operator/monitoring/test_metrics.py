"""Gauges with a scope label forget scopes that are gone, so an alert over them can clear."""

from __future__ import annotations

from prometheus_client import REGISTRY

from oma.operator.monitoring import metrics


def depth(scope: str) -> float | None:
    return REGISTRY.get_sample_value("oma_queue_depth", {"scope": scope})


def test_queue_depth_of_a_scope_with_nothing_queued_any_more_is_removed() -> None:
    metrics.set_queue_depths({"team-a": 3, "team-b/stack/s": 1})
    assert depth("team-a") == 3 and depth("team-b/stack/s") == 1
    metrics.set_queue_depths({"team-a": 0})
    assert depth("team-a") == 0 and depth("team-b/stack/s") is None
    metrics.set_queue_depths({})
    assert depth("team-a") is None
