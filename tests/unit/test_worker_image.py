"""The worker image cannot be built here (no Docker engine); check that it agrees with the code that relies on it."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from oma.models.videojob import VideoJob
from oma.operator.videojob import builders
from oma.worker.text import FONT

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = (REPO / "worker-image" / "Dockerfile").read_text()


def runtime_stage() -> str:
    return DOCKERFILE.split("# --- runtime")[1]


def test_runs_as_the_uid_the_operator_asks_for() -> None:
    pod = builders.build_job(
        VideoJob.model_validate(
            {
                "metadata": {"name": "x", "uid": "u"},
                "spec": {
                    "inputs": [{"titleCard": {"text": "t", "durationSeconds": 1}}],
                    "outputs": {"mp4": [{"name": "a", "width": 320, "height": 240}]},
                    "destination": {"claimName": "m"},
                },
            }
        ),
        builders.WorkerDefaults(),
    )["spec"]["template"]["spec"]
    uid = pod["securityContext"]["runAsUser"]
    assert f"USER {uid}:{uid}" in runtime_stage()


def test_entrypoint_is_the_command_the_job_runs() -> None:
    assert 'ENTRYPOINT ["oma"]' in DOCKERFILE and 'CMD ["worker"]' in DOCKERFILE
    scripts = (REPO / "pyproject.toml").read_text()
    assert 'oma = "oma.cli.main:main"' in scripts


def test_scratch_and_home_are_on_the_writable_volume() -> None:
    assert builders.SCRATCH == "/tmp"
    assert "TMPDIR=/tmp" in runtime_stage() and "HOME=/tmp" in runtime_stage()
    assert "PYTHONDONTWRITEBYTECODE=1" in runtime_stage()


@pytest.mark.skipif(shutil.which("dpkg") is None, reason="needs a Debian system")
def test_the_font_the_worker_uses_is_what_the_image_installs() -> None:
    assert "fonts-dejavu-core" in runtime_stage()
    files = subprocess.run(["dpkg", "-L", "fonts-dejavu-core"], capture_output=True, text=True, check=True).stdout
    assert str(FONT) in files.splitlines()


def test_base_images_are_pinned_to_a_release() -> None:
    # `FROM ${BASE}`: the published default is the ARG's; hack/build-images.sh passes its local Debian base.
    args = dict(re.findall(r"^ARG (\w+)=(\S+)", DOCKERFILE, flags=re.M))
    froms = re.findall(r"^FROM (\S+)", DOCKERFILE, flags=re.M)
    bases = [re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], b) for b in froms]
    assert args.get("BASE") == "debian:bookworm-slim"
    assert bases and all(":" in b and not b.endswith(":latest") for b in bases)
