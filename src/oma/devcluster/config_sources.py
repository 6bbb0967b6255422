"""The ConfigMaps and Secrets a pod refers to (volumes, envFrom, env), read as kubelet reads them.

A missing object is worth waiting for (PodConfigError, retried) unless the reference is optional.
"""

from __future__ import annotations

import base64
from typing import TypeVar

from lightkube import AsyncClient
from lightkube.core.exceptions import ApiError
from lightkube.resources.core_v1 import ConfigMap, Secret

from .podspec import PodConfigError

Source = TypeVar("Source", ConfigMap, Secret)


async def configmap_data(client: AsyncClient, ns: str, name: str, optional: bool) -> dict[str, bytes]:
    cm = await _referenced(client, ConfigMap, ns, name, optional)
    return {k: v.encode() for k, v in ((cm.data if cm else None) or {}).items()}


async def secret_data(client: AsyncClient, ns: str, name: str, optional: bool) -> dict[str, bytes]:
    s = await _referenced(client, Secret, ns, name, optional)
    if s is None:
        return {}
    data = {k: base64.b64decode(v) for k, v in (s.data or {}).items()}
    data.update({k: v.encode() for k, v in (s.stringData or {}).items()})
    return data


async def _referenced(client: AsyncClient, kind: type[Source], ns: str, name: str, optional: bool) -> Source | None:
    """The object, or None when it is missing and the reference says that is fine."""
    try:
        return await client.get(kind, name, namespace=ns)
    except ApiError as e:
        if e.status.code == 404 and optional:
            return None
        raise PodConfigError(f'{kind.__name__.lower()} "{name}" not found') from e
