"""A pod's volumes as directories on this machine, and each container's mounts of them.

emptyDir, configMap, secret, downwardAPI and projected volumes are written under the pod's directory; a PVC is
the directory its PersistentVolume points at (provisioner.py made it); hostPath is used as it is.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from lightkube import AsyncClient
from lightkube.core.exceptions import ApiError
from lightkube.models.authentication_v1 import BoundObjectReference, TokenRequestSpec
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import PersistentVolume, PersistentVolumeClaim, ServiceAccount

from . import podspec
from .config_sources import configmap_data, secret_data
from .podspec import Mount, PodConfigError


async def stage_volumes(client: AsyncClient, pod: dict[str, Any], pod_dir: Path) -> dict[str, str]:
    """Every volume of `pod`, by name, as the host path its mounts bind."""
    staged: dict[str, str] = {}
    for vol in pod["spec"].get("volumes") or []:
        staged[vol["name"]] = await _volume(client, pod, vol, pod_dir / "volumes" / vol["name"])
    return staged


def container_mounts(container: dict[str, Any], volumes: dict[str, str], env: dict[str, str]) -> list[Mount]:
    """The bind mounts of `container`'s volumeMounts; a subPath (with `$(VAR)` expanded) is created if missing."""
    mounts = []
    for vm in container.get("volumeMounts") or []:
        if vm["name"] not in volumes:
            raise PodConfigError(f"volumeMount {vm['name']!r} names no volume", permanent=True)
        src = volumes[vm["name"]]
        if vm.get("subPath"):
            src = str(Path(src) / podspec.expand(vm["subPath"], env))
            Path(src).mkdir(parents=True, exist_ok=True)
        mounts.append(Mount(src, vm["mountPath"], bool(vm.get("readOnly"))))
    return mounts


async def pvc_dir(client: AsyncClient, ns: str, claim: str) -> str:
    try:
        pvc = await client.get(PersistentVolumeClaim, claim, namespace=ns)
    except ApiError as e:
        raise PodConfigError(f'persistentvolumeclaim "{claim}" not found') from e
    if not pvc.spec or not pvc.spec.volumeName:
        raise PodConfigError(f'persistentvolumeclaim "{claim}" is not bound yet')
    pv = await client.get(PersistentVolume, pvc.spec.volumeName)
    if not pv.spec or not pv.spec.hostPath:
        raise PodConfigError(f"volume {pvc.spec.volumeName} is not a local directory", permanent=True)
    return pv.spec.hostPath.path


async def _volume(client: AsyncClient, pod: dict[str, Any], vol: dict[str, Any], target: Path) -> str:
    if "emptyDir" in vol:
        target.mkdir(parents=True, exist_ok=True)
        return str(target)
    if "hostPath" in vol:
        path = vol["hostPath"]["path"]
        if vol["hostPath"].get("type") == "DirectoryOrCreate":
            Path(path).mkdir(parents=True, exist_ok=True)
        return str(path)
    if "persistentVolumeClaim" in vol:
        return await pvc_dir(client, pod["metadata"]["namespace"], vol["persistentVolumeClaim"]["claimName"])
    files = await _volume_files(client, pod, vol)
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    for rel, data in files.items():
        p = target / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    return str(target)


async def _volume_files(client: AsyncClient, pod: dict[str, Any], vol: dict[str, Any]) -> dict[str, bytes]:
    """The files of a volume whose content comes from the API: relative path -> bytes."""
    if "configMap" in vol or "secret" in vol:
        return await _keyed_files(client, pod["metadata"]["namespace"], vol)
    if "downwardAPI" in vol:
        return _downward_api_files(pod, vol["downwardAPI"])
    if "projected" in vol:
        files: dict[str, bytes] = {}
        for source in vol["projected"].get("sources") or []:
            files.update(await _projected_files(client, pod, source))
        return files
    kind = next((k for k in vol if k != "name"), "?")
    raise PodConfigError(
        f"volume {vol['name']!r}: {kind} volumes are not supported by process-backed pods", permanent=True
    )


async def _keyed_files(client: AsyncClient, ns: str, vol: dict[str, Any]) -> dict[str, bytes]:
    if "configMap" in vol:
        src = vol["configMap"]
        data = await configmap_data(client, ns, src["name"], bool(src.get("optional")))
    else:
        src = vol["secret"]
        data = await secret_data(client, ns, src["secretName"], bool(src.get("optional")))
    items = src.get("items")
    if not items:
        return dict(data)
    out = {}
    for i in items:
        if i["key"] not in data:
            raise PodConfigError(f"key {i['key']!r} not found for volume {vol['name']!r}")
        out[i["path"]] = data[i["key"]]
    return out


def _downward_api_files(pod: dict[str, Any], source: dict[str, Any]) -> dict[str, bytes]:
    return {
        i["path"]: podspec.field_value(pod, i["fieldRef"]["fieldPath"]).encode()
        for i in source.get("items", [])
        if "fieldRef" in i
    }


async def _projected_files(client: AsyncClient, pod: dict[str, Any], source: dict[str, Any]) -> dict[str, bytes]:
    if "serviceAccountToken" in source:
        sat = source["serviceAccountToken"]
        token = await _token(client, pod, sat.get("audience"), sat.get("expirationSeconds", 3607))
        return {sat["path"]: token.encode()}
    if "configMap" in source or "secret" in source:
        return await _keyed_files(client, pod["metadata"]["namespace"], {"name": "projected", **source})
    if "downwardAPI" in source:
        return _downward_api_files(pod, source["downwardAPI"])
    raise PodConfigError(f"projected source {next(iter(source))!r} is not supported", permanent=True)


async def _token(client: AsyncClient, pod: dict[str, Any], audience: str | None, seconds: int) -> str:
    """A TokenRequest bound to the pod, as kubelet gets one: it stops working when the pod is gone."""
    meta = pod["metadata"]
    sa = pod["spec"].get("serviceAccountName") or "default"
    req = ServiceAccount.Token(
        metadata=ObjectMeta(name=sa, namespace=meta["namespace"]),
        spec=TokenRequestSpec(
            audiences=[audience] if audience else [],
            expirationSeconds=seconds,
            boundObjectRef=BoundObjectReference(apiVersion="v1", kind="Pod", name=meta["name"], uid=meta["uid"]),
        ),
    )
    try:
        resp = await client.create(req, sa, namespace=meta["namespace"])
    except ApiError as e:
        raise PodConfigError(f"token for serviceaccount {sa!r}: {e.status.message}") from e
    assert resp.status is not None
    return str(resp.status.token)
