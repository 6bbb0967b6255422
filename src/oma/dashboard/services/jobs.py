"""Reading and acting on jobs: history pages, one job, cancel, retry, live events, output files, usage."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import time
from collections import OrderedDict
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import psycopg
import psycopg_pool

from ..models import Job, JobFilter, JobPage, OutputLink, Scope, Token, Usage, UsageDay
from ..settings import Settings
from ..stores.history import FINISHED, HistoryStore
from ..stores.kube import ApiFailure, NotFound, VideoJobStore
from .errors import Refused, not_found, unavailable
from .record import Broadcaster, belongs_to, record_of
from .submit import job_urls

DB_ERRORS = (psycopg.OperationalError, psycopg_pool.PoolTimeout)
NEWEST_PAGE_SECONDS = 1.0
FINISHED_KEPT = 4096  # finished jobs kept in memory for GET /api/jobs/{id}: a few MiB at most


def output_url(name: str, uri: str) -> str:
    return f"/api/jobs/{name}/outputs/{uri}"


def job_from_row(row: dict[str, Any]) -> Job:
    outputs = [
        OutputLink(
            name=o["uri"], kind=o["kind"], size_bytes=o.get("sizeBytes", 0), url=output_url(row["name"], o["uri"])
        )
        for o in row["outputs"]
    ]
    return Job(
        id=row["name"],
        uid=row["uid"],
        title=row["title"],
        submitted_by=row["submitted_by"],
        source_kind=row["source_kind"],
        source_summary=row["source_summary"],
        preset=row["preset"],
        phase=row["phase"],
        progress_percent=row["percent"],
        failure_reason=row["failure_reason"],
        failure_message=row["failure_message"],
        outputs=outputs,
        created_at=row["created_at"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        encode_seconds=row["encode_seconds"],
        output_seconds=row["output_seconds"],
        cost_usd=float(row["cost_usd"]) if row["cost_usd"] is not None else None,
        urls=job_urls(row["name"]),
    )


def progress_event(body: dict[str, Any]) -> dict[str, Any]:
    """The SSE payload of one VideoJob state."""
    status = body.get("status") or {}
    progress = status.get("progress") or {}
    phase = status.get("phase") or "Pending"
    failure = status.get("failure") or {}
    return {
        "id": body["metadata"]["name"],
        "phase": phase,
        "percent": 100.0 if phase == "Succeeded" else progress.get("percent"),
        "fps": progress.get("fps"),
        "speed": progress.get("speed"),
        "etaSeconds": progress.get("etaSeconds"),
        "stage": progress.get("phase"),
        "queuePosition": status.get("queuePosition"),
        "failure": failure.get("message"),
        "outputs": [output_url(body["metadata"]["name"], o["uri"]) for o in status.get("outputs") or []],
    }


@dataclasses.dataclass
class _KeptPage:
    page: JobPage
    until: float  # time.monotonic()
    body: bytes | None = None  # its JSON, made on first use


class Jobs:
    def __init__(
        self, settings: Settings, history: HistoryStore, videojobs: VideoJobStore, broadcaster: Broadcaster
    ) -> None:
        self.settings, self.history, self.videojobs, self.broadcaster = settings, history, videojobs, broadcaster
        self._newest: dict[int, _KeptPage] = {}
        # A finished job's row no longer changes unless its VideoJob is recorded again (a name re-used, a
        # restore), which this replica's recorder sees like every other replica's: so it is kept until then.
        self._finished: OrderedDict[str, Job] = OrderedDict()

    def history_changed(self, name: str, inserted: bool) -> None:
        """Called by the recorder after each write. A new job drops the cached newest page; a job's progress
        shows within the page's second (dropping it for every progress write kept it cached for a few
        requests at most under load). Any write of a job drops that job's kept copy."""
        self._finished.pop(name, None)
        if inserted:
            self._newest.clear()

    async def page(self, limit: int, cursor: str | None, filters: JobFilter) -> JobPage:
        # The newest page without filters is most of the traffic (every jobs list opens on it); it is kept
        # for a second, and dropped whenever this replica's recorder adds a job (every replica records every
        # job).
        newest = cursor is None and filters == JobFilter()
        if newest and (kept := self._newest.get(limit)) and kept.until > time.monotonic():
            return kept.page
        try:
            rows, next_cursor = await self.history.page(limit, cursor, filters)
        except ValueError as e:
            raise Refused(422, "invalid_cursor", f"cursor: {e}") from e
        except DB_ERRORS as e:
            raise unavailable("history (Postgres)") from e
        page = JobPage(items=[job_from_row(r) for r in rows], next_cursor=next_cursor)
        if newest:
            self._newest[limit] = _KeptPage(page, time.monotonic() + NEWEST_PAGE_SECONDS)
        return page

    async def page_json(self, limit: int, cursor: str | None, filters: JobFilter) -> bytes:
        """The page as the API sends it; the kept newest page is serialised once, not for every request."""
        page = await self.page(limit, cursor, filters)
        kept = self._newest.get(limit)
        if kept is None or kept.page is not page:
            return page.model_dump_json().encode()
        if kept.body is None:
            kept.body = page.model_dump_json().encode()
        return kept.body

    async def get(self, name: str) -> Job:
        """From history; a job submitted a moment ago (not recorded yet) is read from the API instead."""
        if (kept := self._finished.get(name)) is not None:
            self._finished.move_to_end(name)
            return kept
        try:
            row = await self.history.get(name)
        except DB_ERRORS:
            row = None
        if row is not None:
            job = job_from_row(row)
            if job.phase in FINISHED:
                self._finished[name] = job
                if len(self._finished) > FINISHED_KEPT:
                    self._finished.popitem(last=False)
            return job
        body = await self._body(name)
        rec = record_of(
            body, self.settings.worker_cpu_request, self.settings.price_per_cpu_hour, dt.datetime.now(dt.UTC)
        )
        return job_from_row(rec.model_dump())

    async def _body(self, name: str) -> dict[str, Any]:
        try:
            body = await self.videojobs.get(name)
        except NotFound:
            raise not_found(f"job {name!r}") from None
        except ApiFailure as e:
            raise unavailable("the Kubernetes API") from e
        if not belongs_to(body, self.settings.stack):
            raise not_found(f"job {name!r}")
        return body

    async def cancel(self, name: str, token: Token) -> Job:
        body = await self._body(name)
        owner = (body["metadata"].get("labels") or {}).get("video.oma.ai/token")
        if owner != token.id and not token.can(Scope.ADMIN):
            raise Refused(403, "forbidden", "only the token that submitted a job (or an admin) can cancel it")
        if (body.get("status") or {}).get("phase") in FINISHED:
            raise Refused(409, "finished", f"job {name!r} has already finished")
        try:
            await self.videojobs.cancel(name)
        except ApiFailure as e:
            raise unavailable("the Kubernetes API") from e
        return await self.get(name)

    async def spec_of(self, name: str) -> tuple[dict[str, Any], dict[str, str]]:
        """The spec and annotations of an existing job, for a retry."""
        body = await self._body(name)
        return body["spec"], body["metadata"].get("annotations") or {}

    async def events(self, name: str, last_event_id: str | None) -> AsyncIterator[tuple[str, str, dict[str, Any]]]:
        """(event, id, data) until the job finishes. Each event is the job's whole state, its id the
        resourceVersion: a client reconnecting with Last-Event-ID gets the current state only if it moved."""
        async with self.broadcaster.subscribe(name) as queue:
            body = await self._body(name)
            shown = 0.0  # a retried attempt starts its progress again; the bar a person watches never goes back
            while True:
                version = body["metadata"].get("resourceVersion", "")
                data = progress_event(body)
                if data["percent"] is not None:
                    shown = data["percent"] = max(shown, float(data["percent"]))
                finished = data["phase"] in FINISHED
                if version != last_event_id or finished:
                    yield ("end" if finished else "progress"), version, data
                last_event_id = version
                if finished:
                    return
                try:
                    async with asyncio.timeout(15):  # not wait_for: on 3.11 it can lose a state or a cancellation
                        body = await queue.get()
                except TimeoutError:
                    yield "keepalive", "", {}

    async def output_path(self, name: str, uri: str) -> Path:
        """The file of output `uri` of job `name`, confined to that job's directory on the mounted volume."""
        spec = await self._spec_from_history_or_api(name)
        dest = spec.get("destination") or {}
        if dest.get("claimName") != self.settings.destination_claim:
            raise not_found(f"output {uri!r} (its volume is not mounted here)")
        root = (self.settings.media_root / (dest.get("pathPrefix") or "")).resolve()
        path = (root / uri).resolve()
        # resolve() follows symlinks, so a link leaving the job's directory fails this check too.
        if not path.is_relative_to(root) or not path.is_file():
            raise not_found(f"output {uri!r}")
        return path

    async def _spec_from_history_or_api(self, name: str) -> dict[str, Any]:
        try:
            spec = await self.history.spec(name)
        except DB_ERRORS:
            spec = None
        if spec is not None:
            return spec
        return dict((await self._body(name))["spec"])

    async def usage(self, days: int, token: Token | None) -> Usage:
        since = (dt.datetime.now(dt.UTC) - dt.timedelta(days=days - 1)).replace(
            hour=0, minute=0, second=0, microsecond=0
        )
        try:
            rows = await self.history.usage_by_day(since, token.id if token else None)
            by_token = await self.history.cost_by_token(since)
        except DB_ERRORS as e:
            raise unavailable("history (Postgres)") from e
        by_day = {r["day"]: r for r in rows}
        items = []
        for i in range(days):
            day = (since + dt.timedelta(days=i)).date()
            r = by_day.get(day)
            items.append(
                UsageDay(
                    day=day,
                    jobs=int(r["jobs"]) if r else 0,
                    output_minutes=float(r["output_minutes"]) if r else 0.0,
                    encode_minutes=float(r["encode_minutes"]) if r else 0.0,
                    cost_usd=float(r["cost_usd"]) if r else 0.0,
                )
            )
        return Usage(
            days=items,
            total_cost_usd=sum(d.cost_usd for d in items),
            by_token={k: float(v) for k, v in by_token.items()},
        )
