"""The CRDs are generated from the models; the committed YAML must match, and be useful to `kubectl explain`."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from oma.models import chart_values, crd
from oma.operator.common.conditions import Cond, merge_conditions

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


@pytest.mark.parametrize("name", sorted(crd.all_crds()))
def test_conditions_are_shaped_like_metav1_condition(name: str) -> None:
    """The same required fields, formats and patterns as k8s.io/apimachinery's metav1.Condition."""
    root = crd.all_crds()[name]["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    item = root["properties"]["status"]["properties"]["conditions"]["items"]
    assert set(item["required"]) == {"type", "status", "reason", "message", "lastTransitionTime"}
    fields = item["properties"]
    assert fields["lastTransitionTime"]["format"] == "date-time"
    assert fields["reason"]["minLength"] == 1 and fields["reason"]["maxLength"] == 1024
    assert fields["message"]["maxLength"] == 32768 and fields["type"]["maxLength"] == 316
    assert not [k for k, v in fields.items() if "default" in v], "a default would be filled in and then refused"
    written = merge_conditions([], [Cond("Ready", False, "", "x"), Cond("Queued", True, "ConcurrencyLimit", "")],
                               "2026-01-01T00:00:00Z", 1)  # fmt: skip
    for c in written:
        assert re.fullmatch(fields["reason"]["pattern"], c["reason"]) and re.fullmatch(
            fields["type"]["pattern"], c["type"]
        )


@pytest.mark.parametrize("name", sorted(crd.all_crds()))
def test_printer_columns_are_described_and_short_names_do_not_clash(name: str) -> None:
    spec = crd.all_crds()[name]["spec"]
    columns = spec["versions"][0]["additionalPrinterColumns"]
    assert all(c.get("description") for c in columns), [c["name"] for c in columns if not c.get("description")]
    # Short names other operators are known to take (or that read as a common noun) stay free.
    assert not set(spec["names"]["shortNames"]) & {"stack", "stacks", "job", "jobs", "app", "svc"}
    assert spec["names"]["shortNames"] == {"VideoJob": ["vj"], "OmaStack": ["oms"]}[spec["names"]["kind"]]


def test_chart_readme_values_table_matches_values_yaml_and_the_schema() -> None:
    chart = REPO / "charts" / "oma-operator"
    values = yaml.safe_load((chart / "values.yaml").read_text())
    readme = (chart / "README.md").read_text()
    assert chart_values.readme_with_table(readme, values) == readme, "the values table drifted: make generate"
    table = readme.split(chart_values.TABLE_BEGIN)[1]
    assert '| `worker.scratchSize` | string | `"20Gi"` |' in table


def test_a_value_the_schema_does_not_know_cannot_be_tabled() -> None:
    with pytest.raises(ValueError, match="workerr"):
        chart_values.values_table({"workerr": {}})
