"""Kubernetes Events, best effort: queued, posted by one background task at a bounded rate, dropped (and counted)
when the queue is full.

Like client-go's broadcaster: Events inform people, so they must never slow a reconcile or fail it. A burst of
VideoJobs makes an Event per Job created and per job finished; posted at once, they compete for the apiserver
with the writes that start the work (a burst of 500 had its Jobs about 15 % later with them than without).
So they are paced, as the apiserver's EventRateLimit admission would pace a noisy client, and the queue keeps
only what an Event needs of its object.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from oma.k8s import Kube

from ..monitoring import metrics

log = logging.getLogger(__name__)

RATE, BURST = 20.0, 50  # Events per second, and how many may go at once after a quiet spell
CAPACITY = 10_000  # about 300 bytes each: a 5,000-job burst's Events wait instead of being dropped


class TokenBucket:
    """`rate` tokens a second, up to `burst` saved; `take` says how long to wait for the next one."""

    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate, self.burst, self._clock = rate, burst, clock
        self._tokens, self._at = float(burst), clock()

    def take(self) -> float:
        now = self._clock()
        self._tokens = min(float(self.burst), self._tokens + (now - self._at) * self.rate)
        self._at = now
        self._tokens -= 1  # below zero: reserved, and the wait below pays it back
        return 0.0 if self._tokens >= 0 else -self._tokens / self.rate


def reference(involved: dict[str, Any]) -> dict[str, Any]:
    """What an Event says about its object: not the whole body (a VideoJob's status can be large)."""
    meta = involved["metadata"]
    return {
        "apiVersion": involved["apiVersion"],
        "kind": involved["kind"],
        "metadata": {"name": meta["name"], "namespace": meta["namespace"], "uid": meta.get("uid")},
    }


class EventPoster:
    def __init__(self, kube: Kube, capacity: int = CAPACITY, rate: float = RATE, burst: int = BURST) -> None:
        self.kube = kube
        self._queue: asyncio.Queue[tuple[dict[str, Any], str, str, bool]] = asyncio.Queue(maxsize=capacity)
        self._bucket = TokenBucket(rate, burst)

    def post(self, involved: dict[str, Any], reason: str, message: str, warning: bool = False) -> None:
        """`involved` needs apiVersion, kind and metadata (name, namespace, uid)."""
        try:
            self._queue.put_nowait((reference(involved), reason, message, warning))
        except asyncio.QueueFull:
            metrics.EVENTS_DROPPED.inc()

    async def run(self) -> None:
        while True:
            involved, reason, message, warning = await self._queue.get()
            if wait := self._bucket.take():
                await asyncio.sleep(wait)
            try:
                await self.kube.post_event(involved, reason, message, warning)
            except Exception as e:  # best effort, see above
                log.debug("event %s not posted: %s", reason, e)
