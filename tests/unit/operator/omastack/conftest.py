"""Helpers for OmaStack's pure tests: a stack from a spec, children by (kind, name)."""

from __future__ import annotations

from typing import Any

from oma.models.omastack import OmaStack


def stack(**spec: Any) -> OmaStack:
    return OmaStack.model_validate({"metadata": {"name": "s", "namespace": "ns", "uid": "uid-9"}, "spec": spec})


def by_kind(manifests: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(m["kind"], m["metadata"]["name"]): m for m in manifests}
