"""A stack's conditions from its children's statuses."""

from __future__ import annotations

from typing import Any

import pytest

from oma.operator.common.conditions import Cond
from oma.operator.omastack.status import (
    PROGRESS_DEADLINE_SECONDS,
    Workload,
    backups_condition,
    became_ready,
    ready_condition,
    stack_status,
    workload_condition,
)

from .conftest import stack


def sts(**status: Any) -> Workload:
    body = {"metadata": {"generation": 2}, "spec": {"replicas": 1}, "status": {"observedGeneration": 2, **status}}
    return Workload.from_body(body)


@pytest.mark.parametrize(
    ("workload", "ok", "reason"),
    [
        (None, False, "Creating"),
        (sts(observedGeneration=1), False, "Progressing"),
        (sts(readyReplicas=1, updatedReplicas=1, currentRevision="a", updateRevision="b"), False, "Progressing"),
        (sts(readyReplicas=1, updatedReplicas=1, currentRevision="b", updateRevision="b"), True, "Ready"),
    ],
)
def test_statefulset_readiness(workload: Workload | None, ok: bool, reason: str) -> None:
    cond = workload_condition("RedisReady", "StatefulSet", "s-redis", workload)
    assert (cond.ok, cond.reason) == (ok, reason)


def test_ready_ignores_monitoring_and_backups_but_not_errors() -> None:
    parts = [
        Cond("RedisReady", True, "Ready", ""),
        Cond("PostgresReady", True, "Ready", ""),
        Cond("DashboardReady", True, "Ready", ""),
        Cond("MonitoringReady", False, "PrometheusOperatorNotInstalled", ""),
    ]
    assert ready_condition(parts, None).ok
    failed = ready_condition(parts, "StatefulSet s-redis: forbidden")
    assert (failed.ok, failed.reason) == (False, "ReconcileFailed")
    parts[1] = Cond("PostgresReady", False, "Progressing", "0/1 ready")
    waiting = ready_condition(parts, None)
    assert not waiting.ok and "PostgresReady: 0/1 ready" in waiting.message


def test_backups_condition_says_why_nothing_is_scheduled() -> None:
    assert backups_condition(stack(backups={"enabled": False}), {}).reason == "Disabled"
    assert backups_condition(stack(backups={"suspend": True}), {}).reason == "Suspended"
    waiting = backups_condition(stack(), {("CronJob", "s-backup-postgres"): "batch/v1"})
    assert (waiting.ok, waiting.reason) == (False, "Creating") and "s-backup-redis" in waiting.message
    every = {("CronJob", f"s-backup-{c}"): "batch/v1" for c in ("postgres", "redis", "objects")}
    assert backups_condition(stack(), every).ok


def test_a_status_nobody_would_see_change_is_not_written() -> None:
    parts = [Cond("RedisReady", True, "Ready", "1/1")]
    first = stack_status({}, 3, parts, None, "t1", {"endpoints": {"redis": "r:6379"}})
    assert first is not None and first["observedGeneration"] == 3
    assert [c["type"] for c in first["conditions"]] == ["Ready", "RedisReady"]
    assert stack_status(first, 3, parts, None, "t2", {"endpoints": {"redis": "r:6379"}}) is None
    assert stack_status(first, 4, parts, None, "t2", {"endpoints": {"redis": "r:6379"}}) is not None
    broken = stack_status(first, 3, parts, "Secret s: forbidden", "t2", {"endpoints": {"redis": "r:6379"}})
    assert broken is not None and became_ready(first, broken) is False
    assert became_ready(broken, first) is True and became_ready(first, first) is None


def test_components_not_ready_past_the_deadline_say_so() -> None:
    waiting = [Cond("RedisReady", False, "Progressing", "StatefulSet s-redis: 0/1 ready, 1 updated")]
    first = stack_status({}, 1, waiting, None, "2026-01-01T00:00:00Z", {})
    assert first is not None and first["conditions"][0]["reason"] == "ComponentsNotReady"
    assert stack_status(first, 1, waiting, None, "2026-01-01T00:09:59Z", {}) is None
    late = stack_status(first, 1, waiting, None, f"2026-01-01T00:{PROGRESS_DEADLINE_SECONDS // 60:02d}:00Z", {})
    assert late is not None
    ready = late["conditions"][0]
    assert (ready["status"], ready["reason"]) == ("False", "ProgressDeadlineExceeded")
    assert ready["lastTransitionTime"] == "2026-01-01T00:00:00Z" and "0/1 ready" in ready["message"]
    done = stack_status(late, 1, [Cond("RedisReady", True, "Ready", "1/1")], None, "2026-01-01T01:00:00Z", {})
    assert done is not None and done["conditions"][0]["reason"] == "AllComponentsReady"
