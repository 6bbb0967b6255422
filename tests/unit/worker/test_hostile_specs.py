"""Property-based: every spec the schema accepts ends in an exit code from the taxonomy, never a traceback.

Two generators: one from the generated CRD schema itself (hypothesis-jsonschema: breadth, whatever the apiserver
would store), one from the models' own vocabulary (depth: duplicates, trims past the end, tiny intervals, odd
probes). Each spec goes through validation, the input limits, destination confinement and planning with its
budget check, with synthetic probe results. Fixed seed (derandomize) and bounded examples in `make test`;
OMA_HYPOTHESIS_EXAMPLES raises the count for a night run (docs/decisions.md). Failures that found bugs are kept
as regular tests (test_plan.py, test_videojob.py).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_jsonschema import from_schema
from pydantic import ValidationError

from oma.models import crd
from oma.models.exitcodes import Exit
from oma.models.videojob import VideoJobSpec
from oma.worker import plan, safety
from oma.worker.execute import check_limits, destination, plan_job
from oma.worker.exitcodes import WorkerError
from oma.worker.probe import MediaInfo

EXAMPLES = int(os.environ.get("OMA_HYPOTHESIS_EXAMPLES", "0"))
FAST = settings(
    derandomize=True,  # a fixed seed: the same examples on every run and machine
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)


def _strict_objects(node: Any) -> Any:
    """The CRD's spec schema for generation: no Kubernetes extensions, and no unknown fields (kubectl's strict
    field validation refuses those; a generator that adds them only tests pydantic's `extra=forbid`)."""
    if isinstance(node, list):
        return [_strict_objects(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: _strict_objects(v) for k, v in node.items() if not k.startswith("x-kubernetes")}
    if out.get("type") == "object" and "properties" in out:
        out["additionalProperties"] = False
        out.update(_cel_as_json_schema(set(out["properties"])))
    return out


def _cel_as_json_schema(properties: set[str]) -> dict[str, Any]:
    """The two CEL rules most specs trip on, in JSON Schema, so that generated specs get past validation and
    into planning (without them, 195 of 200 generated specs stopped at "exactly one source")."""
    if {"url", "pvc", "titleCard"} <= properties:
        return {"oneOf": [{"required": [k]} for k in ("url", "pvc", "titleCard")]}
    if {"mp4", "hls", "thumbnails"} <= properties:
        return {"anyOf": [{"required": ["mp4"], "properties": {"mp4": {"minItems": 1}}}, {"required": ["hls"]}]}
    return {}


SPEC_SCHEMA = _strict_objects(
    crd.videojob_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
)

probes = st.builds(
    MediaInfo,
    duration=st.floats(0, 30 * 3600, allow_nan=False),
    width=st.none() | st.integers(0, 10_000),
    height=st.none() | st.integers(0, 10_000),
    fps=st.none() | st.floats(0.001, 1000),
    video_codec=st.sampled_from([None, "h264", "h264", "hevc", "mjpeg"]),
    has_audio=st.booleans(),
    size_bytes=st.none() | st.integers(0, 2**50),
)


def outcome(raw: Any, infos: list[MediaInfo]) -> tuple[int, str]:
    """What the worker would exit with for `raw` up to the encode: validation, limits, confinement, plan."""
    try:
        spec = VideoJobSpec.model_validate(raw)
    except ValidationError as e:
        return Exit.INVALID_SPEC, str(e)
    with tempfile.TemporaryDirectory() as tmp:
        try:
            sources = []
            for i, inp in enumerate(spec.inputs):
                if inp.title_card:
                    sources.append(plan.Source(title=inp.title_card))
                    continue
                info = infos[i % len(infos)]
                check_limits(spec, i, info)
                sources.append(
                    plan.Source(location=inp.url or f"/v/{i}.mp4", info=info, protocols=safety.FILE_PROTOCOLS)
                )
            dest = destination(spec, Path(tmp))
            plan_job(spec, sources, Path(tmp), dest, "run")
        except WorkerError as e:
            return e.code, e.message
    return Exit.OK, "planned"


def assert_classified(raw: Any, infos: list[MediaInfo]) -> None:
    code, message = outcome(raw, infos)
    assert code in set(Exit), code
    assert message.strip()


@settings(FAST, max_examples=EXAMPLES or 40)
@given(raw=from_schema(SPEC_SCHEMA), infos=st.lists(probes, min_size=1, max_size=3))
def test_specs_generated_from_the_crd_schema_end_in_a_classified_exit(raw: Any, infos: list[MediaInfo]) -> None:
    assert_classified(raw, infos)


# --- the models' vocabulary, to reach deeper than random schema instances do ------------------------------------

names = st.sampled_from(["a", "b", "hls", "thumbs", "media"])
cards = st.fixed_dictionaries(
    {"text": st.text(min_size=1, max_size=20), "durationSeconds": st.sampled_from([0.04, 0.5, 1, 600])},
    optional={
        "width": st.sampled_from([16, 320, 3840]),
        "height": st.sampled_from([16, 180, 2160]),
        "fps": st.sampled_from([1, 30, 60]),
    },
)
inputs = st.one_of(
    st.fixed_dictionaries({"titleCard": cards}),
    st.just({"pvc": {"claimName": "media", "path": "in.mp4"}}),
    st.just({"url": "https://example.com/a.mp4"}),
)
renditions = st.fixed_dictionaries(
    {"name": names, "width": st.sampled_from([16, 320, 3840]), "height": st.sampled_from([16, 180, 2160])},
    optional={
        "fps": st.sampled_from([1, 120]),
        "bitrate": st.sampled_from(["1k", "999999M"]),
        "codec": st.sampled_from(["h264", "hevc"]),
    },
)
outputs = st.fixed_dictionaries(
    {},
    optional={
        "mp4": st.lists(renditions, max_size=3, unique_by=lambda r: r["name"]),
        "hls": st.fixed_dictionaries(
            {"renditions": st.lists(renditions, min_size=1, max_size=3)},
            optional={"name": names, "segmentSeconds": st.sampled_from([1, 60])},
        ),
        "thumbnails": st.fixed_dictionaries(
            {"everySeconds": st.sampled_from([1, 7.5, 3600])},
            optional={"name": names, "sprite": st.booleans(), "width": st.sampled_from([16, 1920])},
        ),
    },
)
limits = st.fixed_dictionaries(
    {},
    optional={
        "maxOutputFiles": st.sampled_from([1, 50, 200_000]),
        "maxEncodedFrames": st.sampled_from([1, 1000, 100_000_000]),
        "maxOutputBytes": st.sampled_from([1024**2, 1024**4]),
        "maxInputSeconds": st.sampled_from([0.5, 86400]),
    },
)
specs = st.fixed_dictionaries(
    {
        "inputs": st.lists(inputs, min_size=1, max_size=4),
        "outputs": outputs,
        "destination": st.fixed_dictionaries(
            {"claimName": st.just("out")}, optional={"pathPrefix": st.sampled_from(["", "a/b", "x/"])}
        ),
    },
    optional={
        "trim": st.fixed_dictionaries(
            {},
            optional={"startSeconds": st.sampled_from([0, 0.5, 86400]), "durationSeconds": st.sampled_from([0.01, 5])},
        ),
        "limits": limits,
    },
)


@settings(FAST, max_examples=EXAMPLES or 300)
@given(raw=specs, infos=st.lists(probes, min_size=1, max_size=3))
def test_specs_from_the_models_vocabulary_end_in_a_classified_exit(raw: Any, infos: list[MediaInfo]) -> None:
    assert_classified(raw, infos)
