"""The operator's process-wide parts: API clients, Event poster, both controllers, leader election, probes."""

from __future__ import annotations

import asyncio
import logging
import os
from dataclasses import dataclass, field

import kopf
from aiohttp import web
from prometheus_client import start_http_server

from oma.k8s import Kube, kinds
from oma.k8s.informer import Informer

from . import health
from .common.events import EventPoster
from .common.labels import LABEL_MANAGED_BY, MANAGER
from .common.lease import ElectionSettings
from .leader import LeaderElector
from .omastack.controller import StackController
from .videojob.controller import Settings, VideoJobController

log = logging.getLogger(__name__)


@dataclass
class Election:
    """Where the lease lives and who we are; None in Runtime disables election (one operator, always acting)."""

    namespace: str
    name: str
    identity: str
    settings: ElectionSettings = field(default_factory=ElectionSettings)


@dataclass
class Runtime:
    settings: Settings = field(default_factory=Settings)
    metrics_port: int = 8080
    health_port: int = 8081
    kubeconfig: str | None = None
    field_manager: str = "oma-operator"
    election: Election | None = None
    _videojobs: VideoJobController | None = None
    _stacks: StackController | None = None
    _events: EventPoster | None = None
    _elector: LeaderElector | None = None
    _informers: list[Informer] = field(default_factory=list)
    _acting: list[asyncio.Task[None]] = field(default_factory=list)
    _background: list[asyncio.Task[None]] = field(default_factory=list)
    _probes: web.AppRunner | None = None

    @property
    def videojobs(self) -> VideoJobController:
        assert self._videojobs is not None, "the operator has not started"
        return self._videojobs

    @property
    def stacks(self) -> StackController:
        assert self._stacks is not None, "the operator has not started"
        return self._stacks

    async def start(self) -> None:
        kube = Kube.connect(self.kubeconfig, field_manager=self.field_manager)
        namespace = self.settings.namespaces[0] if self.settings.namespaces else None
        for kind in (kinds.VIDEOJOB, kinds.OMASTACK):
            if not await kube.served(kind, namespace):
                # kopf would quietly serve nothing; a restart (by the Deployment) picks the CRDs up once applied.
                raise kopf.PermanentError(
                    f"the {kind.plural}.video.oma.ai CRD is not installed: apply crds/ "
                    "(kubectl apply --server-side -f crds/) or install the Helm chart, then restart the operator"
                )
        self._events = EventPoster(kube)
        self._videojobs = VideoJobController(kube, self._events, self.settings)
        self._stacks = StackController(kube, self._events, on_defaults=self._videojobs.set_stack)
        self._follow(kube, self._videojobs)
        if self.election is None:
            await self._start_acting()
        else:
            # Its own client: renewals never queue behind the reconcile writes, and the fence does not apply.
            e = self.election
            self._elector = LeaderElector(
                Kube.connect(self.kubeconfig, field_manager="oma-leader-election"),
                e.namespace, e.name, e.identity, self._start_acting, self._stop_acting, e.settings,
            )  # fmt: skip
            kube.fence = self._elector.may_write
            self._background.append(asyncio.create_task(self._elector.run(), name="oma-leader-election"))
        self._probes = await health.serve(self._health(), self.health_port)
        if self.metrics_port:
            start_http_server(self.metrics_port, addr=os.environ.get("OMA_METRICS_ADDR", "0.0.0.0"))  # noqa: S104
            log.info("metrics on :%d/metrics", self.metrics_port)

    def _follow(self, kube: Kube, videojobs: VideoJobController) -> None:
        """Informers for the hot kinds, in every replica (a standby keeps its caches warm for a takeover)."""
        jobs: list[Informer] = []
        namespaces: list[str | None] = [*self.settings.namespaces] if self.settings.namespaces else [None]
        for ns in namespaces:
            self._informers.append(Informer(kube, kinds.VIDEOJOB, videojobs.observe_videojob, ns))
            jobs.append(Informer(kube, kinds.JOB, videojobs.observe_job, ns, {LABEL_MANAGED_BY: MANAGER}))
        self._informers += jobs
        self._background += [asyncio.create_task(i.run(), name=f"oma-watch-{i.kind.plural}") for i in self._informers]

        async def jobs_synced() -> None:
            await asyncio.gather(*(i.synced.wait() for i in jobs))
            videojobs.jobs_synced.set()

        self._background.append(asyncio.create_task(jobs_synced(), name="oma-jobs-synced"))

    def _health(self) -> health.Health:
        elector = self._elector
        return health.Health(
            leading=lambda: elector is None or elector.leading,
            loop_ages=lambda: [health.since(self.videojobs.last_pass), health.since(self.stacks.last_pass)],
            election_age=lambda: health.since(elector.last_attempt) if elector else None,
            lease_seen_age=lambda: health.since(elector.last_success) if elector else None,
            last_event_age=lambda: max(health.since(i.last_heard) for i in self._informers),
            api_grace=self.election.settings.renew_deadline if self.election else 10.0,
        )

    async def _start_acting(self) -> None:
        """Become the one that writes: reconcile everything that may have changed while we only watched."""
        assert self._events is not None
        self.videojobs.take_over()
        self.stacks.take_over()
        self._acting = [
            asyncio.create_task(self._events.run(), name="oma-events"),
            asyncio.create_task(self.videojobs.run(), name="oma-videojobs"),
            asyncio.create_task(self.stacks.run(), name="oma-stacks"),
        ]

    async def _stop_acting(self) -> None:
        await _cancel(self._acting)
        self._acting = []

    async def stop(self) -> None:
        await _cancel(self._background)  # the elector stops acting and releases the lease
        await self._stop_acting()
        if self._probes is not None:
            await self._probes.cleanup()


async def _cancel(tasks: list[asyncio.Task[None]]) -> None:
    """Cancel and wait for `tasks`, cancelling again each second: a cancellation swallowed by a race must neither
    leave a loop acting nor block the caller (the elector waits here before it can try for the lease again)."""
    for task in tasks:
        task.cancel()
    for task in tasks:
        while not task.done():
            await asyncio.wait({task}, timeout=1.0)
            if not task.done():
                log.warning("task %s outlived its cancellation; cancelling it again", task.get_name())
                task.cancel()
        if not task.cancelled() and task.exception() is not None:
            log.error("task %s ended with %r", task.get_name(), task.exception())


RUNTIME = Runtime()
