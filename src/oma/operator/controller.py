"""The VideoJob use-case: a level-triggered loop over what the watches told us.

kopf's event handlers feed two in-memory stores (VideoJobs and their Jobs) and wake the loop. One loop
decides for every VideoJob that changed, so admission under a concurrency limit never races with itself,
and bursts of events coalesce into one pass.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from lightkube.core.exceptions import ApiError
from lightkube.resources.batch_v1 import Job
from lightkube.resources.core_v1 import ServiceAccount
from lightkube.resources.rbac_authorization_v1 import Role, RoleBinding
from pydantic import ValidationError

from oma.k8s.api import Api
from oma.models.exitcodes import PERMANENT
from oma.models.omastack import WorkerDefaultsSpec
from oma.models.videojob import VideoJob

from . import builders, metrics, queue
from .backoff import Backoff
from .builders import WorkerDefaults
from .status import TERMINAL, Decision, JobState, QueueSlot, decide

log = logging.getLogger(__name__)
Key = tuple[str, str]
LIMIT_ANNOTATION = "video.oma.ai/max-concurrent-jobs"


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _age_seconds(timestamp: str | None) -> float:
    if not timestamp:
        return 0.0
    then = dt.datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    return (dt.datetime.now(dt.UTC) - then).total_seconds()


@dataclass
class Settings:
    defaults: WorkerDefaults = field(default_factory=WorkerDefaults)
    max_concurrent_per_namespace: int = 10
    write_concurrency: int = 64
    limit_cache_seconds: float = 30.0
    namespaces: list[str] | None = None  # None: all namespaces
    event_workers: int = 1
    debounce_seconds: float = 0.02


def _slim(body: Mapping[str, Any]) -> dict[str, Any]:
    """What the operator keeps of a VideoJob: no managedFields or annotations (most of a body's bytes)."""
    meta = body["metadata"]
    keep = ("name", "namespace", "uid", "generation", "creationTimestamp")
    return {
        "apiVersion": body.get("apiVersion"),
        "kind": body.get("kind"),
        "metadata": {k: meta[k] for k in keep if k in meta},
        "spec": body.get("spec"),
        "status": body.get("status"),
    }


@dataclass(frozen=True)
class _Summary:
    """The few fields every pass reads, so passes never parse specs."""

    phase: str | None
    priority: int
    created: str
    uid: str
    waits: bool  # not suspended and not cancelled
    suspended: bool
    queued_seconds: int | None
    scope: str


@dataclass
class _Entry:
    """A VideoJob as the operator keeps it: a slim body, parsed again only when a decision is due.

    Parsing takes microseconds; keeping thousands of parsed models costs far more memory.
    """

    body: dict[str, Any]
    error: str | None
    summary: _Summary | None
    first_seen: float = field(default_factory=time.monotonic)

    @property
    def vj(self) -> VideoJob | None:
        return None if self.error else VideoJob.model_validate(self.body)


def _summary(vj: VideoJob, stacks: Mapping[Key, WorkerDefaultsSpec]) -> _Summary:
    ns = vj.metadata.namespace
    priority = vj.spec.priority
    if priority is None and vj.spec.stack_ref:
        stack = stacks.get((ns, vj.spec.stack_ref.name))
        priority = stack.priority if stack else None
    return _Summary(
        phase=vj.status.phase if vj.status else None,
        priority=priority or 0,
        created=vj.metadata.creation_timestamp or "",
        uid=vj.metadata.uid or "",
        waits=not vj.spec.suspend and not vj.spec.cancel,
        suspended=vj.spec.suspend,
        queued_seconds=vj.spec.timeouts.queued_seconds,
        scope=stack_scope(ns, vj.spec.stack_ref.name) if vj.spec.stack_ref else ns,
    )


def stack_scope(namespace: str, stack: str) -> str:
    return f"{namespace}/stack/{stack}"


def _stack_of(scope: str) -> Key | None:
    namespace, sep, name = scope.partition("/stack/")
    return (namespace, name) if sep else None


def worker_defaults(base: WorkerDefaults, stack: WorkerDefaultsSpec | None) -> WorkerDefaults:
    """The operator's worker defaults with a stack's on top (a VideoJob's own resources go on top of these)."""
    if stack is None:
        return base
    requests, limits = dict(base.requests), dict(base.limits)
    if stack.resources:
        requests.update(stack.resources.as_dict().get("requests", {}))
        limits.update(stack.resources.as_dict().get("limits", {}))
    return replace(base, image=stack.image or base.image, requests=requests, limits=limits)


class Controller:
    def __init__(self, api: Api, settings: Settings) -> None:
        self.api = api
        self.settings = settings
        self.videojobs: dict[Key, _Entry] = {}
        self.active: set[Key] = set()  # VideoJobs that are not finished
        self._phases_counted = 0.0
        self.jobs: dict[Key, JobState] = {}
        self.dirty: set[Key] = set()
        self.wake = asyncio.Event()
        self.last_pass = time.monotonic()
        self.last_event = time.monotonic()
        self._rbac_done: set[str] = set()
        self.stacks: dict[Key, WorkerDefaultsSpec] = {}  # fed by the OmaStack controller
        self._limits: dict[str, tuple[float, int]] = {}
        self._sem = asyncio.Semaphore(settings.write_concurrency)
        self._counted_failures: dict[Key, int] = {}
        self._retry: Backoff[Key] = Backoff()
        # Events are informative: posted by a few background workers so they never slow admissions down.
        # Like client-go's broadcaster: a bounded queue, and a drop (counted) rather than back-pressure.
        self._events: asyncio.Queue[tuple[dict[str, Any], str, str, bool]] = asyncio.Queue(maxsize=1000)

    # --- fed by the kopf handlers -----------------------------------------------------------------------------

    def observe_videojob(self, event_type: str | None, body: Mapping[str, Any]) -> None:
        meta = body["metadata"]
        key = (meta["namespace"], meta["name"])
        self.last_event = time.monotonic()
        if event_type == "DELETED":
            self.videojobs.pop(key, None)
            self._counted_failures.pop(key, None)
            self._retry.forget(key)
            self.active.discard(key)
        else:
            raw = _slim(body)
            try:
                summary, error = _summary(VideoJob.model_validate(raw), self.stacks), None
            except ValidationError as e:
                summary, error = None, str(e)
            old = self.videojobs.get(key)
            entry = self.videojobs[key] = _Entry(raw, error, summary, old.first_seen if old else time.monotonic())
            self._track(key, entry)
        self._poke(key)

    def _track(self, key: Key, entry: _Entry) -> None:
        if entry.summary is not None and entry.summary.phase not in TERMINAL:
            self.active.add(key)
        else:
            self.active.discard(key)

    def observe_job(self, event_type: str | None, body: Mapping[str, Any]) -> None:
        meta = body["metadata"]
        owner = (meta.get("labels") or {}).get(builders.LABEL_VIDEOJOB)
        if not owner:
            return
        key = (meta["namespace"], owner)
        self.last_event = time.monotonic()
        if event_type == "DELETED":
            self.jobs.pop(key, None)
        else:
            self.jobs[key] = JobState.from_body(body)
        self._poke(key)

    def set_stack(self, stack: Key, defaults: WorkerDefaultsSpec | None) -> None:
        """An OmaStack appeared, changed or went away: its VideoJobs' priorities, limit and defaults follow."""
        if defaults is None:
            if self.stacks.pop(stack, None) is None:
                return
        elif self.stacks.get(stack) == defaults:
            return
        else:
            self.stacks[stack] = defaults
        scope = stack_scope(*stack)
        for key in list(self.active):
            entry = self.videojobs.get(key)
            if entry is None or entry.summary is None or entry.summary.scope != scope:
                continue
            vj = entry.vj
            if vj is not None:
                entry.summary = _summary(vj, self.stacks)
            self._poke(key)

    def _poke(self, key: Key) -> None:
        self.dirty.add(key)
        self.wake.set()

    # --- the loop ----------------------------------------------------------------------------------------------

    async def prime(self) -> None:
        """Know every existing Job before the first decision, so a restart never over-admits."""
        labels = {builders.LABEL_MANAGED_BY: builders.MANAGER}
        for body in await self.api.list_jobs(labels, self.settings.namespaces):
            self.observe_job("ADDED", body)

    async def _event_worker(self) -> None:
        while True:
            body, reason, message, warning = await self._events.get()
            await self._post_event(body, reason, message, warning)

    async def run(self) -> None:
        workers = [asyncio.create_task(self._event_worker()) for _ in range(self.settings.event_workers)]
        try:
            await self._run()
        finally:
            for w in workers:
                w.cancel()

    async def _run(self) -> None:
        while True:
            try:
                await self.prime()
                break
            except ApiError as e:
                log.warning("listing Jobs failed (%s); retrying", e.status.message)
                await asyncio.sleep(2)
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), timeout=1.0)
            # A short debounce lets a burst of events become one pass instead of hundreds.
            await asyncio.sleep(self.settings.debounce_seconds)
            self.wake.clear()
            started = time.monotonic()
            try:
                await self.reconcile_pass()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("reconcile pass failed; retrying on the next pass")
                await asyncio.sleep(1)
            self.last_pass = time.monotonic()
            metrics.RECONCILE_SECONDS.observe(self.last_pass - started)

    async def reconcile_pass(self) -> None:
        dirty, self.dirty = self.dirty, set()
        now = time.monotonic()
        waiting_retry = self._retry.waiting(now)
        dirty |= self._retry.due(now)
        scopes: dict[str, list[queue.Waiting]] = {}
        running: dict[str, int] = {}
        # Only unfinished VideoJobs take part; finished ones can be thousands and never change again.
        for key in list(self.active):
            entry = self.videojobs.get(key)
            sm = entry.summary if entry else None
            if sm is None:
                continue
            scope = sm.scope
            job = self.jobs.get(key)
            if job is not None:
                if not job.finished and not job.suspended:
                    running[scope] = running.get(scope, 0) + 1
            elif sm.waits:
                scopes.setdefault(scope, []).append(queue.Waiting(key, sm.priority, sm.created, sm.uid))
            if sm.queued_seconds and job is None:
                dirty.add(key)  # queued deadlines are checked on every pass
        if time.monotonic() - self._phases_counted > 5:
            self._phases_counted = time.monotonic()
            metrics.set_phases(self._phase_counts())

        slots: dict[Key, QueueSlot] = {}
        # A change anywhere in a namespace (a Job finishing, a VideoJob deleted or cancelled) can free a slot.
        touched = {k[0] for k in dirty}
        for scope, waiting in scopes.items():
            stack = _stack_of(scope)
            if stack is not None and stack not in self.stacks:
                # Nothing starts without its stack's defaults (image, resources, limit).
                slots.update({w.key: QueueSlot(admitted=False, missing_stack=stack[1]) for w in waiting})
                continue
            limit = await self._limit(scope)
            slots.update(queue.assign(waiting, running.get(scope, 0), limit))
            metrics.QUEUE_DEPTH.labels(scope=scope).set(sum(1 for w in waiting if not slots[w.key].admitted))
            if scope.split("/", 1)[0] in touched:
                # Positions move for everyone in a scope when anything in it changes.
                dirty.update(w.key for w in waiting)

        due = [k for k in dirty if k in self.videojobs and k not in waiting_retry]
        await asyncio.gather(*(self._reconcile_one(k, slots.get(k)) for k in due))

    def _phase_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for entry in self.videojobs.values():
            phase = (entry.summary.phase if entry.summary else None) or "Pending"
            counts[phase] = counts.get(phase, 0) + 1
        return counts

    async def _limit(self, scope: str) -> int:
        stack = _stack_of(scope)
        if stack is not None and (defaults := self.stacks.get(stack)) and defaults.max_concurrent_jobs:
            return defaults.max_concurrent_jobs
        namespace = scope.split("/", 1)[0]
        cached = self._limits.get(namespace)
        if cached and time.monotonic() - cached[0] < self.settings.limit_cache_seconds:
            return cached[1]
        limit = self.settings.max_concurrent_per_namespace
        value = (await self.api.namespace_annotations(namespace)).get(LIMIT_ANNOTATION)
        if value and value.isdigit():
            limit = int(value)
        self._limits[namespace] = (time.monotonic(), limit)
        return limit

    async def _reconcile_one(self, key: Key, slot: QueueSlot | None) -> None:
        entry = self.videojobs.get(key)
        if entry is None:
            return
        async with self._sem:
            try:
                vj = entry.vj
                if vj is None:
                    await self._invalid(entry)
                    return
                await self._apply_decision(key, entry, vj, slot or QueueSlot(admitted=False, limit=0))
            except ApiError as e:
                delay = self._retry.failed(key)  # a namespace being deleted must not spin the loop
                log.warning("videojob %s/%s: %s; retrying in %.0fs", key[0], key[1], e.status.message, delay)
            else:
                self._retry.forget(key)

    async def _invalid(self, entry: _Entry) -> None:
        meta = entry.body["metadata"]
        status = entry.body.get("status") or {}
        if status.get("phase") == "Failed":
            return
        message = f"the spec does not validate: {entry.error}"
        await self.api.patch_videojob_status(
            meta["namespace"],
            meta["name"],
            {
                "phase": "Failed",
                "failure": {"reason": "InvalidSpec", "message": message[:4000], "permanent": True},
                "conditions": [
                    {
                        "type": "Failed",
                        "status": "True",
                        "reason": "InvalidSpec",
                        "message": message[:4000],
                        "lastTransitionTime": _now(),
                    }
                ],
            },
        )

    async def _apply_decision(self, key: Key, entry: _Entry, vj: VideoJob, slot: QueueSlot) -> None:
        job = self.jobs.get(key)
        expired = bool(
            vj.spec.timeouts.queued_seconds
            and job is None
            and _age_seconds(vj.metadata.creation_timestamp) > vj.spec.timeouts.queued_seconds
        )
        d: Decision = decide(vj, job, slot, _now(), expired)
        ns, name = key
        if d.create_job:
            await self._ensure_worker_rbac(ns)
            stack = (ns, vj.spec.stack_ref.name) if vj.spec.stack_ref else None
            defaults = worker_defaults(self.settings.defaults, self.stacks.get(stack) if stack else None)
            manifest = builders.build_job(vj, defaults)
            # A Job's template is immutable, so there is nothing to apply over an existing one.
            await self.api.create(Job, manifest)
            metrics.TO_JOB_SECONDS.observe(time.monotonic() - entry.first_seen)
            # Count the slot as taken before the Job's watch event arrives.
            self.jobs[key] = JobState(name=manifest["metadata"]["name"], suspended=vj.spec.suspend)
        if d.suspend_job is not None and job is not None:
            await self.api.suspend_job(ns, job.name, d.suspend_job)
        if d.delete_job and job is not None:
            await self.api.delete_job(ns, job.name)
        if job is not None:
            self._count_retries(key, vj, job)
        if d.status:
            if not await self.api.patch_videojob_status(ns, name, d.status):
                return
            self._remember_status(key, d.status)
        if d.event:
            reason, message, warning = d.event
            try:
                self._events.put_nowait((entry.body, reason, message, warning))
            except asyncio.QueueFull:
                metrics.EVENTS_DROPPED.inc()

    def _remember_status(self, key: Key, patch: dict[str, Any]) -> None:
        """Apply our own patch to the cached object, so the next pass does not repeat it before the watch echo."""
        entry = self.videojobs.get(key)
        if entry is None:
            return
        status = dict(entry.body.get("status") or {})
        for k, v in patch.items():
            if v is None:
                status.pop(k, None)
            else:
                status[k] = v
        body = {**entry.body, "status": status}
        try:
            entry.summary = _summary(VideoJob.model_validate(body), self.stacks)
        except ValidationError:
            return
        entry.body = body
        self._track(key, entry)

    def _count_retries(self, key: Key, vj: VideoJob, job: JobState) -> None:
        seen = self._counted_failures.get(key, 0)
        if job.failed > seen:
            code = vj.status.failure.exit_code if vj.status and vj.status.failure else None
            klass = "unknown" if code is None else ("permanent" if code in {int(c) for c in PERMANENT} else "transient")
            metrics.RETRIES.labels(failure_class=klass).inc(job.failed - seen)
            self._counted_failures[key] = job.failed

    async def _ensure_worker_rbac(self, namespace: str) -> None:
        if namespace in self._rbac_done:
            return
        for manifest, res in zip(
            builders.build_worker_rbac(namespace), (ServiceAccount, Role, RoleBinding), strict=True
        ):
            await self.api.apply(res, manifest)
        self._rbac_done.add(namespace)

    async def _post_event(self, body: dict[str, Any], reason: str, message: str, warning: bool) -> None:
        try:
            await self.api.post_event(body, "VideoJob", reason, message, warning)
        except Exception as e:  # an Event is best effort: never let it fail the reconcile
            log.debug("event %s not posted: %s", reason, e)
