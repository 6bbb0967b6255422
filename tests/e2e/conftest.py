"""The real node for end-to-end tests: a cluster with kubelet + containerd, our images imported, helpers that
speak kubectl like a user, and on failure the pods, Events and every container's logs.

The cluster lives in its own state dir ($OMA_CLUSTER_DIR-real), beside the process-backed one the integration
tests use; it is brought up once per session and torn down by tests/e2e/test_teardown.py (which checks nothing
of it is left), or at the end of the session.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest

from oma import devservices
from oma.devcluster import cluster as devcluster
from oma.devcluster import fixtures, nodehost, realnode

T = TypeVar("T")
REPO = Path(__file__).resolve().parents[2]
RESTRICTED = {
    "pod-security.kubernetes.io/enforce": "restricted",
    "pod-security.kubernetes.io/enforce-version": "latest",
}


def real_state_dir() -> Path:
    base = Path(os.environ.get("OMA_CLUSTER_DIR") or devcluster.default_state_dir())
    return Path(os.environ.get("OMA_REAL_CLUSTER_DIR") or f"{base}-real")


def wait_for(what: str, probe: Callable[[], T | None], timeout: float = 120, interval: float = 0.5) -> T:
    """devservices.wait_for with the real node's patience: images are pulled and containers started."""
    return devservices.wait_for(what, probe, timeout, interval)


@dataclass
class Kubectl:
    """kubectl and helm against the real-node cluster, as a user would type them."""

    bin_dir: Path
    kubeconfig: str

    def run(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        argv = [str(self.bin_dir / "kubectl"), f"--kubeconfig={self.kubeconfig}", *args]
        return subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=300)

    def __call__(self, *args: str, stdin: str | None = None, check: bool = True) -> str:
        out = self.run(*args, stdin=stdin)
        if check and out.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({out.returncode}): {out.stderr.strip()}")
        return out.stdout

    def json(self, *args: str) -> Any:
        return json.loads(self(*args, "-o", "json"))

    def apply(self, manifest: dict[str, Any] | list[dict[str, Any]], namespace: str | None = None) -> None:
        items = manifest if isinstance(manifest, list) else [manifest]
        ns = ["-n", namespace] if namespace else []
        self(
            *ns,
            "apply",
            "--server-side",
            "--force-conflicts",
            "-f",
            "-",
            stdin=json.dumps({"apiVersion": "v1", "kind": "List", "items": items}),
        )

    def helm(self, *args: str) -> str:
        argv = [str(self.bin_dir / "helm"), f"--kubeconfig={self.kubeconfig}", *args]
        out = subprocess.run(argv, capture_output=True, text=True, timeout=600)
        if out.returncode != 0:
            raise AssertionError(f"helm {' '.join(args)} failed ({out.returncode}): {out.stderr.strip()}")
        return out.stdout

    def condition(self, kind_name: str, condition: str, namespace: str) -> bool:
        obj = self.json("-n", namespace, "get", kind_name)
        conds = (obj.get("status") or {}).get("conditions") or []
        return any(c["type"] == condition and c["status"] == "True" for c in conds)


@dataclass
class Images:
    refs: dict[str, str]

    def repo_tag(self, name: str) -> tuple[str, str]:
        repo, _, tag = self.refs[name].rpartition(":")
        return repo, tag


@pytest.fixture(scope="session")
def machine_before() -> dict[str, Any]:
    """The machine before the real node started (test_teardown.py compares it with the machine after)."""
    return machine_snapshot()


@pytest.fixture(scope="session")
def real_cluster(machine_before: dict[str, Any]) -> Iterator[devcluster.ClusterInfo]:
    state = real_state_dir()
    already = devcluster.status(state)
    info = already if already and already.node == "real" else devcluster.up(state, node="real", timeout=180)
    yield info
    if not os.environ.get("OMA_KEEP_CLUSTER"):
        devcluster.down(state)


@pytest.fixture(scope="session")
def images(real_cluster: devcluster.ClusterInfo) -> Images:
    """Every image of ours, built by hack/build-images.sh (cached by content) and imported into containerd."""
    built = realnode.built_images()
    realnode.import_images(devcluster.Layout(Path(real_cluster.state_dir)), [archive for _, archive in built.values()])
    return Images({name: ref for name, (ref, _) in built.items()})


@pytest.fixture(scope="session")
def kubectl(real_cluster: devcluster.ClusterInfo) -> Kubectl:
    return Kubectl(Path(real_cluster.bin_dir), real_cluster.kubeconfig)


@pytest.fixture(scope="session")
def crds(real_cluster: devcluster.ClusterInfo) -> None:
    fixtures.install_crds(real_cluster.kubeconfig)


@pytest.fixture(scope="session")
def operator(kubectl: Kubectl, images: Images) -> str:
    """The chart installed with our operator and worker images (never pulled) in a restricted namespace."""
    ns = "oma-system"
    kubectl.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns, "labels": RESTRICTED}})
    repo, tag = images.repo_tag("operator")
    worker_repo, worker_tag = images.repo_tag("worker")
    kubectl.helm(
        "upgrade", "--install", "oma-operator", str(REPO / "charts" / "oma-operator"), "-n", ns,
        "--set", f"image.repository={repo}", "--set", f"image.tag={tag}", "--set", "image.pullPolicy=Never",
        "--set", f"worker.image.repository={worker_repo}", "--set", f"worker.image.tag={worker_tag}",
        "--wait", "--timeout", "5m",
    )  # fmt: skip
    return ns


@pytest.fixture
def restricted_namespace(kubectl: Kubectl, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh namespace where the `restricted` Pod Security Standard is enforced."""
    name = f"e2e-{request.node.name.lower().replace('_', '-')[:40].strip('-')}-{os.urandom(3).hex()}"
    kubectl.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": RESTRICTED}})
    yield name
    kubectl("delete", "namespace", name, "--wait=false", check=False)


def cluster_report(kubectl: Kubectl) -> str:
    """Pods, Events and the logs of every container (current and previous), for a failed test."""
    parts = [
        kubectl("get", "pods", "-A", "-o", "wide", check=False),
        kubectl("get", "events", "-A", "--sort-by=.lastTimestamp", check=False),
    ]
    pods = json.loads(kubectl("get", "pods", "-A", "-o", "json", check=False) or '{"items": []}')["items"]
    for pod in pods:
        ns, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
        for c in pod["spec"].get("initContainers", []) + pod["spec"]["containers"]:
            for previous in ("false", "true"):
                logs = kubectl(
                    "-n", ns, "logs", name, "-c", c["name"], f"--previous={previous}", "--tail=80", check=False
                )
                if logs:
                    parts.append(
                        f"--- logs {ns}/{name} [{c['name']}]{' (previous)' if previous == 'true' else ''}\n{logs}"
                    )
    return "\n".join(parts)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if report.failed and call.when in ("call", "setup") and "kubectl" in getattr(item, "funcargs", {}):
        report.sections.append(("cluster", cluster_report(item.funcargs["kubectl"])))
    return report


def machine_snapshot() -> dict[str, Any]:
    """What the real node may leave behind, for the teardown test to compare before and after."""
    return {
        "kube_chains": nodehost.kube_chains(),
        "nft_tables": nodehost.nft_tables(),
        "fixed_paths": [p for p in nodehost.FIXED_PATHS if Path(p).exists()],
    }
