"""A sample of generated specs run for real through `oma run` on tiny sources: every run ends with an exit code
from the taxonomy and, when it fails, one `error: <Reason>: <message>` line; never a traceback.

Fixed seed, few examples in `make test` (each is a real ffmpeg run); OMA_HYPOTHESIS_EXAMPLES raises the count.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from oma.models.exitcodes import Exit

from .conftest import make_clip

pytestmark = pytest.mark.ffmpeg
EXAMPLES = int(os.environ.get("OMA_HYPOTHESIS_EXAMPLES", "0"))

names = st.sampled_from(["a", "b", "hls", "thumbs"])
cards = st.fixed_dictionaries(
    {
        "text": st.text(min_size=1, max_size=12),
        "durationSeconds": st.sampled_from([0.04, 0.25, 1]),
        "width": st.sampled_from([16, 64, 96]),
        "height": st.sampled_from([16, 36, 64]),
    },
    optional={"fps": st.sampled_from([1, 10, 25]), "backgroundColor": st.sampled_from(["navy", "#ff000080", "Nope"])},
)
inputs = st.one_of(
    st.fixed_dictionaries({"titleCard": cards}),
    st.sampled_from(
        [{"pvc": {"claimName": "media", "path": "clip.mp4"}}, {"pvc": {"claimName": "media", "path": "silent.mp4"}}]
    ),
)
renditions = st.fixed_dictionaries(
    {
        "name": names,
        "width": st.sampled_from([16, 64]),
        "height": st.sampled_from([16, 36]),
        "preset": st.just("ultrafast"),
    },
    optional={"fps": st.sampled_from([1, 12]), "bitrate": st.sampled_from(["50k", "2M"])},
)
outputs = st.fixed_dictionaries(
    {},
    optional={
        "mp4": st.lists(renditions, max_size=2, unique_by=lambda r: r["name"]),
        "hls": st.fixed_dictionaries(
            {"renditions": st.lists(renditions, min_size=1, max_size=2, unique_by=lambda r: r["name"])},
            optional={"segmentSeconds": st.sampled_from([1, 2])},
        ),
        "thumbnails": st.fixed_dictionaries(
            {"everySeconds": st.sampled_from([1, 1.5])},
            optional={"sprite": st.booleans(), "width": st.sampled_from([16, 32])},
        ),
    },
)
specs = st.fixed_dictionaries(
    {
        "inputs": st.lists(inputs, min_size=1, max_size=3),
        "outputs": outputs,
        "destination": st.just({"claimName": "out", "pathPrefix": "run"}),
    },
    optional={
        "trim": st.fixed_dictionaries(
            {},
            optional={
                "startSeconds": st.sampled_from([0, 0.5, 30]),
                "durationSeconds": st.sampled_from([0.05, 0.25, 1]),
            },
        ),
        "limits": st.fixed_dictionaries(
            {},
            optional={"maxOutputFiles": st.sampled_from([2, 1000]), "maxEncodedFrames": st.sampled_from([5, 10_000])},
        ),
    },
)


@pytest.fixture(scope="module")
def tiny_media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("tiny")
    make_clip(root / "clip.mp4", seconds=1, size="64x36", rate=10)
    make_clip(root / "silent.mp4", seconds=1, size="32x32", rate=10, audio=False)
    return root


@settings(
    max_examples=EXAMPLES or 10,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
@given(spec=specs)
def test_generated_specs_run_to_a_classified_exit(tiny_media: Path, spec: dict[str, Any]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        job = Path(tmp) / "job.yaml"
        job.write_text(yaml.safe_dump({"apiVersion": "video.oma.ai/v1alpha1", "kind": "VideoJob", "spec": spec}))
        cmd = ["run", "-f", str(job), "-o", str(Path(tmp) / "out"), "--volume", f"media={tiny_media}"]
        done = subprocess.run([sys.executable, "-m", "oma.cli.main", *cmd], capture_output=True, text=True, timeout=120)
        assert "Traceback" not in done.stderr, done.stderr
        assert done.returncode in set(Exit), (done.returncode, done.stderr)
        if done.returncode == Exit.OK:
            assert done.stdout.strip(), "a successful run prints its outputs"
        else:
            assert "error: " in done.stderr, done.stderr
        leftovers = [p.name for p in (Path(tmp) / "out").rglob("*partial*")]
        assert leftovers == [], leftovers


# Found by the sample above, kept as regular tests.


def oma_run(tmp_path: Path, spec: dict[str, Any], *extra: str) -> subprocess.CompletedProcess[str]:
    job = tmp_path / "job.yaml"
    job.write_text(yaml.safe_dump({"apiVersion": "video.oma.ai/v1alpha1", "kind": "VideoJob", "spec": spec}))
    cmd = ["run", "-f", str(job), "-o", str(tmp_path / "out"), *extra]
    return subprocess.run([sys.executable, "-m", "oma.cli.main", *cmd], capture_output=True, text=True)


def test_a_one_frame_output_is_refused_before_encoding(tmp_path: Path, tiny_media: Path) -> None:
    """A 0.04 s card made an HLS segment ffprobe could not read, and the probe error escaped as a traceback
    (exit 1); with the probe error classified it was exit 21, retried for nothing. Now: refused up front."""
    card = {"titleCard": {"text": "0", "durationSeconds": 0.04, "width": 16, "height": 16}}
    rung = {"name": "a", "width": 16, "height": 16, "preset": "ultrafast"}
    spec = {"inputs": [card], "outputs": {"hls": {"renditions": [rung]}}, "destination": {"claimName": "o"}}
    done = oma_run(tmp_path, spec)
    assert done.returncode == Exit.INVALID_SPEC and "durationSeconds" in done.stderr
    trimmed = {**spec, "inputs": [{"pvc": {"claimName": "media", "path": "clip.mp4"}}], "trim": {"startSeconds": 0.9}}
    done = oma_run(tmp_path, trimmed, "--volume", f"media={tiny_media}")
    assert done.returncode == Exit.INVALID_SPEC and "error: TrimOutsideInput: spec.trim" in done.stderr
    assert [p for p in (tmp_path / "out").rglob("*") if p.is_file()] == []


def test_a_colour_ffmpeg_does_not_know_is_an_invalid_spec(tmp_path: Path) -> None:
    """The sample's "Nope" background made ffmpeg fail (exit 20: retried for nothing); now exit 10, naming it."""
    card = {"text": "x", "durationSeconds": 0.5, "width": 64, "height": 36, "backgroundColor": "Nope"}
    rung = {"name": "a", "width": 64, "height": 36, "preset": "ultrafast"}
    spec = {"inputs": [{"titleCard": card}], "outputs": {"mp4": [rung]}, "destination": {"claimName": "o"}}
    done = oma_run(tmp_path, spec)
    assert done.returncode == Exit.INVALID_SPEC
    assert "spec.inputs[0].titleCard.backgroundColor: 'Nope' is not a colour name ffmpeg knows" in done.stderr
    ok = oma_run(tmp_path, {**spec, "inputs": [{"titleCard": {**card, "backgroundColor": "navy"}}]})
    assert ok.returncode == Exit.OK, ok.stderr


def test_the_colours_assumed_known_are_in_this_ffmpegs_table() -> None:
    """The worker skips `ffmpeg -colors` for a few names; they must really be in ffmpeg's table."""
    from oma.worker.execute import _ALWAYS_KNOWN, _ffmpeg_colors

    assert _ffmpeg_colors() >= _ALWAYS_KNOWN
