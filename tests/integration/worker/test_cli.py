"""`oma run`: the worker on this machine, as a user calls it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[3]

pytestmark = pytest.mark.ffmpeg


def oma(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "oma.cli.main", *args], capture_output=True, text=True)


def test_title_card_example_prints_its_outputs(tmp_path: Path) -> None:
    out = oma("run", "-f", str(REPO / "examples" / "title-card.yaml"), "-o", str(tmp_path))
    assert out.returncode == 0, out.stderr
    paths = [Path(p) for p in out.stdout.split()]
    assert tmp_path / "title-card" / "title-720p.mp4" in paths
    assert tmp_path / "title-card" / "hls" / "master.m3u8" in paths
    assert all(p.exists() for p in paths)


def test_transcode_hls_example_runs_on_a_local_file(tmp_path: Path) -> None:
    from .conftest import make_clip

    sources = tmp_path / "sources"
    sources.mkdir()
    make_clip(sources / "input.mp4", seconds=12, size="1280x720")
    out = oma(
        "run",
        "-f",
        str(REPO / "examples" / "transcode-hls.yaml"),
        "-o",
        str(tmp_path / "out"),
        "--volume",
        f"sources={sources}",
    )
    assert out.returncode == 0, out.stderr
    master = tmp_path / "out" / "transcode-hls" / "hls" / "master.m3u8"
    assert master.read_text().count("#EXT-X-STREAM-INF") == 3
    assert len(list((tmp_path / "out" / "transcode-hls" / "thumbs").glob("thumb_*.jpg"))) >= 1


def write_job(tmp_path: Path, inputs: list[dict[str, object]]) -> Path:
    job = {
        "apiVersion": "video.oma.ai/v1alpha1",
        "kind": "VideoJob",
        "metadata": {"name": "x"},
        "spec": {
            "inputs": inputs,
            "outputs": {"mp4": [{"name": "a", "width": 320, "height": 180}]},
            "destination": {"claimName": "out"},
        },
    }
    path = tmp_path / "job.yaml"
    path.write_text(yaml.safe_dump(job))
    return path


def test_ssrf_attempt_is_refused_with_exit_11(tmp_path: Path) -> None:
    out = oma(
        "run",
        "-f",
        str(write_job(tmp_path, [{"url": "http://169.254.169.254/latest/video.mp4"}])),
        "-o",
        str(tmp_path / "o"),
    )
    assert out.returncode == 11
    assert "InputRefused" in out.stderr and "non-public address" in out.stderr


def test_traversal_attempt_is_refused_with_exit_10_naming_the_field(tmp_path: Path) -> None:
    job = write_job(tmp_path, [{"pvc": {"claimName": "media", "path": "../../etc/passwd"}}])
    out = oma("run", "-f", str(job), "-o", str(tmp_path / "o"), "--volume", f"media={tmp_path}")
    assert out.returncode == 10 and "inputs.0.pvc.path" in out.stderr


def test_invalid_spec_exits_10_with_the_field(tmp_path: Path) -> None:
    job = write_job(tmp_path, [{"url": "http://example.com/a.mp4", "titleCard": {"text": "x", "durationSeconds": 1}}])
    out = oma("run", "-f", str(job), "-o", str(tmp_path / "o"))
    assert out.returncode == 10 and "exactly one of url, pvc or titleCard" in out.stderr
