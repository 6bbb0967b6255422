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


class PositionWrites:
    """When a queued job's new position is worth a status write.

    Every start, cancel or deletion moves everyone behind it, so writing each move costs a status write per
    queued job per start: the dashboard bench (9 submissions/s into a namespace limited to 10 running) measured
    65 VideoJob status writes/s, most of the apiserver's work, and the rate grows with the queue. A move is
    written at most every max(`every`, position x `per_position`) seconds: ten seconds near the front, longer deep
    in a queue that will take that long anyway. Becoming next in line is written within `next_in_line` seconds:
    not at once, because a queue that moves fast admits its first job sooner than that, and the write that says
    Running replaces it (the same bench wrote "position 1" for every job it started: 278 of 1,843 VideoJob
    status writes in a minute, each read by nobody). Any other change (phase, spec, a deadline) is written at
    once by the caller; it also restarts the interval.
    """

    def __init__(self, every: float = 10.0, per_position: float = 0.2, next_in_line: float = 2.0) -> None:
        self.every, self.per_position, self.next_in_line = every, per_position, next_in_line
        self._last: dict[tuple[str, str], float] = {}  # when each job's position was last written
        self._due: dict[tuple[str, str], float] = {}  # a move held back, and when it may be written
        self._front: dict[tuple[str, str], float] = {}  # since when an unwritten job has been next in line

    def interval(self, position: int) -> float:
        return max(self.every, position * self.per_position)

    def allow(self, key: tuple[str, str], position: int, now: float) -> bool:
        """Whether a move to `position` (and nothing else) is written now; if not, `due` hands the key back
        once it may be."""
        last = self._last.get(key)
        if last is None:
            return True  # entering the queue: a VideoJob without a status looks unseen
        at = last + self.interval(position)
        if position <= 1:
            at = min(at, self._front.setdefault(key, now) + self.next_in_line)
        else:
            self._front.pop(key, None)  # passed again (a higher priority arrived)
        if now >= at:
            return True
        self._due[key] = at
        return False

    def wrote(self, key: tuple[str, str], now: float) -> None:
        self._last[key] = now
        self._due.pop(key, None)
        self._front.pop(key, None)

    def forget(self, key: tuple[str, str]) -> None:
        self._last.pop(key, None)
        self._due.pop(key, None)
        self._front.pop(key, None)

    def due(self, now: float) -> set[tuple[str, str]]:
        """Keys whose held-back move may be written now (each handed back once)."""
        keys = {k for k, at in self._due.items() if at <= now}
        for k in keys:
            del self._due[k]
        return keys
