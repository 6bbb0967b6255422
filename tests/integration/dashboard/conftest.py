"""Dashboards as real processes (`oma dashboard`) against real Postgres and Redis (fixtures in
tests/integration/conftest.py); on the local control plane, with the session's cluster, operator and media PVC
fixtures (tests/integration/conftest.py, shared with the operator tests)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from lightkube import Client
from lightkube.resources.core_v1 import PersistentVolume, PersistentVolumeClaim

from oma.devcluster import cluster as devcluster
from oma.devservices import LocalPostgres, LocalRedis

from .harness import Dashboard, create_token, dashboard_env, launch, ready, wait_for


@pytest.fixture
def dash_env(postgres_db: LocalPostgres, redis: LocalRedis, tmp_path: Path) -> dict[str, str]:
    return dashboard_env(postgres_db, redis, tmp_path)


@pytest.fixture
def start_dashboard(tmp_path: Path) -> Iterator[Callable[..., Dashboard]]:
    """Start `oma dashboard` processes (waiting until each serves), stopped after the test."""
    started: list[Dashboard] = []

    def start(env: dict[str, str], wait: bool = True) -> Dashboard:
        d = launch(env, tmp_path / f"dashboard-{len(started)}.log")
        started.append(d)
        return ready(d) if wait else d

    yield start
    for d in started:
        d.stop()


@pytest.fixture
def dashboard(dash_env: dict[str, str], start_dashboard: Callable[..., Dashboard]) -> Dashboard:
    return start_dashboard(dash_env)


def pvc_dir(kube: Client, ns: str, claim: str) -> Path:
    def bound() -> str | None:
        pvc = kube.get(PersistentVolumeClaim, claim, namespace=ns)
        return pvc.spec.volumeName if pvc.spec else None

    volume = wait_for(f"PVC {claim} to bind", bound)
    return Path(kube.get(PersistentVolume, volume).spec.hostPath.path)


@dataclass
class StackDashboard:
    dashboard: Dashboard
    env: dict[str, str]
    token: str
    namespace: str
    media: Path


@pytest.fixture
def stack_env(
    cluster: devcluster.ClusterInfo,
    operator: object,
    kube: Client,
    namespace: str,
    media_pvc: str,
    redis: LocalRedis,
    tmp_path: Path,
) -> Callable[[LocalPostgres], dict[str, str]]:
    """The settings of a dashboard serving `namespace`, whose media PVC it reads where the node keeps it."""

    def env(pg: LocalPostgres) -> dict[str, str]:
        return dashboard_env(
            pg,
            redis,
            tmp_path,
            OMA_KUBECONFIG=cluster.kubeconfig,
            OMA_NAMESPACE=namespace,
            OMA_DESTINATION_CLAIM=media_pvc,
            OMA_MEDIA_ROOT=str(pvc_dir(kube, namespace, media_pvc)),
        )

    return env


@pytest.fixture
def stack(
    stack_env: Callable[[LocalPostgres], dict[str, str]],
    postgres_db: LocalPostgres,
    start_dashboard: Callable[..., Dashboard],
    namespace: str,
) -> StackDashboard:
    """One dashboard serving a fresh namespace (with the operator running), and a submit token."""
    env = stack_env(postgres_db)
    d = start_dashboard(env)
    return StackDashboard(d, env, create_token(env, "tester"), namespace, Path(env["OMA_MEDIA_ROOT"]))
