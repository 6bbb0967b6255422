"""Follow one kind the way client-go's informers do: list, then watch from the list's version, and again.

The stream ends when the server says so (timeoutSeconds), on a 410 (list again), or when nothing, not even a
bookmark, arrived for `quiet_seconds` (a silently dead connection). Objects that disappeared while no watch was
open are reported as DELETED after the next list, so a consumer never keeps a ghost.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from .client import Kube, Manifest
from .errors import ApiFailure, Gone
from .kinds import Kind

log = logging.getLogger(__name__)
Handler = Callable[[str, Manifest], None]


def _key(obj: Manifest) -> tuple[str, str]:
    meta = obj["metadata"]
    return meta.get("namespace") or "", meta["name"]


def _tombstone(obj: Manifest) -> Manifest:
    """What a DELETED consumer may read of an object: its identity and labels."""
    meta = obj["metadata"]
    keep = {k: meta[k] for k in ("name", "namespace", "uid", "labels") if k in meta}
    return {"apiVersion": obj.get("apiVersion"), "kind": obj.get("kind"), "metadata": keep}


class Informer:
    def __init__(
        self,
        kube: Kube,
        kind: Kind,
        handle: Handler,
        namespace: str | None = None,
        labels: dict[str, Any] | None = None,
        quiet_seconds: float = 120.0,
    ) -> None:
        self.kube, self.kind, self.handle = kube, kind, handle
        self.namespace, self.labels, self.quiet_seconds = namespace, labels, quiet_seconds
        self.synced = asyncio.Event()  # the first list has been handed over
        self.last_heard = time.monotonic()  # any event or bookmark: the stream is alive
        self._known: dict[tuple[str, str], Manifest] = {}

    async def run(self) -> None:
        version: str | None = None
        delay = 1.0
        while True:
            try:
                if version is None:
                    version = await self._list()
                version = await self._watch(version)
                delay = 1.0
            except Gone:
                version = None
            except (ApiFailure, TimeoutError) as e:
                log.warning("watch of %s: %s; again in %.0fs", self.kind.plural, e, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)
            except Exception:
                # Anything else (a handler's bug, a malformed line) must not end the watch for good: an
                # informer that stops is an operator that silently stops acting. List again.
                log.exception("watch of %s failed; listing again in %.0fs", self.kind.plural, delay)
                version = None
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)

    async def _list(self) -> str:
        present: set[tuple[str, str]] = set()
        version = ""
        async for items, page_version in self.kube.list_pages(self.kind, self.namespace, self.labels):
            self.last_heard, version = time.monotonic(), page_version
            for obj in items:
                key = _key(obj)
                present.add(key)
                self._known[key] = _tombstone(obj)
                self.handle("ADDED", obj)
        for key in [k for k in self._known if k not in present]:
            self.handle("DELETED", self._known.pop(key))
        self.synced.set()
        return version

    async def _watch(self, version: str) -> str:
        """Deliver events until the stream ends; the version to continue from."""
        stream = self.kube.watch(self.kind, self.namespace, self.labels, version)
        try:
            while True:
                try:
                    async with asyncio.timeout(self.quiet_seconds):
                        event_type, obj = await anext(stream)
                except StopAsyncIteration:
                    return version
                self.last_heard = time.monotonic()
                version = obj["metadata"].get("resourceVersion") or version
                if event_type == "BOOKMARK":
                    continue
                if event_type == "DELETED":
                    self._known.pop(_key(obj), None)
                else:
                    self._known[_key(obj)] = _tombstone(obj)
                self.handle(event_type, obj)
        finally:
            await stream.aclose()
