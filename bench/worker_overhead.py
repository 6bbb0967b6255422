"""The worker against plain ffmpeg, in the same run, alternated, medians of several runs.

    .venv/bin/python bench/worker_overhead.py [--runs 3]

1. one 1080p -> 720p transcode: the worker (probe, encode with progress, verify, sha256, publish) vs plain
   ffmpeg with the identical encode arguments;
2. a 3-rung ladder: the worker's one decode + split vs three separate plain ffmpeg runs;
3. a 30 s 1080p title card: the worker vs the same filter graph and encoder settings in plain ffmpeg;
4. a 4 s 720p title card with the default encoder settings (the platform's common case: short cards), where the
   worker's fixed cost (checks, verification, hashing, publishing) weighs most;
5. for (4), `oma run` as a fresh process, to show what interpreter start and imports add on top.
The last lines are the worker/plain ratios of (1) and (4).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from oma.models.videojob import Progress, VideoJobSpec
from oma.worker import plan as planner
from oma.worker.execute import Volumes, execute
from oma.worker.probe import probe


class Quiet:
    def progress(self, progress: Progress) -> None:
        pass


def timed(fn: Callable[[], Any]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def alternate(runs: int, a: Callable[[], Any], b: Callable[[], Any]) -> tuple[float, float]:
    ta, tb = [], []
    for _ in range(runs):
        ta.append(timed(a))
        tb.append(timed(b))
    return statistics.median(ta), statistics.median(tb)


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", *args], check=True)


def plain_argv(spec: VideoJobSpec, media: Path, out: Path) -> list[str]:
    """The worker's own encode arguments, minus its progress reporting."""
    info = probe(str(media / "in.mp4"))
    with tempfile.TemporaryDirectory() as work:
        p = planner.build(
            spec,
            [planner.Source(location=str(media / "in.mp4"), info=info, protocols="file")],
            Path(work),
            out,
            run_id="plain",
        )
    argv = [a for a in p.argv if a not in ("-progress", "pipe:1", "-nostats")]
    return [argv[0], "-loglevel", "error", *argv[1:]]


def title_argv(card: VideoJobSpec, out: Path) -> list[str]:
    """The worker's own arguments for a title card, minus its progress reporting. The text file they name
    stays in a directory of its own for the whole run."""
    work = tempfile.mkdtemp(prefix="oma-bench-card-")
    p = planner.build(card, [planner.Source(title=card.inputs[0].title_card)], Path(work), out, run_id="plain")
    argv = [a for a in p.argv if a not in ("-progress", "pipe:1", "-nostats")]
    return [argv[0], "-loglevel", "error", *argv[1:]]


def spec(outputs: dict[str, Any], inputs: list[dict[str, Any]] | None = None) -> VideoJobSpec:
    return VideoJobSpec.model_validate(
        {
            "inputs": inputs or [{"pvc": {"claimName": "media", "path": "in.mp4"}}],
            "outputs": outputs,
            "destination": {"claimName": "media"},
        }
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--seconds", type=int, default=10, help="length of the generated 1080p input")
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="oma-bench-"))
    media, out = root / "media", root / "out"
    media.mkdir()
    out.mkdir()
    ffmpeg(
        "-f",
        "lavfi",
        "-i",
        f"testsrc2=size=1920x1080:rate=30:duration={args.seconds}",
        "-f",
        "lavfi",
        "-i",
        f"sine=frequency=440:sample_rate=48000:duration={args.seconds}",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-crf",
        "18",
        "-pix_fmt",
        "yuv420p",
        "-c:a",
        "aac",
        "-shortest",
        str(media / "in.mp4"),
    )
    volumes = Volumes(media, {"media": media})
    print(f"input: {args.seconds}s 1920x1080 30 fps (testsrc2 + sine); {args.runs} alternated runs each; medians")

    one = spec({"mp4": [{"name": "r720", "width": 1280, "height": 720, "crf": 23, "preset": "veryfast"}]})
    argv = plain_argv(one, media, out)
    w, p = alternate(args.runs, lambda: execute(one, out, volumes, Quiet()), lambda: subprocess.run(argv, check=True))
    ratio1 = w / p
    print(f"1. transcode 1080p->720p veryfast: worker {w:.2f}s, plain ffmpeg {p:.2f}s, worker/plain {ratio1:.3f}")

    rungs = [
        {"name": f"r{h}", "width": h * 16 // 9 // 2 * 2, "height": h, "crf": 23, "preset": "veryfast"}
        for h in (360, 540, 720)
    ]
    ladder = spec({"mp4": rungs})
    separate = [plain_argv(spec({"mp4": [r]}), media, out) for r in rungs]
    w, p = alternate(
        args.runs,
        lambda: execute(ladder, out, volumes, Quiet()),
        lambda: [subprocess.run(a, check=True) for a in separate],
    )
    print(
        f"2. 3-rung ladder: worker (one decode, split) {w:.2f}s, three plain ffmpeg runs {p:.2f}s, "
        f"separate/worker {p / w:.2f}x"
    )

    card_input = [
        {
            "titleCard": {
                "text": "A title card\nrendered by oma",
                "durationSeconds": 30,
                "width": 1920,
                "height": 1080,
                "fps": 30,
            }
        }
    ]
    card = spec(
        {"mp4": [{"name": "card", "width": 1920, "height": 1080, "crf": 23, "preset": "ultrafast"}]}, card_input
    )
    card_argv = title_argv(card, out)
    w, p = alternate(
        args.runs, lambda: execute(card, out, volumes, Quiet()), lambda: subprocess.run(card_argv, check=True)
    )
    print(f"3. 30s 1080p title card, ultrafast: worker {w:.2f}s, plain ffmpeg {p:.2f}s, worker/plain {w / p:.3f}")

    short = spec(
        {"mp4": [{"name": "short", "width": 1280, "height": 720}]},
        [{"titleCard": {"text": "A short card", "durationSeconds": 4, "width": 1280, "height": 720, "fps": 30}}],
    )
    short_argv = title_argv(short, out)
    w, p = alternate(
        args.runs, lambda: execute(short, out, volumes, Quiet()), lambda: subprocess.run(short_argv, check=True)
    )
    ratio4 = w / p
    print(f"4. 4s 720p title card, default settings: worker {w:.2f}s, plain ffmpeg {p:.2f}s, worker/plain {ratio4:.3f}")

    manifest = root / "short.json"
    manifest.write_text(
        json.dumps(
            {
                "apiVersion": "video.oma.ai/v1alpha1",
                "kind": "VideoJob",
                "metadata": {"name": "short"},
                "spec": short.model_dump(by_alias=True, exclude_none=True),
            }
        )
    )
    cli = [sys.executable, "-m", "oma.cli.main", "run", "-f", str(manifest), "-o", str(out)]
    w, p = alternate(
        args.runs,
        lambda: subprocess.run(cli, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
        lambda: subprocess.run(short_argv, check=True),
    )
    print(f"5. the same as a fresh `oma run` process: {w:.2f}s vs plain ffmpeg {p:.2f}s, ratio {w / p:.3f}")
    print(f"worker/plain (transcode): {ratio1:.3f}")
    print(f"worker/plain (4s title card): {ratio4:.3f}")


if __name__ == "__main__":
    main()
