"""What the VideoJob controller remembers of each object: a slim body and a summary every pass reads.

Pure: no I/O. Parsing a spec takes microseconds; keeping thousands of parsed models costs far more memory, so
the spec is parsed again only when a decision is due.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from oma.models.omastack import WorkerDefaultsSpec
from oma.models.videojob import RESTORING_ANNOTATION, VideoJob

Key = tuple[str, str]  # (namespace, name)
TERMINAL = frozenset({"Succeeded", "Failed", "Cancelled"})


def slim(body: Mapping[str, Any]) -> dict[str, Any]:
    """What the operator keeps of a VideoJob: no managedFields or annotations (most of a body's bytes)."""
    meta = body["metadata"]
    keep = ("name", "namespace", "uid", "generation", "creationTimestamp")
    return {
        "apiVersion": body.get("apiVersion"),
        "kind": body.get("kind"),
        "metadata": {k: meta[k] for k in keep if k in meta},
        "spec": body.get("spec"),
        "status": body.get("status"),
    }


def restoring(body: Mapping[str, Any]) -> str | None:
    """The restore a VideoJob is held for (the annotation's value), if it is held and not finished."""
    held = (body["metadata"].get("annotations") or {}).get(RESTORING_ANNOTATION)
    if held is None or (body.get("status") or {}).get("phase") in TERMINAL:
        return None
    return held or "(no backup named)"


def stack_scope(namespace: str, stack: str) -> str:
    """The queue a VideoJob with spec.stackRef waits in (a namespace's own queue is the namespace)."""
    return f"{namespace}/stack/{stack}"


def stack_of(scope: str) -> Key | None:
    namespace, sep, name = scope.partition("/stack/")
    return (namespace, name) if sep else None


@dataclass(frozen=True)
class Summary:
    """The few fields every pass reads, so passes never parse specs."""

    phase: str | None
    priority: int
    created: str
    uid: str
    waits: bool  # not suspended and not cancelled
    suspended: bool
    queued_seconds: int | None
    scope: str


def summarize(vj: VideoJob, stacks: Mapping[Key, WorkerDefaultsSpec]) -> Summary:
    ns = vj.metadata.namespace
    priority = vj.spec.priority
    if priority is None and vj.spec.stack_ref:
        stack = stacks.get((ns, vj.spec.stack_ref.name))
        priority = stack.priority if stack else None
    return Summary(
        phase=vj.status.phase if vj.status else None,
        priority=priority or 0,
        created=vj.metadata.creation_timestamp or "",
        uid=vj.metadata.uid or "",
        waits=not vj.spec.suspend and not vj.spec.cancel,
        suspended=vj.spec.suspend,
        queued_seconds=vj.spec.timeouts.queued_seconds,
        scope=stack_scope(ns, vj.spec.stack_ref.name) if vj.spec.stack_ref else ns,
    )


@dataclass
class Entry:
    """A VideoJob as the operator keeps it; `error` is set when its stored spec does not parse."""

    body: dict[str, Any]
    error: str | None
    summary: Summary | None
    first_seen: float = field(default_factory=time.monotonic)
    written: str | None = None  # the resourceVersion our last status write produced: its echo is no news
    held: bool = False  # held for a restore: never decided for, until the annotation goes

    @property
    def vj(self) -> VideoJob | None:
        return None if self.error else VideoJob.model_validate(self.body)

    @property
    def finished(self) -> bool:
        return self.summary is not None and self.summary.phase in TERMINAL

    @classmethod
    def done(cls, body: Mapping[str, Any], phase: str) -> Entry:
        """A finished VideoJob: it never changes again, so only what the phase gauge counts is kept, and its
        spec is never parsed (a namespace's history can be most of its VideoJobs)."""
        meta = body["metadata"]
        ns = meta.get("namespace", "")
        identity = {"metadata": {k: meta[k] for k in ("name", "namespace", "uid") if k in meta}}
        summary = Summary(phase, 0, "", meta.get("uid", ""), False, False, None, ns)
        return cls(identity, None, summary)

    @classmethod
    def on_hold(cls, body: Mapping[str, Any], first_seen: float) -> Entry:
        """A VideoJob held for a restore: kept (it exists) but not active, so nothing admits or decides for it."""
        meta = body["metadata"]
        identity = {"metadata": {k: meta[k] for k in ("name", "namespace", "uid") if k in meta}}
        return cls(identity, None, None, first_seen, held=True)


def with_status(body: dict[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    """`body` as it reads once our merge patch of its status is applied (None deletes a field)."""
    status = dict(body.get("status") or {})
    for k, v in patch.items():
        if v is None:
            status.pop(k, None)
        else:
            status[k] = v
    return {**body, "status": status}
