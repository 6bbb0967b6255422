"""The reconcile loop both controllers run: wake on demand, debounce, hand over the due keys, back off per key.

Watches only mark keys dirty; one task decides. Bursts of events coalesce into one pass, and a failing object
waits longer after each failure instead of spinning the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable, Iterable
from typing import Generic, TypeVar

log = logging.getLogger(__name__)
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


class ReconcileLoop(Generic[K]):
    """Runs `reconcile(due keys)` after each wake-up (at least every second) and a short debounce.

    Due keys are those marked dirty plus those whose back-off ended, less those still backing off. With
    `resync`, every key `everyone()` returns is due again each `resync` seconds.
    """

    def __init__(
        self,
        name: str,
        debounce: float,
        resync: float | None = None,
        everyone: Callable[[], Iterable[K]] | None = None,
    ) -> None:
        self.name, self.debounce, self.resync, self.everyone = name, debounce, resync, everyone
        self.dirty: set[K] = set()
        self.wake = asyncio.Event()
        self.backoff: Backoff[K] = Backoff()
        self.last_pass = time.monotonic()

    def poke(self, key: K) -> None:
        self.dirty.add(key)
        self.wake.set()

    def forget(self, key: K) -> None:
        self.dirty.discard(key)
        self.backoff.forget(key)

    def take(self, now: float) -> set[K]:
        dirty, self.dirty = self.dirty | self.backoff.due(now), set()
        return dirty - self.backoff.waiting(now)

    async def run(self, reconcile: Callable[[set[K]], Awaitable[None]]) -> None:
        last_resync = time.monotonic()
        while True:
            # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation that arrives as the
            # wake-up does, and a loop that survives its cancellation keeps acting after leadership is lost.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(1.0):
                    await self.wake.wait()
            await asyncio.sleep(self.debounce)
            self.wake.clear()
            now = time.monotonic()
            if self.resync is not None and self.everyone is not None and now - last_resync > self.resync:
                last_resync = now
                self.dirty.update(self.everyone())
            try:
                await reconcile(self.take(now))
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("%s: reconcile pass failed; retrying on the next pass", self.name)
            self.last_pass = time.monotonic()

    async def guarded(self, key: K, work: Awaitable[None]) -> bool:
        """Run one key's work; a failure backs the key off (and is logged), a success forgets its back-off."""
        try:
            await work
        except asyncio.CancelledError:
            raise
        except Exception as e:
            delay = self.backoff.failed(key)
            log.warning("%s %s: %s; retrying in %.0fs", self.name, "/".join(map(str, _parts(key))), e, delay)
            return False
        self.backoff.forget(key)
        return True


def _parts(key: object) -> tuple[object, ...]:
    return key if isinstance(key, tuple) else (key,)


class PriorityGate:
    """A semaphore that lets waiters in by priority (lower first), then in order of arrival.

    The VideoJob loop's writes share one limit: a Job create (what starts work) goes before a status write
    queued earlier (what a user reads a moment later), so a burst's last Jobs do not wait behind its first
    jobs' status writes."""

    def __init__(self, limit: int) -> None:
        self._free = limit
        self._waiters: list[tuple[int, int, asyncio.Future[None]]] = []  # a heap
        self._arrival = itertools.count()

    @contextlib.asynccontextmanager
    async def hold(self, priority: int) -> AsyncIterator[None]:
        await self._acquire(priority)
        try:
            yield
        finally:
            self._release()

    async def _acquire(self, priority: int) -> None:
        if self._free > 0 and not self._waiters:
            self._free -= 1
            return
        granted: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiters, (priority, next(self._arrival), granted))
        try:
            await granted
        except asyncio.CancelledError:
            if granted.done() and not granted.cancelled():
                self._release()  # let in, then cancelled before it ran: the place goes to the next
            raise  # a cancelled waiter stays in the heap until _release skips it

    def _release(self) -> None:
        while self._waiters:
            _, _, granted = heapq.heappop(self._waiters)
            if not granted.done():
                granted.set_result(None)
                return
        self._free += 1
