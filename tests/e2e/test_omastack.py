"""examples/omastack.yaml on the real node, with our images: Redis, Postgres and both exporters really run under
the restricted Pod Security Standard; the exporters report real values; a backup CronJob run by hand writes a
dump pg_restore reads; Redis keeps its data across a deleted pod; a VideoJob with stackRef takes the stack's
worker defaults. The test process reaches pods directly at their addresses on the node's bridge."""

from __future__ import annotations

import base64
import os
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from .conftest import REPO, RESTRICTED, Images, Kubectl, wait_for

pytestmark = pytest.mark.node

STACK = "oma"
WORKER_RESOURCES = {"requests": {"cpu": "250m", "memory": "256Mi"}, "limits": {"memory": "2Gi"}}


def stack_manifest(images: Images) -> dict[str, Any]:
    """The example with our images. Postgres is Debian's 15. Until the dashboard has an image, the dashboard
    Deployment is scaled to zero (HPA off), so Ready speaks for Redis and Postgres only."""
    stack: dict[str, Any] = yaml.safe_load((REPO / "examples" / "omastack.yaml").read_text())
    spec = stack["spec"]
    spec["redis"]["image"] = images.refs["redis"]
    spec["postgres"].update(image=images.refs["postgres"], version=15)
    spec["monitoring"].update(
        redisExporterImage=images.refs["redis-exporter"], postgresExporterImage=images.refs["postgres-exporter"]
    )
    spec["workerDefaults"].update(image=images.refs["worker"], resources=WORKER_RESOURCES)
    spec["backups"]["destination"]["pvc"]["size"] = "1Gi"
    if "dashboard" in images.refs:
        spec["dashboard"]["image"] = images.refs["dashboard"]
        spec["dashboard"]["autoscaling"].update(minReplicas=1, maxReplicas=2)
    else:
        spec["dashboard"]["autoscaling"] = {"enabled": False}
        spec["dashboard"]["replicas"] = 0
    return stack


@pytest.fixture(scope="module")
def stack_ns(kubectl: Kubectl, images: Images, operator: str) -> Iterator[str]:
    ns = f"e2e-stack-{os.urandom(3).hex()}"
    kubectl.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns, "labels": RESTRICTED}})
    kubectl.apply(stack_manifest(images), namespace=ns)
    wait_for("omastack/oma Ready", lambda: kubectl.condition(f"omastack/{STACK}", "Ready", ns), timeout=420, interval=2)
    yield ns
    kubectl("delete", "namespace", ns, "--wait=false", check=False)


def pod(kubectl: Kubectl, ns: str, name: str) -> dict[str, Any]:
    result: dict[str, Any] = kubectl.json("-n", ns, "get", "pod", name)
    return result


def secret_value(kubectl: Kubectl, ns: str, key: str) -> str:
    data = kubectl.json("-n", ns, "get", "secret", f"{STACK}-postgres-credentials")["data"]
    return base64.b64decode(data[key]).decode()


def http_get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as resp:
        return str(resp.read().decode())


def test_redis_postgres_and_exporters_really_run(kubectl: Kubectl, stack_ns: str) -> None:
    for name in (f"{STACK}-redis-0", f"{STACK}-postgres-0"):
        p = pod(kubectl, stack_ns, name)
        assert p["spec"]["nodeName"] == "oma-node"
        statuses = {c["name"]: c for c in p["status"]["containerStatuses"]}
        assert set(statuses) == {name.split("-")[1], "exporter"}
        assert all(c["ready"] for c in statuses.values()), statuses
    for cond in ("RedisReady", "PostgresReady"):
        assert kubectl.condition(f"omastack/{STACK}", cond, stack_ns)


def test_the_dashboard_runs_on_redis_and_postgres(kubectl: Kubectl, images: Images, stack_ns: str) -> None:
    if "dashboard" not in images.refs:
        pytest.fail("no dashboard image: dashboard-image/Dockerfile is missing")
    assert kubectl.condition(f"omastack/{STACK}", "DashboardReady", stack_ns)
    pods = kubectl.json("-n", stack_ns, "get", "pods", "-l", "app.kubernetes.io/component=dashboard")["items"]
    assert pods and all(c["ready"] for p in pods for c in p["status"]["containerStatuses"])
    # /readyz answers 200 only when the dashboard reaches Redis, Postgres and the apiserver.
    assert http_get(f"http://{pods[0]['status']['podIP']}:8000/readyz")


def test_the_exporters_report_real_values(kubectl: Kubectl, stack_ns: str) -> None:
    redis_ip = pod(kubectl, stack_ns, f"{STACK}-redis-0")["status"]["podIP"]
    pg_ip = pod(kubectl, stack_ns, f"{STACK}-postgres-0")["status"]["podIP"]
    redis_metrics = wait_for(
        "redis_up 1", lambda: "\nredis_up 1" in (m := http_get(f"http://{redis_ip}:9121/metrics")) and m
    )
    assert "redis_connected_clients" in redis_metrics
    pg_metrics = wait_for("pg_up 1", lambda: "\npg_up 1" in (m := http_get(f"http://{pg_ip}:9187/metrics")) and m)
    assert "pg_database_size_bytes" in pg_metrics or "pg_stat_database" in pg_metrics


def psql(kubectl: Kubectl, ns: str, sql: str) -> str:
    ip = pod(kubectl, ns, f"{STACK}-postgres-0")["status"]["podIP"]
    env = {**os.environ, "PGPASSWORD": secret_value(kubectl, ns, "password")}
    user, db = secret_value(kubectl, ns, "username"), secret_value(kubectl, ns, "database")
    out = subprocess.run(
        ["psql", "-h", ip, "-U", user, "-d", db, "-v", "ON_ERROR_STOP=1", "-qAtc", sql],
        capture_output=True,
        text=True,
        env=env,
    )
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_a_backup_run_by_hand_writes_a_dump_pg_restore_reads(kubectl: Kubectl, stack_ns: str) -> None:
    psql(kubectl, stack_ns, "CREATE TABLE IF NOT EXISTS e2e_marker (note text); INSERT INTO e2e_marker VALUES ('x')")
    job = f"backup-by-hand-{os.urandom(2).hex()}"
    kubectl("-n", stack_ns, "create", "job", f"--from=cronjob/{STACK}-backup-postgres", job)
    wait_for(
        f"job/{job} Complete", lambda: kubectl.condition(f"job/{job}", "Complete", stack_ns), timeout=180, interval=1
    )
    assert "wrote /backups/postgres/" in kubectl("-n", stack_ns, "logs", f"job/{job}")

    cron = kubectl.json("-n", stack_ns, "get", "cronjob", f"{STACK}-backup-postgres")
    volumes = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["volumes"]
    claim = next(v["persistentVolumeClaim"]["claimName"] for v in volumes if "persistentVolumeClaim" in v)
    pv = kubectl("-n", stack_ns, "get", "pvc", claim, "-o", "jsonpath={.spec.volumeName}")
    dumps = sorted(Path(kubectl("get", "pv", pv, "-o", "jsonpath={.spec.hostPath.path}")).glob("postgres/*.dump"))
    assert dumps, "no dump on the backups volume"
    listing = subprocess.run(["pg_restore", "--list", str(dumps[-1])], capture_output=True, text=True, check=True)
    assert "TABLE public e2e_marker" in listing.stdout


def redis_cli(kubectl: Kubectl, ns: str, *args: str) -> str:
    ip = pod(kubectl, ns, f"{STACK}-redis-0")["status"]["podIP"]
    out = subprocess.run(["redis-cli", "-h", ip, *args], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_redis_keeps_its_data_when_its_pod_is_deleted(kubectl: Kubectl, stack_ns: str) -> None:
    name = f"{STACK}-redis-0"
    assert redis_cli(kubectl, stack_ns, "SET", "e2e:kept", "yes") == "OK"
    before = pod(kubectl, stack_ns, name)["metadata"]["uid"]
    kubectl("-n", stack_ns, "delete", "pod", name)

    def back() -> bool:
        p = kubectl.json("-n", stack_ns, "get", "pods", "-l", "app.kubernetes.io/component=redis")["items"]
        return bool(
            p
            and p[0]["metadata"]["uid"] != before
            and all(c["ready"] for c in p[0]["status"].get("containerStatuses") or [{"ready": False}])
        )

    wait_for("a new Redis pod Ready", back, timeout=180)
    assert redis_cli(kubectl, stack_ns, "GET", "e2e:kept") == "yes"


def test_a_videojob_with_stack_ref_runs_with_the_stacks_worker_defaults(kubectl: Kubectl, stack_ns: str) -> None:
    claim = {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": "media"},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
    }
    vj = {
        "apiVersion": "video.oma.ai/v1alpha1",
        "kind": "VideoJob",
        "metadata": {"name": "of-the-stack"},
        "spec": {
            "stackRef": {"name": STACK},
            "inputs": [{"titleCard": {"text": "stack", "durationSeconds": 1, "width": 320, "height": 240}}],
            "outputs": {"mp4": [{"name": "small", "width": 320, "height": 240}]},
            "destination": {"claimName": "media"},
        },
    }
    kubectl.apply([claim, vj], namespace=stack_ns)
    wait_for(
        "the stack's VideoJob Succeeded",
        lambda: kubectl.condition("videojob/of-the-stack", "Succeeded", stack_ns),
        timeout=300,
        interval=1,
    )
    jobs = kubectl.json("-n", stack_ns, "get", "jobs")["items"]
    container = next(
        j["spec"]["template"]["spec"]["containers"][0] for j in jobs if j["metadata"]["name"].startswith("of-the-stack")
    )
    manifest = yaml.safe_load((REPO / "examples" / "omastack.yaml").read_text())
    assert manifest["spec"]["workerDefaults"]["image"] != container["image"]  # the override, not the example's
    assert container["image"].startswith("localhost/oma/worker:")
    # The stack's requests, plus the scratch disk the operator requests for every worker (ephemeral-storage).
    assert container["resources"]["requests"] == {**WORKER_RESOURCES["requests"], "ephemeral-storage": "20Gi"}
