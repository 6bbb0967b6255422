"""Run one VideoJob spec: check and probe inputs, encode once, verify, publish atomically, report."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import math
import re
import shutil
import subprocess
import tempfile
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from oma.models.videojob import OutputFile, Progress, Rendition, VideoJobSpec

from . import budget, mp4, safety
from . import plan as planner
from .exitcodes import Exit, WorkerError
from .probe import MediaInfo, ProbeError, probe
from .progress import ProgressTracker, out_seconds, parse_blocks

# How often the disk and the clock are checked while ffmpeg runs (frames are checked on every progress block).
WATCH_INTERVAL = 0.5
# Outputs of a few frames did not verify (HLS segments ffprobe cannot read); the schema's minimum durations match.
MIN_OUTPUT_SECONDS = 0.25


class Reporter(Protocol):
    def progress(self, progress: Progress) -> None: ...


@dataclass(frozen=True)
class Volumes:
    """Where PVCs are mounted: `root/<claimName>` in a pod, or explicit paths for `oma run`."""

    root: Path
    overrides: dict[str, Path]

    def path(self, claim: str) -> Path:
        return self.overrides.get(claim, self.root / claim)


@functools.cache
def _ffmpeg_colors() -> frozenset[str]:
    """The colour names this ffmpeg knows (`ffmpeg -colors`, case-insensitive), plus its `random`."""
    out = subprocess.run(["ffmpeg", "-hide_banner", "-colors"], capture_output=True, text=True, check=False)
    names = {line.split()[0].lower() for line in out.stdout.splitlines()[1:] if line.strip()}
    return frozenset(names | {"random"}) if names else frozenset()


# Names in libavutil's colour table since its first release: the defaults and common picks skip the extra
# ffmpeg process, which costs a short title card a few per cent of its wall time.
_ALWAYS_KNOWN = frozenset({"black", "white", "red", "green", "blue", "yellow", "gray", "navy", "orange", "silver"})


def _check_colors(spec: VideoJobSpec) -> None:
    """A colour name ffmpeg does not know failed the encode with exit 20, retried for nothing (found by the
    property-based sample); the schema only says "letters", so the worker checks the name against ffmpeg's list."""
    for i, inp in enumerate(spec.inputs):
        card = inp.title_card
        for field, color in (
            (("fontColor", card.font_color), ("backgroundColor", card.background_color)) if card else ()
        ):
            if color.startswith("#") or color.lower() in _ALWAYS_KNOWN:
                continue
            known = _ffmpeg_colors()
            if known and color.lower() not in known:
                raise WorkerError(
                    Exit.INVALID_SPEC,
                    "InvalidSpec",
                    f"spec.inputs[{i}].titleCard.{field}: {color!r} is not a colour name ffmpeg knows "
                    "(`ffmpeg -colors` lists them), nor #RRGGBB[AA]",
                )


def resolve_sources(
    spec: VideoJobSpec, volumes: Volumes, allow_private: bool, allowed: tuple[str, ...]
) -> list[planner.Source]:
    _check_colors(spec)
    sources = []
    for i, inp in enumerate(spec.inputs):
        if inp.title_card:
            sources.append(planner.Source(title=inp.title_card))
            continue
        if inp.url:
            safety.check_url(inp.url, allow_private, allowed)
            location, protocols = inp.url, safety.HTTP_PROTOCOLS
        else:
            assert inp.pvc is not None
            path = safety.confine(volumes.path(inp.pvc.claim_name), inp.pvc.path, f"spec.inputs[{i}].pvc.path")
            if not path.is_file():
                raise WorkerError(
                    Exit.INPUT_UNREADABLE,
                    "InputNotFound",
                    f"inputs[{i}]: {inp.pvc.path} not found on PVC {inp.pvc.claim_name}",
                )
            location, protocols = str(path), safety.FILE_PROTOCOLS
        # A plain local MP4 is read in-process (see mp4.read_input); anything else, and any doubt, goes to ffprobe.
        local = None if inp.url else mp4.read_input(Path(location))
        try:
            info = local or probe(location, protocols)
        except ProbeError as e:
            transient = bool(inp.url) and not re.search(r"\b4\d\d\b|Invalid data", str(e))
            raise WorkerError(
                Exit.TRANSIENT if transient else Exit.INPUT_UNREADABLE,
                "InputUnreachable" if transient else "InputUndecodable",
                f"inputs[{i}]: {e}",
            ) from e
        check_limits(spec, i, info)
        sources.append(planner.Source(location=location, info=info, protocols=protocols))
    return sources


def check_limits(spec: VideoJobSpec, i: int, info: MediaInfo) -> None:
    """A probed input against `spec.limits`' input limits."""
    lim = spec.limits
    if info.video_codec is None:
        raise WorkerError(Exit.INPUT_UNREADABLE, "InputUndecodable", f"inputs[{i}] has no video stream")
    if info.duration > lim.max_input_seconds:
        raise WorkerError(
            Exit.INPUT_REFUSED,
            "InputTooLong",
            f"inputs[{i}] lasts {info.duration:.0f}s, over limits.maxInputSeconds={lim.max_input_seconds:.0f}",
        )
    if (info.width or 0) * (info.height or 0) > lim.max_input_pixels:
        raise WorkerError(
            Exit.INPUT_REFUSED,
            "InputTooLarge",
            f"inputs[{i}] is {info.width}x{info.height}, over limits.maxInputPixels={lim.max_input_pixels}",
        )
    if info.size_bytes and info.size_bytes > lim.max_input_bytes:
        raise WorkerError(
            Exit.INPUT_REFUSED,
            "InputTooLarge",
            f"inputs[{i}] is {info.size_bytes} bytes, over limits.maxInputBytes={lim.max_input_bytes}",
        )


def _watch(
    proc: subprocess.Popen[str], watch: budget.Watch, stop: Callable[[WorkerError], None], done: threading.Event
) -> None:
    while not done.wait(WATCH_INTERVAL):
        if over := watch.clock_and_disk(time.monotonic()):
            stop(over)
            return


def _run_ffmpeg(argv: list[str], tracker: ProgressTracker, reporter: Reporter, watch: budget.Watch) -> None:
    """Run ffmpeg to the end, or stop it (SIGKILL: its partial outputs are thrown away) when over budget."""
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(
            [*argv[:1], "-loglevel", "error", *argv[1:]], stdout=subprocess.PIPE, stderr=err, text=True
        )
        over: list[WorkerError] = []

        def stop(error: WorkerError) -> None:
            over.append(error)
            proc.kill()

        done = threading.Event()
        watcher = threading.Thread(target=_watch, args=(proc, watch, stop, done), daemon=True)
        watcher.start()
        try:
            assert proc.stdout is not None
            for block in parse_blocks(proc.stdout):
                reporter.progress(tracker.update(block))
                if not over and (exceeded := watch.progress(out_seconds(block))):
                    stop(exceeded)
            code = proc.wait()
        finally:
            done.set()
            watcher.join()
        if not over and (exceeded := watch.clock_and_disk(time.monotonic())):
            over.append(exceeded)  # a fast encode can finish between two looks: the last look is after it
        if over:
            raise over[0]
        if code != 0:
            err.seek(0)
            lines = [ln for ln in err.read().decode(errors="replace").splitlines() if ln.strip()]
            last = lines[-1] if lines else f"ffmpeg exited {code}"
            undecodable = any(k in last for k in ("Invalid data", "could not find codec", "moov atom not found"))
            raise WorkerError(
                Exit.INPUT_UNREADABLE if undecodable else Exit.TRANSIENT,
                "InputUndecodable" if undecodable else "EncodeFailed",
                last,
            )


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _tolerance(r: Rendition | None, fps: float | None) -> float:
    rate = (r.fps if r and r.fps else None) or fps or 25
    return 2.0 / rate + 0.05  # within two frames (plus container rounding)


def _probe_output(path: Path, what: str) -> MediaInfo:
    """An output we wrote: one ffprobe cannot read did not verify (a traceback here used to exit 1)."""
    try:
        return probe(str(path), safety.FILE_PROTOCOLS)
    except ProbeError as e:
        raise WorkerError(Exit.VERIFY_FAILED, "OutputInvalid", f"{what}: {e}") from e


def _verify_video(path: Path, r: Rendition, expected: float) -> MediaInfo:
    info = mp4.read(path) or _probe_output(path, path.name)
    want_codec = "h264" if r.codec == "h264" else "hevc"
    problems = []
    if info.video_codec != want_codec:
        problems.append(f"codec {info.video_codec} != {want_codec}")
    if (info.width, info.height) != (r.width, r.height):
        problems.append(f"size {info.width}x{info.height} != {r.width}x{r.height}")
    if abs(info.duration - expected) > _tolerance(r, info.fps):
        problems.append(f"duration {info.duration:.3f}s != {expected:.3f}s")
    if problems:
        raise WorkerError(Exit.VERIFY_FAILED, "OutputInvalid", f"{path.name}: " + ", ".join(problems))
    return info


def _publish(partial: Path, final: Path) -> None:
    """Atomic for files (rename); directories replace any earlier result in one rename."""
    if partial.is_dir() and final.exists():
        old = final.with_name(f".{final.name}.{uuid.uuid4().hex[:12]}.old")
        shutil.rmtree(old, ignore_errors=True)
        final.rename(old)
        partial.rename(final)
        shutil.rmtree(old, ignore_errors=True)
    else:
        partial.replace(final)


def _output(path: Path, kind: str, dest: Path, info: MediaInfo | None = None, size: int | None = None) -> OutputFile:
    return OutputFile.model_validate(
        {
            "uri": str(path.relative_to(dest)),
            "kind": kind,
            "codec": info.video_codec if info else None,
            "width": info.width if info else None,
            "height": info.height if info else None,
            "durationSeconds": round(info.duration, 3) if info else None,
            "sizeBytes": size if size is not None else path.stat().st_size,
            "sha256": _sha256(path),
        }
    )


def _finish_hls(out: planner.PlannedOutput, expected: float, dest: Path) -> list[OutputFile]:
    files = []
    master = ["#EXTM3U", "#EXT-X-VERSION:3"]
    for r in out.renditions:
        playlist = out.partial / r.name / "index.m3u8"
        segs, total, peak = [], 0.0, 0.0
        duration = 0.0
        for line in playlist.read_text().splitlines():
            if line.startswith("#EXTINF:"):
                duration = float(line[8:].split(",")[0])
            elif line and not line.startswith("#"):
                seg = playlist.parent / line
                if not seg.exists():
                    raise WorkerError(Exit.VERIFY_FAILED, "OutputInvalid", f"HLS {r.name}: segment {line} missing")
                segs.append(seg)
                total += duration
                peak = max(peak, seg.stat().st_size * 8 / max(duration, 0.001))
        if not segs or abs(total - expected) > _tolerance(r, None) + 0.1:
            raise WorkerError(
                Exit.VERIFY_FAILED,
                "OutputInvalid",
                f"HLS {r.name}: {len(segs)} segments lasting {total:.2f}s, expected {expected:.2f}s",
            )
        first = _probe_output(segs[0], f"HLS {r.name}: {segs[0].name}")
        if (first.width, first.height) != (r.width, r.height):
            raise WorkerError(
                Exit.VERIFY_FAILED,
                "OutputInvalid",
                f"HLS {r.name}: size {first.width}x{first.height} != {r.width}x{r.height}",
            )
        codecs = "avc1.640028" if r.codec == "h264" else "hvc1.1.6.L120.90"
        master.append(
            f'#EXT-X-STREAM-INF:BANDWIDTH={math.ceil(peak)},RESOLUTION={r.width}x{r.height},CODECS="{codecs},mp4a.40.2"'
        )
        master.append(f"{r.name}/index.m3u8")
        files.append((playlist, sum(s.stat().st_size for s in segs), first, total))
    (out.partial / "master.m3u8").write_text("\n".join(master) + "\n")
    _publish(out.partial, out.final)
    result = [_output(out.final / "master.m3u8", "hls-master", dest)]
    for playlist, size, info, total in files:
        final_playlist = out.final / playlist.relative_to(out.partial)
        variant = MediaInfo(total, info.width, info.height, info.fps, info.video_codec, True, size)
        result.append(_output(final_playlist, "hls-variant", dest, variant, size=size))
    return result


def _ffmpeg_once(argv: list[str], what: str) -> None:
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        lines = [ln for ln in done.stderr.splitlines() if ln.strip()]
        raise WorkerError(Exit.TRANSIENT, "EncodeFailed", f"{what}: {lines[-1] if lines else done.returncode}")


def _finish_thumbnails(out: planner.PlannedOutput, spec: VideoJobSpec, dest: Path) -> list[OutputFile]:
    assert spec.outputs.thumbnails is not None
    thumbs = sorted(out.partial.glob("thumb_*.jpg"))
    if not thumbs:
        raise WorkerError(Exit.VERIFY_FAILED, "OutputInvalid", "no thumbnails were written")
    if spec.outputs.thumbnails.sprite:
        tile = _probe_output(thumbs[0], f"thumbnail {thumbs[0].name}")
        budget.check_sprite(len(thumbs), tile.width or 0, tile.height or 0)
        rows = math.ceil(len(thumbs) / budget.SPRITE_COLUMNS)
        _ffmpeg_once(
            [
                "ffmpeg",
                "-nostdin",
                "-loglevel",
                "error",
                "-y",
                "-i",
                str(out.partial / "thumb_%05d.jpg"),
                "-vf",
                f"tile={budget.SPRITE_COLUMNS}x{rows}",
                "-frames:v",
                "1",
                "-q:v",
                "3",
                str(out.partial / "sprite.jpg"),
            ],
            "sprite",
        )
    _publish(out.partial, out.final)
    result = [_output(out.final / t.name, "thumbnail", dest) for t in thumbs]
    if spec.outputs.thumbnails.sprite:
        result.append(_output(out.final / "sprite.jpg", "sprite", dest))
    return result


def check_writable(dest: Path) -> None:
    try:
        dest.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=dest, prefix=".oma-write-check-"):
            pass  # concurrent jobs may share a destination: each checks with a file of its own
    except OSError as e:
        raise WorkerError(Exit.DESTINATION_UNWRITABLE, "DestinationUnwritable", f"{dest}: {e.strerror}") from e


def _prepare_partials(outputs: list[planner.PlannedOutput]) -> None:
    """Empty partial files and directories (one per HLS rung) for ffmpeg to write into."""
    for out in outputs:
        if out.kind == "mp4":
            out.partial.unlink(missing_ok=True)
        else:
            shutil.rmtree(out.partial, ignore_errors=True)
            out.partial.mkdir(parents=True)
            for r in out.renditions:
                (out.partial / r.name).mkdir()


def _remove_partials(outputs: list[planner.PlannedOutput]) -> None:
    for out in outputs:
        with contextlib.suppress(OSError):
            if out.partial.is_dir():
                shutil.rmtree(out.partial)
            else:
                out.partial.unlink(missing_ok=True)


def _verify_and_publish(p: planner.Plan, spec: VideoJobSpec, dest: Path) -> list[OutputFile]:
    results: list[OutputFile] = []
    for out in p.outputs:
        if out.kind == "mp4":
            assert out.rendition is not None
            info = _verify_video(out.partial, out.rendition, p.expected_seconds)
            _publish(out.partial, out.final)
            results.append(_output(out.final, "mp4", dest, info))
        elif out.kind == "hls":
            results.extend(_finish_hls(out, p.expected_seconds, dest))
        else:
            results.extend(_finish_thumbnails(out, spec, dest))
    return results


def _done(encode_seconds: float, expected_seconds: float) -> Progress:
    per_minute = encode_seconds / (expected_seconds / 60) if expected_seconds > 0 else None
    return Progress.model_validate(
        {
            "phase": "Done",
            "percent": 100,
            "encodeSeconds": round(encode_seconds, 2),
            "secondsPerOutputMinute": round(per_minute, 2) if per_minute is not None else None,
        }
    )


def destination(spec: VideoJobSpec, root: Path) -> Path:
    """Where outputs go, confined to the destination volume `root`: `oma worker` and `oma run` both use this."""
    out = spec.outputs
    entries = {f"{r.name}.mp4": f"spec.outputs.mp4[{i}].name" for i, r in enumerate(out.mp4)}
    if out.hls:
        entries[out.hls.name] = "spec.outputs.hls.name"
    if out.thumbnails:
        entries[out.thumbnails.name] = "spec.outputs.thumbnails.name"
    return safety.confine_destination(root, spec.destination.path_prefix, entries)


def plan_job(
    spec: VideoJobSpec, sources: list[planner.Source], workdir: Path, dest: Path, run_id: str
) -> tuple[planner.Plan, budget.Work]:
    """The ffmpeg plan for checked sources and what it will cost; refused (WorkerError) when over budget."""
    p = planner.build(spec, sources, workdir, dest, run_id=run_id)
    return p, _check_plan(spec, sources, p)


def _check_plan(spec: VideoJobSpec, sources: list[planner.Source], p: planner.Plan) -> budget.Work:
    """Refuse before any work: nothing to encode, or a budget the plan alone exceeds."""
    if p.expected_seconds < MIN_OUTPUT_SECONDS:
        total = sum(s.duration for s in sources)
        if spec.trim and total >= MIN_OUTPUT_SECONDS:
            raise WorkerError(
                Exit.INVALID_SPEC,
                "TrimOutsideInput",
                f"spec.trim (startSeconds={spec.trim.start_seconds:g}) leaves {p.expected_seconds:g}s of the "
                f"{total:g}s input; at least {MIN_OUTPUT_SECONDS:g}s are needed",
            )
        raise WorkerError(
            Exit.INPUT_UNREADABLE,
            "InputTooShort",
            f"the input lasts {total:g}s; at least {MIN_OUTPUT_SECONDS:g}s are needed",
        )
    work = budget.estimate(spec, p.expected_seconds, p.fps)
    budget.check_plan(spec.limits, work)
    th = spec.outputs.thumbnails
    if th and th.sprite:
        w, h, _ = planner.joined_format(spec, sources)
        budget.check_sprite(math.ceil(p.expected_seconds / th.every_seconds), th.width, math.ceil(th.width * h / w))
    return work


def execute(
    spec: VideoJobSpec,
    dest: Path,
    volumes: Volumes,
    reporter: Reporter,
    allow_private: bool = False,
    allowed_networks: tuple[str, ...] = (),
) -> list[OutputFile]:
    """Everything the worker does for one job, writing into `dest` (from `destination`). Raises WorkerError."""
    reporter.progress(Progress(phase="Probing", percent=0))
    sources = resolve_sources(spec, volumes, allow_private, allowed_networks)
    check_writable(dest)
    with tempfile.TemporaryDirectory(prefix="oma-") as work:
        p, estimate = plan_job(spec, sources, Path(work), dest, uuid.uuid4().hex[:12])
        _prepare_partials(p.outputs)
        try:
            started = time.monotonic()
            watch = budget.Watch(spec.limits, estimate.frames_per_second, [o.partial for o in p.outputs], started)
            _run_ffmpeg(p.argv, ProgressTracker(p.expected_seconds), reporter, watch)
            encode_seconds = time.monotonic() - started
            reporter.progress(Progress(phase="Packaging", percent=100))
            reporter.progress(Progress(phase="Publishing", percent=100))
            results = _verify_and_publish(p, spec, dest)
        finally:
            _remove_partials(p.outputs)
    reporter.progress(_done(encode_seconds, p.expected_seconds))
    return results


class TerminalReporter:
    """A one-line progress bar on a terminal (stderr), at most a few updates a second."""

    def __init__(self, stream: object) -> None:
        self.stream = stream
        self.last = 0.0
        self.history: deque[Progress] = deque(maxlen=1000)

    def progress(self, progress: Progress) -> None:
        self.history.append(progress)
        now = time.monotonic()
        if progress.phase == "Encoding" and now - self.last < 0.25:
            return
        self.last = now
        filled = int(progress.percent / 5)
        bar = "#" * filled + "-" * (20 - filled)
        extra = f" {progress.speed:.2f}x" if progress.speed else ""
        extra += f" eta {progress.eta_seconds:.0f}s" if progress.eta_seconds is not None else ""
        end = "\n" if progress.phase == "Done" else ""
        print(
            f"\r{progress.phase:<10} [{bar}] {progress.percent:5.1f}%{extra}   ", end=end, file=self.stream, flush=True
        )  # type: ignore[call-overload]
