"""`ffmpeg -progress pipe:1` blocks turned into percent, fps, speed and ETA."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from oma.models.videojob import Progress


def parse_blocks(lines: Iterable[str]) -> Iterator[dict[str, str]]:
    """Each block of key=value lines ends with `progress=continue` or `progress=end`."""
    block: dict[str, str] = {}
    for raw in lines:
        key, sep, value = raw.strip().partition("=")
        if not sep:
            continue
        block[key] = value
        if key == "progress":
            yield block
            block = {}


def _float(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return float(value.rstrip("x"))
    except ValueError:
        return None  # ffmpeg writes N/A before the first frame


def out_seconds(block: dict[str, str]) -> float:
    """How much output ffmpeg has written, in seconds of media."""
    return (_float(block.get("out_time_us") or block.get("out_time_ms")) or 0) / 1e6


class ProgressTracker:
    """Monotonic progress for one encode of `expected_seconds` of output."""

    def __init__(self, expected_seconds: float) -> None:
        self.expected = max(expected_seconds, 0.001)
        self.percent = 0.0

    def update(self, block: dict[str, str]) -> Progress:
        done = out_seconds(block)
        percent = 100.0 if block.get("progress") == "end" else min(99.9, 100.0 * done / self.expected)
        self.percent = max(self.percent, percent)
        speed = _float(block.get("speed"))
        eta = (self.expected - done) / speed if speed and speed > 0 and percent < 100 else None
        return Progress(
            phase="Encoding",
            percent=round(self.percent, 1),
            fps=_float(block.get("fps")),
            speed=speed,
            etaSeconds=round(max(eta, 0.0), 1) if eta is not None else None,
        )
