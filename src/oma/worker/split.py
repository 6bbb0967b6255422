"""Split-and-stitch, the pure part: where to cut a source, and the ffmpeg argv of a chunk, the audio and a stitch.

A chunk is a whole number of source frames, so the stitched video has exactly the frames a single encode has.
Each chunk is its own encode (it starts with an IDR frame, its GOPs are closed), so cuts need not fall on source
keyframes to be correct. A chunk's decoder starts at the last source keyframe before its first frame (ffmpeg's
accurate seek), and frames before the cut are decoded in vain: a cut just after a keyframe wastes one frame,
elsewhere up to a GOP. So cuts go just after a keyframe when one is near the even cut.
With HLS, cuts go on the segment grid instead, so segment boundaries fall on chunk boundaries and the ladder has
the segments a single encode has. Video is joined by the concat demuxer without re-encoding; audio is encoded
once over the whole source, so there is no gap or click where chunks meet. No process is started here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ffmpeg

from oma.models.videojob import MIN_CHUNK_SECONDS, ChunkPlan, Rendition, SplitPlan, VideoJobSpec

from .plan import Source, _encoder_args, _fit

# A keyframe this close to the ideal cut (as a share of a chunk's length) is taken over an exact cut.
KEYFRAME_SLACK = 0.25


@dataclass(frozen=True)
class Frame:
    """A source video frame: its time from the start of the (trimmed) stream, and whether it is a keyframe."""

    seconds: float
    key: bool


def unsplittable(spec: VideoJobSpec, sources: list[Source]) -> str | None:
    """Why this spec runs in one pod whatever its parallelism, or None when it can be split."""
    if len(sources) != 1 or sources[0].title is not None or sources[0].info is None:
        return "only a single file or URL input is split (several inputs or a title card run in one pod)"
    rungs = [*spec.outputs.mp4, *(spec.outputs.hls.renditions if spec.outputs.hls else [])]
    if any(r.fps for r in rungs):
        return "a rendition sets its own fps; frame-rate conversion is not split"
    if spec.outputs.thumbnails:
        return "thumbnails are not split"
    if not rungs:
        return "nothing to encode"
    return None


def _grid_cuts(frames: list[Frame], step: float) -> list[int]:
    """Indices of the first frame at or after each multiple of `step` seconds (the HLS segment grid)."""
    cuts, k = [], 1
    for i, f in enumerate(frames):
        if i == 0:
            continue
        if f.seconds >= k * step - 1e-6:
            cuts.append(i)
            k = math.floor(f.seconds / step + 1e-6) + 1
    return cuts


def _pick(candidates: list[int], ideal: float, lo: int, frames: list[Frame], slack: float) -> int | None:
    """The candidate after frame `lo` nearest to `ideal` seconds, if one is within `slack` seconds."""
    best = None
    for c in candidates:
        if c <= lo:
            continue
        if best is None or abs(frames[c].seconds - ideal) < abs(frames[best].seconds - ideal):
            best = c
    if best is None or abs(frames[best].seconds - ideal) > slack:
        return None
    return best


def _nearest_frame(frames: list[Frame], ideal: float, lo: int) -> int:
    return min(range(lo + 1, len(frames)), key=lambda i: abs(frames[i].seconds - ideal))


def _chunks(frames: list[Frame], starts: list[int], seek_origin: float) -> list[ChunkPlan]:
    chunks = []
    for n, first in enumerate(starts):
        end = starts[n + 1] if n + 1 < len(starts) else len(frames)
        # Seek half-way between the frame before the cut and the cut: no rounding can take or drop a frame.
        seek = None if first == 0 else seek_origin + (frames[first - 1].seconds + frames[first].seconds) / 2
        if first == 0 and seek_origin > 0:
            seek = seek_origin
        chunks.append(
            ChunkPlan.model_validate(
                {
                    "index": n,
                    "startSeconds": round(frames[first].seconds - frames[0].seconds, 6),
                    "seekSeconds": round(seek, 6) if seek is not None else None,
                    "frames": end - first,
                    "keyframe": frames[max(first - 1, 0)].key,
                }
            )
        )
    return chunks


def plan_split(
    frames: list[Frame],
    duration: float,
    parallelism: int,
    segment_seconds: int | None = None,
    seek_origin: float = 0.0,
    min_chunk_seconds: float = MIN_CHUNK_SECONDS,
) -> SplitPlan:
    """Cut `frames` (in presentation order) into at most `parallelism` chunks of at least `min_chunk_seconds`.

    `segment_seconds` (HLS) puts cuts on the segment grid; otherwise on the keyframe nearest each even cut, or on
    the nearest frame when no keyframe is close. `seek_origin` is where the stream starts in the input (a trim's
    start), for the chunks' seek positions.
    """
    count = max(1, min(parallelism, math.floor(duration / min_chunk_seconds), len(frames)))
    if count < parallelism:
        why = f"{duration:.1f}s of source makes {count} chunk(s) of at least {min_chunk_seconds:g}s"
    else:
        why = f"{count} chunks of about {duration / count:.1f}s"
    if segment_seconds:
        candidates, kind = _grid_cuts(frames, segment_seconds), f"on the {segment_seconds}s HLS segment grid"
    else:
        candidates = [i + 1 for i, f in enumerate(frames[:-1]) if f.key and i > 0]
        kind = "just after source keyframes"
    starts = [0]
    slack = KEYFRAME_SLACK * duration / count
    for k in range(1, count):
        ideal = frames[0].seconds + duration * k / count
        pick = _pick(candidates, ideal, starts[-1], frames, slack if not segment_seconds else duration)
        if pick is None and not segment_seconds:
            pick = _nearest_frame(frames, ideal, starts[-1]) if starts[-1] + 1 < len(frames) else None
        if pick is None or pick >= len(frames):
            break
        starts.append(pick)
    chunks = _chunks(frames, starts, seek_origin)
    if len(chunks) < count:
        why = f"only {len(chunks)} chunk(s): the {segment_seconds}s segment grid has no more cuts"
    aligned = sum(c.keyframe for c in chunks)
    message = f"{why}, cut {kind}; {aligned} of {len(chunks)} chunk(s) decode from a keyframe right before them"
    return SplitPlan(chunks=chunks, message=message)


# --- ffmpeg argv -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChunkOutput:
    """What a chunk writes for one rendition: video only, joined later by the concat demuxer."""

    key: str  # mp4-<name> or hls-<name>: unique per encoded stream
    rendition: Rendition
    segment_seconds: int | None  # keyframes forced on the HLS grid


def chunk_outputs(spec: VideoJobSpec) -> list[ChunkOutput]:
    out = [ChunkOutput(f"mp4-{r.name}", r, None) for r in spec.outputs.mp4]
    if spec.outputs.hls:
        out += [ChunkOutput(f"hls-{r.name}", r, spec.outputs.hls.segment_seconds) for r in spec.outputs.hls.renditions]
    return out


def _input_args(src: Source, seek: float | None, duration: float | None = None) -> dict[str, Any]:
    args: dict[str, Any] = {}
    if seek is not None:
        args["ss"] = seek
    if duration is not None:
        args["t"] = duration
    if src.protocols:
        args["protocol_whitelist"] = src.protocols
    return args


def _video_args(r: Rendition) -> dict[str, Any]:
    return {k: v for k, v in _encoder_args(r).items() if k not in ("acodec", "audio_bitrate", "ac")}


def chunk_argv(
    spec: VideoJobSpec, src: Source, chunk: ChunkPlan, directory: Path, threads: int | None = None
) -> list[str]:
    """One ffmpeg run: decode the chunk's frames once, encode them for every rendition into `directory`."""
    assert src.location is not None
    outs = chunk_outputs(spec)
    video = ffmpeg.input(src.location, **_input_args(src, chunk.seek_seconds)).video.filter("setpts", "PTS-STARTPTS")
    branches = video.split() if len(outs) > 1 else None
    streams = []
    for i, o in enumerate(outs):
        branch = branches[i] if branches is not None else video
        args = _video_args(o.rendition)
        if o.segment_seconds:
            # Keyframes on the source's segment grid, as a single encode forces them (`t` is chunk time).
            first = math.floor(chunk.start_seconds / o.segment_seconds + 1e-6)
            args["force_key_frames"] = f"expr:gte(t+{chunk.start_seconds},(n_forced+{first})*{o.segment_seconds})"
        if threads:
            args["threads"] = threads
        path = directory / f"{o.key}.mp4"
        streams.append(
            ffmpeg.output(
                _fit(branch, o.rendition.width, o.rendition.height, None),
                str(path),
                f="mp4",
                **{"frames:v": chunk.frames},
                **args,
            )
        )
    cmd = ffmpeg.merge_outputs(*streams).global_args("-nostdin", "-progress", "pipe:1", "-nostats")
    return list(cmd.overwrite_output().compile())


def audio_argv(src: Source, seek: float | None, duration: float | None, bitrate: str, path: Path) -> list[str]:
    """The whole source's audio, encoded once (AAC, stereo) as a single encode would; silence if it has none."""
    assert src.info is not None
    if src.info.has_audio:
        assert src.location is not None
        audio = ffmpeg.input(src.location, **_input_args(src, seek, duration))["a:0"]
    else:
        audio = ffmpeg.input("anullsrc=r=48000:cl=stereo", f="lavfi", t=duration or src.duration)
    out = ffmpeg.output(audio, str(path), f="mp4", acodec="aac", audio_bitrate=bitrate, ac=2)
    return list(out.global_args("-nostdin").overwrite_output().compile())


def concat_list(files: list[Path]) -> str:
    """The concat demuxer's list; paths are ours (no quotes in them), quoted as its syntax wants anyway."""
    return "".join("file '{}'\n".format(str(f).replace("'", "'\\''")) for f in files)


def stitch_mp4_argv(listing: Path, audio: Path, path: Path) -> list[str]:
    return [
        "ffmpeg", "-nostdin", "-y", "-f", "concat", "-safe", "0", "-i", str(listing), "-i", str(audio),
        "-map", "0:v:0", "-map", "1:a:0", "-c", "copy", "-movflags", "+faststart", "-f", "mp4", str(path),
    ]  # fmt: skip


def stitch_hls_argv(listing: Path, audio: Path, rung_dir: Path, segment_seconds: int) -> list[str]:
    return [
        "ffmpeg", "-nostdin", "-y", "-f", "concat", "-safe", "0", "-i", str(listing), "-i", str(audio),
        "-map", "0:v:0", "-map", "1:a:0", "-c", "copy", "-f", "hls", "-hls_time", str(segment_seconds),
        "-hls_playlist_type", "vod", "-hls_list_size", "0",
        "-hls_segment_filename", str(rung_dir / "seg_%05d.ts"), str(rung_dir / "index.m3u8"),
    ]  # fmt: skip
