"""Submit: a preset and a source become one VideoJob, validated before anything is created; a retried request
with the same Idempotency-Key returns the same job."""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import secrets
from collections.abc import Callable
from typing import Any

from pydantic import ValidationError

from oma.models.videojob import VideoJob

from .. import metrics
from ..models import Accepted, Preset, PvcSource, Source, SubmitRequest, TitleSource, Token, UrlSource
from ..settings import Settings
from ..stores.kube import ApiFailure, VideoJobStore
from ..stores.redisstore import RedisStore, Unavailable
from .errors import Refused, unavailable
from .limits import EndpointClass, Limiter
from .record import (
    ANNOTATION_PRESET,
    ANNOTATION_SUBMITTED_BY,
    ANNOTATION_TITLE,
    LABEL_MANAGED_BY,
    LABEL_STACK,
    LABEL_TOKEN,
)


def job_urls(name: str) -> dict[str, str]:
    return {
        "self": f"/api/jobs/{name}",
        "events": f"/api/jobs/{name}/events",
        "page": f"/jobs/{name}",
    }


def _input(source: Source, preset: Preset) -> dict[str, Any]:
    if isinstance(source, TitleSource):
        card = {"durationSeconds": 4, **preset.title_card, "text": source.text}
        return {"titleCard": card}
    if isinstance(source, UrlSource):
        return {"url": source.url}
    return {"pvc": {"claimName": source.claim, "path": source.path}}


def _first_error(e: ValidationError) -> str:
    err = e.errors()[0]
    where = ".".join(str(p) for p in err["loc"])
    return f"{where}: {err['msg']}"


# long: one manifest, field by field, with the validation that guards it
def build_videojob(
    name: str, request: SubmitRequest, preset: Preset, token: Token, settings: Settings
) -> dict[str, Any]:
    """The VideoJob for a submission, validated against oma's own model (422 with the reason otherwise)."""
    if isinstance(request.source, PvcSource) and request.source.claim not in settings.source_claims:
        allowed = ", ".join(settings.source_claims) or "none"
        raise Refused(422, "invalid_source", f"source.claim: {request.source.claim!r} is not allowed here ({allowed})")
    label = request.title or (request.source.text if isinstance(request.source, TitleSource) else None)
    spec: dict[str, Any] = {
        "inputs": [_input(request.source, preset)],
        "outputs": preset.outputs,
        "destination": {"claimName": settings.destination_claim, "pathPrefix": name},
    }
    if preset.resources:
        spec["resources"] = preset.resources
    if settings.stack_ref:
        spec["stackRef"] = {"name": settings.stack}
    annotations = {ANNOTATION_SUBMITTED_BY: token.name, ANNOTATION_PRESET: preset.name}
    if label:
        annotations[ANNOTATION_TITLE] = label
    manifest = {
        "apiVersion": "video.oma.ai/v1alpha1",
        "kind": "VideoJob",
        "metadata": {
            "name": name,
            "labels": {LABEL_STACK: settings.stack, LABEL_TOKEN: token.id, LABEL_MANAGED_BY: "oma-dashboard"},
            "annotations": annotations,
        },
        "spec": spec,
    }
    return validated(manifest)


def validated(manifest: dict[str, Any]) -> dict[str, Any]:
    """`manifest` if oma's VideoJob model accepts it; 422 with the first reason otherwise."""
    try:
        VideoJob.model_validate(manifest)
    except ValidationError as e:
        raise Refused(422, "invalid_job", _first_error(e)) from e
    return manifest


class Submitter:
    def __init__(
        self,
        settings: Settings,
        presets: dict[str, Preset],
        limiter: Limiter,
        redis: RedisStore,
        videojobs: VideoJobStore,
    ) -> None:
        self.settings, self.presets, self.limiter = settings, presets, limiter
        self.redis, self.videojobs = redis, videojobs

    def preset(self, name: str) -> Preset:
        try:
            return self.presets[name]
        except KeyError:
            raise Refused(422, "unknown_preset", f"preset: {name!r} is not one of {sorted(self.presets)}") from None

    async def submit(
        self, request: SubmitRequest, token: Token, client_ip: str, idempotency_key: str | None
    ) -> tuple[Accepted, dict[str, str], bool]:
        """(the accepted job, rate-limit headers, whether it replays an earlier request with the same key)."""
        preset = self.preset(request.preset)
        return await self._submit(
            lambda name: build_videojob(name, request, preset, token, self.settings),
            request.model_dump_json(),
            token,
            client_ip,
            idempotency_key,
        )

    async def retry(
        self, spec: dict[str, Any], annotations: dict[str, str], token: Token, client_ip: str, key: str | None
    ) -> tuple[Accepted, dict[str, str], bool]:
        """A new VideoJob from an earlier one's spec (its own directory, not cancelled, the caller's)."""

        def make(name: str) -> dict[str, Any]:
            new_spec = {k: v for k, v in spec.items() if k not in ("cancel", "suspend")}
            new_spec["destination"] = {**spec["destination"], "pathPrefix": name}
            kept = {k: v for k, v in annotations.items() if k in (ANNOTATION_TITLE, ANNOTATION_PRESET)}
            return validated(
                {
                    "apiVersion": "video.oma.ai/v1alpha1",
                    "kind": "VideoJob",
                    "metadata": {
                        "name": name,
                        "labels": self._labels(token),
                        "annotations": {**kept, ANNOTATION_SUBMITTED_BY: token.name},
                    },
                    "spec": new_spec,
                }
            )

        return await self._submit(make, json.dumps(spec, sort_keys=True), token, client_ip, key)

    def _labels(self, token: Token) -> dict[str, str]:
        return {LABEL_STACK: self.settings.stack, LABEL_TOKEN: token.id, LABEL_MANAGED_BY: "oma-dashboard"}

    # long: the submission's steps in the order that makes each refusal cheap and leaves nothing half-done
    async def _submit(
        self,
        make: Callable[[str], dict[str, Any]],
        body: str,
        token: Token,
        client_ip: str,
        idempotency_key: str | None,
    ) -> tuple[Accepted, dict[str, str], bool]:
        headers = await self.limiter.check(EndpointClass.SUBMIT, token, client_ip)
        fingerprint = hashlib.sha256(body.encode()).hexdigest()
        idem_key = None
        if idempotency_key:
            if len(idempotency_key) > 200:
                raise Refused(422, "invalid_idempotency_key", "Idempotency-Key: at most 200 characters")
            digest = hashlib.sha256(f"{token.id}\0{idempotency_key}".encode()).hexdigest()
            name = f"vj-{digest[:16]}"  # deterministic: even a lost Redis key cannot make a second job
            idem_key = f"oma:{self.settings.stack}:idem:{digest}"
            replay = await self._claim(idem_key, fingerprint)
            if replay is not None:
                metrics.SUBMISSIONS.labels("replayed").inc()
                return replay, headers, True
        else:
            name = f"vj-{secrets.token_hex(8)}"
        try:
            manifest = make(name)
            await self.limiter.check_budget(token, dt.datetime.now(dt.UTC))
            try:
                await self.videojobs.create(manifest)
            except ApiFailure as e:
                if e.code == 422:  # the apiserver's own CEL rules: still the caller's to fix
                    raise Refused(422, "invalid_job", e.message) from e
                raise unavailable("the Kubernetes API") from e
        except BaseException as e:
            if idem_key:
                await self.redis.release_idempotency(idem_key)
            outcome = "refused" if isinstance(e, Refused) and e.status in (402, 422) else "unavailable"
            metrics.SUBMISSIONS.labels(outcome).inc()
            raise
        accepted = Accepted(id=name, phase="Pending", urls=job_urls(name))
        if idem_key:
            # Redis gone now: the name is deterministic, so a retry still finds the same job.
            with contextlib.suppress(Unavailable):
                await self.redis.finish_idempotency(
                    idem_key, fingerprint, accepted.model_dump(), self.settings.idempotency_ttl_seconds
                )
        metrics.SUBMISSIONS.labels("accepted").inc()
        return accepted, headers, False

    async def _claim(self, key: str, fingerprint: str) -> Accepted | None:
        try:
            stored = await self.redis.claim_idempotency(key, fingerprint, self.settings.idempotency_ttl_seconds)
        except Unavailable as e:
            raise unavailable("the idempotency store (Redis)") from e
        if stored is None:
            return None
        if stored["fingerprint"] != fingerprint:
            raise Refused(422, "idempotency_key_reused", "this Idempotency-Key was used with a different request body")
        if stored["result"] is None:
            raise Refused(409, "in_progress", "a request with this Idempotency-Key is still being processed")
        return Accepted.model_validate(stored["result"])
