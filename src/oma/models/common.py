"""Pieces shared by oma's API types: base model, CEL helper, names, quantities, resources, conditions."""

from __future__ import annotations

from typing import Annotated, Literal

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


class ConditionBase(_Model):
    """A Kubernetes-style condition: `kubectl wait --for=condition=<type>` works on these."""

    status: Literal["True", "False", "Unknown"] = Field(description="Whether the condition holds.")
    reason: str = Field(default="", max_length=128, description="One CamelCase word for machines.")
    message: str = Field(default="", max_length=4096, description="What happened, for people.")
    last_transition_time: str = Field(alias="lastTransitionTime", max_length=64, description="When status changed.")
    observed_generation: int | None = Field(
        default=None, alias="observedGeneration", ge=0, description="The spec generation this was computed from."
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
