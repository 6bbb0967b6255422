"""OmaStack on the real control plane: children, readiness from KWOK, drift repair, rollouts, admission."""

from __future__ import annotations

import base64
import copy
import json
import time
from typing import Any

import pytest
from lightkube import Client
from lightkube.codecs import from_dict
from lightkube.core.exceptions import ApiError
from lightkube.resources.apps_v1 import Deployment, StatefulSet
from lightkube.resources.autoscaling_v2 import HorizontalPodAutoscaler
from lightkube.resources.batch_v1 import CronJob, Job
from lightkube.resources.core_v1 import ConfigMap, Event, PersistentVolumeClaim, Secret, Service
from lightkube.resources.networking_v1 import NetworkPolicy
from lightkube.resources.policy_v1 import PodDisruptionBudget
from lightkube.resources.rbac_authorization_v1 import Role
from lightkube.types import PatchType

from oma.k8s.resources import OmaStackResource, PodMonitor, PrometheusRule, ServiceMonitor

from ..conftest import wait_for
from .conftest import example, phase_is, videojob

pytestmark = pytest.mark.cluster


def stack(name: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "video.oma.ai/v1alpha1", "kind": "OmaStack", "metadata": {"name": name}, "spec": spec}


def get_stack(kube: Client, ns: str, name: str) -> dict[str, Any]:
    return kube.get(OmaStackResource, name, namespace=ns).to_dict()  # type: ignore[no-any-return]


def condition(obj: dict[str, Any], type_: str) -> dict[str, Any]:
    for c in (obj.get("status") or {}).get("conditions") or []:
        if c["type"] == type_:
            return c  # type: ignore[no-any-return]
    return {}


def ready(kube: Client, ns: str, name: str) -> dict[str, Any] | None:
    """The stack, once Ready for its current generation."""
    st = get_stack(kube, ns, name)
    fresh = (st.get("status") or {}).get("observedGeneration") == st["metadata"]["generation"]
    return st if fresh and condition(st, "Ready").get("status") == "True" else None


def create_stack(kube: Client, ns: str, manifest: dict[str, Any]) -> dict[str, Any]:
    kube.create(from_dict(manifest), namespace=ns)
    name = manifest["metadata"]["name"]
    return wait_ready(kube, ns, name)


def wait_ready(kube: Client, ns: str, name: str, timeout: float = 90) -> dict[str, Any]:
    try:
        return wait_for(f"OmaStack {ns}/{name} Ready", lambda: ready(kube, ns, name), timeout=timeout)
    except TimeoutError as e:
        status = get_stack(kube, ns, name).get("status")
        raise AssertionError(f"{e}\nits status: {json.dumps(status, indent=1)}") from None


def patch_stack(kube: Client, ns: str, name: str, spec: dict[str, Any]) -> None:
    kube.patch(OmaStackResource, name, {"spec": spec}, namespace=ns, patch_type=PatchType.MERGE)


def restricted(container: dict[str, Any]) -> bool:
    sc = container.get("securityContext") or {}
    return bool(
        sc.get("runAsNonRoot")
        and sc.get("allowPrivilegeEscalation") is False
        and sc.get("readOnlyRootFilesystem")
        and sc.get("capabilities", {}).get("drop") == ["ALL"]
        and sc.get("seccompProfile", {}).get("type") == "RuntimeDefault"
    )


def test_example_stack_is_ready_with_every_child(kube: Client, namespace: str, operator: object) -> None:
    manifest = example("omastack.yaml")
    started = time.monotonic()
    st = create_stack(kube, namespace, manifest)
    print(f"\nexample OmaStack Ready after {time.monotonic() - started:.1f}s")
    uid = st["metadata"]["uid"]

    def owned(obj: Any) -> bool:
        refs = obj.metadata.ownerReferences or []
        return any(r.uid == uid and r.controller for r in refs)

    redis = kube.get(StatefulSet, "oma-redis", namespace=namespace)
    assert owned(redis) and redis.spec.serviceName == "oma-redis"
    assert redis.spec.template.spec.containers[0].image == "docker.io/library/redis:7.4-bookworm"
    assert redis.spec.volumeClaimTemplates[0].spec.resources.requests["storage"] == "2Gi"
    assert redis.spec.persistentVolumeClaimRetentionPolicy.whenDeleted == "Retain"
    assert [c.name for c in redis.spec.template.spec.containers] == ["redis", "exporter"]
    postgres = kube.get(StatefulSet, "oma-postgres", namespace=namespace).to_dict()
    pod = postgres["spec"]["template"]["spec"]
    assert pod["containers"][0]["image"] == "docker.io/library/postgres:16-bookworm"
    assert postgres["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"] == "20Gi"
    env = {e["name"]: e for e in pod["containers"][0]["env"]}
    assert env["POSTGRES_PASSWORD_FILE"]["value"] == "/etc/oma/postgres/password"
    secret = next(v["secret"] for v in pod["volumes"] if "secret" in v)
    assert secret["secretName"] == "oma-postgres-credentials"
    for sts in (redis.to_dict(), postgres):
        spec = sts["spec"]["template"]["spec"]
        assert spec["securityContext"]["runAsNonRoot"] and all(restricted(c) for c in spec["containers"])
    for svc in ("oma-redis", "oma-postgres"):
        assert kube.get(Service, svc, namespace=namespace).spec.clusterIP == "None"  # headless

    dashboard = kube.get(Deployment, "oma-dashboard", namespace=namespace).to_dict()
    assert all(restricted(c) for c in dashboard["spec"]["template"]["spec"]["containers"])
    hpa = kube.get(HorizontalPodAutoscaler, "oma-dashboard", namespace=namespace)
    assert (hpa.spec.minReplicas, hpa.spec.maxReplicas) == (2, 6)
    assert hpa.spec.metrics[0].resource.target.averageUtilization == 70
    assert "replicas" not in _applied_by_operator(dashboard)  # with an HPA, replicas are the HPA's
    wait_for(
        "the HPA to raise the dashboard to minReplicas",
        lambda: kube.get(Deployment, "oma-dashboard", namespace=namespace).spec.replicas >= 2,
        timeout=60,
    )
    assert kube.get(PodDisruptionBudget, "oma-dashboard", namespace=namespace).spec.maxUnavailable == 1
    assert kube.get(Service, "oma-dashboard", namespace=namespace).spec.type == "ClusterIP"

    policies = {p.metadata.name: p for p in kube.list(NetworkPolicy, namespace=namespace)}
    assert set(policies) == {"oma-redis", "oma-postgres"}
    peers = policies["oma-postgres"].spec.ingress[0].from_[0].podSelector.matchExpressions[0].values
    assert sorted(peers) == ["backup-postgres", "dashboard"]

    cronjobs = {c.metadata.name: c for c in kube.list(CronJob, namespace=namespace)}
    assert set(cronjobs) == {"oma-backup-postgres", "oma-backup-redis", "oma-backup-objects"}
    objects_pod = cronjobs["oma-backup-objects"].spec.jobTemplate.spec.template.spec
    assert objects_pod.serviceAccountName == "oma-backup-objects"
    assert kube.get(Role, "oma-backup-objects", namespace=namespace).rules[0].verbs == ["get", "list"]
    assert {c.spec.schedule for c in cronjobs.values()} == {"30 2 * * *"}
    script = cronjobs["oma-backup-postgres"].spec.jobTemplate.spec.template.spec.containers[0].command[-1]
    assert "pg_dump" in script
    backups = kube.get(PersistentVolumeClaim, "oma-backups", namespace=namespace)
    assert backups.spec.resources.requests["storage"] == "50Gi"
    assert not backups.metadata.ownerReferences  # volumesOnDelete: Retain

    grafana = kube.get(ConfigMap, "oma-grafana-dashboards", namespace=namespace)
    assert grafana.metadata.labels["grafana_dashboard"] == "1"
    assert json.loads(grafana.data["oma-stack-oma.json"])["panels"]

    secret = kube.get(Secret, "oma-postgres-credentials", namespace=namespace)
    data = {k: base64.b64decode(v).decode() for k, v in (secret.data or {}).items()}
    assert set(data) == {"username", "password", "database", "host", "port", "uri"}
    assert len(data["password"]) >= 24 and data["username"] == "oma"
    assert data["password"] not in json.dumps(st["status"])

    status = st["status"]
    assert status["endpoints"] == {
        "redis": f"oma-redis.{namespace}.svc:6379",
        "postgres": f"oma-postgres.{namespace}.svc:5432",
        "postgresSecret": "oma-postgres-credentials",
        "dashboard": f"oma-dashboard.{namespace}.svc:80",
        "backupsClaim": "oma-backups",
    }
    for t in ("RedisReady", "PostgresReady", "DashboardReady", "BackupsScheduled"):
        assert condition(st, t)["status"] == "True", condition(st, t)
    # No prometheus-operator in this cluster (yet): said in a condition, nothing failed.
    monitoring = condition(st, "MonitoringReady")
    assert (monitoring["status"], monitoring["reason"]) == ("False", "PrometheusOperatorNotInstalled")
    assert "install prometheus-operator" in monitoring["message"]


def _applied_by_operator(obj: dict[str, Any]) -> dict[str, Any]:
    """The spec fields the operator's server-side apply owns."""
    for entry in obj["metadata"].get("managedFields") or []:
        if entry["manager"] == "oma-operator" and entry["operation"] == "Apply":
            return {k[2:]: v for k, v in entry["fieldsV1"].get("f:spec", {}).items() if k.startswith("f:")}
    return {}


def test_deleted_statefulset_is_restored(kube: Client, namespace: str, operator: object) -> None:
    create_stack(kube, namespace, stack("drift", dashboard={"autoscaling": {"enabled": False}, "replicas": 1}))
    old_uid = kube.get(StatefulSet, "drift-redis", namespace=namespace).metadata.uid
    started = time.monotonic()
    kube.delete(StatefulSet, "drift-redis", namespace=namespace)

    def recreated() -> bool:
        try:
            return kube.get(StatefulSet, "drift-redis", namespace=namespace).metadata.uid != old_uid
        except ApiError:
            return False

    wait_for("the Redis StatefulSet to be re-created", recreated, timeout=30, interval=0.05)
    restored = time.monotonic() - started
    wait_for("the stack to be Ready again", lambda: ready(kube, namespace, "drift"), timeout=60)
    again = time.monotonic() - started
    print(f"\nRedis StatefulSet re-created {restored:.2f}s after deletion; stack Ready again after {again:.1f}s")

    def restored_event() -> bool:
        events = kube.list(Event, namespace=namespace, fields={"involvedObject.name": "drift"})
        return any(e.reason == "ChildRestored" and "StatefulSet drift-redis" in (e.message or "") for e in events)

    wait_for("a ChildRestored Event on the stack", restored_event, timeout=30)


def test_hand_edits_are_reverted(kube: Client, namespace: str, operator: object) -> None:
    create_stack(kube, namespace, stack("edits", dashboard={"autoscaling": {"enabled": False}, "replicas": 2}))
    # What `kubectl scale` and `kubectl edit` do: an update by another field manager.
    kube.patch(
        Deployment, "edits-dashboard", {"spec": {"replicas": 5}}, namespace=namespace, patch_type=PatchType.MERGE
    )
    kube.patch(
        NetworkPolicy, "edits-postgres", {"spec": {"ingress": []}}, namespace=namespace, patch_type=PatchType.MERGE
    )
    wait_for(
        "replicas back to 2",
        lambda: kube.get(Deployment, "edits-dashboard", namespace=namespace).spec.replicas == 2,
        timeout=30,
    )
    wait_for(
        "the NetworkPolicy's ingress rules back",
        lambda: bool(kube.get(NetworkPolicy, "edits-postgres", namespace=namespace).spec.ingress),
        timeout=30,
    )


def test_spec_changes_roll_out_and_prune(kube: Client, namespace: str, operator: object) -> None:
    create_stack(kube, namespace, stack("roll"))
    assert kube.get(HorizontalPodAutoscaler, "roll-dashboard", namespace=namespace)
    patch_stack(
        kube,
        namespace,
        "roll",
        {
            "redis": {"image": "docker.io/library/redis:7.4.1-bookworm"},
            "dashboard": {"image": "ghcr.io/oma-video/oma-dashboard:0.2.0", "autoscaling": {"enabled": False}},
            "backups": {"suspend": True},
        },
    )
    st = wait_ready(kube, namespace, "roll")
    redis = kube.get(StatefulSet, "roll-redis", namespace=namespace)
    assert redis.spec.template.spec.containers[0].image == "docker.io/library/redis:7.4.1-bookworm"
    assert redis.status.currentRevision == redis.status.updateRevision and redis.status.readyReplicas == 1
    dashboard = kube.get(Deployment, "roll-dashboard", namespace=namespace)
    assert dashboard.spec.template.spec.containers[0].image == "ghcr.io/oma-video/oma-dashboard:0.2.0"
    assert dashboard.spec.replicas == 2 and dashboard.status.updatedReplicas == 2
    wait_for(
        "the HPA to be deleted once autoscaling is off",
        lambda: (
            not any(
                h.metadata.name == "roll-dashboard" for h in kube.list(HorizontalPodAutoscaler, namespace=namespace)
            )
        ),
        timeout=30,
    )
    assert all(c.spec.suspend for c in kube.list(CronJob, namespace=namespace))
    backups = condition(st, "BackupsScheduled")
    assert (backups["status"], backups["reason"]) == ("False", "Suspended")


def test_postgres_secret_survives_reconciles_and_rotates_only_when_asked(
    kube: Client, namespace: str, operator: object
) -> None:
    create_stack(kube, namespace, stack("creds"))
    before = kube.get(Secret, "creds-postgres-credentials", namespace=namespace)
    for retention in (3, 4):  # two spec changes, two full reconciles
        patch_stack(kube, namespace, "creds", {"backups": {"retention": retention}})
        wait_for(f"retention {retention} reconciled", lambda: ready(kube, namespace, "creds"), timeout=60)
    after = kube.get(Secret, "creds-postgres-credentials", namespace=namespace)
    assert after.metadata.resourceVersion == before.metadata.resourceVersion
    assert after.data == before.data

    patch_stack(kube, namespace, "creds", {"postgres": {"credentialsRotation": "2026-11"}})
    wait_for(
        "a new password",
        lambda: (
            kube.get(Secret, "creds-postgres-credentials", namespace=namespace).data["password"]
            != before.data["password"]
        ),
        timeout=30,
    )
    st = wait_for("rotation reconciled", lambda: ready(kube, namespace, "creds"), timeout=60)
    assert st["status"]["credentialsRotation"] == "2026-11"
    template = kube.get(StatefulSet, "creds-postgres", namespace=namespace).spec.template.metadata
    assert template.annotations["video.oma.ai/credentials-rotation"] == "2026-11"  # Postgres restarts to adopt it
    new_password = base64.b64decode(
        kube.get(Secret, "creds-postgres-credentials", namespace=namespace).data["password"]
    ).decode()
    said = json.dumps(get_stack(kube, namespace, "creds")) + " ".join(
        e.message or "" for e in kube.list(Event, namespace=namespace)
    )
    assert new_password not in said and base64.b64decode(before.data["password"]).decode() not in said


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"dashboard": {"autoscaling": {"minReplicas": 5, "maxReplicas": 2}}}, "minReplicas must not exceed"),
        ({"backups": {"schedule": "every day"}}, "spec.backups.schedule"),
        ({"postgres": {"version": 9}}, "spec.postgres.version"),
        ({"redis": {"persistence": {"size": "lots"}}}, "spec.redis.persistence.size"),
        ({"volumesOnDelete": "Sometimes"}, "spec.volumesOnDelete"),
    ],
)
def test_invalid_specs_are_rejected_at_admission(
    kube: Client, namespace: str, crds: None, spec: dict[str, Any], message: str
) -> None:
    with pytest.raises(ApiError) as err:
        kube.create(from_dict(stack("bad", **spec)), namespace=namespace)
    assert err.value.status.code == 422 and message in (err.value.status.message or ""), err.value.status.message


def test_name_length_and_immutable_fields_are_enforced(kube: Client, namespace: str, crds: None) -> None:
    with pytest.raises(ApiError) as err:
        kube.create(from_dict(stack("a" * 31)), namespace=namespace)
    assert "at most 30 characters" in (err.value.status.message or "")
    kube.create(from_dict(stack("fixed")), namespace=namespace)
    for change, message in (
        ({"postgres": {"version": 17}}, "a new major version needs a dump and restore"),
        ({"redis": {"persistence": {"size": "5Gi"}}}, "volume settings are immutable"),
        ({"postgres": {"storage": {"storageClassName": "fast"}}}, "volume settings are immutable"),
    ):
        with pytest.raises(ApiError) as err:
            patch_stack(kube, namespace, "fixed", change)
        assert message in (err.value.status.message or ""), err.value.status.message


def test_videojobs_take_the_stack_defaults(kube: Client, namespace: str, operator: object, media_pvc: str) -> None:
    vj = videojob("stacked", stackRef={"name": "media"})
    kube.create(from_dict(vj), namespace=namespace)
    waiting = wait_for(
        "the VideoJob to wait for its stack", lambda: phase_is(kube, namespace, "stacked", "Queued"), timeout=30
    )
    queued = next(c for c in waiting["status"]["conditions"] if c["type"] == "Queued")
    assert queued["reason"] == "StackNotFound" and "OmaStack media" in queued["message"]

    image = "registry.example.com/oma-worker:stack"
    defaults = {"image": image, "resources": {"requests": {"cpu": "250m"}}, "maxConcurrentJobs": 3}
    kube.create(from_dict(stack("media", workerDefaults=defaults)), namespace=namespace)
    job = wait_for("the worker Job", lambda: _job_of(kube, namespace, "stacked"), timeout=60)
    container = job.spec.template.spec.containers[0]
    assert container.image == image and container.resources.requests["cpu"] == "250m"
    wait_for("the VideoJob to succeed", lambda: phase_is(kube, namespace, "stacked", "Succeeded"), timeout=120)


def _job_of(kube: Client, ns: str, name: str) -> Any:
    jobs = list(kube.list(Job, namespace=ns, labels={"video.oma.ai/videojob": name}))
    return jobs[0] if jobs else None


def test_deleting_the_stack_removes_its_children_and_keeps_data(kube: Client, namespace: str, operator: object) -> None:
    create_stack(kube, namespace, stack("gone"))
    kube.delete(OmaStackResource, "gone", namespace=namespace)

    def children() -> list[str]:
        found = []
        for res in (StatefulSet, Deployment, Service, CronJob, NetworkPolicy, HorizontalPodAutoscaler, ConfigMap):
            found += [
                f"{res.__name__} {o.metadata.name}"
                for o in kube.list(res, namespace=namespace, labels={"video.oma.ai/stack": "gone"})
            ]
        return found

    wait_for("every child garbage-collected", lambda: not children() or None, timeout=60)
    kept = {p.metadata.name for p in kube.list(PersistentVolumeClaim, namespace=namespace)}
    assert {"gone-backups", "data-gone-redis-0", "data-gone-postgres-0"} <= kept  # volumesOnDelete: Retain


def test_monitors_are_created_when_prometheus_operator_is_installed(
    kube: Client, namespace: str, operator: object, prometheus_operator_crds: None
) -> None:
    spec = copy.deepcopy(example("omastack.yaml")["spec"])
    create_stack(kube, namespace, stack("mon", **spec))

    def monitoring_ready() -> dict[str, Any] | None:
        st = get_stack(kube, namespace, "mon")
        return st if condition(st, "MonitoringReady").get("status") == "True" else None

    st = wait_for("MonitoringReady", monitoring_ready, timeout=90)
    assert "ServiceMonitor mon-dashboard" in condition(st, "MonitoringReady")["message"]
    sm = kube.get(ServiceMonitor, "mon-dashboard", namespace=namespace).to_dict()
    assert sm["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert sm["spec"]["endpoints"][0]["port"] == "http"
    pm = kube.get(PodMonitor, "mon-exporters", namespace=namespace).to_dict()
    assert pm["spec"]["podMetricsEndpoints"][0]["port"] == "metrics"
    rules = kube.get(PrometheusRule, "mon-alerts", namespace=namespace).to_dict()
    alerts = {r["alert"] for g in rules["spec"]["groups"] for r in g["rules"]}
    assert {"OmaRedisDown", "OmaPostgresDown", "OmaBackupFailed"} <= alerts

    patch_stack(kube, namespace, "mon", {"monitoring": {"enabled": False}})

    def monitors_left() -> list[str]:
        kinds = (ServiceMonitor, PodMonitor, PrometheusRule)
        return [f"{k.__name__} {o.metadata.name}" for k in kinds for o in kube.list(k, namespace=namespace)]

    wait_for("monitors removed once monitoring is disabled", lambda: not monitors_left() or None, timeout=60)
