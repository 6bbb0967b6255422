"""Split-and-stitch against one encode: a 1080p source (120 s by default, testsrc2 + sine) to a 3-rung HLS ladder.

    .venv/bin/python bench/parallel_encode.py [--seconds 120] [--preset veryfast] [--workdir /tmp/oma-bench-parallel]

Three runs of the same spec, each verified and published as `oma run` would:
- N=1: today's single encode (`execute`), in a process pinned to one core;
- N=2, one core each: plan, then two chunk processes each pinned to a core of its own with `-threads 1` (two
  one-core nodes), then the stitch;
- N=2 unrestricted: the same without pinning or thread limits, on this machine's cores as they are.
Plan and stitch times are reported apart: their sum is the overhead split-and-stitch adds.
The last line: `parallel speedup <x> (N=2 vs N=1, one core each)`.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import resource
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

from oma.models.videojob import Progress, VideoJobSpec
from oma.worker import parallel, plan
from oma.worker.execute import Volumes, execute, resolve_sources

RUNGS = [("1080p", 1920, 1080), ("720p", 1280, 720), ("360p", 640, 360)]


class Quiet:
    def progress(self, progress: Progress) -> None:
        pass


def make_source(path: Path, seconds: int) -> Path:
    if path.exists():
        return path
    tmp = path.with_suffix(".partial.mp4")
    subprocess.run(
        ["ffmpeg", "-nostdin", "-loglevel", "error", "-y",
         "-f", "lavfi", "-i", f"testsrc2=size=1920x1080:rate=30:duration={seconds}",
         "-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={seconds}",
         "-c:v", "libx264", "-preset", "ultrafast", "-crf", "18", "-g", "60", "-pix_fmt", "yuv420p",
         "-c:a", "aac", "-shortest", str(tmp)],
        check=True,
    )  # fmt: skip
    tmp.rename(path)
    return path


def spec_for(preset: str, source: str) -> VideoJobSpec:
    rungs = [{"name": n, "width": w, "height": h, "preset": preset} for n, w, h in RUNGS]
    return VideoJobSpec.model_validate(
        {
            "inputs": [{"pvc": {"claimName": "media", "path": source}}],
            "outputs": {"hls": {"segmentSeconds": 6, "renditions": rungs}},
            "destination": {"claimName": "out"},
        }
    )


def cpu_seconds() -> float:
    """CPU time of this process and its waited-for children (ffmpeg, chunk processes)."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def _pinned(cpu: int | None, spent: Any, target: Any, *args: Any) -> None:
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})
    target(*args)
    spent.value = cpu_seconds()


class Encoder:
    """A target run in a process of its own (pinned to `cpu` if given), reporting the CPU time it took."""

    def __init__(self, cpu: int | None, target: Any, *args: Any) -> None:
        self.spent = multiprocessing.Value("d", 0.0)
        self.proc = multiprocessing.Process(target=_pinned, args=(cpu, self.spent, target, *args))
        self.proc.start()

    def join(self) -> float:
        self.proc.join()
        if self.proc.exitcode != 0:
            raise SystemExit(f"an encode process exited {self.proc.exitcode}")
        return float(self.spent.value)


def single(spec: VideoJobSpec, volumes: Volumes, out: Path) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of today's single encode on one core."""
    started = time.monotonic()
    cpu = Encoder(0, execute, spec, out, volumes, Quiet()).join()
    return time.monotonic() - started, cpu


def split_run(spec: VideoJobSpec, volumes: Volumes, out: Path, n: int, pinned: bool) -> dict[str, float]:
    """Wall seconds of plan, chunks, stitch and in all; CPU seconds of plan, the busiest chunk and stitch."""
    started, cpu0 = time.monotonic(), cpu_seconds()
    sources = resolve_sources(spec, volumes, False, ())
    s = parallel.plan(spec, sources, n)
    assert len(s.chunks) == n, s.message
    planned, cpu1 = time.monotonic(), cpu_seconds()
    work = parallel.split_dir(out, f"bench{n}{int(pinned)}")
    total = plan.expected_seconds(spec, sources)
    threads = 1 if pinned else None
    encoders = []
    for c in s.chunks:
        chunk_args = (spec, sources[0], s, c.index, work, Quiet(), total, threads)
        encoders.append(Encoder(c.index if pinned else None, parallel.encode_chunk, *chunk_args))
    chunk_cpu = [e.join() for e in encoders]
    encoded, cpu2 = time.monotonic(), cpu_seconds()
    parallel.stitch(spec, sources, s, work, out, "bench")
    shutil.rmtree(work)
    done, cpu3 = time.monotonic(), cpu_seconds()
    return {
        "plan": planned - started,
        "chunks": encoded - planned,
        "stitch": done - encoded,
        "total": done - started,
        "plan_cpu": cpu1 - cpu0,
        "chunk_cpu": max(chunk_cpu),
        "all_chunks_cpu": sum(chunk_cpu),
        "stitch_cpu": cpu3 - cpu2,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seconds", type=int, default=120)
    p.add_argument("--preset", default="veryfast")
    p.add_argument("--workdir", type=Path, default=Path("/tmp/oma-bench-parallel"))
    args = p.parse_args()
    if len(os.sched_getaffinity(0)) < 2:
        raise SystemExit("needs two cores")
    media = args.workdir / "media"
    media.mkdir(parents=True, exist_ok=True)
    source = make_source(media / f"source-{args.seconds}s.mp4", args.seconds)
    spec = spec_for(args.preset, source.name)
    volumes = Volumes(media, {"media": media})
    outs = {k: args.workdir / k for k in ("n1", "n2", "n2free")}
    for o in outs.values():
        shutil.rmtree(o, ignore_errors=True)
        o.mkdir()
    print(f"source: {args.seconds}s 1080p30 + audio; ladder {', '.join(r[0] for r in RUNGS)} ({args.preset}, HLS)")
    load = os.getloadavg()[0]
    t1, c1 = single(spec, volumes, outs["n1"])
    print(f"N=1 one core:        {t1:7.1f}s")
    pinned = split_run(spec, volumes, outs["n2"], 2, pinned=True)
    overhead = pinned["plan"] + pinned["stitch"]
    print(
        f"N=2 one core each:   {pinned['total']:7.1f}s (plan {pinned['plan']:.1f}s, chunks {pinned['chunks']:.1f}s, "
        f"stitch {pinned['stitch']:.1f}s; plan+stitch = {100 * overhead / t1:.1f}% of N=1)"
    )
    free = split_run(spec, volumes, outs["n2free"], 2, pinned=False)
    print(
        f"N=2 unrestricted:    {free['total']:7.1f}s (plan {free['plan']:.1f}s, chunks {free['chunks']:.1f}s, "
        f"stitch {free['stitch']:.1f}s) -> {t1 / free['total']:.2f}x vs N=1 one core; this machine has "
        f"{os.cpu_count()} cores, shared"
    )
    # Other work on a shared machine steals wall time from pinned processes; CPU seconds are what each one-core
    # node would spend on its own, so they give the speedup two idle nodes would see.
    ideal = pinned["plan_cpu"] + pinned["chunk_cpu"] + pinned["stitch_cpu"]
    print(
        f"CPU seconds: N=1 {c1:.1f}; N=2 plan {pinned['plan_cpu']:.1f} + busiest chunk {pinned['chunk_cpu']:.1f} "
        f"(both {pinned['all_chunks_cpu']:.1f}) + stitch {pinned['stitch_cpu']:.1f} -> {c1 / ideal:.2f}x on two "
        f"idle one-core nodes; load average {load:.1f} at start, {os.getloadavg()[0]:.1f} at the end"
    )
    print(f"parallel speedup {t1 / pinned['total']:.2f} (N=2 vs N=1, one core each)")


if __name__ == "__main__":
    main()
