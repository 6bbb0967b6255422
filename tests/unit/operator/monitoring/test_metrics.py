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


def finished(phase: str) -> float:
    value = REGISTRY.get_sample_value("oma_videojobs_finished_total", {"phase": phase})
    assert value is not None, "every final phase is exported from the start"
    return value


def test_finished_counts_transitions_into_a_final_phase_and_survives_deletion() -> None:
    before = {p: finished(p) for p in metrics.FINAL}
    metrics.phase_moved(None, "Pending")
    metrics.phase_moved("Pending", "Running")
    metrics.phase_moved("Running", "Failed")
    metrics.phase_moved("Failed", None)  # deleted: the gauge drops, the counter keeps the failure
    metrics.phase_moved(None, "Failed")  # already failed when first seen (a restart): not counted again
    metrics.phase_moved("Failed", None)
    metrics.phase_moved(None, "Queued")
    metrics.phase_moved("Queued", "Cancelled")
    assert finished("Failed") - before["Failed"] == 1
    assert finished("Cancelled") - before["Cancelled"] == 1
    assert finished("Succeeded") == before["Succeeded"]
