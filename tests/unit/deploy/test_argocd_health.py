"""The Argo CD health checks, run by a real Lua 5.1 interpreter (Argo CD's gopher-lua is Lua 5.1)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from lupa import lua51

REPO = Path(__file__).resolve().parents[3]
ARGOCD = REPO / "deploy" / "argocd"


def health(kind: str, obj: dict[str, Any]) -> tuple[str, str]:
    """Runs the check as Argo CD does: `obj` is a global table, the chunk returns {status, message}."""
    lua = lua51.LuaRuntime(unpack_returned_tuples=True)
    lua.globals().obj = lua.table_from(obj, recursive=True)
    script = (ARGOCD / "health" / f"video.oma.ai_{kind}.lua").read_text()
    hs = lua.execute(script)
    return hs["status"], hs["message"]


def vj(phase: str | None, generation: int = 1, **status: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"apiVersion": "video.oma.ai/v1alpha1", "kind": "VideoJob"}
    body["metadata"] = {"name": "clip", "generation": generation}
    if phase is not None:
        body["status"] = {"phase": phase, "observedGeneration": 1, **status}
    return body


def cond(type_: str, status: str, reason: str, message: str) -> dict[str, str]:
    return {"type": type_, "status": status, "reason": reason, "message": message}


@pytest.mark.parametrize(
    ("obj", "want", "says"),
    [
        (vj(None), "Progressing", "Waiting for the oma operator"),
        (vj("Pending"), "Progressing", "Pending"),
        (
            vj(
                "Queued",
                conditions=[cond("Queued", "True", "ConcurrencyLimit", "waiting for one of 2 slots (position 3)")],
            ),
            "Progressing",
            "position 3",
        ),
        (
            vj("Queued", conditions=[cond("Queued", "True", "StackNotFound", "waiting for OmaStack media")]),
            "Progressing",
            "OmaStack media",
        ),
        (vj("Running", progress={"phase": "Encoding", "percent": 42.4}), "Progressing", "Running: 42% (Encoding)"),
        (vj("Running", generation=2), "Progressing", "generation 2"),
        (
            vj("Suspended", conditions=[cond("Suspended", "True", "Suspended", "spec.suspend is true")]),
            "Suspended",
            "suspend",
        ),
        (vj("Succeeded", outputs=[{"path": "a.mp4"}, {"path": "b.mp4"}]), "Healthy", "2 verified output(s)"),
        (
            vj("Failed", failure={"reason": "InputRefused", "message": "private address 10.0.0.1"}),
            "Degraded",
            "InputRefused: private address 10.0.0.1",
        ),
        (
            vj("Cancelled", conditions=[cond("Cancelled", "True", "Cancelled", "spec.cancel is true")]),
            "Healthy",
            "cancel",
        ),
    ],
)
def test_videojob_health(obj: dict[str, Any], want: str, says: str) -> None:
    status, message = health("VideoJob", obj)
    assert status == want and says in message, (status, message)


def stack(
    generation: int = 1, observed: int | None = 1, conditions: list[dict[str, str]] | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {"metadata": {"name": "oma", "generation": generation}}
    if conditions is not None or observed is not None:
        body["status"] = {"conditions": conditions or []}
        if observed is not None:
            body["status"]["observedGeneration"] = observed
    return body


@pytest.mark.parametrize(
    ("obj", "want", "says"),
    [
        ({"metadata": {"name": "oma", "generation": 1}}, "Progressing", "Waiting for the oma operator"),
        (stack(generation=2), "Progressing", "generation 2"),
        (stack(conditions=[]), "Progressing", "Ready condition"),
        (
            stack(conditions=[cond("Ready", "False", "ComponentsNotReady", "RedisReady: 0/1 ready")]),
            "Progressing",
            "RedisReady: 0/1 ready",
        ),
        (
            stack(conditions=[cond("Ready", "False", "ReconcileFailed", "StatefulSet oma-redis: forbidden")]),
            "Degraded",
            "ReconcileFailed: StatefulSet oma-redis: forbidden",
        ),
        (stack(conditions=[cond("Ready", "True", "AllComponentsReady", "all ready")]), "Healthy", "all ready"),
        (
            stack(
                conditions=[
                    cond("Ready", "True", "AllComponentsReady", "all ready"),
                    cond("MonitoringReady", "False", "PrometheusOperatorNotInstalled", "CRDs are not installed"),
                ]
            ),
            "Healthy",
            "monitoring: CRDs are not installed",
        ),
    ],
)
def test_omastack_health(obj: dict[str, Any], want: str, says: str) -> None:
    status, message = health("OmaStack", obj)
    assert status == want and says in message, (status, message)


def test_argocd_cm_carries_the_same_scripts() -> None:
    cm = yaml.safe_load((ARGOCD / "argocd-cm.yaml").read_text())
    for kind in ("VideoJob", "OmaStack"):
        script = (ARGOCD / "health" / f"video.oma.ai_{kind}.lua").read_text()
        assert cm["data"][f"resource.customizations.health.video.oma.ai_{kind}"] == script, f"{kind}: copy the .lua"


def test_application_points_at_the_chart() -> None:
    app = yaml.safe_load((ARGOCD / "application.yaml").read_text())
    source = app["spec"]["source"]
    assert (REPO / source["path"] / "Chart.yaml").exists()
    chart = yaml.safe_load((REPO / source["path"] / "Chart.yaml").read_text())
    assert source["targetRevision"] == f"v{chart['appVersion']}"
    assert "ServerSideApply=true" in app["spec"]["syncPolicy"]["syncOptions"]
    assert re.fullmatch(r"[a-z0-9-]+", source["helm"]["releaseName"])
