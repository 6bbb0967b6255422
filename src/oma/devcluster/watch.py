"""List-then-watch that never gives up: what the node runner and the provisioner follow the apiserver with."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from lightkube import AsyncClient

log = logging.getLogger("oma.devnode")


async def list_watch(
    client: AsyncClient,
    res: Any,
    handle: Callable[[str, Any], Awaitable[None]],
    first: asyncio.Event | None = None,
    **kw: Any,
) -> None:
    """List, then watch from the list's resourceVersion; relist after any error (410 Gone included).

    `first` is set once the first listing has been handled, so a caller knows it has seen everything.
    """
    while True:
        try:
            listing = client.list(res, **kw)
            async for obj in listing:
                await handle("ADDED", obj)
            if first is not None:
                first.set()
            async for op, obj in client.watch(res, resource_version=listing.resourceVersion, **kw):
                await handle(op, obj)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("watch of %s failed; relisting", res.__name__)
            await asyncio.sleep(1)
