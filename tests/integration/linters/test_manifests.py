"""What oma puts in a cluster, checked by the linters cluster admins run: kubeconform -strict against Kubernetes'
own schemas for the oldest supported minor (1.30) and the current one (1.36), and kube-score with the exclusions
in hack/linters/kube-score.yaml, each of which says why. Offline: hack/build-linters.sh builds both linters from
pinned Go modules and writes the schemas from the pinned k8s.io/kubernetes modules."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from oma.devcluster import cluster as devcluster
from oma.models import crd
from oma.models.omastack import OmaStack
from oma.models.videojob import VideoJob
from oma.operator.omastack import builders as stack_builders
from oma.operator.videojob import builders as job_builders

pytestmark = pytest.mark.linters
REPO = Path(__file__).resolve().parents[3]
CHART = REPO / "charts" / "oma-operator"
K8S_VERSIONS = ("1.30.14", "1.36.3")
# The chart in every mode a user can pick: defaults, namespaced, monitoring, locked down, single replica, no CRDs.
CHART_MODES: dict[str, list[str]] = {
    "default": [],
    "namespaced": ["--set", "watchNamespaces={team-a,team-b}"],
    "monitoring": ["--set", "metrics.serviceMonitor.enabled=true", "--set", "metrics.prometheusRule.enabled=true",
                   "--set", "metrics.grafanaDashboard.enabled=true"],
    "network-policy": ["--set", "networkPolicy.enabled=true"],
    "single": ["--set", "replicas=1", "--set", "leaderElection.enabled=false", "--set",
               "podDisruptionBudget.minAvailable=0"],
    "no-crds": ["--set", "crds.install=false"],
}  # fmt: skip


@pytest.fixture(scope="module")
def linters() -> Path:
    out = subprocess.run(["bash", str(REPO / "hack" / "build-linters.sh")], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return Path(out.stdout.strip().splitlines()[-1])


def full_stack() -> OmaStack:
    body = yaml.safe_load((REPO / "examples" / "omastack.yaml").read_text())
    body["metadata"] |= {"namespace": "video", "uid": "uid-1"}
    body["spec"]["dashboard"] |= {"ingress": {"enabled": True, "host": "oma.example.com"}, "mediaClaim": "media"}
    return OmaStack.model_validate(body)


def worker_objects() -> list[dict[str, Any]]:
    spec = {
        "inputs": [{"pvc": {"claimName": "sources", "path": "in.mp4"}}],
        "outputs": {"mp4": [{"name": "a", "width": 640, "height": 360}]},
        "destination": {"claimName": "media", "pathPrefix": "out"},
        "timeouts": {"runningSeconds": 600},
    }
    vj = VideoJob.model_validate({"metadata": {"name": "clip", "namespace": "video", "uid": "u-2"}, "spec": spec})
    job = job_builders.build_job(vj, job_builders.WorkerDefaults())
    return [
        job,
        *job_builders.build_worker_rbac("video"),
        job_builders.build_worker_network_policy("video", (["10.96.0.1/32"], [443])),
    ]


@pytest.fixture(scope="module")
def manifests(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One file per source: each chart mode, a default and a full OmaStack's children, the worker's objects."""
    out = tmp_path_factory.mktemp("manifests")
    helm = devcluster.find_bin_dir() / "helm"
    files = {}
    for mode, flags in CHART_MODES.items():
        argv = [str(helm), "template", "oma", str(CHART), "-n", "oma-system", *flags]
        files[f"chart-{mode}"] = subprocess.run(argv, capture_output=True, text=True, check=True,
                                                env={"HOME": str(out)}).stdout  # fmt: skip
    default = OmaStack.model_validate({"metadata": {"name": "media", "namespace": "video", "uid": "u"}, "spec": {}})
    for name, stack in (("stack-default", default), ("stack-full", full_stack())):
        objects = stack_builders.build_children(stack) + stack_builders.build_monitors(stack)
        files[name] = yaml.safe_dump_all(objects)
    files["worker"] = yaml.safe_dump_all(worker_objects())
    paths = {}
    for name, text in files.items():
        paths[name] = out / f"{name}.yaml"
        paths[name].write_text(text)
    return paths


@pytest.fixture(scope="module")
def crd_schemas(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Schemas of the custom resources we render: ours (from the models) and prometheus-operator's."""
    sys.path.insert(0, str(REPO / "hack"))
    try:
        import kube_schemas
    finally:
        sys.path.pop(0)
    fetched = subprocess.run(["bash", str(REPO / "hack" / "fetch-prometheus-operator-crds.sh")], capture_output=True,
                             text=True, check=True).stdout.strip().splitlines()[-1]  # fmt: skip
    crds = list(crd.all_crds().values())
    crds += [yaml.safe_load(p.read_text()) for p in sorted(Path(fetched).glob("*.yaml"))]
    out = tmp_path_factory.mktemp("crd-schemas")
    assert kube_schemas.crd_schemas(crds, out) >= 5
    return out


def kubeconform(linters: Path, crd_dir: Path, version: str, *files: Path) -> list[dict[str, Any]]:
    by_kind = "{{ .ResourceKind }}{{ .KindSuffix }}.json"
    argv = [
        str(linters / "bin" / "kubeconform"), "-strict", "-verbose", "-output", "json", "-kubernetes-version", version,
        "-schema-location", f"{linters}/schemas/{{{{ .NormalizedKubernetesVersion }}}}-standalone-strict/{by_kind}",
        "-schema-location", f"{crd_dir}/{by_kind}",
        *map(str, files),
    ]  # fmt: skip
    out = subprocess.run(argv, capture_output=True, text=True, check=False)
    resources: list[dict[str, Any]] = json.loads(out.stdout)["resources"]
    return resources


@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_kubeconform_strict_finds_every_object_valid(
    linters: Path, crd_schemas: Path, manifests: dict[str, Path], version: str
) -> None:
    results = kubeconform(linters, crd_schemas, version, *manifests.values())
    bad = [f"{r['filename']}: {r['kind']} {r['name']}: {r['status']} {r.get('msg', '')}" for r in results
           if r["status"] != "statusValid"]  # fmt: skip
    assert not bad, "\n".join(bad)
    kinds = {r["kind"] for r in results}
    assert {"Deployment", "CustomResourceDefinition", "StatefulSet", "CronJob", "Job", "PrometheusRule"} <= kinds


def test_kubeconform_would_catch_what_issue_17_found(linters: Path, crd_schemas: Path, tmp_path: Path) -> None:
    """The schemas are strict and per version: an unknown field fails everywhere, and a pod failure rule without
    status fails on 1.30 (status became optional later), as strict validators reported for the old worker Job."""
    job = worker_objects()[0]
    for rule in job["spec"]["podFailurePolicy"]["rules"]:
        for condition in rule.get("onPodConditions", []):
            del condition["status"]
    job["spec"]["template"]["spec"]["containers"][0]["scratch"] = "20Gi"
    (tmp_path / "job.yaml").write_text(yaml.safe_dump(job))
    old = kubeconform(linters, crd_schemas, "1.30.14", tmp_path / "job.yaml")[0]["msg"]
    new = kubeconform(linters, crd_schemas, "1.36.3", tmp_path / "job.yaml")[0]["msg"]
    assert "missing property 'status'" in old and "'scratch' not allowed" in old
    assert "status" not in new and "'scratch' not allowed" in new


def kube_score_config() -> dict[str, Any]:
    config: dict[str, Any] = yaml.safe_load((REPO / "hack" / "linters" / "kube-score.yaml").read_text())
    return config


def test_every_kube_score_exclusion_says_why() -> None:
    config = kube_score_config()
    entries = config["ignoreTests"] + config["flags"] + [e for f in config["perFile"].values() for e in f]
    assert entries and all(len(e.get("reason", "").split()) >= 12 for e in entries), entries


def test_kube_score_has_no_unexplained_finding(linters: Path, manifests: dict[str, Path]) -> None:
    config = kube_score_config()
    argv = [str(linters / "bin" / "kube-score"), "score", "--output-format", "ci",
            "--kubernetes-version", config["kubernetesVersion"]]  # fmt: skip
    argv += [a for t in config["ignoreTests"] for a in ("--ignore-test", t["test"])]
    argv += [f["flag"] for f in config["flags"]]
    assert set(config["perFile"]) <= set(manifests), "perFile names a file the test does not write"
    findings, passed = [], 0
    for name, path in manifests.items():
        only_here = [a for t in config["perFile"].get(name, []) for a in ("--ignore-test", t["test"])]
        out = subprocess.run([*argv, *only_here, str(path)], capture_output=True, text=True, check=False)
        findings += [
            f"{name}: {line}" for line in out.stdout.splitlines() if line.startswith(("[CRITICAL]", "[WARNING]"))
        ]
        passed += out.stdout.count("[OK]")
    assert not findings, "\n".join(findings)
    assert passed > 100
