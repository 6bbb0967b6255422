"""The PersistentVolume the local provisioner makes for a claim: bound to that claim, backed by its directory."""

from __future__ import annotations

from pathlib import Path

from lightkube.models.core_v1 import PersistentVolumeClaimSpec, VolumeResourceRequirements
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import PersistentVolumeClaim

from oma.devcluster.layout import PROVISIONER, STORAGE_CLASS
from oma.devcluster.provisioner import volume_for_claim


def claim(**spec: object) -> PersistentVolumeClaim:
    return PersistentVolumeClaim(
        metadata=ObjectMeta(name="media", namespace="ns", uid="1234-abcd"), spec=PersistentVolumeClaimSpec(**spec)
    )


def test_volume_is_bound_to_its_claim_and_backed_by_the_directory() -> None:
    pv = volume_for_claim(claim(resources=VolumeResourceRequirements(requests={"storage": "5Gi"})), Path("/s/v"))
    assert pv.metadata.name == "pvc-1234-abcd"
    assert pv.metadata.annotations == {"pv.kubernetes.io/provisioned-by": PROVISIONER}
    ref = pv.spec.claimRef
    assert (ref.kind, ref.namespace, ref.name, ref.uid) == ("PersistentVolumeClaim", "ns", "media", "1234-abcd")
    assert (pv.spec.hostPath.path, pv.spec.hostPath.type) == ("/s/v", "Directory")
    assert pv.spec.capacity == {"storage": "5Gi"}
    assert (pv.spec.storageClassName, pv.spec.persistentVolumeReclaimPolicy) == (STORAGE_CLASS, "Delete")


def test_volume_defaults_follow_a_bare_claim() -> None:
    pv = volume_for_claim(claim(), Path("/s/v"))
    assert pv.spec.capacity == {"storage": "1Gi"}
    assert pv.spec.accessModes == ["ReadWriteOnce"]
    assert pv.spec.volumeMode == "Filesystem"
