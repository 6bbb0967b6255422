"""The Argo CD health checks, run by a real Lua 5.1 interpreter (Argo CD's gopher-lua is Lua 5.1)."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from lupa import lua51

REPO = Path(__file__).resolve().parents[3]
ARGOCD = REPO / "deploy" / "argocd"


# Argo CD runs a health script from argocd-cm in gopher-lua with SkipOpenLibs, then opens only package, base,
# table and a "safe" os holding time and date (argo-cd util/lua/lua.go runLua, util/lua/oslib_safe.go); string,
# math, io and debug are absent unless resource.customizations.useOpenLibs.<group_kind> is true. gopher-lua's base
# library is Lua 5.1's, so these are the globals a script may read there.
_BASE_NAMES = """
assert collectgarbage dofile error getfenv getmetatable ipairs load loadfile loadstring module newproxy next pairs
pcall print rawequal rawget rawset require select setfenv setmetatable tonumber tostring type unpack xpcall _VERSION
"""
ARGO_BASE = _BASE_NAMES.split()
SANDBOX = """
local base, script, obj = ...
local env = {obj = obj, table = table, package = package, os = {time = os.time, date = os.date}}
for _, name in ipairs(base) do env[name] = _G[name] end
env._G = env
local chunk = assert(loadstring(script, "health.lua"))
setfenv(chunk, env)
-- Without the string library gopher-lua gives strings no metatable, so ("%d"):format(1) fails there too.
local strmeta = debug.getmetatable("")
debug.setmetatable("", nil)
local ok, result = pcall(chunk)
debug.setmetatable("", strmeta)
if not ok then error(result, 0) end
return result
"""


def health(kind: str, obj: dict[str, Any]) -> tuple[str, str]:
    """Runs the check as Argo CD does by default: `obj` is a global table, the chunk returns {status, message},
    and only Argo CD's default libraries are there."""
    lua = lua51.LuaRuntime(unpack_returned_tuples=True)
    run = lua.execute(f"return function(...) {SANDBOX} end")
    script = (ARGOCD / "health" / f"video.oma.ai_{kind}.lua").read_text()
    hs = run(lua.table_from(ARGO_BASE), script, lua.table_from(obj, recursive=True))
    return hs["status"], hs["message"]


@pytest.mark.parametrize("reach", ["string.format('%d', 1)", "('%d'):format(1)", "math.floor(1.5)", "io.write('x')"])
def test_the_sandbox_lacks_what_argo_cd_lacks(reach: str) -> None:
    lua = lua51.LuaRuntime(unpack_returned_tuples=True)
    run = lua.execute(f"return function(...) {SANDBOX} end")
    with pytest.raises(lua51.LuaError):
        run(lua.table_from(ARGO_BASE), f"return {{status = {reach}}}", lua.table_from({}))


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
        (
            stack(conditions=[cond("Ready", "False", "ProgressDeadlineExceeded", "RedisReady: 0/1 ready")]),
            "Degraded",
            "ProgressDeadlineExceeded: RedisReady: 0/1 ready",
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


def test_argocd_config_is_generated_from_the_scripts() -> None:
    sys.path.insert(0, str(REPO / "hack"))
    try:
        import argocd_config
    finally:
        sys.path.pop(0)
    stale = [
        path.name
        for path, want in (
            (ARGOCD / "argocd-cm.yaml", argocd_config.argocd_cm()),
            (ARGOCD / "argo-cd-values.yaml", argocd_config.helm_values()),
        )
        if path.read_text() != want
    ]
    assert not stale, f"{stale}: run .venv/bin/python hack/argocd_config.py"
    cm = yaml.safe_load((ARGOCD / "argocd-cm.yaml").read_text())["data"]
    chart = yaml.safe_load((ARGOCD / "argo-cd-values.yaml").read_text())["configs"]["cm"]
    for data in (cm, chart):
        assert data["application.resourceTrackingMethod"] == "annotation"
        assert not any(k.startswith("resource.customizations.useOpenLibs") for k in data)
        for kind in ("VideoJob", "OmaStack"):
            script = (ARGOCD / "health" / f"video.oma.ai_{kind}.lua").read_text()
            assert data[f"resource.customizations.health.video.oma.ai_{kind}"] == script


def test_application_points_at_the_chart() -> None:
    app = yaml.safe_load((ARGOCD / "application.yaml").read_text())
    source = app["spec"]["source"]
    assert (REPO / source["path"] / "Chart.yaml").exists()
    chart = yaml.safe_load((REPO / source["path"] / "Chart.yaml").read_text())
    assert source["targetRevision"] == f"v{chart['appVersion']}"
    assert "ServerSideApply=true" in app["spec"]["syncPolicy"]["syncOptions"]
    assert re.fullmatch(r"[a-z0-9-]+", source["helm"]["releaseName"])
