"""Chart geometry for the usage page: numbers in, SVG coordinates out (the template draws them)."""

from __future__ import annotations

from dataclasses import dataclass

from ..models import UsageDay

WIDTH, HEIGHT, PAD_LEFT, PAD_BOTTOM, PAD_TOP = 720, 240, 56, 28, 12


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str
    title: str


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    bars: list[Bar]
    ticks: list[tuple[float, str]]  # (y, label)
    x_labels: list[tuple[float, str]]
    line: str  # polyline points of output minutes, scaled to the same height
    baseline: float
    left: int


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1.0
    step = 10 ** len(str(int(value))) / 10 if value >= 1 else 0.01
    while step * 5 < value:
        step *= 2
    top = step
    while top < value:
        top += step
    return top


def usage_chart(days: list[UsageDay]) -> Chart:
    """Bars: cost per day; line: output minutes per day, each scaled to its own maximum."""
    plot_w, plot_h = WIDTH - PAD_LEFT - 8, HEIGHT - PAD_BOTTOM - PAD_TOP
    top = _nice_max(max((d.cost_usd for d in days), default=0))
    minutes_top = max((d.output_minutes for d in days), default=0) or 1
    slot = plot_w / max(1, len(days))
    baseline = PAD_TOP + plot_h
    bars, points, x_labels = [], [], []
    for i, d in enumerate(days):
        h = plot_h * d.cost_usd / top
        x = PAD_LEFT + i * slot
        title = f"{d.day}: ${d.cost_usd:.4f}, {d.output_minutes:.1f} output min, {d.jobs} jobs"
        bars.append(Bar(x + slot * 0.15, baseline - h, slot * 0.7, h, d.day.strftime("%d"), title))
        points.append(f"{x + slot / 2:.1f},{baseline - plot_h * d.output_minutes / minutes_top:.1f}")
        if len(days) <= 14 or i % max(1, len(days) // 10) == 0:
            x_labels.append((x + slot / 2, d.day.strftime("%b %d")))
    ticks = [(baseline - plot_h * f, f"${top * f:.2f}" if top >= 1 else f"${top * f:.3f}") for f in (0, 0.5, 1)]
    return Chart(WIDTH, HEIGHT, bars, ticks, x_labels, " ".join(points), baseline, PAD_LEFT)
