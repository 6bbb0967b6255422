"""VideoJobs through oma's one Kubernetes adapter: the only Kubernetes calls the dashboard makes, which are
exactly what its Role allows (videojobs: create, get, list, watch, patch)."""

from __future__ import annotations

from typing import Any

from oma.k8s import ApiFailure, Conflict, Kube, NotFound, kinds

__all__ = ["ApiFailure", "Conflict", "NotFound", "VideoJobStore"]


class VideoJobStore:
    def __init__(self, kube: Kube, namespace: str) -> None:
        self.kube, self.namespace = kube, namespace

    @classmethod
    def connect(cls, kubeconfig: str | None, namespace: str) -> VideoJobStore:
        return cls(Kube.connect(kubeconfig=kubeconfig, field_manager="oma-dashboard"), namespace)

    async def close(self) -> None:
        await self.kube.close()

    async def create(self, manifest: dict[str, Any]) -> bool:
        """False when a VideoJob of that name already exists (a retried submission)."""
        return await self.kube.create({**manifest, "metadata": {**manifest["metadata"], "namespace": self.namespace}})

    async def get(self, name: str) -> dict[str, Any]:
        return await self.kube.get(kinds.VIDEOJOB, name, namespace=self.namespace)

    async def list(self, labels: dict[str, Any]) -> list[dict[str, Any]]:
        return await self.kube.list(kinds.VIDEOJOB, namespace=self.namespace, labels=labels)

    async def cancel(self, name: str) -> dict[str, Any]:
        return await self.kube.patch(kinds.VIDEOJOB, name, {"spec": {"cancel": True}}, namespace=self.namespace)

    async def reachable(self) -> bool:
        try:
            await self.kube.list(kinds.VIDEOJOB, namespace=self.namespace, labels={"video.oma.ai/readyz": "probe"})
        except ApiFailure:
            return False
        return True
