"""Async API access for the operator: server-side apply with one field manager, get-or-none, status patches."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path
from typing import Any

import httpx2
from lightkube import ALL_NS, AsyncClient, KubeConfig
from lightkube.config.models import User
from lightkube.core.exceptions import ApiError
from lightkube.models.core_v1 import EventSource, ObjectReference
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.batch_v1 import Job
from lightkube.resources.core_v1 import Event, Namespace
from lightkube.types import CascadeType, PatchType

from .resources import VideoJobResource, resource_for

log = logging.getLogger(__name__)
FIELD_MANAGER = "oma-operator"


def kube_config(kubeconfig: str | None = None) -> KubeConfig:
    """In a pod: the ServiceAccount (KUBERNETES_SERVICE_HOST/PORT); elsewhere: $KUBECONFIG or ~/.kube/config."""
    return KubeConfig.from_file(kubeconfig) if kubeconfig else KubeConfig.from_env()


def async_client(kubeconfig: str | None = None) -> AsyncClient:
    return AsyncClient(kube_config(kubeconfig), field_manager=FIELD_MANAGER, timeout=httpx2.Timeout(30.0))


def connection_fields(kubeconfig: str | None = None) -> dict[str, Any] | None:
    """The endpoint and credentials our client uses, as kopf.ConnectionInfo fields, so kopf's watches and our
    writes reach the same server the same way. (kopf's own in-cluster login assumes DNS for
    kubernetes.default.svc.) None for exec and auth-provider users, which only a full client library handles.
    Reads token files anew each time: bound ServiceAccount tokens rotate."""
    config = kube_config(kubeconfig).get()
    assert config is not None, "no current context in the kubeconfig"
    cluster, user = config.cluster, config.user or User()
    if user.exec or user.auth_provider:
        return None
    fields: dict[str, Any] = {"server": cluster.server, "default_namespace": config.namespace}
    if cluster.insecure:
        fields["insecure"] = True
    if cluster.certificate_auth:
        fields["ca_path"] = str(config.abs_file(cluster.certificate_auth))
    elif cluster.certificate_auth_data:
        fields["ca_data"] = cluster.certificate_auth_data
    if user.token_file:
        fields["token"] = Path(config.abs_file(user.token_file)).read_text().strip()
    elif user.token:
        fields["token"] = user.token
    if user.username:
        fields["username"], fields["password"] = user.username, user.password
    if user.client_cert:
        fields["certificate_path"] = str(config.abs_file(user.client_cert))
    elif user.client_cert_data:
        fields["certificate_data"] = user.client_cert_data
    if user.client_key:
        fields["private_key_path"] = str(config.abs_file(user.client_key))
    elif user.client_key_data:
        fields["private_key_data"] = user.client_key_data
    return fields


class Api:
    def __init__(self, client: AsyncClient) -> None:
        self.client = client

    async def apply(self, res: Any, manifest: dict[str, Any]) -> str | None:
        """Server-side apply of a full manifest we own (force: we are the only writer of these fields).

        Returns the resulting resourceVersion, so a caller can tell the watch's echo of its own write."""
        meta = manifest["metadata"]
        obj = await self.client.patch(
            res,
            meta["name"],
            manifest,
            namespace=meta.get("namespace"),
            patch_type=PatchType.APPLY,
            field_manager=FIELD_MANAGER,
            force=True,
        )
        return obj.metadata.resourceVersion if obj.metadata else None

    async def create(self, res: Any, manifest: dict[str, Any]) -> bool:
        """Create, accepting that it already exists (409): for immutable children with deterministic names.

        Cheaper for the apiserver than an apply, and a retry or a restarted operator never duplicates.
        """
        try:
            await self.client.create(res.from_dict(manifest))
        except ApiError as e:
            if e.status.code == 409:
                return False
            raise
        return True

    async def apply_manifest(self, manifest: dict[str, Any]) -> str | None:
        return await self.apply(resource_for(manifest), manifest)

    async def create_manifest(self, manifest: dict[str, Any]) -> bool:
        return await self.create(resource_for(manifest), manifest)

    async def delete(self, res: Any, name: str, namespace: str) -> bool:
        """Delete in the background; False when it was already gone."""
        try:
            await self.client.delete(res, name, namespace=namespace, cascade=CascadeType.BACKGROUND)
        except ApiError as e:
            if e.status.code == 404:
                return False
            raise
        return True

    async def served(self, res: Any, namespace: str) -> bool:
        """Whether the apiserver serves `res` (its CRD is installed): one list call, 404 means absent."""
        try:
            async for _ in self.client.list(res, namespace=namespace, chunk_size=1):
                break
        except ApiError as e:
            if e.status.code == 404:
                return False
            raise
        except httpx2.HTTPStatusError as e:
            # An unknown API group answers with a plain-text 404, which lightkube does not turn into an ApiError.
            if e.response.status_code == 404:
                return False
            raise
        return True

    async def patch_videojob_status(self, namespace: str, name: str, status: dict[str, Any]) -> bool:
        return await self.patch_status(VideoJobResource, namespace, name, status)

    async def patch_status(self, res: Any, namespace: str, name: str, status: dict[str, Any]) -> bool:
        """Merge-patch status; False when the object is gone (nothing left to report on)."""
        try:
            await self.client.patch(
                res.Status,
                name,
                {"status": status},
                namespace=namespace,
                patch_type=PatchType.MERGE,
            )
        except ApiError as e:
            if e.status.code == 404:
                return False
            raise
        return True

    async def suspend_job(self, namespace: str, name: str, suspend: bool) -> None:
        await self.client.patch(
            Job, name, {"spec": {"suspend": suspend}}, namespace=namespace, patch_type=PatchType.MERGE
        )

    async def delete_job(self, namespace: str, name: str) -> None:
        await self.delete(Job, name, namespace)

    async def list_jobs(self, labels: dict[str, Any], namespaces: list[str] | None) -> list[dict[str, Any]]:
        out = []
        for ns in namespaces or [ALL_NS]:
            async for job in self.client.list(Job, namespace=ns, labels=dict(labels.items())):
                out.append(job.to_dict())
        return out

    async def namespace_annotations(self, name: str) -> dict[str, str]:
        try:
            ns = await self.client.get(Namespace, name)
        except ApiError as e:
            if e.status.code in (403, 404):
                return {}
            raise
        return dict((ns.metadata.annotations if ns.metadata else None) or {})

    async def post_event(
        self, involved: dict[str, Any], kind: str, reason: str, message: str, warning: bool = False
    ) -> None:
        now = dt.datetime.now(dt.UTC)
        meta = involved["metadata"]
        event = Event(
            metadata=ObjectMeta(generateName=f"{meta['name']}.", namespace=meta["namespace"]),
            involvedObject=ObjectReference(
                apiVersion=involved["apiVersion"],
                kind=kind,
                name=meta["name"],
                namespace=meta["namespace"],
                uid=meta.get("uid"),
            ),
            reason=reason,
            message=message[:1024],
            type="Warning" if warning else "Normal",
            source=EventSource(component=FIELD_MANAGER),
            firstTimestamp=now,
            lastTimestamp=now,
            count=1,
            reportingComponent=FIELD_MANAGER,
            reportingInstance=FIELD_MANAGER,
        )
        await self.client.create(event)
