"""CustomResourceDefinitions generated from the pydantic models: the models are the source, YAML the output.

`python -m oma.models.crd DIR` writes one file per CRD; a test fails when the committed files drift.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel

from . import omastack, videojob

# JSON-Schema keys a structural CRD schema may carry (everything else pydantic emits is dropped).
_KEEP = {
    "type",
    "description",
    "properties",
    "items",
    "required",
    "enum",
    "default",
    "format",
    "pattern",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "minLength",
    "maxLength",
    "minItems",
    "maxItems",
    "maxProperties",
    "multipleOf",
    "additionalProperties",
    "nullable",
    "x-kubernetes-validations",
    "x-kubernetes-list-type",
    "x-kubernetes-list-map-keys",
    "x-kubernetes-preserve-unknown-fields",
    "x-kubernetes-int-or-string",
}


def _structural(node: Any, defs: dict[str, Any]) -> Any:
    """Inline $refs and rewrite pydantic's JSON Schema into Kubernetes' structural OpenAPI v3 subset."""
    if isinstance(node, list):
        return [_structural(n, defs) for n in node]
    if not isinstance(node, dict):
        return node
    node = dict(node)
    if "$ref" in node:
        target = defs[node.pop("$ref").rsplit("/", 1)[1]]
        merged = {**target, **node}  # the field's own description wins over the model's docstring
        return _structural(merged, defs)
    if "anyOf" in node:
        # Optional[X] is anyOf [X, null]: the field is simply optional (omitted, never null).
        options = [o for o in node.pop("anyOf") if o.get("type") != "null"]
        if len(options) != 1:
            raise ValueError(f"cannot express a union in a structural schema: {options}")
        return _structural({**options[0], **node}, defs)
    if "const" in node:
        node["enum"] = [node.pop("const")]
    for bound, flag in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        if isinstance(node.get(bound), int | float) and not isinstance(node.get(bound), bool):
            node[flag] = node[bound]
            node[bound] = True
    if node.get("additionalProperties") is False:
        del node["additionalProperties"]  # structural schemas prune unknown fields already
    if node.get("default", 0) is None:
        del node["default"]
    out = {k: v for k, v in node.items() if k in _KEEP}
    if "properties" in out:
        out["properties"] = {k: _structural(v, defs) for k, v in out["properties"].items()}
        out.setdefault("type", "object")
    if "items" in out:
        out["items"] = _structural(out["items"], defs)
    if isinstance(out.get("additionalProperties"), dict):
        out["additionalProperties"] = _structural(out["additionalProperties"], defs)
    if "enum" in out and "type" not in out:
        out["type"] = "string"
    return out


def schema_of(model: type[BaseModel]) -> dict[str, Any]:
    raw = model.model_json_schema(by_alias=True, mode="serialization")
    defs = raw.pop("$defs", {})
    result: dict[str, Any] = _structural(raw, defs)
    return result


def _root_schema(
    kind: str,
    spec: type[BaseModel],
    status: type[BaseModel],
    description: str,
    rules: list[dict[str, str]] | None,
) -> dict[str, Any]:
    root: dict[str, Any] = {
        "type": "object",
        "description": description,
        "required": ["spec"],
        "properties": {
            "apiVersion": {"type": "string", "description": "API version: video.oma.ai/v1alpha1."},
            "kind": {"type": "string", "description": f"{kind}."},
            "metadata": {"type": "object"},
            "spec": schema_of(spec),
            "status": schema_of(status),
        },
    }
    if rules:
        root["x-kubernetes-validations"] = rules
    return root


def _crd(
    *,
    kind: str,
    plural: str,
    short: list[str],
    spec: type[BaseModel],
    status: type[BaseModel],
    description: str,
    columns: list[dict[str, Any]],
    rules: list[dict[str, str]] | None = None,
) -> dict[str, Any]:
    root = _root_schema(kind, spec, status, description, rules)
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{videojob.GROUP}", "labels": {"app.kubernetes.io/part-of": "oma"}},
        "spec": {
            "group": videojob.GROUP,
            "names": {
                "kind": kind,
                "listKind": f"{kind}List",
                "plural": plural,
                "singular": kind.lower(),
                "shortNames": short,
                "categories": ["oma"],
            },
            "scope": "Namespaced",
            "versions": [
                {
                    "name": videojob.VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": columns,
                    "schema": {"openAPIV3Schema": root},
                }
            ],
        },
    }


def column(name: str, type_: str, path: str, description: str, priority: int = 0) -> dict[str, Any]:
    """A printer column; the description is what `kubectl explain`-minded tools and UIs show for it."""
    out: dict[str, Any] = {"name": name, "type": type_, "jsonPath": path, "description": description}
    if priority:
        out["priority"] = priority
    return out


def videojob_crd() -> dict[str, Any]:
    return _crd(
        kind=videojob.KIND,
        plural=videojob.PLURAL,
        short=["vj"],
        spec=videojob.VideoJobSpec,
        status=videojob.VideoJobStatus,
        description="A VideoJob turns inputs (URLs, files on PVCs, title cards) into verified MP4, HLS and "
        "thumbnail outputs by running the oma worker as a batch/v1 Job.",
        columns=[
            column(
                "Phase",
                "string",
                ".status.phase",
                "Pending, Queued, Running, Suspended, Succeeded, Failed or Cancelled.",
            ),
            column("Progress", "number", ".status.progress.percent", "Percent of the current attempt's work done."),
            column("Attempts", "integer", ".status.attempts", "Worker attempts so far, retries included."),
            column("Queue", "integer", ".status.queuePosition", "Position in the concurrency queue while Queued.", 1),
            column(
                "Reason", "string", ".status.failure.reason", "Why it failed (e.g. InputRefused, RunningTimeout).", 1
            ),
            column("Age", "date", ".metadata.creationTimestamp", "Time since the VideoJob was created."),
        ],
    )


def omastack_crd() -> dict[str, Any]:
    def condition(kind: str, field: str) -> str:
        return f'.status.conditions[?(@.type=="{kind}")].{field}'

    return _crd(
        kind=omastack.KIND,
        plural=omastack.PLURAL,
        # Not "stack": too generic a word for a cluster shared with other operators' resources.
        short=["oms"],
        spec=omastack.OmaStackSpec,
        status=omastack.OmaStackStatus,
        description="An OmaStack is one oma platform instance: Redis and Postgres StatefulSets, the dashboard "
        "Deployment with its HPA, monitoring objects and scheduled backups, kept as declared.",
        columns=[
            column(
                "Ready",
                "string",
                condition("Ready", "status"),
                "Whether Redis, Postgres and the dashboard are ready (the Ready condition).",
            ),
            column(
                "Reason",
                "string",
                condition("Ready", "reason"),
                "Why Ready is what it is (e.g. ComponentsNotReady, ProgressDeadlineExceeded).",
            ),
            column("Dashboard", "string", ".status.endpoints.dashboard", "The dashboard's in-cluster URL.", 1),
            column("Age", "date", ".metadata.creationTimestamp", "Time since the OmaStack was created."),
        ],
        rules=[
            {
                "rule": f"size(self.metadata.name) <= {omastack.MAX_NAME}",
                "message": f"an OmaStack name has at most {omastack.MAX_NAME} characters (its children's names "
                "are derived from it)",
            }
        ],
    )


def all_crds() -> dict[str, dict[str, Any]]:
    """File name -> CRD manifest."""
    return {
        "videojobs.video.oma.ai.yaml": videojob_crd(),
        "omastacks.video.oma.ai.yaml": omastack_crd(),
    }


def render(crd: dict[str, Any]) -> str:
    header = "# Generated from src/oma/models by `make crds`; do not edit by hand.\n"
    return header + yaml.safe_dump(crd, sort_keys=False, width=120)


def main(argv: list[str]) -> int:
    """Writes every CRD into each directory given (default: crds/)."""
    for out in map(Path, argv[1:] or ["crds"]):
        out.mkdir(parents=True, exist_ok=True)
        for name, crd in all_crds().items():
            (out / name).write_text(render(crd))
            print(out / name)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
