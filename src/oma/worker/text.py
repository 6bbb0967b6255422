"""Title-card text goes to a file that drawtext reads with expansion off: shown verbatim, never interpreted."""

from __future__ import annotations

from pathlib import Path

FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")


def write_text_file(directory: Path, index: int, text: str) -> Path:
    # drawtext would take a trailing newline as an empty last line, which shifts the centring.
    path = directory / f"title-{index}.txt"
    path.write_text(text.replace("\r\n", "\n").rstrip("\n"), encoding="utf-8")
    return path


def drawtext_args(textfile: Path, font_size: int, font_color: str) -> dict[str, object]:
    """Keyword arguments for ffmpeg-python's drawtext (it escapes filter-argument specials itself)."""
    if not FONT.exists():
        raise FileNotFoundError(f"{FONT} is missing: install Debian's fonts-dejavu-core")
    return {
        "fontfile": str(FONT),
        "textfile": str(textfile),
        "expansion": "none",
        "fontsize": font_size,
        "fontcolor": font_color,
        "x": "(w-text_w)/2",
        "y": "(h-text_h)/2",
    }
