"""Pure status of an OmaStack: what the children's statuses mean, as conditions a user can read."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from oma.models.omastack import OmaStack

from ..common.clock import age_seconds
from ..common.conditions import Cond, is_true, merge_conditions, same_conditions
from .builders import Names, backups_claim_name

WORKLOADS = {"RedisReady": "StatefulSet", "PostgresReady": "StatefulSet", "DashboardReady": "Deployment"}
# How long Ready may stay False for components not (yet) ready before the stack says ProgressDeadlineExceeded:
# a Deployment's default progressDeadlineSeconds. An image that never pulls or a claim that never binds then turns
# Argo CD's health from Progressing to Degraded (deploy/argocd/health/video.oma.ai_OmaStack.lua).
PROGRESS_DEADLINE_SECONDS = 600
CONDITION_ORDER = ("Ready", "RedisReady", "PostgresReady", "DashboardReady", "MonitoringReady", "BackupsScheduled")


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


def past_deadline(ready: Cond, current: Sequence[Mapping[str, Any]] | None, now: str) -> Cond:
    """ComponentsNotReady becomes ProgressDeadlineExceeded once Ready has been False for the deadline."""
    if ready.ok or ready.reason != "ComponentsNotReady":
        return ready
    was = next((c for c in current or [] if c.get("type") == "Ready"), None)
    if was is None or was.get("status") != "False" or not was.get("lastTransitionTime"):
        return ready
    if age_seconds(was["lastTransitionTime"], now) < PROGRESS_DEADLINE_SECONDS:
        return ready
    # A message that does not tick with the clock: the status is written only when it changes.
    message = f"not ready within {PROGRESS_DEADLINE_SECONDS // 60} min: {ready.message}"
    return Cond("Ready", False, "ProgressDeadlineExceeded", message)


def workload_conditions(stack: OmaStack, workloads: Mapping[tuple[str, str], Workload]) -> list[Cond]:
    n = Names(stack.metadata.name)
    return [
        workload_condition(type_, kind, name, workloads.get((kind, name)))
        for type_, kind, name in (
            ("RedisReady", "StatefulSet", n.redis),
            ("PostgresReady", "StatefulSet", n.postgres),
            ("DashboardReady", "Deployment", n.dashboard),
        )
    ]


def backups_condition(stack: OmaStack, managed: Mapping[tuple[str, str], str]) -> Cond:
    spec, n = stack.spec.backups, Names(stack.metadata.name)
    if not spec.enabled:
        return Cond("BackupsScheduled", False, "Disabled", "spec.backups.enabled is false")
    if spec.suspend:
        return Cond("BackupsScheduled", False, "Suspended", "spec.backups.suspend is true: no backup runs")
    missing = [c for c in (n.backup_postgres, n.backup_redis, n.backup_objects) if ("CronJob", c) not in managed]
    if missing:
        return Cond("BackupsScheduled", False, "Creating", f"waiting for CronJob(s) {', '.join(missing)}")
    return Cond(
        "BackupsScheduled",
        True,
        "Scheduled",
        f"pg_dump, Redis RDB snapshots and the namespace's OmaStacks and VideoJobs (YAML) on '{spec.schedule}' "
        f"to PVC {backups_claim_name(stack)}, "
        f"keeping {spec.retention} of each",
    )


def stack_status(
    current: Mapping[str, Any],
    generation: int | None,
    parts: list[Cond],
    error: str | None,
    now: str,
    extra: Mapping[str, Any],
) -> dict[str, Any] | None:
    """The status to write (None when a reader would see no change): Ready from `parts` and `error`, the
    parts as conditions, and `extra` fields (endpoints, the credentials rotation seen)."""
    ready = past_deadline(ready_condition(parts, error), current.get("conditions"), now)
    conditions = merge_conditions(current.get("conditions") or [], [ready, *parts], now, generation, CONDITION_ORDER)
    status: dict[str, Any] = {"observedGeneration": generation, "conditions": conditions, **extra}
    unchanged = same_conditions(current.get("conditions"), conditions) and all(
        current.get(k) == v for k, v in status.items() if k != "conditions"
    )
    return None if unchanged else status


def became_ready(before: Mapping[str, Any], after: Mapping[str, Any]) -> bool | None:
    """True or False when Ready turned that way between two statuses; None when it did not change."""
    was, now = is_true(before.get("conditions"), "Ready"), is_true(after.get("conditions"), "Ready")
    return None if was == now else now
