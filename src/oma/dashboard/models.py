"""The dashboard's API shapes (requests, responses) and its own records; imports nothing from the app."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class Scope(StrEnum):
    READ = "read"
    SUBMIT = "submit"
    ADMIN = "admin"


class Token(BaseModel):
    """An API token as stored (never its secret)."""

    id: str
    name: str
    scopes: list[Scope]
    budget_usd: Decimal | None = None
    expires_at: dt.datetime | None = None
    revoked_at: dt.datetime | None = None
    created_at: dt.datetime

    def can(self, scope: Scope) -> bool:
        return Scope.ADMIN in self.scopes or scope in self.scopes


class ErrorBody(BaseModel):
    code: str = Field(description="Stable machine-readable code, e.g. rate_limited.")
    message: str = Field(description="What went wrong, for a person.")


class ErrorResponse(BaseModel):
    error: ErrorBody


class GenerateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str = Field(description="Text of the title card, shown verbatim.")


class TitleSource(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["title"] = "title"
    text: str = Field(description="Text of the title card, shown verbatim.")


class UrlSource(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["url"] = "url"
    url: str = Field(description="An http(s) URL the worker downloads.")


class PvcSource(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["pvc"] = "pvc"
    claim: str = Field(description="A PVC the stack allows (see GET /api/presets).")
    path: str = Field(description="Path inside that volume, relative.")


Source = TitleSource | UrlSource | PvcSource


class SubmitRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    preset: str = Field(description="A preset name from GET /api/presets.")
    source: Source = Field(discriminator="kind")
    title: str | None = Field(default=None, max_length=200, description="A label for history; default: the source.")


class Progress(BaseModel):
    percent: float | None = None
    fps: float | None = None
    speed: float | None = None
    eta_seconds: float | None = None
    stage: str | None = None


class OutputLink(BaseModel):
    name: str = Field(description="Path relative to the job's destination, as in the VideoJob's status.")
    kind: str
    size_bytes: int
    url: str


class Job(BaseModel):
    """One submission as history records it."""

    id: str = Field(description="The VideoJob's name.")
    uid: str
    title: str | None
    submitted_by: str | None
    source_kind: str
    source_summary: str
    preset: str | None
    phase: str
    progress_percent: float | None
    failure_reason: str | None
    failure_message: str | None
    outputs: list[OutputLink]
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    encode_seconds: float | None
    output_seconds: float | None
    cost_usd: float | None
    urls: dict[str, str]


class JobPage(BaseModel):
    items: list[Job]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next (older) page; null at the end.")


class Accepted(BaseModel):
    id: str
    phase: str
    urls: dict[str, str]


class Preset(BaseModel):
    """A named recipe: what to produce from a source. Presets are data (YAML), not code."""

    model_config = ConfigDict(extra="forbid")
    name: str
    description: str
    title_card: dict[str, Any] = Field(default_factory=dict, description="Title-card settings (size, duration).")
    outputs: dict[str, Any] = Field(description="The VideoJob's spec.outputs.")
    resources: dict[str, Any] | None = Field(default=None, description="Worker resources, if not the stack's.")


class PresetList(BaseModel):
    items: list[Preset]
    source_claims: list[str]


class LimitState(BaseModel):
    limit: int
    remaining: int
    reset_seconds: float
    window_seconds: int


class Limits(BaseModel):
    submit: LimitState | None = Field(description="null when Redis cannot be reached.")
    read: LimitState | None
    budget_usd: float | None
    spent_this_month_usd: float
    budget_left_usd: float | None


class UsageDay(BaseModel):
    day: dt.date
    jobs: int
    output_minutes: float
    encode_minutes: float
    cost_usd: float


class Usage(BaseModel):
    days: list[UsageDay]
    total_cost_usd: float
    by_token: dict[str, float]


class Health(BaseModel):
    status: str
    checks: dict[str, str] = Field(default_factory=dict)


class JobRecord(BaseModel):
    """What the recorder stores for one VideoJob (one row per uid)."""

    uid: str
    name: str
    namespace: str
    token_id: str | None
    submitted_by: str | None
    title: str | None
    source_kind: str
    source_summary: str
    preset: str | None
    phase: str
    percent: float | None
    failure_reason: str | None
    failure_message: str | None
    outputs: list[dict[str, Any]]
    spec: dict[str, Any]
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    encode_seconds: float | None
    cpu_request: float | None
    output_seconds: float | None
    cost_usd: Decimal | None


class JobFilter(BaseModel):
    phase: str | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    text: str | None = None
