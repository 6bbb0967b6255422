"""ffprobe: what an input or output really is."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class MediaInfo:
    duration: float
    width: int | None
    height: int | None
    fps: float | None
    video_codec: str | None
    has_audio: bool
    size_bytes: int | None


class ProbeError(Exception):
    pass


def _rate(value: str | None) -> float | None:
    if not value or value in ("0/0", "N/A"):
        return None
    num, _, den = value.partition("/")
    try:
        return float(num) / float(den or 1)
    except (ValueError, ZeroDivisionError):
        return None


def _ffprobe(args: list[str], location: str, protocol_whitelist: str | None, timeout: float, what: str) -> Any:
    """ffprobe's JSON answer for `location`; ProbeError with its last line of stderr when it fails."""
    cmd = ["ffprobe", "-v", "error", *args, "-of", "json"]
    if protocol_whitelist:
        cmd += ["-protocol_whitelist", protocol_whitelist]
    cmd.append(location)
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as e:
        raise ProbeError(f"{what} timed out after {timeout:.0f}s") from e
    if out.returncode != 0:
        lines = [ln for ln in out.stderr.strip().splitlines() if ln.strip()]
        raise ProbeError(lines[-1] if lines else f"ffprobe exited {out.returncode}")
    return json.loads(out.stdout or "{}")


def probe(location: str, protocol_whitelist: str | None = None, timeout: float = 60) -> MediaInfo:
    data = _ffprobe(["-show_format", "-show_streams"], location, protocol_whitelist, timeout, "ffprobe")
    streams = data.get("streams", [])
    video = next((s for s in streams if s.get("codec_type") == "video"), None)
    fmt = data.get("format", {})
    duration = float(fmt.get("duration") or (video or {}).get("duration") or 0)
    if video and video.get("duration"):
        duration = float(video["duration"])
    return MediaInfo(
        duration=duration,
        width=video.get("width") if video else None,
        height=video.get("height") if video else None,
        fps=_rate(video.get("avg_frame_rate") or video.get("r_frame_rate")) if video else None,
        video_codec=video.get("codec_name") if video else None,
        has_audio=any(s.get("codec_type") == "audio" for s in streams),
        size_bytes=int(fmt["size"]) if fmt.get("size") else None,
    )


def video_frames(
    location: str, protocol_whitelist: str | None = None, timeout: float = 600
) -> list[tuple[float, bool]]:
    """Every video packet of the first video stream as (seconds from the input's start, keyframe), in
    presentation order. Reads packets only (no decoding): seconds for an hour of 1080p."""
    args = ["-select_streams", "v:0", "-show_entries", "packet=pts_time,flags", "-show_entries", "format=start_time"]
    data = _ffprobe(args, location, protocol_whitelist, timeout, "ffprobe (packets)")
    start = float((data.get("format") or {}).get("start_time") or 0)
    frames = []
    for p in data.get("packets", []):
        t = p.get("pts_time")
        if t in (None, "N/A"):
            raise ProbeError("a video packet has no timestamp; the source cannot be cut frame-exactly")
        frames.append((float(t) - start, "K" in p.get("flags", "")))
    frames.sort()
    return frames
