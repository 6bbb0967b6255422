"""Pure status of an OmaStack: what the children's statuses mean, as conditions a user can read."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

WORKLOADS = {"RedisReady": "StatefulSet", "PostgresReady": "StatefulSet", "DashboardReady": "Deployment"}
CONDITION_ORDER = ("Ready", "RedisReady", "PostgresReady", "DashboardReady", "MonitoringReady", "BackupsScheduled")


@dataclass(frozen=True)
class Cond:
    type: str
    ok: bool
    reason: str
    message: str


@dataclass(frozen=True)
class Workload:
    """The rollout-relevant part of a StatefulSet's or Deployment's status, as the watch reported it."""

    generation: int
    observed_generation: int
    replicas: int
    ready: int
    updated: int
    available: int
    current_revision: str | None
    update_revision: str | None

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> Workload:
        spec, status = body.get("spec") or {}, body.get("status") or {}
        return cls(
            generation=body["metadata"].get("generation", 0),
            observed_generation=status.get("observedGeneration", 0),
            replicas=spec.get("replicas", 1),
            ready=status.get("readyReplicas", 0),
            updated=status.get("updatedReplicas", 0),
            available=status.get("availableReplicas", 0),
            current_revision=status.get("currentRevision"),
            update_revision=status.get("updateRevision"),
        )


def workload_condition(type_: str, kind: str, name: str, w: Workload | None) -> Cond:
    if w is None:
        return Cond(type_, False, "Creating", f"{kind} {name} does not exist yet")
    if w.observed_generation < w.generation:
        return Cond(type_, False, "Progressing", f"{kind} {name}: generation {w.generation} not yet observed")
    rolled = w.updated >= w.replicas and (kind != "StatefulSet" or w.current_revision == w.update_revision)
    ready = (w.ready if kind == "StatefulSet" else w.available) >= w.replicas
    if rolled and ready:
        return Cond(type_, True, "Ready", f"{kind} {name}: {w.ready}/{w.replicas} ready")
    return Cond(type_, False, "Progressing", f"{kind} {name}: {w.ready}/{w.replicas} ready, {w.updated} updated")


def ready_condition(parts: list[Cond], error: str | None) -> Cond:
    """Ready holds when the data services and the dashboard are; monitoring and backups inform, never gate."""
    if error:
        return Cond("Ready", False, "ReconcileFailed", error)
    waiting = [p for p in parts if p.type in WORKLOADS and not p.ok]
    if not waiting:
        return Cond("Ready", True, "AllComponentsReady", "Redis, Postgres and the dashboard are ready")
    return Cond("Ready", False, "ComponentsNotReady", "; ".join(f"{p.type}: {p.message}" for p in waiting))


def merge_conditions(
    current: list[Mapping[str, Any]], wanted: list[Cond], now: str, generation: int | None
) -> list[dict[str, Any]]:
    """New condition list; lastTransitionTime moves only when a condition's status changes."""
    by_type = {c.get("type"): c for c in current}
    out = []
    for cond in sorted(wanted, key=lambda c: CONDITION_ORDER.index(c.type) if c.type in CONDITION_ORDER else 99):
        status = "True" if cond.ok else "False"
        old = by_type.get(cond.type)
        since = old["lastTransitionTime"] if old and old.get("status") == status else now
        item: dict[str, Any] = {
            "type": cond.type,
            "status": status,
            "reason": cond.reason,
            "message": cond.message[:4000],
            "lastTransitionTime": since,
        }
        if generation is not None:
            item["observedGeneration"] = generation
        out.append(item)
    return out


def same_conditions(a: Sequence[Mapping[str, Any]], b: Sequence[Mapping[str, Any]]) -> bool:
    def key(c: Mapping[str, Any]) -> tuple[Any, ...]:
        return (c.get("type"), c.get("status"), c.get("reason"), c.get("message"), c.get("observedGeneration"))

    return sorted(map(key, a), key=str) == sorted(map(key, b), key=str)
