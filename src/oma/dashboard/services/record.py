"""The recorder: follows the stack's VideoJobs, keeps one history row per job and feeds live events.

A restart (or a watch that expired, 410) lists again, so nothing finished while it was away is missed. States
that cannot be written while Postgres is down wait in memory, newest per job, and are written when it is back:
no job missing, none doubled (the row key is the uid)."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from typing import Any

import psycopg
import psycopg_pool

from oma.k8s import kinds
from oma.k8s.informer import Informer
from oma.models.videojob import RESTORED_UID_ANNOTATION

from .. import metrics
from ..models import JobRecord
from ..stores.history import FINISHED, HistoryStore
from ..stores.kube import VideoJobStore
from .cost import cpu_cores, job_cost

log = logging.getLogger(__name__)

LABEL_STACK = "video.oma.ai/stack"
LABEL_TOKEN = "video.oma.ai/token"  # noqa: S105 (a label key; its value is a token id, never a secret)
LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
ANNOTATION_SUBMITTED_BY = "video.oma.ai/submitted-by"
ANNOTATION_TITLE = "video.oma.ai/title"
ANNOTATION_PRESET = "video.oma.ai/preset"


def _time(value: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


def source_summary(spec: dict[str, Any]) -> tuple[str, str]:
    """(kind, one-line summary) of a VideoJob's first input."""
    first = (spec.get("inputs") or [{}])[0]
    if "titleCard" in first:
        return "title", str(first["titleCard"].get("text", ""))[:500]
    if "url" in first:
        return "url", str(first["url"])[:500]
    if "pvc" in first:
        return "pvc", f"{first['pvc'].get('claimName')}:{first['pvc'].get('path')}"[:500]
    return "unknown", ""


def history_key(meta: dict[str, Any]) -> str:
    """The row a VideoJob is recorded under: its uid, or for a VideoJob re-created from an objects backup the uid
    it had before (`oma stack restore-objects` sets the annotation), so the restored history is not doubled."""
    return str((meta.get("annotations") or {}).get(RESTORED_UID_ANNOTATION) or meta["uid"])


def belongs_to(body: dict[str, Any], stack: str) -> bool:
    labels = body.get("metadata", {}).get("labels") or {}
    ref = (body.get("spec", {}).get("stackRef") or {}).get("name")
    return labels.get(LABEL_STACK) == stack or ref == stack


# long: one flat mapping from a VideoJob's fields to the history row, easier to read whole than split
def record_of(body: dict[str, Any], default_cpu: str, price_per_cpu_hour: float, now: dt.datetime) -> JobRecord:
    meta, spec, status = body["metadata"], body.get("spec") or {}, body.get("status") or {}
    labels, annotations = meta.get("labels") or {}, meta.get("annotations") or {}
    phase = status.get("phase") or "Pending"
    progress = status.get("progress") or {}
    started, completed = _time(status.get("startTime")), _time(status.get("completionTime"))
    finished = (completed or now) if phase in FINISHED else None
    encode = progress.get("encodeSeconds")
    if encode is None and finished is not None and started is not None:
        encode = max(0.0, (finished - started).total_seconds())
    cpu = ((spec.get("resources") or {}).get("requests") or {}).get("cpu") or default_cpu
    cores = cpu_cores(str(cpu))
    outputs = status.get("outputs") or []
    durations = [o.get("durationSeconds") or 0 for o in outputs if o.get("kind") == "mp4"]
    kind, summary = source_summary(spec)
    failure = status.get("failure") or {}
    return JobRecord(
        uid=history_key(meta),
        name=meta["name"],
        namespace=meta.get("namespace", ""),
        token_id=labels.get(LABEL_TOKEN),
        submitted_by=annotations.get(ANNOTATION_SUBMITTED_BY),
        title=annotations.get(ANNOTATION_TITLE) or (summary if kind == "title" else None),
        source_kind=kind,
        source_summary=summary,
        preset=annotations.get(ANNOTATION_PRESET),
        phase=phase,
        percent=100.0 if phase == "Succeeded" else progress.get("percent"),
        failure_reason=failure.get("reason"),
        failure_message=failure.get("message"),
        outputs=outputs,
        spec=spec,
        created_at=_time(meta.get("creationTimestamp")) or now,
        started_at=started,
        finished_at=finished,
        encode_seconds=encode,
        cpu_request=cores,
        output_seconds=max(durations) if durations else None,
        cost_usd=job_cost(encode, cores, price_per_cpu_hour) if finished and encode is not None else None,
    )


class Broadcaster:
    """Latest VideoJob bodies, fanned out to the live streams that follow a job by name."""

    def __init__(self) -> None:
        self._subscribers: dict[str, set[asyncio.Queue[dict[str, Any]]]] = defaultdict(set)

    def publish(self, body: dict[str, Any]) -> None:
        for queue in self._subscribers.get(body["metadata"]["name"], ()):
            if queue.full():  # a slow client only needs the newest state
                queue.get_nowait()
            queue.put_nowait(body)

    @contextlib.asynccontextmanager
    async def subscribe(self, name: str) -> AsyncIterator[asyncio.Queue[dict[str, Any]]]:
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=16)
        self._subscribers[name].add(queue)
        try:
            yield queue
        finally:
            self._subscribers[name].discard(queue)
            if not self._subscribers[name]:
                del self._subscribers[name]


class Recorder:
    """Follows the namespace's VideoJobs with oma's informer (list, watch, relist on 410 or a dead stream) and
    writes the newest state of each to history. Writes run beside the watch, coalesced per job: a burst of
    progress updates costs one write per job, and a Postgres outage never stalls the live events."""

    def __init__(
        self,
        videojobs: VideoJobStore,
        history: HistoryStore,
        broadcaster: Broadcaster,
        stack: str,
        default_cpu: str,
        price_per_cpu_hour: float,
        on_change: Callable[[str, bool], None] = lambda name, inserted: None,
    ) -> None:
        self.videojobs, self.history, self.broadcaster = videojobs, history, broadcaster
        self.on_change = on_change
        self.stack, self.default_cpu, self.price = stack, default_cpu, price_per_cpu_hour
        self.pending: dict[str, dict[str, Any]] = {}  # uid -> newest state not yet written
        self._wake = asyncio.Event()
        # The row last written for each unfinished job: a state that changes nothing in it (a queue position,
        # a resync) is not written again. Finished jobs leave, so this stays as small as the running set.
        self._written: dict[str, JobRecord] = {}

    async def run(self) -> None:
        informer = Informer(self.videojobs.kube, kinds.VIDEOJOB, self.handle, self.videojobs.namespace)
        writer = asyncio.create_task(self._write_forever())
        try:
            await informer.run()
        finally:
            writer.cancel()

    def handle(self, event_type: str, body: dict[str, Any]) -> None:
        if event_type == "DELETED" and (body.get("metadata") or {}).get("uid"):
            self._written.pop(history_key(body["metadata"]), None)
        if "spec" not in body:
            return  # the tombstone of an object that went while no watch was open: nothing to show or record
        self.broadcaster.publish(body)
        if event_type != "DELETED" and belongs_to(body, self.stack):
            self.pending[history_key(body["metadata"])] = body
            metrics.RECORDER_PENDING.set(len(self.pending))
            self._wake.set()

    async def _write_forever(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            try:
                for body in list(self.pending.values()):
                    if not await self.record(body):
                        await asyncio.sleep(1)  # Postgres is down: wait before trying again
                        self._wake.set()
                        break
            except Exception:  # the writer must outlive any one bad state
                log.exception("history writes failed; trying again")
                await asyncio.sleep(1)
                self._wake.set()

    async def record(self, body: dict[str, Any]) -> bool:
        """Write one state; False (and it stays pending) when Postgres cannot take it now."""
        rec = record_of(body, self.default_cpu, self.price, dt.datetime.now(dt.UTC))
        key = rec.uid
        if self._written.get(key) == rec:
            if self.pending.get(key) is body:
                del self.pending[key]
                metrics.RECORDER_PENDING.set(len(self.pending))
            return True
        try:
            written = await self.history.upsert(rec)
            if written is None:  # the annotated uid is another job's row: this one keeps its own
                rec = rec.model_copy(update={"uid": body["metadata"]["uid"]})
                written = await self.history.upsert(rec)
        except (psycopg.Error, psycopg_pool.PoolTimeout, OSError) as e:
            log.warning("history write of %s deferred: %s: %s", rec.name, type(e).__name__, e)
            return False
        if self.pending.get(key) is body:  # only what was written; a newer state that arrived meanwhile stays
            del self.pending[key]
        if rec.finished_at is None and rec.uid == key:
            self._written[key] = rec
        else:
            self._written.pop(key, None)
        metrics.RECORDER_PENDING.set(len(self.pending))
        metrics.RECORDED.inc()
        self.on_change(rec.name, bool(written and written.inserted))
        if written and written.newly_finished and rec.cost_usd is not None:
            metrics.COST.inc(float(rec.cost_usd))
        return True
