"""What an MP4 we wrote holds, read from its `moov` box without starting a process.

Verifying an output with ffprobe costs a process start (~0.1 s of CPU for Debian's ffmpeg and its libraries), a
few per cent of a short title card. The facts the worker checks (video codec, coded size, duration, frame rate,
audio present) sit in a few fixed-layout boxes (ISO/IEC 14496-12), so they are read here. Anything unexpected
returns None and the caller falls back to ffprobe: this is a shortcut, never a weaker check.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from .probe import MediaInfo

_CODECS = {b"avc1": "h264", b"avc3": "h264", b"hvc1": "hevc", b"hev1": "hevc"}
_MAX_MOOV = 64 << 20  # a moov this large is not one of ours; leave it to ffprobe


class _Unexpected(Exception):
    pass


def _boxes(data: bytes, start: int = 0, end: int | None = None) -> Iterator[tuple[bytes, int, int]]:
    """(type, payload start, payload end) of each box in data[start:end]."""
    end = len(data) if end is None else end
    at = start
    while at + 8 <= end:
        size, kind = struct.unpack_from(">I4s", data, at)
        header = 8
        if size == 1:
            if at + 16 > end:
                raise _Unexpected
            (size,) = struct.unpack_from(">Q", data, at + 8)
            header = 16
        elif size == 0:
            size = end - at
        if size < header or at + size > end:
            raise _Unexpected
        yield kind, at + header, at + size
        at += size


def _find(data: bytes, start: int, end: int, kind: bytes) -> tuple[int, int]:
    for k, s, e in _boxes(data, start, end):
        if k == kind:
            return s, e
    raise _Unexpected


def _read_moov(f: BinaryIO, file_size: int) -> bytes:
    at = 0
    while at + 8 <= file_size:
        f.seek(at)
        head = f.read(16)
        size, kind = struct.unpack_from(">I4s", head)
        header = 8
        if size == 1:
            (size,) = struct.unpack_from(">Q", head, 8)
            header = 16
        elif size == 0:
            size = file_size - at
        if size < header:
            raise _Unexpected
        if kind == b"moov":
            if size > _MAX_MOOV:
                raise _Unexpected
            f.seek(at)
            return f.read(size)
        at += size
    raise _Unexpected


def _timed(data: bytes, start: int) -> tuple[int, int]:
    """(timescale, duration) of an mvhd or mdhd payload."""
    version = data[start]
    if version == 1:
        timescale, duration = struct.unpack_from(">IQ", data, start + 20)
    else:
        timescale, duration = struct.unpack_from(">II", data, start + 12)
    if not timescale:
        raise _Unexpected
    return timescale, duration


def _video(data: bytes, stbl: tuple[int, int]) -> tuple[str, int, int, int]:
    """(codec, coded width, coded height, sample count) of a video track's sample table."""
    s, e = _find(data, *stbl, b"stsd")
    entry = s + 8  # version/flags, entry count
    _, fourcc = struct.unpack_from(">I4s", data, entry)
    codec = _CODECS.get(fourcc)
    if codec is None or entry + 36 > e:
        raise _Unexpected
    # VisualSampleEntry: 6 reserved, data reference index, 16 pre-defined/reserved, then width and height.
    width, height = struct.unpack_from(">HH", data, entry + 8 + 24)
    s, e = _find(data, *stbl, b"stts")
    (count,) = struct.unpack_from(">I", data, s + 4)
    samples = sum(struct.unpack_from(">I", data, s + 8 + 8 * i)[0] for i in range(count))
    return codec, width, height, samples


def read(path: Path) -> MediaInfo | None:
    """The MP4's video facts as ffprobe would report them, or None when its layout is not the simple one."""
    try:
        size = path.stat().st_size
        with path.open("rb") as f:
            moov = _read_moov(f, size)
        video: MediaInfo | None = None
        has_audio = False
        for kind, s, e in _boxes(moov, 8):
            if kind != b"trak":
                continue
            mdia = _find(moov, s, e, b"mdia")
            hs, _ = _find(moov, *mdia, b"hdlr")
            handler = moov[hs + 8 : hs + 12]
            if handler == b"soun":
                has_audio = True
            elif handler == b"vide" and video is None:
                timescale, duration = _timed(moov, _find(moov, *mdia, b"mdhd")[0])
                stbl = _find(moov, *_find(moov, *mdia, b"minf"), b"stbl")
                codec, width, height, samples = _video(moov, stbl)
                seconds = duration / timescale
                fps = samples / seconds if seconds > 0 else None
                video = MediaInfo(seconds, width, height, fps, codec, False, size)
        if video is None:
            return None
        return MediaInfo(video.duration, video.width, video.height, video.fps, video.video_codec, has_audio, size)
    except (OSError, struct.error, _Unexpected):
        return None
