"""Per-key exponential back-off for the reconcile loops: a failing object is retried, never spun on."""

from __future__ import annotations

import time
from collections.abc import Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)


class Backoff(Generic[K]):
    """After each failure a key waits twice as long as before (1 s up to 60 s); a success forgets it."""

    def __init__(self, first: float = 1.0, cap: float = 60.0) -> None:
        self.first, self.cap = first, cap
        self._keys: dict[K, tuple[float, float]] = {}  # key -> (not before, last delay)

    def failed(self, key: K) -> float:
        _, previous = self._keys.get(key, (0.0, self.first / 2))
        delay = min(previous * 2, self.cap)
        self._keys[key] = (time.monotonic() + delay, delay)
        return delay

    def forget(self, key: K) -> None:
        self._keys.pop(key, None)

    def due(self, now: float) -> set[K]:
        """Keys whose wait is over: to be tried again."""
        return {k for k, (at, _) in self._keys.items() if at <= now}

    def waiting(self, now: float) -> set[K]:
        """Keys still waiting: not to be tried, whatever else marks them."""
        return {k for k, (at, _) in self._keys.items() if at > now}
