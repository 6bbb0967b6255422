"""Real ffmpeg: test media is generated with lavfi sources, nothing is downloaded."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest


def make_clip(path: Path, seconds: float = 4, size: str = "640x360", rate: int = 25, audio: bool = True) -> Path:
    cmd = [
        "ffmpeg",
        "-nostdin",
        "-loglevel",
        "error",
        "-y",
        "-f",
        "lavfi",
        "-i",
        f"testsrc2=size={size}:rate={rate}:duration={seconds}",
    ]
    if audio:
        cmd += ["-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={seconds}"]
    cmd += ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"]
    if audio:
        cmd += ["-c:a", "aac", "-shortest"]
    subprocess.run([*cmd, str(path)], check=True)
    return path


@pytest.fixture(scope="session")
def media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A volume directory holding clip.mp4 (4 s, 640x360, 25 fps, with audio)."""
    root = tmp_path_factory.mktemp("media")
    make_clip(root / "clip.mp4")
    return root
