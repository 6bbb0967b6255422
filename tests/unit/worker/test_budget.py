"""The work budget: what a plan will cost, and the checks that stop it."""

from __future__ import annotations

from pathlib import Path

import pytest

from oma.models.videojob import Limits, VideoJobSpec
from oma.worker import budget
from oma.worker.exitcodes import Exit, WorkerError


def spec(limits: dict[str, object] | None = None, **outputs: object) -> VideoJobSpec:
    return VideoJobSpec.model_validate(
        {
            "inputs": [{"titleCard": {"text": "t", "durationSeconds": 1}}],
            "outputs": outputs,
            "destination": {"claimName": "out"},
            "limits": limits or {},
        }
    )


def test_estimate_counts_every_file_and_frame_of_a_ladder_and_thumbnails() -> None:
    s = spec(
        mp4=[{"name": "a", "width": 320, "height": 180, "fps": 60}],
        hls={"segmentSeconds": 4, "renditions": [{"name": "r1", "width": 320, "height": 180}] * 2},
        thumbnails={"everySeconds": 5, "sprite": True},
    )
    work = budget.estimate(s, seconds=20, source_fps=25)
    # 1 mp4; master + 2 rungs x (playlist + 5 segments); 4 thumbnails + the sprite
    assert work.files == 1 + 1 + 2 * 6 + 4 + 1
    assert work.frames == 20 * (60 + 25 + 25) + 4
    assert work.min_bytes == 20 * 3 * 128_000 // 8  # CRF rungs: only their audio is certain


def test_bitrate_rungs_count_their_video_in_the_minimum_bytes() -> None:
    s = spec(mp4=[{"name": "a", "width": 320, "height": 180, "bitrate": "2M", "audioBitrate": "64k"}])
    assert budget.estimate(s, seconds=8, source_fps=30).min_bytes == 8 * 2_064_000 // 8


@pytest.mark.parametrize(
    ("limits", "field"),
    [
        ({"maxOutputFiles": 10}, "maxOutputFiles"),
        ({"maxEncodedFrames": 1000}, "maxEncodedFrames"),
        ({"maxOutputBytes": 1024**2}, "maxOutputBytes"),
    ],
)
def test_a_plan_over_a_total_is_refused_with_exit_11_naming_it(limits: dict[str, object], field: str) -> None:
    s = spec(
        limits, hls={"segmentSeconds": 1, "renditions": [{"name": "r", "width": 320, "height": 180, "bitrate": "5M"}]}
    )
    work = budget.estimate(s, seconds=60, source_fps=30)
    with pytest.raises(WorkerError) as e:
        budget.check_plan(s.limits, work)
    assert e.value.code == Exit.INPUT_REFUSED and e.value.reason == "BudgetExceeded"
    assert f"limits.{field}=" in e.value.message


def test_the_defaults_let_the_default_largest_input_through_a_full_ladder() -> None:
    rungs = [{"name": f"r{i}", "width": 1920, "height": 1080} for i in range(8)]
    s = spec(mp4=rungs, hls={"renditions": rungs}, thumbnails={"everySeconds": 10})
    work = budget.estimate(s, seconds=Limits().max_input_seconds, source_fps=30)
    budget.check_plan(Limits(), work)  # 4 h at 30 fps through 16 rungs: no refusal


def test_a_sprite_beyond_16384_px_a_side_is_refused() -> None:
    budget.check_sprite(100, 320, 180)  # 3200 x 1800
    with pytest.raises(WorkerError, match="sprite") as e:
        budget.check_sprite(1000, 320, 180)  # 100 rows of 180 px
    assert e.value.code == Exit.INPUT_REFUSED


def test_watch_stops_on_frames_time_files_and_bytes(tmp_path: Path) -> None:
    partial = tmp_path / ".thumbs.x.partial"
    partial.mkdir()
    for i in range(3):
        (partial / f"t{i}.jpg").write_bytes(b"x" * 1000)
    limits = Limits.model_validate({"maxEncodedFrames": 100, "maxEncodeSeconds": 10, "maxOutputFiles": 2})
    watch = budget.Watch(limits, frames_per_second=30, partials=[partial, tmp_path / "missing"], started=100.0)
    assert watch.progress(3.0) is None and watch.progress(4.0) is not None
    over = watch.clock_and_disk(now=111.0)
    assert over is not None and "maxEncodeSeconds" in over.message
    over = watch.clock_and_disk(now=101.0)
    assert over is not None and "3 files" in over.message
    assert budget.disk_usage([partial]) == (3, 3000)
