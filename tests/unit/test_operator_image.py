"""The operator image cannot be built here (no Docker engine); check that it agrees with the chart and the code."""

from __future__ import annotations

from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = (REPO / "operator-image" / "Dockerfile").read_text()
DEPLOYMENT = (REPO / "charts" / "oma-operator" / "templates" / "deployment.yaml").read_text()
VALUES = yaml.safe_load((REPO / "charts" / "oma-operator" / "values.yaml").read_text())


def runtime_stage() -> str:
    return DOCKERFILE.split("# --- runtime")[1]


def test_runs_as_the_uid_the_chart_asks_for() -> None:
    assert "runAsUser: 65532" in DEPLOYMENT and "USER 65532:65532" in runtime_stage()


def test_the_chart_runs_the_images_command() -> None:
    assert 'ENTRYPOINT ["oma"]' in DOCKERFILE and 'CMD ["operator"]' in DOCKERFILE
    assert 'command: ["oma", "operator"]' in DEPLOYMENT
    assert 'oma = "oma.cli.main:main"' in (REPO / "pyproject.toml").read_text()


def test_read_only_root_has_a_writable_tmp() -> None:
    assert "readOnlyRootFilesystem: true" in DEPLOYMENT and "mountPath: /tmp" in DEPLOYMENT
    assert "TMPDIR=/tmp" in runtime_stage() and "PYTHONDONTWRITEBYTECODE=1" in runtime_stage()


def test_exposed_ports_are_the_default_values() -> None:
    assert f"EXPOSE {VALUES['metrics']['port']} {VALUES['health']['port']}" in runtime_stage()


def test_no_ffmpeg_in_the_operator_image() -> None:
    assert "ffmpeg" not in runtime_stage()
