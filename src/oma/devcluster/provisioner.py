"""The default StorageClass's provisioner: every claim of it gets a directory under the state dir as its PV.

Claims bind Immediately (the StorageClass says so); a Released volume with the Delete policy loses its
directory and its PV object, as a CSI provisioner would clean up.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
from pathlib import Path

from lightkube import ALL_NS, AsyncClient
from lightkube.core.exceptions import ApiError
from lightkube.models.core_v1 import HostPathVolumeSource, ObjectReference, PersistentVolumeSpec
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import PersistentVolume, PersistentVolumeClaim

from .layout import PROVISIONER, STORAGE_CLASS, Layout
from .watch import list_watch

log = logging.getLogger("oma.devnode")

PROVISIONED_BY = "pv.kubernetes.io/provisioned-by"


def volume_for_claim(pvc: PersistentVolumeClaim, path: Path) -> PersistentVolume:
    """The PV that binds `pvc` to the directory `path`; named after the claim's uid, like external provisioners."""
    assert pvc.metadata and pvc.spec
    meta = pvc.metadata
    requests = (pvc.spec.resources.requests if pvc.spec.resources else None) or {}
    return PersistentVolume(
        metadata=ObjectMeta(name=f"pvc-{meta.uid}", annotations={PROVISIONED_BY: PROVISIONER}),
        spec=PersistentVolumeSpec(
            capacity={"storage": requests.get("storage", "1Gi")},
            accessModes=pvc.spec.accessModes or ["ReadWriteOnce"],
            persistentVolumeReclaimPolicy="Delete",
            storageClassName=STORAGE_CLASS,
            volumeMode=pvc.spec.volumeMode or "Filesystem",
            hostPath=HostPathVolumeSource(path=str(path), type="Directory"),
            claimRef=ObjectReference(
                kind="PersistentVolumeClaim",
                apiVersion="v1",
                namespace=meta.namespace,
                name=meta.name,
                uid=meta.uid,
            ),
        ),
    )


class Provisioner:
    def __init__(self, client: AsyncClient, layout: Layout, shared: bool = False) -> None:
        self.client = client
        self.layout = layout
        # On the real node, pods run as their own uids (999, 65532) and the kubelet does not apply fsGroup to
        # hostPath volumes: the directory must be writable by whichever uid the pod runs as.
        self.shared = shared

    async def run(self) -> None:
        await asyncio.gather(
            list_watch(self.client, PersistentVolumeClaim, self._on_pvc, namespace=ALL_NS),
            list_watch(self.client, PersistentVolume, self._on_pv),
        )

    async def _on_pvc(self, op: str, pvc: PersistentVolumeClaim) -> None:
        if op == "DELETED" or not pvc.spec or pvc.spec.volumeName or pvc.metadata is None:
            return
        if (pvc.spec.storageClassName or STORAGE_CLASS) != STORAGE_CLASS or pvc.metadata.deletionTimestamp:
            return
        meta = pvc.metadata
        assert meta.uid and meta.name and meta.namespace
        path = self.layout.volumes / f"{meta.namespace}_{meta.name}_{meta.uid[:8]}"
        path.mkdir(parents=True, exist_ok=True)
        if self.shared:
            path.chmod(0o777)
        pv = volume_for_claim(pvc, path)
        try:
            await self.client.create(pv)
            log.info(
                "provisioned %s for pvc %s/%s at %s",
                pv.metadata.name if pv.metadata else "?",
                meta.namespace,
                meta.name,
                path,
            )
        except ApiError as e:
            if e.status.code != 409:
                log.warning("provisioning pvc %s/%s failed: %s", meta.namespace, meta.name, e.status.message)

    async def _on_pv(self, op: str, pv: PersistentVolume) -> None:
        if op == "DELETED" or pv.metadata is None or pv.status is None or pv.spec is None:
            return
        if (pv.metadata.annotations or {}).get(PROVISIONED_BY) != PROVISIONER:
            return
        if pv.status.phase == "Released" and pv.spec.persistentVolumeReclaimPolicy == "Delete":
            if pv.spec.hostPath and Path(pv.spec.hostPath.path).is_relative_to(self.layout.volumes):
                shutil.rmtree(pv.spec.hostPath.path, ignore_errors=True)
            assert pv.metadata.name
            with contextlib.suppress(ApiError):
                await self.client.delete(PersistentVolume, pv.metadata.name)
