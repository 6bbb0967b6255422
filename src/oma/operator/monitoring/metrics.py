"""Prometheus metrics of the operator, served on its metrics port."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

VIDEOJOBS = Gauge("oma_videojobs", "VideoJobs known to the operator, by phase.", ["phase"])
QUEUE_DEPTH = Gauge("oma_queue_depth", "VideoJobs waiting for a concurrency slot, by scope.", ["scope"])
RECONCILE_SECONDS = Histogram(
    "oma_reconcile_duration_seconds",
    "Duration of one reconcile pass over the changed VideoJobs.",
    buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
TO_JOB_SECONDS = Histogram(
    "oma_videojob_to_job_latency_seconds",
    "From first seeing a runnable VideoJob to its Job existing.",
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60),
)
EVENTS_DROPPED = Counter("oma_events_dropped_total", "Kubernetes Events not posted because the queue was full.")
RETRIES = Counter("oma_videojob_retries_total", "Failed worker attempts, by failure class.", ["failure_class"])

# Failure rates come from this counter, not from the gauge: deleting finished VideoJobs lowers the gauge, and
# delta() of a gauge then hides new failures behind old deletions.
FINISHED = Counter(
    "oma_videojobs_finished",
    "VideoJobs this replica saw reach a final phase (Succeeded, Failed, Cancelled), by that phase. A job already "
    "final when the replica started is not counted.",
    ["phase"],
)

_PHASES = ("Pending", "Queued", "Running", "Suspended", "Succeeded", "Failed", "Cancelled")
FINAL = ("Succeeded", "Failed", "Cancelled")


for _phase in _PHASES:
    VIDEOJOBS.labels(phase=_phase)  # every phase reads 0 from the start, so alerts and rate() see the series
for _phase in FINAL:
    FINISHED.labels(phase=_phase)


def phase_moved(old: str | None, new: str | None) -> None:
    """One VideoJob left phase `old` (None: it is new, or first seen since start) for `new` (None: deleted)."""
    if old is not None:
        VIDEOJOBS.labels(phase=old).dec()
    if new is not None:
        VIDEOJOBS.labels(phase=new).inc()
    if old is not None and old not in FINAL and new in FINAL:
        FINISHED.labels(phase=new).inc()


_queue_scopes: set[str] = set()


def set_queue_depths(depths: dict[str, int]) -> None:
    """Set every scope's depth and drop scopes not given: a scope whose queued jobs all went away (deleted,
    cancelled, suspended, started) must read 0, not its last value forever (an alert would never clear)."""
    for scope in _queue_scopes - depths.keys():
        QUEUE_DEPTH.remove(scope)
    for scope, depth in depths.items():
        QUEUE_DEPTH.labels(scope=scope).set(depth)
    _queue_scopes.clear()
    _queue_scopes.update(depths)


STACK_RECONCILES = Counter(
    "oma_omastack_reconciles_total",
    "OmaStack reconciles, by kind (full: apply every child; status: report a child's progress) and result.",
    ["kind", "result"],
)
STACK_RECONCILE_SECONDS = Histogram(
    "oma_omastack_reconcile_duration_seconds",
    "Duration of one OmaStack reconcile (apply every child, prune, report).",
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)


LEADER = Gauge("oma_leader", "1 on the operator replica that holds the leader lease, 0 on standbys.")
LEADER_TRANSITIONS = Counter("oma_leader_transitions_total", "Times this replica became the leader.")
