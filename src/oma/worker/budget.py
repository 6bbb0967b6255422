"""The work budget (`spec.limits` totals): estimated at plan time from the probed sources, enforced while ffmpeg runs.

Pure but for `disk_usage`, which reads the partial outputs' sizes.
"""

from __future__ import annotations

import math
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from oma.models.videojob import Limits, Rendition, VideoJobSpec

from .exitcodes import Exit, WorkerError

# Browsers and image libraries refuse pictures beyond 16384 px a side; ffmpeg's JPEG encoder stops at 65535.
MAX_SPRITE_SIDE = 16384
SPRITE_COLUMNS = 10


@dataclass(frozen=True)
class Work:
    """What a plan will produce, from the probed sources (a hostile source can lie; the run is watched too)."""

    files: int
    frames: int
    min_bytes: int  # what the asked bitrates alone will write; CRF outputs count their audio only
    frames_per_second: float  # frames encoded per second of output, over every output


def _rungs(spec: VideoJobSpec) -> list[Rendition]:
    return [*spec.outputs.mp4, *(spec.outputs.hls.renditions if spec.outputs.hls else [])]


def _bits_per_second(value: str) -> int:
    return int(value[:-1]) * (1000 if value[-1] == "k" else 1_000_000)


def estimate(spec: VideoJobSpec, seconds: float, source_fps: float) -> Work:
    """Files, frames and bytes for `seconds` of output at `source_fps` (the joined stream's rate)."""
    out = spec.outputs
    per_second = 0.0
    min_bits = 0.0
    for r in _rungs(spec):
        per_second += r.fps or source_fps
        min_bits += (_bits_per_second(r.bitrate) if r.bitrate else 0) + _bits_per_second(r.audio_bitrate)
    files = len(out.mp4)
    if out.hls:
        segments = max(1, math.ceil(seconds / out.hls.segment_seconds))
        files += 1 + len(out.hls.renditions) * (segments + 1)  # master, and per rung its playlist and segments
    if out.thumbnails:
        per_second += 1 / out.thumbnails.every_seconds
        files += max(1, math.ceil(seconds / out.thumbnails.every_seconds)) + (1 if out.thumbnails.sprite else 0)
    return Work(
        files=files,
        frames=math.ceil(seconds * per_second),
        min_bytes=math.ceil(min_bits * seconds / 8),
        frames_per_second=per_second,
    )


def _exceeded(what: str, value: str, field: str, limit: int) -> WorkerError:
    return WorkerError(Exit.INPUT_REFUSED, "BudgetExceeded", f"{what} {value}, over limits.{field}={limit}")


def check_plan(limits: Limits, work: Work) -> None:
    """Refuse before any work when the plan alone exceeds a total."""
    if work.files > limits.max_output_files:
        raise _exceeded("the job would write", f"{work.files} files", "maxOutputFiles", limits.max_output_files)
    if work.frames > limits.max_encoded_frames:
        raise _exceeded("the job would encode", f"{work.frames} frames", "maxEncodedFrames", limits.max_encoded_frames)
    if work.min_bytes > limits.max_output_bytes:
        raise _exceeded(
            "the asked bitrates alone would write", f"{work.min_bytes} bytes", "maxOutputBytes", limits.max_output_bytes
        )


def check_sprite(tiles: int, tile_width: int, tile_height: int) -> None:
    """A sprite sheet is one picture: refuse one no viewer could open (and that ffmpeg would fail to write)."""
    rows = math.ceil(tiles / SPRITE_COLUMNS)
    width, height = min(tiles, SPRITE_COLUMNS) * tile_width, rows * tile_height
    if max(width, height) > MAX_SPRITE_SIDE:
        raise WorkerError(
            Exit.INPUT_REFUSED,
            "SpriteTooLarge",
            f"spec.outputs.thumbnails.sprite: {tiles} thumbnails of {tile_width}x{tile_height} make a "
            f"{width}x{height} sheet, over {MAX_SPRITE_SIDE} px a side; use a larger everySeconds or a smaller width",
        )


def disk_usage(paths: list[Path]) -> tuple[int, int]:
    """(files, bytes) under `paths` (files or directories); vanished entries count as nothing."""
    files = size = 0
    stack = [str(p) for p in paths]
    while stack:
        path = stack.pop()
        try:
            st = os.lstat(path)
        except OSError:
            continue
        if stat.S_ISDIR(st.st_mode):  # lstat: a symlink is counted as a file, never followed
            try:
                stack.extend(e.path for e in os.scandir(path))
            except OSError:
                continue
        else:
            files += 1
            size += st.st_size
    return files, size


class Watch:
    """The totals while ffmpeg runs: frames from its progress, files and bytes on disk, wall time by the clock."""

    def __init__(self, limits: Limits, frames_per_second: float, partials: list[Path], started: float) -> None:
        self.limits, self.frames_per_second, self.partials, self.started = limits, frames_per_second, partials, started

    def progress(self, out_seconds: float) -> WorkerError | None:
        frames = math.ceil(out_seconds * self.frames_per_second)
        if frames > self.limits.max_encoded_frames:
            return _exceeded("the job encoded", f"{frames} frames", "maxEncodedFrames", self.limits.max_encoded_frames)
        return None

    def clock_and_disk(self, now: float) -> WorkerError | None:
        if now - self.started > self.limits.max_encode_seconds:
            return _exceeded(
                "the encode ran", f"{now - self.started:.0f}s", "maxEncodeSeconds", self.limits.max_encode_seconds
            )
        files, size = disk_usage(self.partials)
        if files > self.limits.max_output_files:
            return _exceeded("the job wrote", f"{files} files", "maxOutputFiles", self.limits.max_output_files)
        if size > self.limits.max_output_bytes:
            return _exceeded("the job wrote", f"{size} bytes", "maxOutputBytes", self.limits.max_output_bytes)
        return None
