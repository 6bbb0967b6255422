"""The worker's in-process MP4 reader agrees with ffprobe on what the worker checks, and gives up cleanly."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from oma.worker import mp4
from oma.worker.probe import probe

pytestmark = pytest.mark.ffmpeg

CASES = {
    "h264 with audio": ["-c:v", "libx264", "-preset", "ultrafast"],
    "h264 with B-frames": ["-c:v", "libx264", "-preset", "fast", "-bf", "3"],
    "hevc tagged hvc1": ["-c:v", "libx265", "-preset", "ultrafast", "-tag:v", "hvc1", "-x265-params", "log-level=0"],
    "moov at the end": ["-c:v", "libx264", "-preset", "ultrafast", "-movflags", "0"],
}


@pytest.mark.parametrize("args", CASES.values(), ids=CASES.keys())
@pytest.mark.parametrize(("size", "rate", "seconds"), [("320x240", "25", "2.2"), ("426x240", "30000/1001", "1.5")])
def test_it_reads_what_ffprobe_reads(tmp_path: Path, args: list[str], size: str, rate: str, seconds: str) -> None:
    out = tmp_path / "o.mp4"
    lavfi = ["-f", "lavfi", "-i", f"testsrc2=size={size}:rate={rate}:duration={seconds}"]
    audio = ["-f", "lavfi", "-i", f"sine=duration={seconds}", "-c:a", "aac"]
    faststart = [] if "-movflags" in args else ["-movflags", "+faststart"]
    subprocess.run(["ffmpeg", "-v", "error", "-y", *lavfi, *audio, *args, *faststart, str(out)], check=True)
    ours, theirs = mp4.read(out), probe(str(out))
    assert ours is not None
    assert (ours.video_codec, ours.width, ours.height, ours.has_audio, ours.size_bytes) == (
        theirs.video_codec,
        theirs.width,
        theirs.height,
        theirs.has_audio,
        theirs.size_bytes,
    )
    assert theirs.fps is not None and ours.fps is not None
    assert abs(ours.duration - theirs.duration) < 1 / theirs.fps
    assert abs(ours.fps - theirs.fps) < 0.01


def test_it_gives_up_on_what_it_does_not_know(tmp_path: Path) -> None:
    ts = tmp_path / "o.ts"
    subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=64x36:duration=0.5",
            "-c:v",
            "libx264",
            str(ts),
        ],
        check=True,
    )
    good = tmp_path / "good.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(ts), "-c", "copy", str(good)], check=True)
    truncated = tmp_path / "cut.mp4"
    truncated.write_bytes(good.read_bytes()[:200])
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    assert mp4.read(good) is not None
    for path in (ts, truncated, empty, tmp_path / "missing.mp4"):
        assert mp4.read(path) is None, path
