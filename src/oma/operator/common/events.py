"""Kubernetes Events, best effort: queued, posted by one background task, dropped (and counted) when full.

Like client-go's broadcaster: Events inform people, so they must never slow a reconcile or fail it.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from oma.k8s import Kube

from ..monitoring import metrics

log = logging.getLogger(__name__)


class EventPoster:
    def __init__(self, kube: Kube, capacity: int = 1000) -> None:
        self.kube = kube
        self._queue: asyncio.Queue[tuple[dict[str, Any], str, str, bool]] = asyncio.Queue(maxsize=capacity)

    def post(self, involved: dict[str, Any], reason: str, message: str, warning: bool = False) -> None:
        """`involved` needs apiVersion, kind and metadata (name, namespace, uid)."""
        try:
            self._queue.put_nowait((involved, reason, message, warning))
        except asyncio.QueueFull:
            metrics.EVENTS_DROPPED.inc()

    async def run(self) -> None:
        while True:
            involved, reason, message, warning = await self._queue.get()
            try:
                await self.kube.post_event(involved, reason, message, warning)
            except Exception as e:  # best effort, see above
                log.debug("event %s not posted: %s", reason, e)
