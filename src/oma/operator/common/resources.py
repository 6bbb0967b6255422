"""Compute and storage requests, merged and shaped the same way for workers, stacks and claims."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def merge_resources(
    requests: Mapping[str, str], limits: Mapping[str, str], override: Mapping[str, Any] | None
) -> dict[str, dict[str, str]]:
    """Defaults with `override`'s requests and limits on top, key by key."""
    out = {"requests": dict(requests), "limits": dict(limits)}
    for section in ("requests", "limits"):
        out[section].update((override or {}).get(section) or {})
    return out


def claim_spec(
    size: str, storage_class: str | None, access_modes: tuple[str, ...] = ("ReadWriteOnce",)
) -> dict[str, Any]:
    """A PersistentVolumeClaim's spec; no class means the cluster's default StorageClass."""
    spec: dict[str, Any] = {"accessModes": list(access_modes), "resources": {"requests": {"storage": size}}}
    if storage_class:
        spec["storageClassName"] = storage_class
    return spec
