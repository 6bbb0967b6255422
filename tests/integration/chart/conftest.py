"""What the chart's tests share: the Go-built helm and kubectl, and values that run the operator's pod and its
workers as local processes on the oma-local node (the local cluster cannot pull images)."""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

from oma.devcluster import cluster as devcluster
from oma.devcluster.ports import free_port

REPO = Path(__file__).resolve().parents[3]
CHART = REPO / "charts" / "oma-operator"
PROCESS_BACKED = devcluster.PROCESS_TAINT_KEY


@pytest.fixture(scope="module")
def tools(cluster: devcluster.ClusterInfo) -> dict[str, str]:
    bin_dir = devcluster.find_bin_dir()
    return {"helm": str(bin_dir / "helm"), "kubectl": str(bin_dir / "kubectl"), "kubeconfig": cluster.kubeconfig}


def tool_env(tools: dict[str, str]) -> dict[str, str]:
    # HOME for helm's and kubectl's caches (without it kubectl writes .kube/ into the working directory).
    return {"KUBECONFIG": tools["kubeconfig"], "PATH": "/usr/bin:/bin", "HOME": str(Path.home())}


def run(tools: dict[str, str], tool: str, *args: str, stdin: str | None = None, ok: bool = True) -> str:
    env = tool_env(tools)
    out = subprocess.run([tools[tool], *args], input=stdin, capture_output=True, text=True, env=env, check=False)
    if ok and out.returncode != 0:
        raise AssertionError(f"{tool} {' '.join(args)} failed ({out.returncode}):\n{out.stdout}\n{out.stderr}")
    if not ok and out.returncode == 0:
        raise AssertionError(f"{tool} {' '.join(args)} succeeded; it should have failed:\n{out.stdout}")
    return out.stdout + out.stderr


def values_file(tmp: Path, values: dict[str, Any]) -> str:
    path = tmp / f"values-{uuid.uuid4().hex[:6]}.yaml"
    path.write_text(yaml.safe_dump(values))
    return str(path)


def process_backed_values() -> dict[str, Any]:
    """The operator pod and its workers run as local processes on the oma-local node, on free host ports.

    One replica: process-backed pods share the host's network, so a second would find its ports taken. Two
    replicas and their hand-over are tested with two operator processes (tests/integration/operator/test_leader.py).
    """
    toleration = [{"key": PROCESS_BACKED, "operator": "Exists", "effect": "NoSchedule"}]
    selector = {PROCESS_BACKED: "true"}
    return {
        "image": {"repository": "localhost/oma-operator", "tag": "test"},
        "replicas": 1,
        "podDisruptionBudget": {"minAvailable": 0},
        "nodeSelector": selector,
        "tolerations": toleration,
        "worker": {
            "image": {"repository": "localhost/oma-worker", "tag": "test"},
            "nodeSelector": selector,
            "tolerations": toleration,
        },
        "metrics": {"port": free_port()},
        "health": {"port": free_port()},
        "logFormat": "plain",
    }
