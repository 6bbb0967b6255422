"""Split-and-stitch, the steps: plan the cuts, encode a chunk, stitch the chunks; and all three on this machine.

The cluster runs each step in its own pod (`oma worker --step plan|chunk|stitch`); `oma run --parallel N` runs
them here, the chunks as N ffmpeg processes at once. Both write the chunks under the destination, in
`.oma-split.<id>/`, which the stitch removes once the outputs are published.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import shutil
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from oma.models.chunks import fold_progress
from oma.models.videojob import MIN_CHUNK_SECONDS, OutputFile, Progress, SplitPlan, VideoJobSpec

from . import budget, split
from . import plan as planner
from .execute import (
    Reporter,
    Volumes,
    _check_plan,
    _done,
    _ffmpeg_once,
    _prepare_partials,
    _remove_partials,
    _run_ffmpeg,
    _verify_and_publish,
    check_writable,
    execute,
    resolve_sources,
)
from .exitcodes import Exit, WorkerError
from .probe import ProbeError, video_frames
from .progress import ProgressTracker


def split_dir(dest: Path, run_id: str) -> Path:
    """Where a split job keeps its chunks: hidden under the destination, so every chunk pod can reach it."""
    return dest / f".oma-split.{run_id}"


def chunk_dir(work: Path, index: int) -> Path:
    """A chunk's finished files. Each chunk has a directory of its own (`chunk-NNNN/`, with its attempts'
    partials beside `done/`), so one chunk's trouble with the destination is that chunk's failure alone."""
    return work / f"chunk-{index:04d}" / "done"


def _shell_plan(spec: VideoJobSpec, sources: list[planner.Source]) -> planner.Plan:
    """A plan with no argv: what the budget and the verification need (seconds, rate, outputs)."""
    return planner.Plan(
        argv=[],
        expected_seconds=planner.expected_seconds(spec, sources),
        fps=planner.joined_format(spec, sources)[2],
    )


def check_budget(spec: VideoJobSpec, sources: list[planner.Source]) -> None:
    """The job's totals against spec.limits, as a single encode checks them, before any chunk runs."""
    _check_plan(spec, sources, _shell_plan(spec, sources))


def plan(
    spec: VideoJobSpec, sources: list[planner.Source], parallelism: int, min_chunk_seconds: float = MIN_CHUNK_SECONDS
) -> SplitPlan:
    """Where to cut; no chunks (and the reason in `message`) when the job should run in one pod."""
    if parallelism < 2:
        return SplitPlan(chunks=[], message="parallelism is 1")
    if why := split.unsplittable(spec, sources):
        return SplitPlan(chunks=[], message=why)
    src = sources[0]
    assert src.location is not None
    seconds = planner.expected_seconds(spec, sources)
    start = spec.trim.start_seconds if spec.trim else 0.0
    end = start + seconds + 1e-6
    try:
        raw = video_frames(src.location, src.protocols)
    except ProbeError as e:
        return SplitPlan(chunks=[], message=f"the source cannot be cut frame-exactly: {e}")
    frames = [split.Frame(t - start, key) for t, key in raw if start - 1e-6 <= t < end]
    if not frames:
        return SplitPlan(chunks=[], message="no video frames in the asked range")
    hls = spec.outputs.hls
    result = split.plan_split(
        frames, seconds, parallelism, hls.segment_seconds if hls else None, start, min_chunk_seconds
    )
    if len(result.chunks) < 2:
        return SplitPlan(chunks=[], message=result.message)
    return result


def chunk_seconds(s: SplitPlan, index: int, total: float) -> float:
    nxt = s.chunks[index + 1].start_seconds if index + 1 < len(s.chunks) else total
    return max(nxt - s.chunks[index].start_seconds, 0.001)


def _count_packets(path: Path) -> tuple[int, bool]:
    """Video packets in `path` and whether their decode timestamps strictly increase."""
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "packet=dts_time", "-of", "json", path],
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        raise WorkerError(Exit.VERIFY_FAILED, "OutputInvalid", f"{path.name}: {out.stderr.strip()[-300:]}")
    dts = [float(p["dts_time"]) for p in json.loads(out.stdout).get("packets", []) if p.get("dts_time") != "N/A"]
    return len(dts), all(b > a for a, b in itertools.pairwise(dts))


@contextlib.contextmanager
def _naming_chunk(index: int) -> Iterator[None]:
    """A failure names the chunk ("chunk 2: ..."), so the VideoJob's status says which one failed."""
    try:
        yield
    except WorkerError as e:
        raise WorkerError(e.code, e.reason, f"chunk {index}: {e.message}") from e


def encode_chunk(
    spec: VideoJobSpec,
    src: planner.Source,
    s: SplitPlan,
    index: int,
    work: Path,
    reporter: Reporter,
    total_seconds: float,
    threads: int | None = None,
) -> None:
    """Encode chunk `index` for every rendition into `chunk_dir(work, index)`, replacing an earlier attempt's."""
    with _naming_chunk(index):
        chunk = s.chunks[index]
        final = chunk_dir(work, index)
        partial = final.parent / f".partial-{uuid.uuid4().hex[:12]}"
        try:
            partial.mkdir(parents=True)
        except OSError as e:
            raise WorkerError(
                Exit.DESTINATION_UNWRITABLE, "DestinationUnwritable", f"{final.parent}: {e.strerror}"
            ) from e
        try:
            seconds = chunk_seconds(s, index, total_seconds)
            fps = chunk.frames / seconds
            frames_per_second = budget.estimate(spec, seconds, fps).frames_per_second
            watch = budget.Watch(spec.limits, frames_per_second, [partial], time.monotonic())
            _run_ffmpeg(split.chunk_argv(spec, src, chunk, partial, threads), ProgressTracker(seconds), reporter, watch)
            for o in split.chunk_outputs(spec):
                n, increasing = _count_packets(partial / f"{o.key}.mp4")
                if n != chunk.frames or not increasing:
                    problem = f"{o.key}: {n} frames, {chunk.frames} planned"
                    raise WorkerError(
                        Exit.VERIFY_FAILED,
                        "OutputInvalid",
                        problem + ("" if increasing else ", timestamps not increasing"),
                    )
            shutil.rmtree(final, ignore_errors=True)
            partial.rename(final)
        finally:
            shutil.rmtree(partial, ignore_errors=True)


def _missing_chunks(s: SplitPlan, work: Path) -> list[int]:
    return [c.index for c in s.chunks if not chunk_dir(work, c.index).is_dir()]


def stitch(
    spec: VideoJobSpec, sources: list[planner.Source], s: SplitPlan, work: Path, dest: Path, run_id: str
) -> list[OutputFile]:
    """Join the chunks per rendition (no video re-encode), add the audio encoded once, verify, publish."""
    if missing := _missing_chunks(s, work):
        raise WorkerError(Exit.TRANSIENT, "ChunksMissing", f"chunk(s) {missing} not found under {work}")
    src = sources[0]
    p = planner.build(spec, sources, work, dest, run_id=run_id)  # the outputs and where they are published
    p.argv = []
    seek = spec.trim.start_seconds if spec.trim else None
    length = spec.trim.duration_seconds if spec.trim else None
    audio: dict[str, Path] = {}
    for o in split.chunk_outputs(spec):
        rate = o.rendition.audio_bitrate
        if rate not in audio:
            audio[rate] = work / f"audio-{rate}.m4a"
            _ffmpeg_once(split.audio_argv(src, seek, length, rate, audio[rate]), "audio")
    total = sum(c.frames for c in s.chunks)
    _prepare_partials(p.outputs)
    try:
        for out in p.outputs:
            for o in split.chunk_outputs(spec):
                kind, _, name = o.key.partition("-")
                if kind != out.kind or (kind == "mp4" and name != out.name):
                    continue
                listing = work / f"{o.key}.txt"
                listing.write_text(split.concat_list([chunk_dir(work, c.index) / f"{o.key}.mp4" for c in s.chunks]))
                if kind == "mp4":
                    _ffmpeg_once(split.stitch_mp4_argv(listing, audio[o.rendition.audio_bitrate], out.partial), o.key)
                    n, increasing = _count_packets(out.partial)
                    if n != total or not increasing:
                        raise WorkerError(
                            Exit.VERIFY_FAILED,
                            "OutputInvalid",
                            f"{name}.mp4: {n} frames stitched, {total} planned"
                            + ("" if increasing else ", timestamps not increasing"),
                        )
                else:
                    assert o.segment_seconds is not None
                    rung = out.partial / name
                    argv = split.stitch_hls_argv(listing, audio[o.rendition.audio_bitrate], rung, o.segment_seconds)
                    _ffmpeg_once(argv, o.key)
        return _verify_and_publish(p, spec, dest)
    finally:
        _remove_partials(p.outputs)


class _Fold:
    """Chunks report from their threads; the reporter sees one progress over all of them."""

    def __init__(self, s: SplitPlan, reporter: Reporter) -> None:
        self.split, self.reporter = s, reporter
        self.progress: dict[str, Progress] = {}
        self.lock = threading.Lock()

    def chunk(self, index: int) -> Reporter:
        fold = self

        class One:
            def progress(self, progress: Progress) -> None:
                with fold.lock:
                    fold.progress[str(index)] = progress
                    fold.reporter.progress(fold_progress(fold.split.chunks, fold.progress))

        return One()


def execute_parallel(
    spec: VideoJobSpec,
    dest: Path,
    volumes: Volumes,
    reporter: Reporter,
    parallelism: int,
    allow_private: bool = False,
    allowed_networks: tuple[str, ...] = (),
    threads: int | None = None,
    min_chunk_seconds: float = MIN_CHUNK_SECONDS,
) -> list[OutputFile]:
    """`oma run --parallel N`: plan, N chunk encodes at once, stitch; one encode when the plan says so."""
    reporter.progress(Progress(phase="Probing", percent=0))
    sources = resolve_sources(spec, volumes, allow_private, allowed_networks)
    s = plan(spec, sources, parallelism, min_chunk_seconds)
    if len(s.chunks) < 2:
        return execute(spec, dest, volumes, reporter, allow_private, allowed_networks)
    check_writable(dest)
    shell = _shell_plan(spec, sources)
    _check_plan(spec, sources, shell)
    run_id = uuid.uuid4().hex[:12]
    work = split_dir(dest, run_id)
    started = time.monotonic()
    fold = _Fold(s, reporter)
    try:
        with ThreadPoolExecutor(max_workers=parallelism) as pool:
            futures = [
                pool.submit(
                    encode_chunk,
                    spec,
                    sources[0],
                    s,
                    c.index,
                    work,
                    fold.chunk(c.index),
                    shell.expected_seconds,
                    threads,
                )
                for c in s.chunks
            ]
            errors = [e for f in futures if (e := f.exception()) is not None]
        if errors:
            raise errors[0]
        encode_seconds = time.monotonic() - started
        reporter.progress(Progress(phase="Packaging", percent=100))
        results = stitch(spec, sources, s, work, dest, run_id)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    reporter.progress(_done(encode_seconds, shell.expected_seconds))
    return results
