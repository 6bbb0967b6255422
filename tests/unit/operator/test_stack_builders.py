"""Pure builders and status of OmaStack: manifests from a spec, conditions from children's statuses."""

from __future__ import annotations

import base64
import subprocess
from typing import Any

import pytest

from oma.models.omastack import OmaStack
from oma.operator import stack_builders as b
from oma.operator.builders import WorkerDefaults
from oma.operator.controller import worker_defaults
from oma.operator.stack_status import Cond, Workload, merge_conditions, ready_condition, workload_condition
from oma.operator.stacks import is_edit


def stack(**spec: Any) -> OmaStack:
    return OmaStack.model_validate({"metadata": {"name": "s", "namespace": "ns", "uid": "uid-9"}, "spec": spec})


def by_kind(manifests: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(m["kind"], m["metadata"]["name"]): m for m in manifests}


def test_children_are_deterministic_owned_and_labelled() -> None:
    a, c = b.build_children(stack()), b.build_children(stack())
    assert a == c
    for m in a:
        meta = m["metadata"]
        assert meta["namespace"] == "ns" and meta["labels"]["video.oma.ai/stack"] == "s"
        assert meta["labels"]["app.kubernetes.io/managed-by"] == "oma-operator"
        if (m["kind"], meta["name"]) != ("PersistentVolumeClaim", "s-backups"):
            assert meta["ownerReferences"][0]["uid"] == "uid-9"
    assert set(by_kind(a)) == {
        ("ConfigMap", "s-redis-config"),
        ("Service", "s-redis"),
        ("StatefulSet", "s-redis"),
        ("Service", "s-postgres"),
        ("StatefulSet", "s-postgres"),
        ("Service", "s-dashboard"),
        ("Deployment", "s-dashboard"),
        ("HorizontalPodAutoscaler", "s-dashboard"),
        ("PodDisruptionBudget", "s-dashboard"),
        ("NetworkPolicy", "s-redis"),
        ("NetworkPolicy", "s-postgres"),
        ("PersistentVolumeClaim", "s-backups"),
        ("CronJob", "s-backup-postgres"),
        ("CronJob", "s-backup-redis"),
        ("ConfigMap", "s-grafana-dashboards"),
    }


def test_every_pod_meets_the_restricted_pod_security_standard() -> None:
    for m in b.build_children(stack()):
        template = m.get("spec", {}).get("template") or m.get("spec", {}).get("jobTemplate", {}).get("spec", {}).get(
            "template"
        )
        if not template:
            continue
        pod = template["spec"]
        assert pod["securityContext"]["runAsNonRoot"] and pod["securityContext"]["seccompProfile"]
        assert pod["automountServiceAccountToken"] is False
        for c in pod["containers"]:
            sc = c["securityContext"]
            assert sc["allowPrivilegeEscalation"] is False and sc["capabilities"] == {"drop": ["ALL"]}
            assert sc["readOnlyRootFilesystem"] is True, f"{m['metadata']['name']}/{c['name']}"


def test_optional_parts_follow_the_spec() -> None:
    lean = stack(
        dashboard={"autoscaling": {"enabled": False}, "replicas": 3},
        backups={"enabled": False},
        monitoring={"enabled": False},
        networkPolicies={"enabled": False},
        redis={"persistence": {"enabled": False}},
    )
    kinds = by_kind(b.build_children(lean))
    assert not [k for k in kinds if k[0] in ("HorizontalPodAutoscaler", "CronJob", "NetworkPolicy")]
    assert ("ConfigMap", "s-grafana-dashboards") not in kinds and b.build_monitors(lean) == []
    assert kinds[("Deployment", "s-dashboard")]["spec"]["replicas"] == 3
    redis = kinds[("StatefulSet", "s-redis")]["spec"]
    assert (
        "volumeClaimTemplates" not in redis and {"name": "data", "emptyDir": {}} in redis["template"]["spec"]["volumes"]
    )
    assert [c["name"] for c in redis["template"]["spec"]["containers"]] == ["redis"]  # no exporter


def test_replicas_are_left_to_the_hpa_when_autoscaling() -> None:
    deploy = by_kind(b.build_children(stack()))[("Deployment", "s-dashboard")]
    assert "replicas" not in deploy["spec"]


def test_retained_backup_claims_are_not_owned_and_existing_claims_are_used() -> None:
    owned = by_kind(b.build_children(stack(volumesOnDelete="Delete")))[("PersistentVolumeClaim", "s-backups")]
    assert owned["metadata"]["ownerReferences"]
    mine = stack(backups={"destination": {"pvc": {"claimName": "nas"}}})
    kinds = by_kind(b.build_children(mine))
    assert ("PersistentVolumeClaim", "s-backups") not in kinds
    volumes = kinds[("CronJob", "s-backup-redis")]["spec"]["jobTemplate"]["spec"]["template"]["spec"]["volumes"]
    assert volumes[0]["persistentVolumeClaim"]["claimName"] == "nas"
    assert b.endpoints(mine)["backupsClaim"] == "nas"


def test_network_policies_admit_only_the_stacks_clients() -> None:
    redis = by_kind(b.build_children(stack()))[("NetworkPolicy", "s-redis")]["spec"]
    data_rule, metrics_rule = redis["ingress"]
    peers = data_rule["from"]
    assert peers[0]["podSelector"]["matchLabels"] == {"video.oma.ai/stack": "s"}
    assert peers[0]["podSelector"]["matchExpressions"][0]["values"] == ["dashboard", "backup-redis"]
    assert peers[1]["podSelector"]["matchLabels"] == {"video.oma.ai/client-of": "s"}
    assert data_rule["ports"] == [{"protocol": "TCP", "port": 6379}]
    assert metrics_rule["ports"] == [{"protocol": "TCP", "port": 9121}]


def test_credentials_secret_carries_the_given_password_only() -> None:
    secret = b.build_credentials_secret(stack(postgres={"user": "app", "database": "media"}), "pw-123")
    data = {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}
    assert data["password"] == "pw-123" and data["username"] == "app" and data["database"] == "media"
    assert data["uri"] == "postgresql://app:pw-123@s-postgres.ns.svc:5432/media"
    assert "stringData" not in secret


def test_rotation_rolls_postgres_and_the_dashboard() -> None:
    before, after = stack(), stack(postgres={"credentialsRotation": "r2"})
    for kind, name in (("StatefulSet", "s-postgres"), ("Deployment", "s-dashboard")):
        old = by_kind(b.build_children(before))[(kind, name)]["spec"]["template"]["metadata"]["annotations"]
        new = by_kind(b.build_children(after))[(kind, name)]["spec"]["template"]["metadata"]["annotations"]
        assert old != new


def test_backup_scripts_are_valid_shell() -> None:
    for cronjob in b.build_backup_cronjobs(stack()):
        script = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["command"][-1]
        assert subprocess.run(["sh", "-n", "-c", script], check=False).returncode == 0
    postgres = b.build_postgres_statefulset(stack())["spec"]["template"]["spec"]["containers"][0]
    hook = postgres["lifecycle"]["postStart"]["exec"]["command"][-1]
    assert subprocess.run(["sh", "-n", "-c", hook], check=False).returncode == 0
    assert "$POSTGRES_PASSWORD" in hook and "ALTER ROLE" in hook


def test_monitors_carry_the_selector_labels() -> None:
    monitors = b.build_monitors(stack(monitoring={"labels": {"release": "kps"}}))
    assert [m["kind"] for m in monitors] == ["ServiceMonitor", "PodMonitor", "PrometheusRule"]
    assert all(m["metadata"]["labels"]["release"] == "kps" for m in monitors)
    exprs = [r["expr"] for g in monitors[2]["spec"]["groups"] for r in g["rules"]]
    assert all('namespace="ns"' in e for e in exprs)


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


def test_transition_time_moves_only_when_status_changes() -> None:
    first = merge_conditions([], [Cond("Ready", False, "ComponentsNotReady", "x")], "t1", 1)
    same = merge_conditions(first, [Cond("Ready", False, "ComponentsNotReady", "y")], "t2", 1)
    flipped = merge_conditions(same, [Cond("Ready", True, "AllComponentsReady", "")], "t3", 1)
    assert [c["lastTransitionTime"] for c in (first[0], same[0], flipped[0])] == ["t1", "t1", "t3"]


def test_stack_worker_defaults_layer_over_the_operators() -> None:
    spec = stack(workerDefaults={"image": "img:stack", "resources": {"limits": {"memory": "8Gi"}}}).spec
    merged = worker_defaults(WorkerDefaults(), spec.worker_defaults)
    assert merged.image == "img:stack" and merged.limits["memory"] == "8Gi"
    assert merged.requests == WorkerDefaults().requests
    assert worker_defaults(WorkerDefaults(), None) == WorkerDefaults()


def child(kind: str = "StatefulSet", generation: int | None = 1, rv: str = "7", **meta: Any) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": "s-redis", "resourceVersion": rv, **meta}
    if generation is not None:
        metadata["generation"] = generation
    return {"kind": kind, "metadata": metadata}


OURS = [{"manager": "oma-operator", "operation": "Apply"}, {"manager": "kcm", "subresource": "status"}]
THEIRS = [*OURS, {"manager": "kubectl-edit", "operation": "Update"}]


@pytest.mark.parametrize(
    ("event", "body", "seen", "applied", "edit"),
    [
        ("ADDED", child(managedFields=THEIRS), None, "7", False),  # the echo of our own apply
        ("ADDED", child(managedFields=OURS, rv="8"), None, "7", False),  # only we wrote it
        ("ADDED", child(managedFields=THEIRS, rv="8"), None, "7", True),  # someone re-created it
        ("MODIFIED", child(managedFields=THEIRS, rv="8"), (1, {}, {}), "7", False),  # a status/rollout step
        ("MODIFIED", child(generation=2, managedFields=THEIRS, rv="8"), (1, {}, {}), "7", True),  # spec edited
        ("MODIFIED", child(managedFields=THEIRS, rv="8", labels={"x": "y"}), (1, {}, {}), "7", True),  # labels
        ("MODIFIED", child("Service", None, rv="8", managedFields=THEIRS), None, "7", True),  # no generation
        ("MODIFIED", child("PersistentVolumeClaim", None, rv="8", managedFields=THEIRS), None, None, False),
    ],
)
def test_which_child_events_trigger_a_full_apply(
    event: str, body: dict[str, Any], seen: tuple[Any, ...] | None, applied: str | None, edit: bool
) -> None:
    assert is_edit(event, body, seen, applied) is edit
