"""Presets are data: a YAML list, packaged by default and replaceable per stack."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import yaml
from pydantic import TypeAdapter

from ..models import Preset

_PRESETS = TypeAdapter(list[Preset])


def _normalise(raw: object) -> object:
    # The YAML uses the VideoJob's camelCase (titleCard); the model's field is title_card.
    if isinstance(raw, list):
        return [{("title_card" if k == "titleCard" else k): v for k, v in item.items()} for item in raw]
    return raw


def load_presets(path: Path | None) -> dict[str, Preset]:
    text = path.read_text() if path else resources.files("oma.dashboard").joinpath("presets.yaml").read_text()
    presets = _PRESETS.validate_python(_normalise(yaml.safe_load(text)))
    return {p.name: p for p in presets}
