"""oma's adapter against the real apiserver through both transports: aiohttp (every identity it can carry) and
lightkube's httpx client (kept for exec plugins and auth providers)."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path
from typing import Any

import pytest
import yaml
from lightkube import Client
from lightkube.core.exceptions import ApiError
from lightkube.models.authentication_v1 import TokenRequestSpec
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import ServiceAccount

from oma.devcluster import cluster as devcluster
from oma.k8s import ApiFailure, Kube, NotFound, kinds
from oma.k8s.transport import AiohttpTransport, HttpxTransport

from ..conftest import wait_for

pytestmark = pytest.mark.cluster


def configmap(name: str, namespace: str, **labels: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "data": {"text": "«quoted» \u0085 line"},  # U+0085 must not split a watch event
    }


async def roundtrip(kube: Kube, namespace: str) -> list[tuple[str, str]]:
    """Every call the operator and the dashboard make, on ConfigMaps; the watch's (type, name) pairs."""
    _, version = await kube.list_with_version(kinds.CONFIGMAP, namespace)
    assert await kube.create(configmap("a", namespace, app="t")) is True
    assert await kube.create(configmap("a", namespace, app="t")) is False  # exists: done, not an error
    await kube.apply(configmap("b", namespace, app="t"))
    patched = await kube.patch(kinds.CONFIGMAP, "a", {"data": {"more": "x"}}, namespace)
    assert patched["data"] == {"text": "«quoted» \u0085 line", "more": "x"}
    got = await kube.get(kinds.CONFIGMAP, "a", namespace)
    assert got["kind"] == "ConfigMap" and got["data"]["more"] == "x"
    listed = await kube.list(kinds.CONFIGMAP, namespace, {"app": "t"})
    assert sorted(o["metadata"]["name"] for o in listed) == ["a", "b"]
    assert await kube.delete(kinds.CONFIGMAP, "b", namespace) is True
    assert await kube.delete(kinds.CONFIGMAP, "b", namespace) is False
    with pytest.raises(NotFound):
        await kube.get(kinds.CONFIGMAP, "b", namespace)
    seen: list[tuple[str, str]] = []
    async for kind, obj in kube.watch(kinds.CONFIGMAP, namespace, {"app": "t"}, version, timeout_seconds=10):
        if kind != "BOOKMARK":
            seen.append((kind, obj["metadata"]["name"]))
        if (kind, obj["metadata"]["name"]) == ("DELETED", "b"):
            break
    return seen


@pytest.mark.parametrize("transport", ["aiohttp", "httpx"])
def test_every_call_through_either_transport(cluster: devcluster.ClusterInfo, namespace: str, transport: str) -> None:
    async def run() -> list[tuple[str, str]]:
        kube = Kube.connect(cluster.kubeconfig, field_manager="oma-tests", transport=transport)
        assert isinstance(kube._transport, AiohttpTransport if transport == "aiohttp" else HttpxTransport)
        try:
            return await roundtrip(kube, namespace)
        finally:
            await kube.close()

    assert asyncio.run(run()) == [("ADDED", "a"), ("ADDED", "b"), ("MODIFIED", "a"), ("DELETED", "b")]


def _token_kubeconfig(cluster: devcluster.ClusterInfo, token_file: Path, tmp_path: Path) -> str:
    admin = yaml.safe_load(Path(cluster.kubeconfig).read_text())
    server = admin["clusters"][0]["cluster"]
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": server}],
        "users": [{"name": "u", "user": {"tokenFile": str(token_file)}}],
        "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
        "current-context": "c",
    }
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(config))
    return str(path)


def _serviceaccount_token(kube: Client, namespace: str) -> str:
    """A bound token of the namespace's default ServiceAccount (the controller manager makes the account)."""
    request = ServiceAccount.Token(metadata=ObjectMeta(), spec=TokenRequestSpec(audiences=[], expirationSeconds=600))

    def token() -> str | None:
        try:
            made = kube.create(request, "default", namespace=namespace)
        except ApiError as e:
            if e.status.code == 404:
                return None  # the account is not made yet
            raise
        return made.status.token

    return wait_for("a token of the default ServiceAccount", token)


def test_a_rotated_token_file_is_read_again_on_a_401(
    kube: Client, cluster: devcluster.ClusterInfo, namespace: str, tmp_path: Path
) -> None:
    """In a pod the kubelet replaces the ServiceAccount token; a request refused with the old one is sent again
    with the file's new content, without a restart."""
    token_file = tmp_path / "token"
    token_file.write_text("not-a-token")
    kubeconfig = _token_kubeconfig(cluster, token_file, tmp_path)

    async def run() -> None:
        sa = Kube.connect(kubeconfig, field_manager="oma-tests")
        try:
            with pytest.raises(ApiFailure) as refused:
                await sa.list(kinds.CONFIGMAP, namespace)
            assert refused.value.code == 401
            token_file.write_text(_serviceaccount_token(kube, namespace) + "\n")
            # Authenticated now as the ServiceAccount, which RBAC does not let list ConfigMaps: 403, not 401.
            with pytest.raises(ApiFailure) as forbidden:
                await sa.list(kinds.CONFIGMAP, namespace)
            assert forbidden.value.code == 403, forbidden.value.message
            assert f"system:serviceaccount:{namespace}:default" in forbidden.value.message
        finally:
            await sa.close()

    asyncio.run(run())


@pytest.mark.parametrize("transport", ["aiohttp", "httpx"])
def test_a_server_that_does_not_answer_is_an_api_failure(
    cluster: devcluster.ClusterInfo, tmp_path: Path, transport: str
) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    config = yaml.safe_load(Path(cluster.kubeconfig).read_text())
    config["clusters"][0]["cluster"]["server"] = f"https://127.0.0.1:{port}"
    (tmp_path / "kubeconfig").write_text(yaml.safe_dump(config))

    async def run() -> ApiFailure:
        kube = Kube.connect(str(tmp_path / "kubeconfig"), transport=transport)
        try:
            with pytest.raises(ApiFailure) as failed:
                await kube.get(kinds.CONFIGMAP, "x", "default")
            with pytest.raises(ApiFailure) as watch_failed:
                async for _ in kube.watch(kinds.CONFIGMAP, "default"):
                    pass
            assert watch_failed.value.code is None
            return failed.value
        finally:
            await kube.close()

    failure = asyncio.run(run())
    assert failure.code is None and "could not be reached" in failure.message
