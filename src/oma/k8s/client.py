"""The one adapter that talks to the Kubernetes API: generic calls on dict manifests, typed by `Kind`.

Writes are server-side apply with one field manager per program, or create-if-absent for immutable children.
Every failure surfaces as `ApiFailure` (`NotFound`, `Conflict`), never as a client-library type.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx2
from lightkube import ALL_NS, AsyncClient, Client
from lightkube.core.exceptions import ApiError
from lightkube.types import CascadeType, PatchType

from . import kinds
from .config import kube_config
from .errors import ApiFailure, Conflict, Fenced, NotFound
from .kinds import Kind, kind_of
from .resources import resource

Manifest = dict[str, Any]
TIMEOUT = httpx2.Timeout(30.0)


def _failure(e: Exception) -> ApiFailure:
    if isinstance(e, ApiError):
        code, reason, message = e.status.code, e.status.reason, e.status.message or str(e)
    elif isinstance(e, httpx2.HTTPStatusError):
        # An unknown API group answers with a plain-text 404, which lightkube does not turn into an ApiError.
        code, reason, message = e.response.status_code, None, str(e)
    else:
        code, reason, message = None, None, f"the API server could not be reached: {e}"
    klass = {404: NotFound, 409: Conflict}.get(code or 0, ApiFailure)
    return klass(message, code, reason)


@contextlib.contextmanager
def _translated() -> Iterator[None]:
    try:
        yield
    except (ApiError, httpx2.HTTPError) as e:
        raise _failure(e) from e


def _as_dict(obj: Any) -> Manifest:
    return obj if type(obj) is dict else obj.to_dict()


def event_manifest(involved: Manifest, reason: str, message: str, warning: bool, component: str) -> Manifest:
    """A core/v1 Event about `involved` (apiVersion, kind and metadata name/namespace/uid are read)."""
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    meta = involved["metadata"]
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"generateName": f"{meta['name']}.", "namespace": meta["namespace"]},
        "involvedObject": {
            "apiVersion": involved["apiVersion"],
            "kind": involved["kind"],
            "name": meta["name"],
            "namespace": meta["namespace"],
            "uid": meta.get("uid"),
        },
        "reason": reason,
        "message": message[:1024],
        "type": "Warning" if warning else "Normal",
        "source": {"component": component},
        "firstTimestamp": now,
        "lastTimestamp": now,
        "count": 1,
        "reportingComponent": component,
        "reportingInstance": component,
    }


class Kube:
    """Async API access for the operator and the dashboard."""

    def __init__(self, client: AsyncClient, field_manager: str) -> None:
        self._client, self.field_manager = client, field_manager
        # Asked before every write; False refuses it with Fenced (leader election: only the holder writes).
        self.fence: Callable[[], bool] | None = None

    def _may_write(self) -> None:
        if self.fence is not None and not self.fence():
            raise Fenced("not the leader (or past the renew deadline): writes are fenced off", None, "Fenced")

    @classmethod
    def connect(cls, kubeconfig: str | None = None, field_manager: str = "oma-operator") -> Kube:
        return cls(AsyncClient(kube_config(kubeconfig), field_manager=field_manager, timeout=TIMEOUT), field_manager)

    async def close(self) -> None:
        await self._client.close()

    async def apply(self, manifest: Manifest) -> str | None:
        """Server-side apply of a full manifest we own (force: we are the only writer of these fields).

        Returns the resulting resourceVersion, so a caller can tell the watch's echo of its own write."""
        self._may_write()
        meta = manifest["metadata"]
        with _translated():
            obj = await self._client.patch(
                resource(kind_of(manifest)),
                meta["name"],
                manifest,
                namespace=meta.get("namespace"),
                patch_type=PatchType.APPLY,
                field_manager=self.field_manager,
                force=True,
            )
        version: str | None = _as_dict(obj).get("metadata", {}).get("resourceVersion")
        return version

    async def create(self, manifest: Manifest) -> bool:
        """Create, accepting that it already exists (409): for immutable children with deterministic names.

        Cheaper for the apiserver than an apply, and a retry or a restarted operator never duplicates."""
        self._may_write()
        res = resource(kind_of(manifest))
        try:
            with _translated():
                await self._client.create(res.from_dict(manifest))
        except Conflict:
            return False
        return True

    async def get(self, kind: Kind, name: str, namespace: str | None = None) -> Manifest:
        with _translated():
            return _as_dict(await self._client.get(resource(kind), name, namespace=namespace))

    async def list(
        self, kind: Kind, namespace: str | None = None, labels: dict[str, Any] | None = None
    ) -> list[Manifest]:
        """Every object of `kind` in `namespace` (None: all namespaces), optionally by label."""
        ns = namespace if namespace is not None or not kind.namespaced else ALL_NS
        with _translated():
            return [_as_dict(o) async for o in self._client.list(resource(kind), namespace=ns, labels=labels)]

    async def watch(
        self,
        kind: Kind,
        namespace: str | None = None,
        labels: dict[str, Any] | None = None,
        resource_version: str | None = None,
    ) -> AsyncIterator[tuple[str, Manifest]]:
        """(event type, object) pairs until the server ends the stream; a caller re-lists and watches again."""
        ns = namespace if namespace is not None or not kind.namespaced else ALL_NS
        with _translated():
            async for event_type, obj in self._client.watch(
                resource(kind), namespace=ns, labels=labels, resource_version=resource_version
            ):
                yield event_type, _as_dict(obj)

    async def patch(self, kind: Kind, name: str, patch: Manifest, namespace: str | None = None) -> Manifest:
        """A JSON merge patch."""
        self._may_write()
        with _translated():
            obj = await self._client.patch(resource(kind), name, patch, namespace=namespace, patch_type=PatchType.MERGE)
        return _as_dict(obj)

    async def patch_status(self, kind: Kind, name: str, status: Manifest, namespace: str) -> bool:
        """Merge-patch the status subresource; False when the object is gone (nothing left to report on)."""
        self._may_write()
        try:
            with _translated():
                await self._client.patch(
                    resource(kind).Status, name, {"status": status}, namespace=namespace, patch_type=PatchType.MERGE
                )
        except NotFound:
            return False
        return True

    async def delete(self, kind: Kind, name: str, namespace: str | None = None) -> bool:
        """Delete in the background; False when it was already gone."""
        self._may_write()
        try:
            with _translated():
                await self._client.delete(resource(kind), name, namespace=namespace, cascade=CascadeType.BACKGROUND)
        except NotFound:
            return False
        return True

    async def served(self, kind: Kind, namespace: str | None = None) -> bool:
        """Whether the apiserver serves `kind` (its CRD is installed): one list call, 404 means absent."""
        ns = namespace if namespace is not None else ALL_NS
        try:
            with _translated():
                async for _ in self._client.list(resource(kind), namespace=ns, chunk_size=1):
                    break
        except NotFound:
            return False
        return True

    async def post_event(self, involved: Manifest, reason: str, message: str, warning: bool = False) -> None:
        await self.create(event_manifest(involved, reason, message, warning, self.field_manager))


class SyncKube:
    """The few blocking calls of one-shot programs (the worker): read an object, patch its status."""

    def __init__(self, client: Client, field_manager: str) -> None:
        self._client, self.field_manager = client, field_manager

    @classmethod
    def connect(cls, kubeconfig: str | None = None, field_manager: str = "oma-worker") -> SyncKube:
        return cls(Client(kube_config(kubeconfig), field_manager=field_manager, timeout=TIMEOUT), field_manager)

    def get(self, kind: Kind, name: str, namespace: str | None = None) -> Manifest:
        with _translated():
            return _as_dict(self._client.get(resource(kind), name, namespace=namespace))

    def patch_status(self, kind: Kind, name: str, status: Manifest, namespace: str) -> None:
        with _translated():
            self._client.patch(
                resource(kind).Status,
                name,
                {"status": status},
                namespace=namespace,
                patch_type=PatchType.MERGE,
                field_manager=self.field_manager,
            )


__all__ = ["Kube", "Manifest", "SyncKube", "event_manifest", "kinds"]
