"""The one adapter that talks to the Kubernetes API: generic calls on dict manifests, typed by `Kind`.

lightkube reads the kubeconfig or the pod's identity (TLS, tokens that rotate, exec plugins); `transport` carries
the requests. Requests and answers here are plain JSON, so a manifest from a builder goes out as it is and a body
comes back as a dict, with no model conversion either way (most of the client's cost per call before).
HTTP/1.1, not HTTP/2: with HTTP/2 the integration tests showed writes and Events stalling now and then.
Writes are server-side apply with one field manager per program, or create-if-absent for immutable children.
Every failure surfaces as `ApiFailure` (`NotFound`, `Conflict`, `Gone`), never as a client-library type.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

import httpx2
from lightkube.config.client_adapter import Client as sync_http_client
from lightkube.config.client_adapter import ConnectionParams

from . import kinds
from .config import kube_config
from .errors import ApiFailure, Conflict, Fenced, Gone, NotFound, unreachable
from .kinds import Kind, kind_of

if TYPE_CHECKING:
    from .transport import Transport

Manifest = dict[str, Any]
TIMEOUT = httpx2.Timeout(30.0)
LIST_PAGE = 500
APPLY = "application/apply-patch+yaml"  # JSON is YAML: server-side apply takes the manifest as JSON
MERGE = "application/merge-patch+json"


def path(kind: Kind, namespace: str | None = None, name: str | None = None, sub: str | None = None) -> str:
    """The REST path of a collection, an object or its subresource (`namespace` None: every namespace)."""
    prefix = f"/apis/{kind.api_version}" if kind.group else f"/api/{kind.api_version}"
    scope = f"/namespaces/{namespace}" if kind.namespaced and namespace else ""
    return "/".join(p for p in (f"{prefix}{scope}/{kind.plural}", name, sub) if p)


def selector(labels: dict[str, Any] | None) -> str | None:
    return ",".join(f"{k}={v}" for k, v in labels.items()) if labels else None


def failure_of(status: int, text: str) -> ApiFailure:
    """An API error answer as our error; the server's Status message when it sent one."""
    try:
        body = json.loads(text)
    except ValueError:
        body = {}
    message = (body.get("message") if isinstance(body, dict) else None) or text.strip() or f"HTTP {status}"
    reason = body.get("reason") if isinstance(body, dict) else None
    klass = {404: NotFound, 409: Conflict, 410: Gone}.get(status, ApiFailure)
    return klass(message, status, reason)


def _checked(resp: httpx2.Response) -> Manifest:
    if resp.status_code >= 400:
        raise failure_of(resp.status_code, resp.text)
    body: Manifest = resp.json()
    return body


async def json_lines(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """The non-empty lines of a newline-delimited JSON stream (a watch), split on newlines only. JSON escapes a
    newline inside a value, but carries U+0085 and other characters raw that httpx's `aiter_lines` also takes
    for line ends: a VideoJob title with U+0085 cut one event in two, and the watch ended."""
    rest = b""
    async for chunk in chunks:
        *lines, rest = (rest + chunk).split(b"\n")
        for line in lines:
            if line.strip():
                yield line
    if rest.strip():
        yield rest


def _typed(kind: Kind, obj: Manifest) -> Manifest:
    """List items come without apiVersion and kind; put them back so every body says what it is."""
    obj.setdefault("apiVersion", kind.api_version)
    obj.setdefault("kind", kind.kind)
    return obj


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

    def __init__(self, transport: Transport, field_manager: str) -> None:
        self._transport, self.field_manager = transport, field_manager
        # Asked before every write; False refuses it with Fenced (leader election: only the holder writes).
        self.fence: Callable[[], bool] | None = None

    @classmethod
    def connect(
        cls, kubeconfig: str | None = None, field_manager: str = "oma-operator", transport: str = "aiohttp"
    ) -> Kube:
        from .transport import transport_for  # aiohttp only for the async programs: not in the worker's start-up

        config = kube_config(kubeconfig).get()
        assert config is not None, "no current context in the kubeconfig"
        return cls(transport_for(config, prefer=transport), field_manager)

    async def close(self) -> None:
        await self._transport.close()

    def _may_write(self) -> None:
        if self.fence is not None and not self.fence():
            raise Fenced("not the leader (or past the renew deadline): writes are fenced off", None, "Fenced")

    async def _call(
        self,
        method: str,
        url: str,
        *,
        params: dict[str, Any] | None = None,
        body: Any = None,
        ctype: str = "",
        decode: bool = True,
    ) -> Manifest:
        """The answer's object; with decode=False an empty one (a create's answer is the whole object again,
        a Job's several kilobytes of JSON, which no caller of `create` or `delete` reads)."""
        content = json.dumps(body).encode() if body is not None else None
        status, data = await self._transport.request(method, url, params, content, ctype or "application/json")
        if status >= 400:
            raise failure_of(status, data.decode(errors="replace"))
        answer: Manifest = json.loads(data) if decode else {}
        return answer

    def _write_params(self, **extra: Any) -> dict[str, Any]:
        return {"fieldManager": self.field_manager, **extra}

    async def apply(self, manifest: Manifest) -> str | None:
        """Server-side apply of a full manifest we own (force: we are the only writer of these fields).

        Returns the resulting resourceVersion, so a caller can tell the watch's echo of its own write."""
        self._may_write()
        meta = manifest["metadata"]
        url = path(kind_of(manifest), meta.get("namespace"), meta["name"])
        obj = await self._call("PATCH", url, params=self._write_params(force="true"), body=manifest, ctype=APPLY)
        version: str | None = obj.get("metadata", {}).get("resourceVersion")
        return version

    async def create(self, manifest: Manifest) -> bool:
        """Create, accepting that it already exists (409): for immutable children with deterministic names.

        Cheaper for the apiserver than an apply, and a retry or a restarted operator never duplicates."""
        self._may_write()
        url = path(kind_of(manifest), manifest["metadata"].get("namespace"))
        try:
            await self._call("POST", url, params=self._write_params(), body=manifest, decode=False)
        except Conflict:
            return False
        return True

    async def get(self, kind: Kind, name: str, namespace: str | None = None) -> Manifest:
        return _typed(kind, await self._call("GET", path(kind, namespace, name)))

    async def list_pages(
        self, kind: Kind, namespace: str | None = None, labels: dict[str, Any] | None = None
    ) -> AsyncGenerator[tuple[list[Manifest], str], None]:
        """Every object of `kind`, one page at a time, each with the resourceVersion a watch continues from once
        the last page is read. A consumer handles a page and drops it, so a namespace with 50,000 objects is
        never held as raw bodies all at once."""
        params: dict[str, Any] = {"limit": LIST_PAGE, "labelSelector": selector(labels)}
        while True:
            page = await self._call("GET", path(kind, namespace), params={k: v for k, v in params.items() if v})
            meta = page.get("metadata") or {}
            yield [_typed(kind, o) for o in page.get("items") or []], str(meta.get("resourceVersion", ""))
            if not meta.get("continue"):
                return
            params["continue"] = meta["continue"]

    async def list_with_version(
        self, kind: Kind, namespace: str | None = None, labels: dict[str, Any] | None = None
    ) -> tuple[list[Manifest], str]:
        """Every object of `kind` (paged), and the resourceVersion a watch continues from."""
        items: list[Manifest] = []
        version = ""
        async for page, page_version in self.list_pages(kind, namespace, labels):
            items += page
            version = page_version
        return items, version

    async def list(
        self, kind: Kind, namespace: str | None = None, labels: dict[str, Any] | None = None
    ) -> list[Manifest]:
        """Every object of `kind` in `namespace` (None: all namespaces), optionally by label."""
        return (await self.list_with_version(kind, namespace, labels))[0]

    async def watch(
        self,
        kind: Kind,
        namespace: str | None = None,
        labels: dict[str, Any] | None = None,
        resource_version: str | None = None,
        timeout_seconds: int = 290,
    ) -> AsyncGenerator[tuple[str, Manifest], None]:
        """(event type, object) pairs, BOOKMARKs included, until the server ends the stream (after
        `timeout_seconds`). A resourceVersion too old raises Gone: list again. ERROR events raise their Status."""
        params: dict[str, Any] = {
            "watch": "true",
            "allowWatchBookmarks": "true",
            "timeoutSeconds": timeout_seconds,
            "resourceVersion": resource_version,
            "labelSelector": selector(labels),
        }
        url, query = path(kind, namespace), {k: v for k, v in params.items() if v}
        async with self._transport.stream(url, query, read_timeout=timeout_seconds + 30.0) as stream:
            if stream.status >= 400:
                raise failure_of(stream.status, b"".join([c async for c in stream.chunks()]).decode(errors="replace"))
            async for line in json_lines(stream.chunks()):
                event = json.loads(line)
                if event["type"] == "ERROR":
                    status = event["object"]
                    raise failure_of(int(status.get("code") or 500), json.dumps(status))
                yield event["type"], _typed(kind, event["object"])

    async def patch(self, kind: Kind, name: str, patch: Manifest, namespace: str | None = None) -> Manifest:
        """A JSON merge patch."""
        self._may_write()
        url = path(kind, namespace, name)
        return await self._call("PATCH", url, params=self._write_params(), body=patch, ctype=MERGE)

    async def patch_status(self, kind: Kind, name: str, status: Manifest, namespace: str) -> str | None:
        """Merge-patch the status subresource; the new resourceVersion, or None when the object is gone."""
        self._may_write()
        url = path(kind, namespace, name, "status")
        try:
            obj = await self._call("PATCH", url, params=self._write_params(), body={"status": status}, ctype=MERGE)
        except NotFound:
            return None
        return str(obj.get("metadata", {}).get("resourceVersion", ""))

    async def delete(self, kind: Kind, name: str, namespace: str | None = None) -> bool:
        """Delete in the background; False when it was already gone."""
        self._may_write()
        try:
            await self._call(
                "DELETE", path(kind, namespace, name), body={"propagationPolicy": "Background"}, decode=False
            )
        except NotFound:
            return False
        return True

    async def served(self, kind: Kind, namespace: str | None = None) -> bool:
        """Whether the apiserver serves `kind` (its CRD is installed): one list call, 404 means absent."""
        try:
            await self._call("GET", path(kind, namespace), params={"limit": 1}, decode=False)
        except NotFound:
            return False
        return True

    async def post_event(self, involved: Manifest, reason: str, message: str, warning: bool = False) -> None:
        await self.create(event_manifest(involved, reason, message, warning, self.field_manager))


class SyncKube:
    """The few blocking calls of one-shot programs (the worker): read an object, patch its status."""

    def __init__(self, http: httpx2.Client, field_manager: str) -> None:
        self._http, self.field_manager = http, field_manager

    @classmethod
    def connect(cls, kubeconfig: str | None = None, field_manager: str = "oma-worker") -> SyncKube:
        config = kube_config(kubeconfig).get()
        assert config is not None, "no current context in the kubeconfig"
        return cls(sync_http_client(config, ConnectionParams(timeout=TIMEOUT)), field_manager)

    def _call(self, method: str, url: str, body: Any = None, ctype: str = "") -> Manifest:
        headers = {"Content-Type": ctype or "application/json"} if body is not None else None
        content = json.dumps(body) if body is not None else None
        params = {"fieldManager": self.field_manager} if method != "GET" else None
        try:
            resp = self._http.request(method, url, params=params, content=content, headers=headers)
        except httpx2.HTTPError as e:
            raise unreachable(e) from e
        return _checked(resp)

    def get(self, kind: Kind, name: str, namespace: str | None = None) -> Manifest:
        return _typed(kind, self._call("GET", path(kind, namespace, name)))

    def patch_status(self, kind: Kind, name: str, status: Manifest, namespace: str) -> None:
        self._call("PATCH", path(kind, namespace, name, "status"), body={"status": status}, ctype=MERGE)


__all__ = ["Kube", "Manifest", "SyncKube", "event_manifest", "kinds"]
