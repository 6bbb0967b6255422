"""The OmaStack use-case: apply every child with server-side apply, prune what is no longer wanted, report.

kopf's event handlers feed the stacks and their children's statuses in here. A change to a stack or any of its
children (a hand edit, a deletion, a rollout step) marks the stack dirty; one loop reconciles dirty stacks, and
every stack again each `resync_seconds` (for what is not watched: the Secret and prometheus-operator objects).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from lightkube.core.exceptions import ApiError
from lightkube.core.resource_registry import resource_registry
from pydantic import ValidationError

from oma.k8s.api import FIELD_MANAGER, Api
from oma.k8s.resources import OmaStackResource, PodMonitor, PrometheusRule, ServiceMonitor
from oma.models.omastack import OmaStack, WorkerDefaultsSpec

from . import metrics
from . import stack_builders as b
from .backoff import Backoff
from .builders import LABEL_MANAGED_BY, MANAGER
from .stack_status import Cond, Workload, merge_conditions, ready_condition, same_conditions, workload_condition

log = logging.getLogger(__name__)
Key = tuple[str, str]
ChildKey = tuple[str, str]  # (kind, name)
MONITOR_KINDS = (ServiceMonitor, PodMonitor, PrometheusRule)
# Data is never pruned: a PVC the spec no longer asks for keeps its dumps until a person deletes it.
NEVER_PRUNED = {"PersistentVolumeClaim", "Secret"}


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class _Outcome:
    """What the last full pass found that a status-only pass reports again."""

    monitoring: Cond
    error: str | None
    rotation: str | None


@dataclass
class _Children:
    workloads: dict[ChildKey, Workload] = field(default_factory=dict)
    managed: dict[ChildKey, str] = field(default_factory=dict)  # -> apiVersion, for pruning
    deleted: set[ChildKey] = field(default_factory=set)  # deleted by someone else since the last pass
    seen: dict[ChildKey, tuple[Any, ...]] = field(default_factory=dict)  # generation, labels, annotations
    applied: dict[ChildKey, str] = field(default_factory=dict)  # resourceVersion our last apply returned
    last: _Outcome | None = None


def _only_ours(meta: Mapping[str, Any]) -> bool:
    """Every field but status was written by us: nothing for an apply to put back."""
    entries = meta.get("managedFields") or []
    return bool(entries) and all(e.get("manager") == FIELD_MANAGER or e.get("subresource") == "status" for e in entries)


def is_edit(
    event_type: str | None, body: Mapping[str, Any], seen: tuple[Any, ...] | None, applied_rv: str | None
) -> bool:
    """Whether a child's event may carry a change an apply must take back (so every child is applied again).

    Not an edit: the echo of our own apply, an object only we have written, a rollout step (generation,
    labels and annotations as last seen) or a claim being bound. Re-applying every child for each of those
    would be most of the operator's writes.
    """
    meta = body["metadata"]
    if meta.get("resourceVersion") == applied_rv or _only_ours(meta):
        return False
    if event_type != "MODIFIED":
        return True
    fingerprint = _fingerprint(body)
    return not ((fingerprint is not None and fingerprint == seen) or body["kind"] == "PersistentVolumeClaim")


def _fingerprint(body: Mapping[str, Any]) -> tuple[Any, ...] | None:
    """What a hand edit changes. None for kinds without a generation (every change of those counts)."""
    meta = body["metadata"]
    if meta.get("generation") is None:
        return None
    return (meta["generation"], meta.get("labels") or {}, meta.get("annotations") or {})


@dataclass
class StackSettings:
    resync_seconds: float = 30.0
    debounce_seconds: float = 0.1
    monitoring_check_seconds: float = 30.0
    parallel_stacks: int = 8  # stacks reconciled at once; each applies its ~15 children concurrently


class StackController:
    def __init__(
        self,
        api: Api,
        settings: StackSettings | None = None,
        on_defaults: Callable[[Key, WorkerDefaultsSpec | None], None] | None = None,
    ) -> None:
        self.api = api
        self.settings = settings or StackSettings()
        self.on_defaults = on_defaults
        self.stacks: dict[Key, dict[str, Any]] = {}
        self.children: dict[Key, _Children] = {}
        self.dirty: set[Key] = set()  # apply every child, prune, report
        self.status_dirty: set[Key] = set()  # only a child's status moved: report again
        self.wake = asyncio.Event()
        self.last_pass = time.monotonic()
        self._retry: Backoff[Key] = Backoff()
        self._served: dict[str, tuple[float, bool]] = {}
        self._secret_checked: dict[Key, float] = {}
        self._sem = asyncio.Semaphore(self.settings.parallel_stacks)

    # --- fed by the kopf handlers -----------------------------------------------------------------------------

    def observe_stack(self, event_type: str | None, body: Mapping[str, Any]) -> None:
        meta = body["metadata"]
        key = (meta["namespace"], meta["name"])
        if event_type == "DELETED":
            self.stacks.pop(key, None)
            self.children.pop(key, None)
            self._retry.forget(key)
            self._secret_checked.pop(key, None)
            if self.on_defaults:
                self.on_defaults(key, None)
            return
        old = self.stacks.get(key)
        self.stacks[key] = {k: body.get(k) for k in ("apiVersion", "kind", "metadata", "spec", "status")}
        if old is not None and all(old["metadata"].get(f) == meta.get(f) for f in ("uid", "generation")):
            return  # the echo of a status write (ours or the worker's): nothing to apply
        if self.on_defaults:
            try:
                self.on_defaults(key, OmaStack.model_validate(self.stacks[key]).spec.worker_defaults)
            except ValidationError:
                self.on_defaults(key, None)
        self._poke(key)

    def observe_child(self, event_type: str | None, body: Mapping[str, Any]) -> None:
        meta = body["metadata"]
        stack = (meta.get("labels") or {}).get(b.LABEL_STACK)
        if not stack:
            return
        key = (meta["namespace"], stack)
        children = self.children.setdefault(key, _Children())
        child = (body["kind"], meta["name"])
        ours = (meta.get("labels") or {}).get(LABEL_MANAGED_BY) == MANAGER
        if event_type == "DELETED":
            children.workloads.pop(child, None)
            children.managed.pop(child, None)
            if key not in self.stacks:
                # The stack is gone and this is its garbage collection: forget it once nothing is left.
                if not children.workloads and not children.managed:
                    self.children.pop(key, None)
                return
            if ours:
                children.deleted.add(child)
            children.seen.pop(child, None)
            children.applied.pop(child, None)
        else:
            if body["kind"] in ("StatefulSet", "Deployment"):
                children.workloads[child] = Workload.from_body(body)
            if ours:
                children.managed[child] = body["apiVersion"]
            edit = is_edit(event_type, body, children.seen.get(child), children.applied.get(child))
            if (fingerprint := _fingerprint(body)) is not None:
                children.seen[child] = fingerprint
            if not edit and key in self.stacks:
                self.status_dirty.add(key)
                self.wake.set()
                return
        if key in self.stacks:
            self._poke(key)

    def _poke(self, key: Key) -> None:
        self.dirty.add(key)
        self.wake.set()

    # --- the loop ----------------------------------------------------------------------------------------------

    async def run(self) -> None:
        last_resync = time.monotonic()
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), timeout=1.0)
            await asyncio.sleep(self.settings.debounce_seconds)
            self.wake.clear()
            now = time.monotonic()
            if now - last_resync > self.settings.resync_seconds:
                last_resync = now
                self.dirty.update(self.stacks)
            dirty, self.dirty = self.dirty | self._retry.due(now), set()
            status_only, self.status_dirty = self.status_dirty - dirty, set()
            waiting = self._retry.waiting(now)
            await asyncio.gather(
                *(self._reconcile_guarded(k, full=True) for k in dirty if k in self.stacks and k not in waiting),
                *(self._reconcile_guarded(k, full=False) for k in status_only if k in self.stacks),
            )
            self.last_pass = time.monotonic()

    async def _reconcile_guarded(self, key: Key, full: bool) -> None:
        started = time.monotonic()
        kind = "full" if full else "status"
        try:
            async with self._sem:
                await (self.reconcile(key) if full else self.refresh(key))
        except asyncio.CancelledError:
            raise
        except Exception as e:
            metrics.STACK_RECONCILES.labels(kind=kind, result="error").inc()
            delay = self._retry.failed(key)
            log.warning("omastack %s/%s: %s; retrying in %.0fs", key[0], key[1], e, delay)
        else:
            metrics.STACK_RECONCILES.labels(kind=kind, result="ok").inc()
            self._retry.forget(key)
        finally:
            metrics.STACK_RECONCILE_SECONDS.observe(time.monotonic() - started)

    async def reconcile(self, key: Key) -> None:
        body = self.stacks.get(key)
        if body is None:
            return
        try:
            stack = OmaStack.model_validate(body)
        except ValidationError as e:
            await self._report(key, body, [], f"the spec does not validate: {e}", None)
            return
        children = self.children.setdefault(key, _Children())
        restored, children.deleted = children.deleted, set()
        errors: list[str] = []  # make the stack not Ready, and retry
        retry: list[str] = []  # only retry: monitoring and pruning never gate Ready
        rotation: str | None = None
        try:
            rotation = await self._credentials(key, stack)
        except ApiError as e:
            errors.append(f"Secret {b.Names(stack.metadata.name).credentials}: {e.status.message}")
        manifests = b.build_children(stack)
        results = await asyncio.gather(*(self.api.apply_manifest(m) for m in manifests), return_exceptions=True)
        for m, r in zip(manifests, results, strict=True):
            if isinstance(r, BaseException):
                errors.append(_describe(m, r))
            elif r:
                children.applied[(m["kind"], m["metadata"]["name"])] = r
        try:
            monitoring = await self._monitoring(stack)
        except ApiError as e:
            monitoring = Cond("MonitoringReady", False, "ApplyFailed", e.status.message or str(e))
            retry.append(f"monitoring: {e.status.message}")
        wanted = {(m["kind"], m["metadata"]["name"]) for m in manifests}
        try:
            await self._prune(stack, children, wanted)
        except ApiError as e:
            retry.append(f"pruning: {e.status.message}")
        for kind, name in sorted(restored & wanted):
            await self._event(stack, "ChildRestored", f"{kind} {name} was deleted; re-created it as declared")
        children.last = _Outcome(monitoring, "; ".join(errors) or None, rotation)
        await self._report_children(key, body, stack, children)
        if errors or retry:
            raise RuntimeError("; ".join(errors + retry))

    async def refresh(self, key: Key) -> None:
        """Report the children's progress again without writing them (a status-only change)."""
        body, children = self.stacks.get(key), self.children.get(key)
        if body is None or children is None or children.last is None:
            return await self.reconcile(key)
        try:
            stack = OmaStack.model_validate(body)
        except ValidationError:
            return await self.reconcile(key)
        await self._report_children(key, body, stack, children)

    async def _report_children(self, key: Key, body: Mapping[str, Any], stack: OmaStack, children: _Children) -> None:
        assert children.last is not None
        parts = [
            *self._workload_conditions(stack, children),
            children.last.monitoring,
            self._backups_condition(stack, children),
        ]
        await self._report(key, body, parts, children.last.error, children.last.rotation, stack)

    # --- pieces ------------------------------------------------------------------------------------------------

    async def _credentials(self, key: Key, stack: OmaStack) -> str:
        """Generate the Postgres Secret once; replace it only when spec.postgres.credentialsRotation changes."""
        wanted = stack.spec.postgres.credentials_rotation or ""
        recorded = stack.status.credentials_rotation if stack.status else None
        if recorded is not None and recorded != wanted:
            await self.api.apply_manifest(b.build_credentials_secret(stack, _password()))
            await self._event(
                stack,
                "CredentialsRotated",
                "generated a new Postgres password; Postgres and the dashboard restart to use it",
            )
            self._secret_checked[key] = time.monotonic()
            return wanted
        last = self._secret_checked.get(key)
        if last is not None and time.monotonic() - last < self.settings.resync_seconds:
            return wanted
        # Create-if-absent (409 = it exists, untouched): the operator never reads Secrets.
        created = await self.api.create_manifest(b.build_credentials_secret(stack, _password()))
        self._secret_checked[key] = time.monotonic()
        if created and recorded is not None:
            await self._event(
                stack,
                "CredentialsRecreated",
                f"Secret {b.Names(stack.metadata.name).credentials} was missing and was generated anew; set "
                "spec.postgres.credentialsRotation to a new value so Postgres and the dashboard adopt it",
                warning=True,
            )
        return wanted

    async def _is_served(self, namespace: str) -> bool:
        cached = self._served.get(namespace)
        if cached and time.monotonic() - cached[0] < self.settings.monitoring_check_seconds:
            return cached[1]
        served = True
        for res in MONITOR_KINDS:
            served = served and await self.api.served(res, namespace)
        self._served[namespace] = (time.monotonic(), served)
        return served

    async def _monitoring(self, stack: OmaStack) -> Cond:
        ns, n = stack.metadata.namespace, b.Names(stack.metadata.name)
        if not stack.spec.monitoring.enabled:
            if await self._is_served(ns):
                for res, name in zip(MONITOR_KINDS, (n.dashboard, n.exporters, n.alerts), strict=True):
                    await self.api.delete(res, name, ns)
            return Cond("MonitoringReady", False, "Disabled", "spec.monitoring.enabled is false")
        if not await self._is_served(ns):
            return Cond(
                "MonitoringReady",
                False,
                "PrometheusOperatorNotInstalled",
                "the monitoring.coreos.com/v1 CRDs (ServiceMonitor, PodMonitor, PrometheusRule) are not installed, "
                "so no monitors were created; install prometheus-operator and they appear within "
                f"{self.settings.monitoring_check_seconds:.0f}s, or set spec.monitoring.enabled=false",
            )
        monitors = b.build_monitors(stack)
        for m in monitors:
            await self.api.apply_manifest(m)
        names = ", ".join(f"{m['kind']} {m['metadata']['name']}" for m in monitors)
        return Cond("MonitoringReady", True, "MonitorsApplied", names)

    async def _prune(self, stack: OmaStack, children: _Children, wanted: set[ChildKey]) -> None:
        """Delete children this spec no longer asks for (an HPA after autoscaling was turned off, ...)."""
        for (kind, name), api_version in list(children.managed.items()):
            if (kind, name) in wanted or kind in NEVER_PRUNED:
                continue
            log.info("omastack %s/%s: deleting %s %s", stack.metadata.namespace, stack.metadata.name, kind, name)
            await self.api.delete(resource_registry.load(api_version, kind), name, stack.metadata.namespace)
            children.managed.pop((kind, name), None)

    def _workload_conditions(self, stack: OmaStack, children: _Children) -> list[Cond]:
        n = b.Names(stack.metadata.name)
        return [
            workload_condition("RedisReady", "StatefulSet", n.redis, children.workloads.get(("StatefulSet", n.redis))),
            workload_condition(
                "PostgresReady", "StatefulSet", n.postgres, children.workloads.get(("StatefulSet", n.postgres))
            ),
            workload_condition(
                "DashboardReady", "Deployment", n.dashboard, children.workloads.get(("Deployment", n.dashboard))
            ),
        ]

    def _backups_condition(self, stack: OmaStack, children: _Children) -> Cond:
        spec, n = stack.spec.backups, b.Names(stack.metadata.name)
        if not spec.enabled:
            return Cond("BackupsScheduled", False, "Disabled", "spec.backups.enabled is false")
        if spec.suspend:
            return Cond("BackupsScheduled", False, "Suspended", "spec.backups.suspend is true: no backup runs")
        missing = [c for c in (n.backup_postgres, n.backup_redis) if ("CronJob", c) not in children.managed]
        if missing:
            return Cond("BackupsScheduled", False, "Creating", f"waiting for CronJob(s) {', '.join(missing)}")
        return Cond(
            "BackupsScheduled",
            True,
            "Scheduled",
            f"pg_dump and Redis RDB snapshots on '{spec.schedule}' to PVC {b.backups_claim_name(stack)}, "
            f"keeping {spec.retention} of each",
        )

    async def _report(
        self,
        key: Key,
        body: Mapping[str, Any],
        parts: list[Cond],
        error: str | None,
        rotation: str | None,
        stack: OmaStack | None = None,
    ) -> None:
        meta, current = body["metadata"], body.get("status") or {}
        generation = meta.get("generation")
        conditions = merge_conditions(
            current.get("conditions") or [], [ready_condition(parts, error), *parts], _now(), generation
        )
        status: dict[str, Any] = {"observedGeneration": generation, "conditions": conditions}
        if stack is not None:
            status["endpoints"] = b.endpoints(stack)
        if rotation is not None:
            status["credentialsRotation"] = rotation
        unchanged = same_conditions(current.get("conditions") or [], conditions) and all(
            current.get(k) == v for k, v in status.items() if k != "conditions"
        )
        if unchanged:
            return
        was_ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in current.get("conditions") or [])
        if not await self.api.patch_status(OmaStackResource, key[0], key[1], status):
            return
        self.stacks[key] = {**body, "status": {**current, **status}}
        ready = conditions[0]
        if stack is not None and (ready["status"] == "True") != was_ready:
            await self._event(stack, ready["reason"], ready["message"], warning=ready["status"] != "True")

    async def _event(self, stack: OmaStack, reason: str, message: str, warning: bool = False) -> None:
        body = {"apiVersion": stack.api_version, "metadata": stack.metadata.model_dump(by_alias=True)}
        try:
            await self.api.post_event(body, "OmaStack", reason, message, warning)
        except Exception as e:  # Events are best effort
            log.debug("event %s not posted: %s", reason, e)


def _password() -> str:
    return secrets.token_urlsafe(24)


def _describe(manifest: Mapping[str, Any], error: BaseException) -> str:
    what = f"{manifest['kind']} {manifest['metadata']['name']}"
    if isinstance(error, ApiError):
        return f"{what}: {error.status.message}"
    return f"{what}: {error}"
