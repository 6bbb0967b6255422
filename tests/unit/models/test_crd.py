"""The CRDs are generated from the models; the committed YAML must match, and be useful to `kubectl explain`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from oma.models import chart_values, crd

REPO = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize("directory", ["crds", "charts/oma-operator/files/crds"])
@pytest.mark.parametrize("name", sorted(crd.all_crds()))
def test_committed_crd_matches_the_models(directory: str, name: str) -> None:
    committed = (REPO / directory / name).read_text()
    assert committed == crd.render(crd.all_crds()[name]), f"{directory}/{name} drifted from the models: make crds"


def test_chart_values_schema_matches_the_model() -> None:
    committed = (REPO / "charts/oma-operator/values.schema.json").read_text()
    assert committed == chart_values.render(), "values.schema.json drifted from oma.models.chart_values: make crds"


def walk(node: dict[str, Any], path: str) -> list[str]:
    missing = []
    for key, child in (node.get("properties") or {}).items():
        here = f"{path}.{key}"
        if not child.get("description") and key != "metadata":
            missing.append(here)
        missing += walk(child, here)
    if "items" in node:
        missing += walk(node["items"], f"{path}[]")
    return missing


@pytest.mark.parametrize("name", sorted(crd.all_crds()))
def test_every_field_is_described_typed_and_bounded(name: str) -> None:
    schema = crd.all_crds()[name]["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    assert walk(schema, "") == []
    text = str(schema)
    assert "'$ref'" not in text and "'anyOf'" not in text and "'title'" not in text

    def check(node: dict[str, Any], path: str) -> None:
        assert "type" in node or path.endswith("metadata"), f"{path} has no type"
        assert "_" not in path.rsplit(".", 1)[-1], f"{path}: API fields are camelCase (a pydantic alias is missing)"
        if node.get("type") == "array":
            assert "maxItems" in node, f"{path} is an unbounded list (CEL cost)"
        for key, child in (node.get("properties") or {}).items():
            check(child, f"{path}.{key}")
        if "items" in node:
            check(node["items"], f"{path}[]")

    check(schema["properties"]["spec"], "spec")


def test_cross_field_rules_are_carried_as_cel() -> None:
    text = crd.render(crd.videojob_crd())
    assert "an input sets exactly one of url, pvc or titleCard" in text
    assert "set crf or bitrate, not both" in text
    assert "spec.inputs is immutable" in text


def test_every_number_in_the_videojob_spec_is_bounded_on_both_sides() -> None:
    """Every field that multiplies work is bounded in the schema (issue 13). An annotated integer type once made
    pydantic drop the bounds of optional integers from the generated CRD; this catches that at once."""
    spec = crd.videojob_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    unbounded = []

    def check(node: dict[str, Any], path: str) -> None:
        if node.get("type") in ("integer", "number") and not ("minimum" in node and "maximum" in node):
            unbounded.append(path)
        for key, child in (node.get("properties") or {}).items():
            check(child, f"{path}.{key}")
        if "items" in node:
            check(node["items"], f"{path}[]")

    check(spec, "spec")
    assert unbounded == []
