"""The OmaStack use-case: apply every child with server-side apply, prune what is no longer wanted, report.

kopf's event handlers feed the stacks and their children's statuses in here. A change to a stack or any of its
children (a hand edit, a deletion, a rollout step) marks the stack dirty; one loop reconciles dirty stacks, and
every stack again each `resync_seconds` (for what is not watched: the Secret and prometheus-operator objects).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from oma.k8s import ApiFailure, Kube, Manifest, kinds
from oma.models.omastack import OmaStack, WorkerDefaultsSpec

from ..common import clock
from ..common.conditions import Cond
from ..common.events import EventPoster
from ..common.labels import LABEL_MANAGED_BY, LABEL_STACK, MANAGER
from ..common.loop import ReconcileLoop
from ..monitoring import metrics
from . import builders as b
from .children import ChildKey, Children, Outcome
from .status import backups_condition, became_ready, stack_status, workload_conditions

log = logging.getLogger(__name__)
Key = tuple[str, str]
MONITOR_KINDS = (kinds.SERVICE_MONITOR, kinds.POD_MONITOR, kinds.PROMETHEUS_RULE)
# Data is never pruned: a PVC the spec no longer asks for keeps its dumps until a person deletes it.
NEVER_PRUNED = {"PersistentVolumeClaim", "Secret"}


@dataclass
class StackSettings:
    resync_seconds: float = 30.0
    debounce_seconds: float = 0.1
    monitoring_check_seconds: float = 30.0
    parallel_stacks: int = 8  # stacks reconciled at once; each applies its ~15 children concurrently


class StackController:
    def __init__(
        self,
        kube: Kube,
        events: EventPoster,
        settings: StackSettings | None = None,
        on_defaults: Callable[[Key, WorkerDefaultsSpec | None], None] | None = None,
    ) -> None:
        self.kube, self.events = kube, events
        self.settings = settings or StackSettings()
        self.on_defaults = on_defaults
        self.stacks: dict[Key, dict[str, Any]] = {}
        self.children: dict[Key, Children] = {}
        self.status_dirty: set[Key] = set()  # only a child's status moved: report again
        self.loop: ReconcileLoop[Key] = ReconcileLoop(
            "omastack", self.settings.debounce_seconds, self.settings.resync_seconds, lambda: list(self.stacks)
        )
        self._served: dict[str, tuple[float, bool]] = {}
        self._secret_checked: dict[Key, float] = {}
        self._sem = asyncio.Semaphore(self.settings.parallel_stacks)

    @property
    def last_pass(self) -> float:
        return self.loop.last_pass

    def take_over(self) -> None:
        """About to act (at start, or on becoming the leader): every stack is applied and reported again."""
        self.loop.last_pass = time.monotonic()
        for key in self.stacks:
            self.loop.poke(key)

    # --- fed by the kopf handlers -----------------------------------------------------------------------------

    def observe_stack(self, event_type: str | None, body: Mapping[str, Any]) -> None:
        meta = body["metadata"]
        key = (meta["namespace"], meta["name"])
        if event_type == "DELETED":
            self.stacks.pop(key, None)
            self.children.pop(key, None)
            self.loop.forget(key)
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
        self.loop.poke(key)

    def observe_child(self, event_type: str | None, body: Mapping[str, Any]) -> None:
        meta = body["metadata"]
        labels = meta.get("labels") or {}
        stack = labels.get(LABEL_STACK)
        if not stack:
            return
        key = (meta["namespace"], stack)
        children = self.children.setdefault(key, Children())
        edit = children.observe(
            event_type, dict(body), labels.get(LABEL_MANAGED_BY) == MANAGER, self.kube.field_manager
        )
        if key not in self.stacks:
            # The stack is gone and this is its garbage collection: forget it once nothing is left.
            if children.empty:
                self.children.pop(key, None)
            return
        if edit:
            self.loop.poke(key)
        else:
            self.status_dirty.add(key)
            self.loop.wake.set()

    # --- the loop ----------------------------------------------------------------------------------------------

    async def run(self) -> None:
        await self.loop.run(self.reconcile_pass)

    async def reconcile_pass(self, due: set[Key]) -> None:
        status_only, self.status_dirty = self.status_dirty - due, set()
        await asyncio.gather(
            *(self._reconcile_guarded(k, full=True) for k in due if k in self.stacks),
            *(self._reconcile_guarded(k, full=False) for k in status_only if k in self.stacks),
        )

    async def _reconcile_guarded(self, key: Key, full: bool) -> None:
        started = time.monotonic()
        async with self._sem:
            ok = await self.loop.guarded(key, self.reconcile(key) if full else self.refresh(key))
        kind = "full" if full else "status"
        metrics.STACK_RECONCILES.labels(kind=kind, result="ok" if ok else "error").inc()
        metrics.STACK_RECONCILE_SECONDS.observe(time.monotonic() - started)

    async def reconcile(self, key: Key) -> None:
        body = self.stacks.get(key)
        if body is None:
            return
        try:
            stack = OmaStack.model_validate(body)
        except ValidationError as e:
            await self._report(key, body, [], f"the spec does not validate: {e}", {})
            return
        children = self.children.setdefault(key, Children())
        restored, children.deleted = children.deleted, set()
        errors: list[str] = []  # make the stack not Ready, and retry
        retry: list[str] = []  # only retry: monitoring and pruning never gate Ready
        rotation: str | None = None
        try:
            rotation = await self._credentials(key, stack)
        except ApiFailure as e:
            errors.append(f"Secret {b.Names(stack.metadata.name).credentials}: {e.message}")
        manifests = b.build_children(stack)
        errors += await self._apply_children(manifests, children)
        try:
            monitoring = await self._monitoring(stack)
        except ApiFailure as e:
            monitoring = Cond("MonitoringReady", False, "ApplyFailed", e.message)
            retry.append(f"monitoring: {e.message}")
        wanted = {(m["kind"], m["metadata"]["name"]) for m in manifests}
        try:
            await self._prune(stack, children, wanted)
        except ApiFailure as e:
            retry.append(f"pruning: {e.message}")
        for kind, name in sorted(restored & wanted):
            self._event(stack, "ChildRestored", f"{kind} {name} was deleted; re-created it as declared")
        children.last = Outcome(monitoring, "; ".join(errors) or None, rotation)
        await self._report_children(key, body, stack, children)
        if errors or retry:
            raise RuntimeError("; ".join(errors + retry))

    async def _apply_children(self, manifests: list[Manifest], children: Children) -> list[str]:
        """Apply every child concurrently; the errors, one line per child that failed."""
        results = await asyncio.gather(*(self.kube.apply(m) for m in manifests), return_exceptions=True)
        errors = []
        for m, r in zip(manifests, results, strict=True):
            what = f"{m['kind']} {m['metadata']['name']}"
            if isinstance(r, ApiFailure):
                errors.append(f"{what}: {r.message}")
            elif isinstance(r, BaseException):
                errors.append(f"{what}: {r}")
            elif r:
                children.applied[(m["kind"], m["metadata"]["name"])] = r
        return errors

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

    async def _report_children(self, key: Key, body: Mapping[str, Any], stack: OmaStack, children: Children) -> None:
        last = children.last
        assert last is not None
        parts = [
            *workload_conditions(stack, children.workloads),
            last.monitoring,
            backups_condition(stack, children.managed),
        ]
        extra: dict[str, Any] = {"endpoints": b.endpoints(stack)}
        if last.rotation is not None:
            extra["credentialsRotation"] = last.rotation
        await self._report(key, body, parts, last.error, extra, stack)

    async def _report(
        self,
        key: Key,
        body: Mapping[str, Any],
        parts: list[Cond],
        error: str | None,
        extra: dict[str, Any],
        stack: OmaStack | None = None,
    ) -> None:
        current = body.get("status") or {}
        status = stack_status(current, body["metadata"].get("generation"), parts, error, clock.now(), extra)
        if status is None:
            return
        if not await self.kube.patch_status(kinds.OMASTACK, key[1], status, namespace=key[0]):
            return
        self.stacks[key] = {**body, "status": {**current, **status}}
        ready = status["conditions"][0]
        if stack is not None and became_ready(current, status) is not None:
            self._event(stack, ready["reason"], ready["message"], warning=ready["status"] != "True")

    # --- pieces ------------------------------------------------------------------------------------------------

    async def _credentials(self, key: Key, stack: OmaStack) -> str:
        """Generate the Postgres Secret once; replace it only when spec.postgres.credentialsRotation changes."""
        wanted = stack.spec.postgres.credentials_rotation or ""
        recorded = stack.status.credentials_rotation if stack.status else None
        if recorded is not None and recorded != wanted:
            await self.kube.apply(b.build_credentials_secret(stack, _password()))
            message = "generated a new Postgres password; Postgres and the dashboard restart to use it"
            self._event(stack, "CredentialsRotated", message)
            self._secret_checked[key] = time.monotonic()
            return wanted
        last = self._secret_checked.get(key)
        if last is not None and time.monotonic() - last < self.settings.resync_seconds:
            return wanted
        # Create-if-absent (409 = it exists, untouched): the operator never reads Secrets.
        created = await self.kube.create(b.build_credentials_secret(stack, _password()))
        self._secret_checked[key] = time.monotonic()
        if created and recorded is not None:
            self._event(
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
        for kind in MONITOR_KINDS:
            served = served and await self.kube.served(kind, namespace)
        self._served[namespace] = (time.monotonic(), served)
        return served

    async def _monitoring(self, stack: OmaStack) -> Cond:
        ns, n = stack.metadata.namespace, b.Names(stack.metadata.name)
        if not stack.spec.monitoring.enabled:
            if await self._is_served(ns):
                for kind, name in zip(MONITOR_KINDS, (n.dashboard, n.exporters, n.alerts), strict=True):
                    await self.kube.delete(kind, name, namespace=ns)
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
            await self.kube.apply(m)
        names = ", ".join(f"{m['kind']} {m['metadata']['name']}" for m in monitors)
        return Cond("MonitoringReady", True, "MonitorsApplied", names)

    async def _prune(self, stack: OmaStack, children: Children, wanted: set[ChildKey]) -> None:
        """Delete children this spec no longer asks for (an HPA after autoscaling was turned off, ...)."""
        for (kind, name), api_version in list(children.managed.items()):
            if (kind, name) in wanted or kind in NEVER_PRUNED:
                continue
            log.info("omastack %s/%s: deleting %s %s", stack.metadata.namespace, stack.metadata.name, kind, name)
            await self.kube.delete(
                kinds.kind_of({"apiVersion": api_version, "kind": kind}), name, stack.metadata.namespace
            )
            children.managed.pop((kind, name), None)

    def _event(self, stack: OmaStack, reason: str, message: str, warning: bool = False) -> None:
        involved = {
            "apiVersion": stack.api_version,
            "kind": stack.kind,
            "metadata": stack.metadata.model_dump(by_alias=True),
        }
        self.events.post(involved, reason, message, warning)


def _password() -> str:
    return secrets.token_urlsafe(24)
