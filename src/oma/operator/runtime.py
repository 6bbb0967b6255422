"""The operator's process-wide parts: API client, controller loop, metrics server."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from dataclasses import dataclass, field

from prometheus_client import start_http_server

from oma.k8s.api import Api, async_client

from .controller import Controller, Settings

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    settings: Settings = field(default_factory=Settings)
    metrics_port: int = 8080
    kubeconfig: str | None = None
    _controller: Controller | None = None
    _task: asyncio.Task[None] | None = None

    @property
    def controller(self) -> Controller:
        assert self._controller is not None, "the operator has not started"
        return self._controller

    async def start(self) -> None:
        self._controller = Controller(Api(async_client(self.kubeconfig)), self.settings)
        self._task = asyncio.create_task(self._controller.run(), name="oma-controller")
        if self.metrics_port:
            start_http_server(self.metrics_port, addr=os.environ.get("OMA_METRICS_ADDR", "0.0.0.0"))  # noqa: S104
            log.info("metrics on :%d/metrics", self.metrics_port)

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


RUNTIME = Runtime()
