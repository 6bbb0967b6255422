"""Helpers of the operator tests. Their fixtures (the session's operator, the media PVC, the stalling server) live in
tests/integration/conftest.py, so the dashboard tests share the same ones."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from lightkube import Client
from lightkube.core.exceptions import ApiError

from oma.k8s.resources import VideoJobResource

REPO = Path(__file__).resolve().parents[3]


def videojob(name: str, **spec: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "inputs": [{"titleCard": {"text": name, "durationSeconds": 2, "width": 320, "height": 240, "fps": 10}}],
        "outputs": {"mp4": [{"name": "out", "width": 320, "height": 240, "preset": "ultrafast"}]},
        "destination": {"claimName": "media", "pathPrefix": name},
    }
    base.update(spec)
    return {"apiVersion": "video.oma.ai/v1alpha1", "kind": "VideoJob", "metadata": {"name": name}, "spec": base}


def get_vj(kube: Client, ns: str, name: str) -> dict[str, Any]:
    return kube.get(VideoJobResource, name, namespace=ns).to_dict()  # type: ignore[no-any-return]


def phase_is(kube: Client, ns: str, name: str, *phases: str) -> dict[str, Any] | None:
    try:
        vj = get_vj(kube, ns, name)
    except ApiError:
        return None
    return vj if (vj.get("status") or {}).get("phase") in phases else None


def example(name: str) -> dict[str, Any]:
    return yaml.safe_load((REPO / "examples" / name).read_text())  # type: ignore[no-any-return]
