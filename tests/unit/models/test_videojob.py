"""The VideoJob models validate as the apiserver does: strictly, and with confined paths."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from pydantic import ValidationError

from oma.models.videojob import VideoJob

BASE: dict[str, Any] = {
    "apiVersion": "video.oma.ai/v1alpha1",
    "kind": "VideoJob",
    "metadata": {"name": "x"},
    "spec": {
        "inputs": [{"titleCard": {"text": "hi", "durationSeconds": 1}}],
        "outputs": {"mp4": [{"name": "a", "width": 320, "height": 180}]},
        "destination": {"claimName": "out"},
    },
}


def with_(path: str, value: object) -> dict[str, Any]:
    doc = copy.deepcopy(BASE)
    *parents, last = path.split(".")
    node: Any = doc["spec"]
    for key in parents:
        node = node[int(key)] if key.isdigit() else node[key]
    node[last] = value
    return doc


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("inputs.0.titleCard.durationSeconds", "5"),
        ("inputs.0.titleCard.width", "320"),
        ("inputs.0.titleCard.fps", True),
        ("suspend", "true"),
        ("suspend", 1),
        ("priority", 1.5),
    ],
)
def test_no_coercion_the_apiserver_would_not_do(path: str, value: object) -> None:
    with pytest.raises(ValidationError):
        VideoJob.model_validate(with_(path, value))


def test_integral_numbers_are_integers_as_in_json() -> None:
    vj = VideoJob.model_validate(with_("inputs.0.titleCard.width", 320.0))
    assert vj.spec.inputs[0].title_card is not None and vj.spec.inputs[0].title_card.width == 320


@pytest.mark.parametrize("prefix", ["..", "a/..", "../b", "a/./b", ".hidden", "/abs", "a//b", "a\x00b", "a\tb"])
def test_destination_prefixes_that_could_escape_are_refused(prefix: str) -> None:
    with pytest.raises(ValidationError, match="pathPrefix"):
        VideoJob.model_validate(with_("destination.pathPrefix", prefix))


@pytest.mark.parametrize("prefix", ["", "a", "a/b/", "2026/vidéos d'été", "a..b/c."])
def test_ordinary_prefixes_pass(prefix: str) -> None:
    assert VideoJob.model_validate(with_("destination.pathPrefix", prefix)).spec.destination.path_prefix == prefix


def test_title_text_must_be_unicode_without_nul() -> None:
    for text in ("a\x00b", "lone \ud800 surrogate"):
        with pytest.raises(ValidationError, match="text"):
            VideoJob.model_validate(with_("inputs.0.titleCard.text", text))


def test_hls_and_thumbnails_cannot_share_a_directory() -> None:
    outputs = {"hls": {"name": "media", "renditions": [{"name": "r", "width": 320, "height": 180}]}}
    outputs["thumbnails"] = {"name": "media", "everySeconds": 5}
    with pytest.raises(ValidationError, match="must differ"):
        VideoJob.model_validate(with_("outputs", outputs))


def test_thumbnails_at_most_one_per_second() -> None:
    with pytest.raises(ValidationError, match="everySeconds"):
        VideoJob.model_validate(with_("outputs", {"thumbnails": {"everySeconds": 0.001}}))
