"""What an MP4 we wrote holds, read from its `moov` box without starting a process.

Verifying an output with ffprobe costs a process start (~0.1 s of CPU for Debian's ffmpeg and its libraries), a
few per cent of a short title card. The facts the worker checks (video codec, coded size, duration, frame rate,
audio present) sit in a few fixed-layout boxes (ISO/IEC 14496-12), so they are read here. Anything unexpected
returns None and the caller falls back to ffprobe: this is a shortcut, never a weaker check.

Inputs are read the same way (`read_input`), which keeps ffprobe's ~0.1 s off every job with a file input, with
more reasons to give up: fragmented files, several video tracks, an edit list that changes the duration, and
an H.264 SPS whose picture size is not the sample entry's (the size limit must hold for what is decoded).
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from . import h264
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


def _video(data: bytes, stbl: tuple[int, int], check_sps: bool) -> tuple[str, int, int, int]:
    """(codec, coded width, coded height, sample count) of a video track's sample table."""
    s, e = _find(data, *stbl, b"stsd")
    entry = s + 8  # version/flags, entry count
    entry_size, fourcc = struct.unpack_from(">I4s", data, entry)
    codec = _CODECS.get(fourcc)
    if codec is None or entry + 36 > e:
        raise _Unexpected
    # VisualSampleEntry: 6 reserved, data reference index, 16 pre-defined/reserved, then width and height.
    width, height = struct.unpack_from(">HH", data, entry + 8 + 24)
    if check_sps and _sps_size(data, entry + 8 + 78, min(entry + entry_size, e), codec) != (width, height):
        raise _Unexpected
    s, e = _find(data, *stbl, b"stts")
    (count,) = struct.unpack_from(">I", data, s + 4)
    samples = sum(struct.unpack_from(">I", data, s + 8 + 8 * i)[0] for i in range(count))
    return codec, width, height, samples


def _sps_size(data: bytes, start: int, end: int, codec: str) -> tuple[int, int]:
    """The picture size the first SPS of an avcC declares; H.264 only (other codecs go to ffprobe)."""
    if codec != "h264":
        raise _Unexpected
    s, e = _find(data, start, end, b"avcC")
    if s + 8 > e or data[s + 5] & 0x1F < 1:
        raise _Unexpected
    (length,) = struct.unpack_from(">H", data, s + 6)
    if s + 8 + length > e:
        raise _Unexpected
    try:
        return h264.picture_size(data[s + 8 : s + 8 + length])
    except h264.SpsError as err:
        raise _Unexpected from err


def _plain_edits(data: bytes, trak: tuple[int, int], movie_timescale: int, media_seconds: float, frame: float) -> None:
    """Give up unless the track's edit list (if any) is one edit that plays the whole media: a shift of the
    start (B-frames) is fine, a cut or a gap would make ffprobe's duration differ from the media's."""
    try:
        s, e = _find(data, *trak, b"edts")
    except _Unexpected:
        return
    s, _ = _find(data, s, e, b"elst")
    version = data[s]
    (count,) = struct.unpack_from(">I", data, s + 4)
    if count != 1:
        raise _Unexpected
    if version == 1:
        segment, media_time = struct.unpack_from(">Qq", data, s + 8)
    else:
        segment, media_time = struct.unpack_from(">Ii", data, s + 8)
    if media_time < 0 or abs(segment / movie_timescale - media_seconds) > frame + 1 / movie_timescale:
        raise _Unexpected


def read(path: Path) -> MediaInfo | None:
    """An MP4 we wrote: its video facts as ffprobe would report them, or None when its layout is not the simple
    one."""
    return _read(path, check_sps=False)


def read_input(path: Path) -> MediaInfo | None:
    """An input file: the same, but also None unless the H.264 SPS agrees on the picture size."""
    return _read(path, check_sps=True)


def _read(path: Path, check_sps: bool) -> MediaInfo | None:
    try:
        size = path.stat().st_size
        with path.open("rb") as f:
            moov = _read_moov(f, size)
        movie_timescale, _ = _timed(moov, _find(moov, 8, len(moov), b"mvhd")[0])
        video: MediaInfo | None = None
        has_audio = False
        for kind, s, e in _boxes(moov, 8):
            if kind == b"mvex":
                raise _Unexpected  # fragmented: the samples are in the fragments, not in this table
            if kind != b"trak":
                continue
            mdia = _find(moov, s, e, b"mdia")
            hs, _ = _find(moov, *mdia, b"hdlr")
            handler = moov[hs + 8 : hs + 12]
            if handler == b"soun":
                has_audio = True
            elif handler == b"vide":
                if video is not None:
                    raise _Unexpected  # which one ffmpeg picks is ffprobe's business
                timescale, duration = _timed(moov, _find(moov, *mdia, b"mdhd")[0])
                stbl = _find(moov, *_find(moov, *mdia, b"minf"), b"stbl")
                codec, width, height, samples = _video(moov, stbl, check_sps)
                seconds = duration / timescale
                if samples == 0 or seconds <= 0:
                    raise _Unexpected
                _plain_edits(moov, (s, e), movie_timescale, seconds, seconds / samples)
                video = MediaInfo(seconds, width, height, samples / seconds, codec, False, size)
        if video is None:
            return None
        return MediaInfo(video.duration, video.width, video.height, video.fps, video.video_codec, has_audio, size)
    except (OSError, struct.error, IndexError, _Unexpected):
        return None
