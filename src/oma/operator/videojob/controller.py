"""The VideoJob use-case: a level-triggered loop over what the watches told us.

kopf's event handlers feed two in-memory stores (VideoJobs and their Jobs) and wake the loop. One loop
decides for every VideoJob that changed, so admission under a concurrency limit never races with itself,
and bursts of events coalesce into one pass.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from pydantic import ValidationError

from oma.k8s import ApiFailure, Kube, kinds
from oma.models.omastack import WorkerDefaultsSpec
from oma.models.videojob import RESTORING_ANNOTATION, VideoJob

from ..common import clock
from ..common.events import EventPoster
from ..common.labels import LABEL_VIDEOJOB
from ..common.loop import PriorityGate, ReconcileLoop
from ..monitoring import metrics
from . import admission, builders
from .builders import WorkerDefaults, worker_defaults
from .cache import TERMINAL, Entry, Key, restoring, slim, stack_of, stack_scope, summarize, with_status
from .decide import Decision, JobState, QueueSlot, decide, failure_class, invalid_spec_status, queued_expired

log = logging.getLogger(__name__)
LIMIT_ANNOTATION = "video.oma.ai/max-concurrent-jobs"
EGRESS_ANNOTATION = "video.oma.ai/worker-egress-allow-cidrs"
# Where the Kubernetes API is when its Service and EndpointSlice cannot be read: its usual ports, any address.
APISERVER_PORTS = [443, 6443]
_POSITION_FIELDS = {"queuePosition", "conditions"}  # what a move in the queue changes, and nothing else
ACT, REPORT = 0, 1  # write priorities: what starts or stops work, then what tells of it
# How long status writes wait for a pass that creates no Job. A status patch costs the API server more than the
# Job create itself (figures in docs/decisions.md); while a burst of VideoJobs is being turned into Jobs, holding
# the writes back lets the Jobs be created sooner. In steady traffic the next pass (woken by the new Job's own
# event) creates nothing, so a status is late by one pass; the bound caps the lag under sustained load.
REPORT_YIELD_SECONDS = 5.0


@dataclass
class Settings:
    defaults: WorkerDefaults = field(default_factory=WorkerDefaults)
    max_concurrent_per_namespace: int = 10
    write_concurrency: int = 64
    limit_cache_seconds: float = 30.0
    namespaces: list[str] | None = None  # None: all namespaces
    debounce_seconds: float = 0.02


class VideoJobController:
    def __init__(self, kube: Kube, events: EventPoster, settings: Settings) -> None:
        self.kube, self.events, self.settings = kube, events, settings
        self.videojobs: dict[Key, Entry] = {}
        self.active: set[Key] = set()  # VideoJobs that are not finished
        self.jobs: dict[Key, JobState] = {}
        self.stacks: dict[Key, WorkerDefaultsSpec] = {}  # fed by the OmaStack controller
        self.loop: ReconcileLoop[Key] = ReconcileLoop("videojob", settings.debounce_seconds)
        self.last_event = time.monotonic()
        self._phase: dict[Key, str] = {}  # what the phase gauge counts each VideoJob as
        self._rbac_done: set[str] = set()
        self._egress: dict[str, tuple[float, tuple[str, ...]]] = {}  # namespace -> (when read, allowed CIDRs)
        self._apiserver: tuple[list[str], list[int]] | None = None
        self._limits: dict[str, tuple[float, int]] = {}
        self._gate = PriorityGate(settings.write_concurrency)
        self._namespace_locks: dict[str, asyncio.Lock] = {}
        # Status writes run beside the next pass. A key whose write is in flight is not decided again until
        # the write is done (the decision would start from a status about to change); if it was marked dirty
        # meanwhile, it is poked then.
        self._reporting: dict[Key, int] = {}  # key -> the pass whose status write for it is in flight
        self._deferred: set[Key] = set()
        self._passes = 0
        self._report_tasks: set[asyncio.Task[None]] = set()
        self._created = 0  # Jobs created so far
        self._no_creates = asyncio.Event()  # set after a pass that created no Job
        self._no_creates.set()
        self._counted_failures: dict[Key, int] = {}
        self.positions = admission.PositionWrites()
        self.jobs_synced = asyncio.Event()  # set once the Job informers have listed

    # --- fed by the kopf handlers -----------------------------------------------------------------------------

    def observe_videojob(self, event_type: str | None, body: Mapping[str, Any]) -> None:
        meta = body["metadata"]
        key = (meta["namespace"], meta["name"])
        self.last_event = time.monotonic()
        old = self.videojobs.get(key)
        if event_type == "DELETED":
            self.videojobs.pop(key, None)
            self._counted_failures.pop(key, None)
            self.loop.backoff.forget(key)
            self._untrack(key)
        elif old is not None and old.written is not None and old.written == meta.get("resourceVersion"):
            return  # the echo of our own status write, already applied to what we keep
        elif (phase := (body.get("status") or {}).get("phase")) in TERMINAL:
            # Finished for good: nothing will ever be decided for it again, so it is neither parsed nor woken.
            if old is not None and old.held:
                self.events.post(dict(body), "Adopted", f"restored as {phase}; it is not run again")
            self._track(key, Entry.done(body, phase))
            return
        elif (backup := restoring(body)) is not None:
            # Being restored: its status is about to be written by the restore; acting now would run it again.
            if old is None or not old.held:
                message = f"held by {RESTORING_ANNOTATION}={backup}: no Job until the annotation is removed"
                self.events.post(dict(body), "RestoreHold", message)
            self._track(key, Entry.on_hold(body, old.first_seen if old else time.monotonic()))
            return
        else:
            raw = slim(body)
            try:
                summary, error = summarize(VideoJob.model_validate(raw), self.stacks), None
            except ValidationError as e:
                summary, error = None, str(e)
            self._track(key, Entry(raw, error, summary, old.first_seen if old else time.monotonic()))
        self.loop.poke(key)

    def _track(self, key: Key, entry: Entry) -> None:
        """Store `entry` and keep the active set and the phase gauge in step with it. The gauge is counted here,
        not by a periodic scan: a scan costs O(history), and a job's last change (its terminal write, whose echo
        is skipped) may be followed by no pass at all."""
        self.videojobs[key] = entry
        if entry.summary is not None and entry.summary.phase not in TERMINAL:
            self.active.add(key)
        else:
            self.active.discard(key)
        phase = (entry.summary.phase if entry.summary else None) or "Pending"
        old = self._phase.get(key)
        if old != phase:
            self._phase[key] = phase
            metrics.phase_moved(old, phase)

    def _untrack(self, key: Key) -> None:
        self.active.discard(key)
        self.positions.forget(key)
        metrics.phase_moved(self._phase.pop(key, None), None)

    def observe_job(self, event_type: str | None, body: Mapping[str, Any]) -> None:
        meta = body["metadata"]
        owner = (meta.get("labels") or {}).get(LABEL_VIDEOJOB)
        if not owner:
            return
        key = (meta["namespace"], owner)
        self.last_event = time.monotonic()
        current = self.jobs.get(key)
        if event_type == "DELETED":
            if current is not None and current.name == meta["name"]:
                self.jobs.pop(key, None)
        else:
            state = JobState.from_body(body)
            # A split job's steps follow each other: an earlier step's late event (or TTL) is no news.
            rank = builders.STEP_RANK
            if current is not None and rank.get(state.step, 1) < rank.get(current.step, 1):
                return
            self.jobs[key] = state
        self.loop.poke(key)

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
                entry.summary = summarize(vj, self.stacks)
            self.loop.poke(key)

    @property
    def last_pass(self) -> float:
        return self.loop.last_pass

    def take_over(self) -> None:
        """About to act (at start, or on becoming the leader): reconsider every job that may need a write.
        Finished ones are skipped: they never change again, and they can be most of a namespace."""
        self.loop.last_pass = time.monotonic()
        for key, entry in self.videojobs.items():
            if key in self.active or (entry.error and (entry.body.get("status") or {}).get("phase") != "Failed"):
                self.loop.poke(key)

    # --- the loop ----------------------------------------------------------------------------------------------

    async def run(self) -> None:
        # Every existing Job must be known before the first decision, so a restart never over-admits.
        await self.jobs_synced.wait()
        try:
            await self.loop.run(self.reconcile_pass)
        finally:
            # Losing the lease stops every write; take_over() decides those keys again on the next lead.
            for task in self._report_tasks:
                task.cancel()
            await asyncio.gather(*self._report_tasks, return_exceptions=True)

    async def reconcile_pass(self, dirty: set[Key]) -> None:
        started = time.monotonic()
        waiting_retry = self.loop.backoff.waiting(started)
        dirty |= self.positions.due(started)
        scopes, running = self._scopes(dirty)
        slots: dict[Key, QueueSlot] = {}
        depths: dict[str, int] = {}
        # A change anywhere in a namespace (a Job finishing, a VideoJob deleted or cancelled) can free a slot.
        touched = {k[0] for k in dirty}
        for scope, waiting in scopes.items():
            stack = stack_of(scope)
            if stack is not None and stack not in self.stacks:
                # Nothing starts without its stack's defaults (image, resources, limit).
                slots.update({w.key: QueueSlot(admitted=False, missing_stack=stack[1]) for w in waiting})
                continue
            slots.update(admission.assign(waiting, running.get(scope, 0), await self._limit(scope)))
            depths[scope] = sum(1 for w in waiting if not slots[w.key].admitted)
            if scope.split("/", 1)[0] in touched:
                # Positions move for everyone in a scope when anything in it changes; those whose move would
                # be held back anyway (PositionWrites) are not decided again, which keeps a pass O(changes)
                # rather than O(queue) (the CPU of a long queue was the operator's largest cost).
                now_m = time.monotonic()
                dirty.update(
                    w.key
                    for w in waiting
                    if slots[w.key].admitted or self.positions.allow(w.key, slots[w.key].position or 1, now_m)
                )
        metrics.set_queue_depths(depths)
        # Two rounds: every due job's actions (a Job create is what starts work), then the status writes and Events
        # they led to, in the background at a lower priority. Neither the last Job of this pass nor the first of
        # the next waits behind status writes, which the user sees a moment later and nothing waits on. Those
        # without a Job go first.
        self._deferred |= dirty & self._reporting.keys()
        due = sorted(
            (k for k in dirty if k in self.videojobs and k not in waiting_retry and k not in self._reporting),
            key=self.jobs.__contains__,
        )
        reports: list[tuple[Key, Entry, Decision]] = []
        created = self._created
        await asyncio.gather(*(self._reconcile_one(k, slots.get(k), reports) for k in due))
        self._report_later(reports, created_jobs=self._created != created)
        metrics.RECONCILE_SECONDS.observe(time.monotonic() - started)

    def _report_later(self, reports: list[tuple[Key, Entry, Decision]], created_jobs: bool) -> None:
        """Start a pass's status writes in the background; those of passes that created Jobs are held back."""
        if created_jobs:
            self._no_creates.clear()
        else:
            self._no_creates.set()
        if not reports:
            return
        self._passes += 1
        self._reporting.update((key, self._passes) for key, _, _ in reports)
        task = asyncio.create_task(self._report_all(self._passes, reports))
        self._report_tasks.add(task)
        task.add_done_callback(self._report_tasks.discard)

    def _scopes(self, dirty: set[Key]) -> tuple[dict[str, list[admission.Waiting]], dict[str, int]]:
        """Who waits in which queue and how many run there. Only unfinished VideoJobs take part: finished ones
        can be thousands and never change again. Adds jobs with a queued deadline to `dirty`."""
        scopes: dict[str, list[admission.Waiting]] = {}
        running: dict[str, int] = {}
        for key in list(self.active):
            entry = self.videojobs.get(key)
            sm = entry.summary if entry else None
            if sm is None:
                continue
            job = self.jobs.get(key)
            if job is not None:
                if job.holds_slot:
                    running[sm.scope] = running.get(sm.scope, 0) + 1
            elif sm.waits:
                scopes.setdefault(sm.scope, []).append(admission.Waiting(key, sm.priority, sm.created, sm.uid))
            if sm.queued_seconds and job is None:
                dirty.add(key)  # queued deadlines are checked on every pass
        return scopes, running

    async def _limit(self, scope: str) -> int:
        stack = stack_of(scope)
        if stack is not None and (defaults := self.stacks.get(stack)) and defaults.max_concurrent_jobs:
            return defaults.max_concurrent_jobs
        namespace = scope.split("/", 1)[0]
        cached = self._limits.get(namespace)
        if cached and time.monotonic() - cached[0] < self.settings.limit_cache_seconds:
            return cached[1]
        limit = self.settings.max_concurrent_per_namespace
        value = (await self._namespace_annotations(namespace)).get(LIMIT_ANNOTATION)
        if value and value.isdigit():
            limit = int(value)
        self._limits[namespace] = (time.monotonic(), limit)
        return limit

    async def _namespace_annotations(self, name: str) -> dict[str, str]:
        try:
            ns = await self.kube.get(kinds.NAMESPACE, name)
        except ApiFailure as e:
            if e.code in (403, 404):  # no permission to read namespaces (namespaced mode): the default applies
                return {}
            raise
        return dict(ns["metadata"].get("annotations") or {})

    async def _reconcile_one(
        self, key: Key, slot: QueueSlot | None, reports: list[tuple[Key, Entry, Decision]]
    ) -> None:
        entry = self.videojobs.get(key)
        if entry is None:
            return
        async with self._gate.hold(ACT):
            await self.loop.guarded(key, self._reconcile_entry(key, entry, slot, reports))

    async def _report_all(self, batch: int, reports: list[tuple[Key, Entry, Decision]]) -> None:
        try:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(REPORT_YIELD_SECONDS):
                    await self._no_creates.wait()
            await asyncio.gather(*(self._report_one(batch, *report) for report in reports))
        finally:  # cancelled (the lease lost): no key stays held
            for key, _, _ in reports:
                self._release(key, batch)

    async def _report_one(self, batch: int, key: Key, entry: Entry, d: Decision) -> None:
        try:
            async with self._gate.hold(REPORT):
                await self.loop.guarded(key, self._report(key, entry, d))
        finally:
            self._release(key, batch)

    def _release(self, key: Key, batch: int) -> None:
        """`key`'s status write of pass `batch` is over: decide it again if anything changed meanwhile."""
        if self._reporting.get(key) != batch:
            return  # already released, and perhaps written again by a later pass
        del self._reporting[key]
        if key in self._deferred:
            self._deferred.discard(key)
            self.loop.poke(key)

    async def _reconcile_entry(
        self, key: Key, entry: Entry, slot: QueueSlot | None, reports: list[tuple[Key, Entry, Decision]]
    ) -> None:
        if entry.finished or entry.held:
            return  # a late event of its Job (completion, TTL deletion) changes nothing any more; or held
        vj = entry.vj
        if vj is None:
            patch = invalid_spec_status(entry.body.get("status") or {}, entry.error or "", clock.now())
            if patch is not None:
                await self.kube.patch_status(kinds.VIDEOJOB, key[1], patch, namespace=key[0])
            return
        d = await self._act(key, entry, vj, slot or QueueSlot(admitted=False, limit=0))
        if d.status or d.event:
            reports.append((key, entry, d))

    async def _act(self, key: Key, entry: Entry, vj: VideoJob, slot: QueueSlot) -> Decision:
        """Decide, and do what the decision says to the Job; its status and Event are `_report`'s."""
        job = self.jobs.get(key)
        now = clock.now()
        d = decide(vj, job, slot, now, queued_expired(vj, job, now), self._parallelism(vj))
        self._pace_position(key, vj, d)
        ns = key[0]
        if d.create_job:
            await self._create_job(key, entry, vj, d.create_job)
        if d.suspend_job is not None and job is not None:
            await self.kube.patch(kinds.JOB, job.name, {"spec": {"suspend": d.suspend_job}}, namespace=ns)
        if d.delete_job and job is not None:
            await self.kube.delete(kinds.JOB, job.name, namespace=ns)
        if job is not None:
            self._count_retries(key, vj, job)
        return d

    async def _report(self, key: Key, entry: Entry, d: Decision) -> None:
        ns, name = key
        if d.status:
            written = await self.kube.patch_status(kinds.VIDEOJOB, name, d.status, namespace=ns)
            if written is None:
                return
            self._remember_status(key, d.status, written)
        if d.event:
            reason, message, warning = d.event
            self.events.post(entry.body, reason, message, warning)

    def _pace_position(self, key: Key, vj: VideoJob, d: Decision) -> None:
        """Hold back a write that only moves a queued job's position (see admission.PositionWrites)."""
        position = d.status.get("queuePosition")
        if position is None:
            if "queuePosition" in d.status:
                self.positions.forget(key)  # left the queue
            return
        moved_only = vj.status is not None and vj.status.phase == "Queued" and d.status.keys() <= _POSITION_FIELDS
        if moved_only and d.event is None and not self.positions.allow(key, position, time.monotonic()):
            d.status = {}
        else:
            self.positions.wrote(key, time.monotonic())

    def _parallelism(self, vj: VideoJob) -> int:
        """spec.parallelism, else its stack's workerDefaults.parallelism, else 1."""
        if vj.spec.parallelism is not None:
            return vj.spec.parallelism
        stack = self.stacks.get((vj.metadata.namespace or "", vj.spec.stack_ref.name)) if vj.spec.stack_ref else None
        return (stack.parallelism if stack else None) or 1

    async def _create_job(self, key: Key, entry: Entry, vj: VideoJob, step: str) -> None:
        ns = key[0]
        allowed = await self._prepare_namespace(ns)
        stack = self.stacks.get((ns, vj.spec.stack_ref.name)) if vj.spec.stack_ref else None
        defaults = replace(worker_defaults(self.settings.defaults, stack), allowed_cidrs=allowed)
        completions = 1
        if step == "plan":
            manifest = builders.build_plan_job(vj, defaults, self._parallelism(vj))
        elif step == "chunks":
            assert vj.status is not None and vj.status.split is not None
            completions = len(vj.status.split.chunks)
            manifest = builders.build_chunks_job(vj, defaults, completions)
        elif step == "stitch":
            manifest = builders.build_stitch_job(vj, defaults)
        else:
            manifest = builders.build_job(vj, defaults)
        # A Job's template is immutable, so there is nothing to apply over an existing one.
        await self.kube.create(manifest)
        self._created += 1
        if step in ("plan", "encode"):
            metrics.TO_JOB_SECONDS.observe(time.monotonic() - entry.first_seen)
        # Count the slot as taken (and the step as begun) before the Job's watch event arrives.
        self.jobs[key] = JobState(
            name=manifest["metadata"]["name"], suspended=vj.spec.suspend, step=step, completions=completions
        )

    def _remember_status(self, key: Key, patch: dict[str, Any], written: str) -> None:
        """Apply our own patch to the cached object, so neither the next pass nor the watch's echo repeats it."""
        entry = self.videojobs.get(key)
        if entry is None:
            return
        body = with_status(entry.body, patch)
        if body["status"].get("phase") in TERMINAL:
            entry = Entry.done(body, body["status"]["phase"])
        elif entry.summary is None:
            return  # replaced meanwhile by a spec that does not parse, or held for a restore: nothing to update
        else:
            # Of the summary, a status write changes the phase only; the rest is the spec's and metadata's, so
            # the spec is not parsed again for every write (one parse per write was 2 % of the operator's CPU).
            entry.summary = replace(entry.summary, phase=body["status"].get("phase"))
            entry.body = body
        entry.written = written
        self._track(key, entry)

    def _count_retries(self, key: Key, vj: VideoJob, job: JobState) -> None:
        seen = self._counted_failures.get(key, 0)
        if job.failed > seen:
            code = vj.status.failure.exit_code if vj.status and vj.status.failure else None
            metrics.RETRIES.labels(failure_class=failure_class(code)).inc(job.failed - seen)
            self._counted_failures[key] = job.failed

    async def _prepare_namespace(self, namespace: str) -> tuple[str, ...]:
        """The workers' RBAC and egress policy in `namespace`, made once however many of a pass's Jobs ask at
        the same time; returns the networks workers may reach."""
        if namespace in self._rbac_done and (cached := self._fresh_egress(namespace)) is not None:
            return cached  # every Job but a namespace's first (and one each 30 s): no lock, no task
        async with self._namespace_locks.setdefault(namespace, asyncio.Lock()):
            _, allowed = await asyncio.gather(
                self._ensure_worker_rbac(namespace), self._ensure_worker_egress(namespace)
            )
        return allowed

    def _fresh_egress(self, namespace: str) -> tuple[str, ...] | None:
        cached = self._egress.get(namespace)
        if cached and time.monotonic() - cached[0] < self.settings.limit_cache_seconds:
            return cached[1]
        return None

    async def _ensure_worker_rbac(self, namespace: str) -> None:
        if namespace in self._rbac_done:
            return
        # No order needed: a RoleBinding may name a Role or ServiceAccount that does not exist yet.
        await asyncio.gather(*(self.kube.apply(m) for m in builders.build_worker_rbac(namespace)))
        self._rbac_done.add(namespace)

    async def _ensure_worker_egress(self, namespace: str) -> tuple[str, ...]:
        """The workers' egress policy in `namespace`, re-applied when its allowed networks change (read every 30 s)."""
        if (fresh := self._fresh_egress(namespace)) is not None:
            return fresh
        cached = self._egress.get(namespace)
        annotations, peers = await asyncio.gather(self._namespace_annotations(namespace), self._apiserver_peers())
        allowed, bad = builders.allowed_networks(annotations.get(EGRESS_ANNOTATION))
        if bad:
            log.warning(
                "namespace %s: %s names networks that do not parse, ignored: %s", namespace, EGRESS_ANNOTATION, bad
            )
        if cached is None or cached[1] != allowed:
            policy = builders.build_worker_network_policy(namespace, peers, allowed)
            await self.kube.apply(policy)
        self._egress[namespace] = (time.monotonic(), allowed)
        return allowed

    async def _apiserver_peers(self) -> tuple[list[str], list[int]]:
        """The Kubernetes API's addresses and ports: its Service's cluster IP and, where policies are enforced
        after DNAT (most CNIs), the addresses behind it. Found once; unreadable means ports only."""
        if self._apiserver is not None:
            return self._apiserver
        cidrs: set[str] = set()
        ports: set[int] = set()
        try:
            svc = await self.kube.get(kinds.SERVICE, "kubernetes", namespace="default")
            if ip := svc["spec"].get("clusterIP"):
                cidrs.add(f"{ip}/{128 if ':' in ip else 32}")
            ports.update(int(p["port"]) for p in svc["spec"].get("ports") or [])
            eps = await self.kube.get(kinds.ENDPOINT_SLICE, "kubernetes", namespace="default")
            for ep in eps.get("endpoints") or []:
                cidrs.update(f"{a}/{128 if ':' in a else 32}" for a in ep.get("addresses") or [])
            ports.update(int(p["port"]) for p in eps.get("ports") or [] if p.get("port"))
        except ApiFailure as e:
            if e.code not in (403, 404):
                raise
        if not cidrs:
            log.warning(
                "the Kubernetes API's address is unknown: worker egress allows ports %s anywhere", APISERVER_PORTS
            )
        self._apiserver = (sorted(cidrs), sorted(ports or set(APISERVER_PORTS)) if cidrs else APISERVER_PORTS)
        return self._apiserver
