"""Each work budget stops a job that exceeds it, exits 11 naming the limit, and leaves no file behind."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from oma.models.exitcodes import Exit
from oma.models.videojob import VideoJobSpec
from oma.worker import budget
from oma.worker.execute import Volumes, execute
from oma.worker.exitcodes import WorkerError

from .conftest import make_clip

pytestmark = pytest.mark.ffmpeg


def run_job(tmp_path: Path, spec: dict[str, Any], volume: Path | None = None) -> subprocess.CompletedProcess[str]:
    job = {"apiVersion": "video.oma.ai/v1alpha1", "kind": "VideoJob", "metadata": {"name": "b"}, "spec": spec}
    path = tmp_path / "job.yaml"
    path.write_text(yaml.safe_dump(job))
    args = ["run", "-f", str(path), "-o", str(tmp_path / "out")]
    if volume is not None:
        args += ["--volume", f"media={volume}"]
    return subprocess.run([sys.executable, "-m", "oma.cli.main", *args], capture_output=True, text=True)


def files_left(tmp_path: Path) -> list[Path]:
    return [p for p in (tmp_path / "out").rglob("*") if p.is_file()]


@pytest.fixture(scope="module")
def noise(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A volume with noise.mp4: 8 s of testsrc2 at 1280x720, which compresses badly at CRF 0."""
    root = tmp_path_factory.mktemp("noise")
    make_clip(root / "noise.mp4", seconds=8, size="1280x720")
    return root


def card(seconds: float = 4) -> dict[str, Any]:
    return {"titleCard": {"text": "budget", "durationSeconds": seconds, "width": 320, "height": 180}}


@pytest.mark.parametrize(
    ("limits", "outputs", "field"),
    [
        ({"maxOutputFiles": 3}, {"thumbnails": {"everySeconds": 1}}, "maxOutputFiles"),
        ({"maxEncodedFrames": 50}, {"mp4": [{"name": "a", "width": 320, "height": 180}]}, "maxEncodedFrames"),
        (
            {"maxOutputBytes": 1024**2},
            {"mp4": [{"name": "a", "width": 320, "height": 180, "bitrate": "20M"}]},
            "maxOutputBytes",
        ),
    ],
)
def test_a_plan_over_budget_is_refused_before_any_work(
    tmp_path: Path, limits: dict[str, Any], outputs: dict[str, Any], field: str
) -> None:
    out = run_job(
        tmp_path, {"inputs": [card()], "outputs": outputs, "destination": {"claimName": "o"}, "limits": limits}
    )
    assert out.returncode == 11, out.stderr
    assert "BudgetExceeded" in out.stderr and f"limits.{field}=" in out.stderr
    assert files_left(tmp_path) == []


def test_bytes_written_over_budget_stop_ffmpeg_and_remove_partials(tmp_path: Path, noise: Path) -> None:
    spec = {
        "inputs": [{"pvc": {"claimName": "media", "path": "noise.mp4"}}],
        "outputs": {"mp4": [{"name": "big", "width": 1280, "height": 720, "crf": 0, "preset": "ultrafast"}]},
        "destination": {"claimName": "o"},
        "limits": {"maxOutputBytes": 1024**2},
    }
    out = run_job(tmp_path, spec, noise)
    assert out.returncode == 11, out.stderr
    assert "the job wrote" in out.stderr and "limits.maxOutputBytes=1048576" in out.stderr
    assert files_left(tmp_path) == []


def test_encode_time_over_budget_stops_ffmpeg_and_removes_partials(tmp_path: Path, noise: Path) -> None:
    spec = {
        "inputs": [{"pvc": {"claimName": "media", "path": "noise.mp4"}}],
        "outputs": {
            "mp4": [{"name": f"slow{i}", "width": 1280, "height": 720, "preset": "veryslow"} for i in range(4)],
        },
        "destination": {"claimName": "o"},
        "limits": {"maxEncodeSeconds": 1},
    }
    out = run_job(tmp_path, spec, noise)
    assert out.returncode == 11, out.stderr
    assert "the encode ran" in out.stderr and "limits.maxEncodeSeconds=1" in out.stderr
    assert files_left(tmp_path) == []


def test_two_identical_title_cards_render(tmp_path: Path) -> None:
    """Found while refactoring: this spec used to end in a traceback and exit 1."""
    spec = {"inputs": [card(1), card(1)], "outputs": {"mp4": [{"name": "a", "width": 320, "height": 180}]}}
    out = run_job(tmp_path, {**spec, "destination": {"claimName": "o"}})
    assert out.returncode == 0, out.stderr
    assert [p.name for p in files_left(tmp_path)] == ["a.mp4"]


class Quiet:
    def progress(self, progress: object) -> None:
        pass


@pytest.mark.parametrize(
    ("limits", "outputs", "field"),
    [
        ({"maxOutputFiles": 3}, {"thumbnails": {"everySeconds": 1}}, "maxOutputFiles"),
        (
            {"maxEncodedFrames": 60},
            {"mp4": [{"name": "a", "width": 320, "height": 180, "preset": "ultrafast"}]},
            "maxEncodedFrames",
        ),
    ],
)
def test_a_source_longer_than_its_probe_is_stopped_while_running(
    tmp_path: Path,
    noise: Path,
    monkeypatch: pytest.MonkeyPatch,
    limits: dict[str, Any],
    outputs: dict[str, Any],
    field: str,
) -> None:
    """A hostile file can claim a short duration and decode to hours: the plan-time check then passes. Here it is
    switched off to stand for that lie, so only the watch on the running ffmpeg can stop the job."""
    monkeypatch.setattr(budget, "check_plan", lambda limits, work: None)
    spec = VideoJobSpec.model_validate(
        {
            "inputs": [{"pvc": {"claimName": "media", "path": "noise.mp4"}}],
            "outputs": outputs,
            "destination": {"claimName": "o"},
            "limits": limits,
        }
    )
    dest = tmp_path / "out"
    with pytest.raises(WorkerError) as e:
        execute(spec, dest, Volumes(noise, {"media": noise}), Quiet())
    assert e.value.code == Exit.INPUT_REFUSED and e.value.reason == "BudgetExceeded"
    assert f"limits.{field}=" in e.value.message and "the job " in e.value.message
    assert [p for p in dest.rglob("*") if p.is_file()] == []
