"""The REST API (/api/...): JSON in and out; errors as {"error": {"code", "message"}}."""

from __future__ import annotations

import datetime as dt
import json
import mimetypes
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Header, Path, Query, Request
from fastapi.responses import FileResponse, JSONResponse, Response, StreamingResponse
from pydantic import BaseModel

from ..deps import Caller, Reader, Services, client_ip, require
from ..models import (
    Accepted,
    ErrorResponse,
    GenerateRequest,
    Job,
    JobFilter,
    JobPage,
    Limits,
    PresetList,
    Scope,
    SubmitRequest,
    TitleSource,
    Token,
    Usage,
)
from ..services.limits import EndpointClass

__all__ = ["ErrorResponse", "router"]

router = APIRouter(prefix="/api", tags=["api"])
mimetypes.add_type("application/vnd.apple.mpegurl", ".m3u8")
mimetypes.add_type("video/mp2t", ".ts")

JobId = Annotated[str, Path(pattern=r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$", description="The job's id (name).")]
IdempotencyKey = Annotated[
    str | None,
    Header(alias="Idempotency-Key", max_length=200, description="Retrying with the same key returns the same job."),
]
Submitter = Annotated[Token, require(Scope.SUBMIT)]
SUBMIT_RESPONSES: dict[int | str, dict[str, object]] = {
    402: {"model": ErrorResponse, "description": "The token's monthly budget is spent."},
    403: {"model": ErrorResponse, "description": "The token lacks the submit scope."},
    409: {"model": ErrorResponse, "description": "The same Idempotency-Key is still being processed."},
    429: {"model": ErrorResponse, "description": "Over the rate limit; see Retry-After and RateLimit-*."},
    503: {"model": ErrorResponse, "description": "Redis or the apiserver is unreachable; nothing was created."},
}
READ_RESPONSES: dict[int | str, dict[str, object]] = {
    403: {"model": ErrorResponse, "description": "The token lacks the read scope."},
    404: {"model": ErrorResponse, "description": "No such job."},
    429: {"model": ErrorResponse, "description": "Over the rate limit."},
    503: {"model": ErrorResponse, "description": "A store is unreachable."},
}


def as_json(body: BaseModel | bytes, request: Request) -> Response:
    """The hot read routes return their model serialised as is (FastAPI would validate it again first), or
    bytes serialised earlier, with the rate-limit headers the dependency computed."""
    headers = getattr(request.state, "rate_headers", {})
    content = body if isinstance(body, bytes) else body.model_dump_json()
    return Response(content, media_type="application/json", headers=headers)


def accepted(job: Accepted, headers: dict[str, str], replayed: bool) -> JSONResponse:
    extra = {"Location": job.urls["self"], **headers}
    if replayed:
        extra["Idempotent-Replayed"] = "true"
    return JSONResponse(job.model_dump(), status_code=202, headers=extra)


@router.post("/generate", status_code=202, response_model=Accepted, responses=SUBMIT_RESPONSES)
async def generate(
    body: GenerateRequest, request: Request, c: Services, token: Submitter, key: IdempotencyKey = None
) -> JSONResponse:
    """A title card rendered with the stack's generate preset (MP4, HLS ladder, thumbnails)."""
    req = SubmitRequest(preset=c.settings.generate_preset, source=TitleSource(text=body.title))
    return accepted(*await c.submitter.submit(req, token, client_ip(request), key))


@router.post("/jobs", status_code=202, response_model=Accepted, responses=SUBMIT_RESPONSES)
async def submit(
    body: SubmitRequest, request: Request, c: Services, token: Submitter, key: IdempotencyKey = None
) -> JSONResponse:
    """A job from a preset and a source: a title card, an http(s) URL, or a file on an allowed PVC."""
    return accepted(*await c.submitter.submit(body, token, client_ip(request), key))


@router.get("/presets", response_model=PresetList, responses=READ_RESPONSES)
async def presets(c: Services, _: Reader) -> PresetList:
    return PresetList(items=list(c.submitter.presets.values()), source_claims=c.settings.source_claims)


@router.get("/jobs", response_model=JobPage, responses=READ_RESPONSES)
async def list_jobs(
    request: Request,
    c: Services,
    _: Reader,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    phase: Annotated[
        str | None, Query(pattern="^(Pending|Queued|Running|Suspended|Succeeded|Failed|Cancelled)$")
    ] = None,
    since: Annotated[dt.datetime | None, Query(description="Created at or after (ISO 8601).")] = None,
    until: Annotated[dt.datetime | None, Query(description="Created before (ISO 8601).")] = None,
    q: Annotated[str | None, Query(max_length=200, description="Text in the title, source or id.")] = None,
) -> Response:
    """History, newest first; pass `next_cursor` back as `cursor` for older jobs."""
    filters = JobFilter(phase=phase, since=_aware(since), until=_aware(until), text=q or None)
    return as_json(await c.jobs.page_json(limit, cursor, filters), request)


def _aware(when: dt.datetime | None) -> dt.datetime | None:
    return when.replace(tzinfo=dt.UTC) if when is not None and when.tzinfo is None else when


@router.get("/jobs/{job_id}", response_model=Job, responses=READ_RESPONSES)
async def get_job(job_id: JobId, request: Request, c: Services, _: Reader) -> Response:
    return as_json(await c.jobs.get(job_id), request)


@router.post("/jobs/{job_id}/cancel", response_model=Job, responses={**READ_RESPONSES, **SUBMIT_RESPONSES})
async def cancel_job(job_id: JobId, c: Services, token: Submitter) -> Job:
    """Stop a job for good (its VideoJob's spec.cancel)."""
    return await c.jobs.cancel(job_id, token)


@router.post(
    "/jobs/{job_id}/retry", status_code=202, response_model=Accepted, responses={**READ_RESPONSES, **SUBMIT_RESPONSES}
)
async def retry_job(
    job_id: JobId, request: Request, c: Services, token: Submitter, key: IdempotencyKey = None
) -> JSONResponse:
    """A new job from the same spec (the original stays in history)."""
    spec, annotations = await c.jobs.spec_of(job_id)
    return accepted(*await c.submitter.retry(spec, annotations, token, client_ip(request), key))


@router.get(
    "/jobs/{job_id}/events",
    response_class=StreamingResponse,
    responses={**READ_RESPONSES, 200: {"content": {"text/event-stream": {}}, "description": "Server-Sent Events."}},
)
async def job_events(
    job_id: JobId,
    c: Services,
    _: Reader,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID", max_length=64)] = None,
) -> StreamingResponse:
    """Phase and progress (percent, fps, speed, ETA) until the job finishes; the last event is `end`."""
    await c.jobs.get(job_id)  # 404 before the stream starts, not inside it

    async def stream() -> AsyncIterator[bytes]:
        async for event, event_id, data in c.jobs.events(job_id, last_event_id):
            if event == "keepalive":
                yield b": keepalive\n\n"
                continue
            yield f"event: {event}\nid: {event_id}\ndata: {json.dumps(data)}\n\n".encode()

    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return StreamingResponse(stream(), media_type="text/event-stream", headers=headers)


@router.get(
    "/jobs/{job_id}/outputs/{name:path}",
    response_class=FileResponse,
    responses={
        **READ_RESPONSES,
        200: {"content": {"application/octet-stream": {}}, "description": "The file."},
        206: {"content": {"application/octet-stream": {}}, "description": "The requested byte range."},
        416: {"description": "Range not satisfiable."},
    },
)
async def output(job_id: JobId, name: Annotated[str, Path(max_length=1024)], c: Services, _: Reader) -> FileResponse:
    """An output file, with HTTP Range support (a `<video>` can seek)."""
    path = await c.jobs.output_path(job_id, name)
    media_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return FileResponse(path, media_type=media_type, headers={"Cache-Control": "private, max-age=3600"})


@router.get("/limits", response_model=Limits, responses=READ_RESPONSES)
async def limits(request: Request, c: Services, token: Caller) -> Limits:
    """The caller's rate limits and budget, and what is left of them (reading this spends nothing)."""
    ip = client_ip(request)
    spent = await c.limiter.spent_this_month(token, dt.datetime.now(dt.UTC))
    budget = float(token.budget_usd) if token.budget_usd is not None else None
    return Limits(
        submit=await c.limiter.state(EndpointClass.SUBMIT, token, ip),
        read=await c.limiter.state(EndpointClass.READ, token, ip),
        budget_usd=budget,
        spent_this_month_usd=float(spent),
        budget_left_usd=max(0.0, budget - float(spent)) if budget is not None else None,
    )


@router.get("/usage", response_model=Usage, responses=READ_RESPONSES)
async def usage(
    c: Services,
    token: Reader,
    days: Annotated[int, Query(ge=1, le=366)] = 30,
    mine: Annotated[bool, Query(description="Only this token's jobs.")] = False,
) -> Usage:
    """Cost, output minutes and encode minutes per day (UTC), and cost per token."""
    return await c.jobs.usage(days, token if mine else None)
