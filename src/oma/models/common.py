"""Pieces shared by oma's API types: base model, CEL helper, names, quantities, resources, conditions."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

GROUP = "video.oma.ai"
VERSION = "v1alpha1"

DnsLabel = Annotated[str, Field(min_length=1, max_length=63, pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")]
Quantity = Annotated[str, Field(max_length=32, pattern=r"^[0-9]+(\.[0-9]+)?(m|Ki|Mi|Gi|Ti|k|M|G|T)?$")]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


def cel(*rules: tuple[str, str]) -> ConfigDict:
    """A model config carrying CEL rules (x-kubernetes-validations) into the generated CRD schema."""
    return ConfigDict(
        extra="forbid",
        populate_by_name=True,
        json_schema_extra={"x-kubernetes-validations": [{"rule": r, "message": m} for r, m in rules]},
    )


class ResourceList(_Model):
    cpu: Quantity | None = Field(default=None, description="CPU, e.g. 2 or 500m.")
    memory: Quantity | None = Field(default=None, description="Memory, e.g. 2Gi.")


class Resources(_Model):
    """Compute resources of a container (requests and limits)."""

    requests: ResourceList | None = Field(default=None, description="Guaranteed resources.")
    limits: ResourceList | None = Field(default=None, description="Upper bounds.")

    def as_dict(self) -> dict[str, dict[str, str]]:
        out = {}
        for key, value in (("requests", self.requests), ("limits", self.limits)):
            if value is not None and (values := value.model_dump(exclude_none=True)):
                out[key] = values
        return out


# metav1.Condition's constraints (k8s.io/apimachinery/pkg/apis/meta/v1 types.go): the CRD declares them, so the
# apiserver refuses a malformed write and tools that know metav1.Condition read ours. The model itself reads
# leniently (no pattern, reason may be empty): objects stored under the older, looser schema must still parse, or
# the operator would take them for invalid specs after an upgrade.
CONDITION_TYPE_PATTERN = (
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$"
)
CONDITION_REASON_PATTERN = r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$"
CONDITION_REQUIRED = ["type", "status", "reason", "message", "lastTransitionTime"]


def _required_in_crd(**schema: Any) -> Callable[[dict[str, Any]], None]:
    """Schema keys for a field the model defaults (lenient reads) but the CRD requires: without the default, or
    the apiserver would fill in a value its own pattern refuses."""

    def edit(out: dict[str, Any]) -> None:
        out.pop("default", None)
        out.update(schema)

    return edit


def _crd_required(out: dict[str, Any]) -> None:
    out["required"] = list(CONDITION_REQUIRED)


class ConditionBase(_Model):
    """A Kubernetes-style condition: `kubectl wait --for=condition=<type>` works on these."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, json_schema_extra=_crd_required)

    status: Literal["True", "False", "Unknown"] = Field(description="Whether the condition holds.")
    reason: str = Field(
        default="",
        description="One CamelCase word for machines.",
        json_schema_extra=_required_in_crd(minLength=1, maxLength=1024, pattern=CONDITION_REASON_PATTERN),
    )
    message: str = Field(
        default="", description="What happened, for people.", json_schema_extra=_required_in_crd(maxLength=32768)
    )
    last_transition_time: str = Field(
        alias="lastTransitionTime",
        description="When status last changed (RFC 3339).",
        json_schema_extra={"format": "date-time"},
    )
    observed_generation: int | None = Field(
        default=None, alias="observedGeneration", ge=0, description="The spec generation this was computed from."
    )


def condition_type(description: str) -> Any:
    """The `type` field of a condition, shaped as metav1.Condition's."""
    return Field(
        description=description,
        json_schema_extra={"maxLength": 316, "pattern": CONDITION_TYPE_PATTERN},
    )


class ObjectMeta(BaseModel):
    """The part of metadata oma reads; everything else is kept as is."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)
    name: str = "unnamed"
    namespace: str = "default"
    uid: str | None = None
    generation: int | None = None
    creation_timestamp: str | None = Field(default=None, alias="creationTimestamp")
    labels: dict[str, str] = Field(default_factory=dict)
