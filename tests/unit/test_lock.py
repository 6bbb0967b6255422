"""requirements.lock stays in sync with pyproject.toml and the venv (`make lock` regenerates it)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_the_lock_covers_pyproject_and_is_what_is_installed() -> None:
    done = subprocess.run([sys.executable, str(REPO / "hack" / "lock.py"), "check"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_every_line_is_an_exact_pin_marked_runtime_or_dev() -> None:
    lines = [ln for ln in (REPO / "requirements.lock").read_text().splitlines() if not ln.startswith("#")]
    assert lines
    for line in lines:
        spec, _, kind = line.partition("  # ")
        assert "==" in spec and kind in ("runtime", "dev"), line
    kinds = {line.split("  # ")[0].split("==")[0]: line.split("  # ")[1] for line in lines}
    assert kinds["kopf"] == "runtime" and kinds["pydantic"] == "runtime" and kinds["ffmpeg-python"] == "runtime"
    assert kinds["pytest"] == "dev" and kinds["hypothesis"] == "dev"
