"""Dashboards as real processes against real Postgres and Redis (fixtures `postgres`, `redis`: tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from oma.devservices import LocalPostgres, LocalRedis

from .harness import Dashboard, dashboard_env, launch, ready


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
