"""The operator's process-wide parts: API client, Event poster, both controllers' loops, metrics server."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from dataclasses import dataclass, field

import kopf
from prometheus_client import start_http_server

from oma.k8s import Kube, kinds

from .common.events import EventPoster
from .omastack.controller import StackController
from .videojob.controller import Settings, VideoJobController

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    settings: Settings = field(default_factory=Settings)
    metrics_port: int = 8080
    kubeconfig: str | None = None
    _videojobs: VideoJobController | None = None
    _stacks: StackController | None = None
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    @property
    def videojobs(self) -> VideoJobController:
        assert self._videojobs is not None, "the operator has not started"
        return self._videojobs

    @property
    def stacks(self) -> StackController:
        assert self._stacks is not None, "the operator has not started"
        return self._stacks

    async def start(self) -> None:
        kube = Kube.connect(self.kubeconfig)
        namespace = self.settings.namespaces[0] if self.settings.namespaces else None
        for kind in (kinds.VIDEOJOB, kinds.OMASTACK):
            if not await kube.served(kind, namespace):
                # kopf would quietly serve nothing; a restart (by the Deployment) picks the CRDs up once applied.
                raise kopf.PermanentError(
                    f"the {kind.plural}.video.oma.ai CRD is not installed: apply crds/ "
                    "(kubectl apply --server-side -f crds/) or install the Helm chart, then restart the operator"
                )
        events = EventPoster(kube)
        self._videojobs = VideoJobController(kube, events, self.settings)
        self._stacks = StackController(kube, events, on_defaults=self._videojobs.set_stack)
        self._tasks = [
            asyncio.create_task(events.run(), name="oma-events"),
            asyncio.create_task(self._videojobs.run(), name="oma-videojobs"),
            asyncio.create_task(self._stacks.run(), name="oma-stacks"),
        ]
        if self.metrics_port:
            start_http_server(self.metrics_port, addr=os.environ.get("OMA_METRICS_ADDR", "0.0.0.0"))  # noqa: S104
            log.info("metrics on :%d/metrics", self.metrics_port)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


RUNTIME = Runtime()
