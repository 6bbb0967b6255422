"""Leader election: only the holder of a coordination.k8s.io Lease reconciles; standbys watch and wait.

A holder that cannot renew within the renew deadline stops acting (its writes are fenced off at once, its loops
cancelled) before the lease can expire for anyone else, so two operators never act together, even when one is
cut off from the apiserver or paused. The lease logic itself is pure (`common.lease`).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections.abc import Awaitable, Callable

from oma.k8s import ApiFailure, Conflict, Kube, NotFound, kinds

from .common.lease import ElectionSettings, Record, lease_spec, may_take, released_spec
from .monitoring import metrics

log = logging.getLogger(__name__)


class LeaderElector:
    def __init__(
        self,
        kube: Kube,
        namespace: str,
        name: str,
        identity: str,
        on_start: Callable[[], Awaitable[None]],
        on_stop: Callable[[], Awaitable[None]],
        settings: ElectionSettings | None = None,
    ) -> None:
        self.kube, self.namespace, self.name, self.identity = kube, namespace, name, identity
        self.on_start, self.on_stop = on_start, on_stop
        self.settings = settings or ElectionSettings()
        self.leading = False
        self.holder: str | None = None
        self.last_attempt = time.monotonic()
        self.last_success = time.monotonic()  # of the last answer from the API server (start: no outage yet)
        self._valid_until = 0.0
        self._observed: tuple[str | None, str | None] | None = None
        self._observed_at = time.monotonic()
        metrics.LEADER.set(0)

    def may_write(self) -> bool:
        """The fence every write of the operator passes: leading, and within the renew deadline."""
        return self.leading and time.monotonic() < self._valid_until

    async def run(self) -> None:
        try:
            while True:
                started = self.last_attempt = time.monotonic()
                # A slow API server is not a lost lease: a holder's attempt may take until its deadline.
                budget = self._valid_until - started if self.leading else self.settings.renew_deadline
                try:
                    async with asyncio.timeout(max(budget, self.settings.retry)):
                        renewed = await self._acquire_or_renew()
                except (ApiFailure, TimeoutError) as e:
                    log.warning("leader election: lease %s/%s: %s", self.namespace, self.name, e)
                    renewed = False
                if renewed:
                    self._valid_until = started + self.settings.renew_deadline
                    if not self.leading:
                        await self._start()
                elif self.leading and time.monotonic() >= self._valid_until:
                    await self._stop(f"could not renew the lease for {self.settings.renew_deadline:.0f}s")
                await asyncio.sleep(self.settings.retry)
        finally:
            if self.leading:
                await self._stop("shutting down")
                await self._release()

    async def _acquire_or_renew(self) -> bool:
        now = dt.datetime.now(dt.UTC)
        try:
            lease = await self.kube.get(kinds.LEASE, self.name, namespace=self.namespace)
        except NotFound:
            return await self._create(now)
        record = Record.from_lease(lease)
        self.last_success = time.monotonic()
        if (record.holder, record.renew_time) != self._observed:
            self._observed, self._observed_at = (record.holder, record.renew_time), time.monotonic()
        self.holder = record.holder
        if not may_take(record, self.identity, time.monotonic() - self._observed_at, self.settings):
            return False
        # The resourceVersion makes the write conditional: of two candidates, only one wins (409 for the other).
        patch = {
            "metadata": {"resourceVersion": record.resource_version},
            "spec": lease_spec(record, self.identity, now, self.settings),
        }
        try:
            await self.kube.patch(kinds.LEASE, self.name, patch, namespace=self.namespace)
        except Conflict:
            return False
        self.holder = self.identity
        return True

    async def _create(self, now: dt.datetime) -> bool:
        manifest = {
            "apiVersion": kinds.LEASE.api_version,
            "kind": kinds.LEASE.kind,
            "metadata": {"name": self.name, "namespace": self.namespace},
            "spec": lease_spec(None, self.identity, now, self.settings),
        }
        created = await self.kube.create(manifest)
        if created:
            self.holder = self.identity
        return created

    async def _start(self) -> None:
        log.info("leader election: %s now holds lease %s/%s", self.identity, self.namespace, self.name)
        self.leading = True
        metrics.LEADER.set(1)
        metrics.LEADER_TRANSITIONS.inc()
        await self.on_start()

    async def _stop(self, why: str) -> None:
        log.warning("leader election: %s stops acting: %s", self.identity, why)
        self.leading = False
        metrics.LEADER.set(0)
        await self.on_stop()

    async def _release(self) -> None:
        """Hand the lease back on a clean stop, so a standby takes over at once rather than after a lease."""
        try:
            async with asyncio.timeout(self.settings.retry):
                lease = await self.kube.get(kinds.LEASE, self.name, namespace=self.namespace)
                record = Record.from_lease(lease)
                if record.holder == self.identity:
                    patch = {"metadata": {"resourceVersion": record.resource_version}, "spec": released_spec()}
                    await self.kube.patch(kinds.LEASE, self.name, patch, namespace=self.namespace)
        except (ApiFailure, TimeoutError) as e:
            log.info("leader election: lease not released (%s); it expires by itself", e)
