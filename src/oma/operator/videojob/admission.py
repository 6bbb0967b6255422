"""Pure queue order: who starts next when a namespace or stack is at its concurrency limit."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from .decide import QueueSlot


@dataclass(frozen=True)
class Waiting:
    key: tuple[str, str]  # (namespace, name)
    priority: int
    created: str  # RFC 3339; sorts chronologically as text
    uid: str  # a stable tie-break for objects created in the same second


def order(waiting: Iterable[Waiting]) -> list[Waiting]:
    """Higher priority first, then older, then by uid so the order is total and stable."""
    return sorted(waiting, key=lambda w: (-w.priority, w.created, w.uid))


def assign(waiting: Iterable[Waiting], running: int, limit: int) -> dict[tuple[str, str], QueueSlot]:
    """Admit as many as there are free slots, in order; the rest get 1-based queue positions."""
    free = max(limit - running, 0)
    slots = {}
    for i, w in enumerate(order(waiting)):
        if i < free:
            slots[w.key] = QueueSlot(admitted=True, limit=limit)
        else:
            slots[w.key] = QueueSlot(admitted=False, position=i - free + 1, limit=limit)
    return slots
