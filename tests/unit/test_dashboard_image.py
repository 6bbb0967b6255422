"""The dashboard image cannot be built here (no Docker engine); check that it agrees with the stack's Deployment
and the package."""

from __future__ import annotations

import tomllib
from pathlib import Path

from oma.models.omastack import OmaStack
from oma.operator.omastack.builders.common import APP_UID, DASHBOARD_PORT
from oma.operator.omastack.builders.dashboard import build_dashboard_deployment

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = (REPO / "dashboard-image" / "Dockerfile").read_text()
RUNTIME = DOCKERFILE.split("# --- runtime")[1]


def test_runs_as_the_uid_and_port_the_stack_expects() -> None:
    stack = OmaStack.model_validate({"metadata": {"name": "s", "namespace": "n", "uid": "u"}})
    pod = build_dashboard_deployment(stack)["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsUser"] == APP_UID and f"USER {APP_UID}:{APP_UID}" in RUNTIME
    assert pod["containers"][0]["ports"][0]["containerPort"] == DASHBOARD_PORT
    assert f"EXPOSE {DASHBOARD_PORT}" in RUNTIME and f'"--port", "{DASHBOARD_PORT}"' in RUNTIME
    assert "command" not in pod["containers"][0]  # the image's ENTRYPOINT and CMD start it
    assert stack.spec.dashboard.image.startswith("ghcr.io/oma-video/oma-dashboard:")


def test_installs_the_dashboard_extra_with_its_templates_and_no_ffmpeg() -> None:
    assert "'.[dashboard]'" in DOCKERFILE and "ffmpeg" not in RUNTIME
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert "fastapi" in " ".join(project["project"]["optional-dependencies"]["dashboard"])
    data = project["tool"]["setuptools"]["package-data"]["oma.dashboard"]
    assert {"templates/*.html", "static/*", "migrations/*.sql", "presets.yaml"} <= set(data)


def test_read_only_root_has_a_writable_tmp() -> None:
    assert "TMPDIR=/tmp" in RUNTIME and "PYTHONDONTWRITEBYTECODE=1" in RUNTIME
