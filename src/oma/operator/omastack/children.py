"""What the OmaStack controller knows of a stack's children, and which child events are edits to take back.

Pure: fed by watch events, read by the controller. No I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from oma.k8s.client import Manifest

from ..common.conditions import Cond
from .status import Workload

ChildKey = tuple[str, str]  # (kind, name)


@dataclass(frozen=True)
class Outcome:
    """What the last full pass found that a status-only pass reports again."""

    monitoring: Cond
    error: str | None
    rotation: str | None


@dataclass
class Children:
    workloads: dict[ChildKey, Workload] = field(default_factory=dict)
    managed: dict[ChildKey, str] = field(default_factory=dict)  # -> apiVersion, for pruning
    deleted: set[ChildKey] = field(default_factory=set)  # deleted by someone else since the last pass
    seen: dict[ChildKey, tuple[Any, ...]] = field(default_factory=dict)  # generation, labels, annotations
    applied: dict[ChildKey, str] = field(default_factory=dict)  # resourceVersion our last apply returned
    last: Outcome | None = None

    def observe(self, event_type: str | None, body: Manifest, ours: bool, field_manager: str) -> bool:
        """Record a child's event; True when it may carry an edit an apply must take back."""
        child = (body["kind"], body["metadata"]["name"])
        if event_type == "DELETED":
            self.workloads.pop(child, None)
            self.managed.pop(child, None)
            if ours:
                self.deleted.add(child)
            self.seen.pop(child, None)
            self.applied.pop(child, None)
            return True
        if body["kind"] in ("StatefulSet", "Deployment"):
            self.workloads[child] = Workload.from_body(body)
        if ours:
            self.managed[child] = body["apiVersion"]
        edit = is_edit(event_type, body, self.seen.get(child), self.applied.get(child), field_manager)
        if (fp := fingerprint(body)) is not None:
            self.seen[child] = fp
        return edit

    @property
    def empty(self) -> bool:
        return not self.workloads and not self.managed


def _only_ours(meta: Mapping[str, Any], field_manager: str) -> bool:
    """Every field but status was written by us: nothing for an apply to put back."""
    entries = meta.get("managedFields") or []
    return bool(entries) and all(e.get("manager") == field_manager or e.get("subresource") == "status" for e in entries)


def is_edit(
    event_type: str | None,
    body: Mapping[str, Any],
    seen: tuple[Any, ...] | None,
    applied_rv: str | None,
    field_manager: str,
) -> bool:
    """Whether a child's event may carry a change an apply must take back (so every child is applied again).

    Not an edit: the echo of our own apply, an object only we have written, a rollout step (generation,
    labels and annotations as last seen) or a claim being bound. Re-applying every child for each of those
    would be most of the operator's writes.
    """
    meta = body["metadata"]
    if meta.get("resourceVersion") == applied_rv or _only_ours(meta, field_manager):
        return False
    if event_type != "MODIFIED":
        return True
    fp = fingerprint(body)
    return not ((fp is not None and fp == seen) or body["kind"] == "PersistentVolumeClaim")


def fingerprint(body: Mapping[str, Any]) -> tuple[Any, ...] | None:
    """What a hand edit changes. None for kinds without a generation (every change of those counts)."""
    meta = body["metadata"]
    if meta.get("generation") is None:
        return None
    return (meta["generation"], meta.get("labels") or {}, meta.get("annotations") or {})
