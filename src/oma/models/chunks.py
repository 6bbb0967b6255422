"""Per-chunk progress folded into one: shared by `oma run --parallel` and the operator (issue 14)."""

from __future__ import annotations

from collections.abc import Mapping

from .videojob import ChunkPlan, Progress


def fold_progress(chunks: list[ChunkPlan], progress: Mapping[str, Progress]) -> Progress:
    """One `Encoding` progress over every chunk: percent weighted by frames, fps summed, the slowest chunk's ETA.

    A chunk that reported nothing yet counts as 0 % with an unknown ETA (so the ETA is unknown too)."""
    total = sum(c.frames for c in chunks) or 1
    done = 0.0
    fps = 0.0
    etas: list[float | None] = []
    for c in chunks:
        p = progress.get(str(c.index))
        if p is None:
            etas.append(None)
            continue
        share = 100.0 if p.phase == "Done" else p.percent
        done += share * c.frames
        fps += p.fps or 0.0
        etas.append(0.0 if share >= 100 else p.eta_seconds)
    percent = min(100.0, done / total)
    eta = None if any(e is None for e in etas) else max((e for e in etas if e is not None), default=0.0)
    return Progress.model_validate(
        {
            "phase": "Encoding",
            "percent": round(min(percent, 99.9), 1),
            "fps": round(fps, 1) if fps else None,
            "etaSeconds": round(eta, 1) if eta is not None else None,
        }
    )
