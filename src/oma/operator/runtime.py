"""The operator's process-wide parts: API client, controller loop, metrics server."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from dataclasses import dataclass, field

import kopf
from lightkube import ALL_NS
from prometheus_client import start_http_server

from oma.k8s.api import Api, async_client
from oma.k8s.resources import OmaStackResource, VideoJobResource

from .controller import Controller, Settings
from .stacks import StackController

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    settings: Settings = field(default_factory=Settings)
    metrics_port: int = 8080
    kubeconfig: str | None = None
    _controller: Controller | None = None
    _stacks: StackController | None = None
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    @property
    def controller(self) -> Controller:
        assert self._controller is not None, "the operator has not started"
        return self._controller

    @property
    def stacks(self) -> StackController:
        assert self._stacks is not None, "the operator has not started"
        return self._stacks

    async def start(self) -> None:
        api = Api(async_client(self.kubeconfig))
        namespace = (self.settings.namespaces or [ALL_NS])[0]
        for res in (VideoJobResource, OmaStackResource):
            if not await api.served(res, namespace):
                # kopf would quietly serve nothing; a restart (by the Deployment) picks the CRDs up once applied.
                raise kopf.PermanentError(
                    f"the {res._api_info.plural}.video.oma.ai CRD is not installed: apply crds/ "
                    "(kubectl apply --server-side -f crds/) or install the Helm chart, then restart the operator"
                )
        self._controller = Controller(api, self.settings)
        self._stacks = StackController(api, on_defaults=self._controller.set_stack)
        self._tasks = [
            asyncio.create_task(self._controller.run(), name="oma-videojobs"),
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
