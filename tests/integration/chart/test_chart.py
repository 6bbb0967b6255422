"""The Helm chart against the real control plane: lint, schema, dry-run, install, RBAC, upgrade, uninstall."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from lightkube import Client
from lightkube.codecs import from_dict
from lightkube.core.exceptions import ApiError
from lightkube.resources.apiextensions_v1 import CustomResourceDefinition
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.coordination_v1 import Lease
from lightkube.resources.core_v1 import Pod
from lightkube.resources.networking_v1 import NetworkPolicy

from oma.devcluster.fixtures import claim, install_crds
from oma.k8s.resources import VideoJobResource

from ..conftest import wait_for
from .conftest import process_backed_values, run, tool_env, values_file

pytestmark = pytest.mark.cluster
REPO = Path(__file__).resolve().parents[3]
CHART = REPO / "charts" / "oma-operator"


# --- static checks ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("extra", [[], ["--set", "watchNamespaces={team-a,team-b}"]], ids=["clusterwide", "namespaced"])
def test_lint_strict(tools: dict[str, str], extra: list[str]) -> None:
    out = run(tools, "helm", "lint", "--strict", str(CHART), *extra)
    assert "0 chart(s) failed" in out


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("workerr.image.repository=x", "additional properties 'workerr' not allowed"),
        ("replicas=11", "/replicas"),
        ("logFormat=xml", "/logFormat"),
        ("podDisruptionBudget.minAvailable=-1", "/podDisruptionBudget/minAvailable"),
    ],
)
def test_values_schema_rejects_typos_with_the_path(tools: dict[str, str], setting: str, message: str) -> None:
    out = run(tools, "helm", "template", "t", str(CHART), "--set", setting, ok=False)
    assert message in out, out


def test_least_privilege_rules(tools: dict[str, str]) -> None:
    """No wildcard anywhere; Secrets are never readable; cluster-scoped access only to namespaces."""
    for extra in ([], ["--set", "watchNamespaces={team-a}"]):
        docs = [d for d in yaml.safe_load_all(run(tools, "helm", "template", "t", str(CHART), *extra)) if d]
        roles = [d for d in docs if d["kind"] in ("ClusterRole", "Role")]
        assert roles
        for role in roles:
            for rule in role["rules"]:
                text = json.dumps(rule)
                assert "*" not in text, f"{role['metadata']['name']}: {rule}"
                if "secrets" in rule["resources"]:
                    assert sorted(rule["verbs"]) == ["create", "patch"], rule
            if role["kind"] == "ClusterRole" and extra:
                assert role["rules"] == [
                    {"apiGroups": [""], "resources": ["namespaces"], "verbs": ["get"], "resourceNames": ["team-a"]},
                    # The Kubernetes API's address, for the workers' egress policy: two objects, by name.
                    {"apiGroups": [""], "resources": ["services"], "verbs": ["get"], "resourceNames": ["kubernetes"]},
                    {
                        "apiGroups": ["discovery.k8s.io"],
                        "resources": ["endpointslices"],
                        "verbs": ["get"],
                        "resourceNames": ["kubernetes"],
                    },
                ]


@pytest.mark.parametrize("extra", [[], ["--set", "watchNamespaces={NS}"]], ids=["clusterwide", "namespaced"])
def test_every_rendered_object_is_accepted_by_the_apiserver(
    tools: dict[str, str], make_namespace: Callable[[str], str], extra: list[str]
) -> None:
    release_ns = make_namespace("chart-dry")
    extra = [e.replace("NS", release_ns) for e in extra]
    rendered = run(tools, "helm", "template", "dry", str(CHART), "-n", release_ns, *extra)
    kinds = [d["kind"] for d in yaml.safe_load_all(rendered) if d]
    flags = ["--dry-run=server", "--server-side", "--force-conflicts", "--field-manager=oma-tests"]
    out = run(tools, "kubectl", "apply", *flags, "-n", release_ns, "-f", "-", stdin=rendered)
    assert out.count("(server dry run)") == len(kinds), out


def test_optional_objects_render_and_are_accepted(
    tools: dict[str, str], make_namespace: Callable[[str], str], prometheus_operator_crds: None
) -> None:
    """ServiceMonitor (with prometheus-operator's real CRDs installed) and NetworkPolicy, when asked for."""
    release_ns = make_namespace("chart-opts")
    options = [
        "--set", "metrics.serviceMonitor.enabled=true",
        "--set", "metrics.serviceMonitor.labels.release=kube-prometheus-stack",
        "--set", "networkPolicy.enabled=true",
        "--set", "podDisruptionBudget.enabled=false",
        "--set", "metrics.prometheusRule.enabled=true",
        "--set", "metrics.grafanaDashboard.enabled=true",
    ]  # fmt: skip
    rendered = run(tools, "helm", "template", "opts", str(CHART), "-n", release_ns, *options)
    docs = {d["kind"]: d for d in yaml.safe_load_all(rendered) if d}
    assert "PodDisruptionBudget" not in docs
    assert docs["ServiceMonitor"]["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    egress_ports = [p["port"] for rule in docs["NetworkPolicy"]["spec"]["egress"] for p in rule["ports"]]
    assert {443, 6443, 53} <= set(egress_ports)
    flags = ["--dry-run=server", "--server-side", "--force-conflicts", "--field-manager=oma-tests"]
    out = run(tools, "kubectl", "apply", *flags, "-n", release_ns, "-f", "-", stdin=rendered)
    for accepted in ("servicemonitor.monitoring.coreos.com", "prometheusrule.monitoring.coreos.com"):
        assert f"{accepted}/opts-oma-operator serverside-applied (server dry run)" in out, out
    dashboard = next(d for d in yaml.safe_load_all(rendered) if d and d["metadata"]["name"].endswith("-dashboard"))
    assert dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert json.loads(dashboard["data"]["oma-operator.json"])["uid"] == "oma-operator"
    refused = run(tools, "helm", "template", "x", str(CHART), "--set", "metrics.service=false", *options[:2], ok=False)
    assert "metrics.serviceMonitor.enabled needs metrics.service: true" in refused


# --- install, run, upgrade, uninstall ----------------------------------------------------------------------------


def can_i(tools: dict[str, str], sa: str, *args: str) -> bool:
    out = subprocess.run(
        [tools["kubectl"], "auth", "can-i", *args, f"--as={sa}"],
        capture_output=True,
        text=True,
        env=tool_env(tools),
        check=False,
    )
    return out.stdout.strip() == "yes"


def title_card(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "video.oma.ai/v1alpha1",
        "kind": "VideoJob",
        "metadata": {"name": name},
        "spec": {
            "inputs": [{"titleCard": {"text": name, "durationSeconds": 1, "width": 320, "height": 240, "fps": 10}}],
            "outputs": {"mp4": [{"name": "out", "width": 320, "height": 240, "preset": "ultrafast"}]},
            "destination": {"claimName": "media"},
        },
    }


def phase(kube: Client, ns: str, name: str) -> str | None:
    try:
        vj = kube.get(VideoJobResource, name, namespace=ns).to_dict()
    except ApiError:
        return None
    return (vj.get("status") or {}).get("phase")  # type: ignore[no-any-return]


def deployment_available(kube: Client, ns: str, name: str) -> bool:
    try:
        d = kube.get(Deployment, name, namespace=ns)
    except ApiError:
        return False
    return bool(d.status and (d.status.availableReplicas or 0) >= 1)


def release_objects(tools: dict[str, str], release: str) -> list[str]:
    kinds = (
        "deployments,services,serviceaccounts,roles,rolebindings,poddisruptionbudgets,clusterroles,clusterrolebindings"
    )
    out = run(tools, "kubectl", "get", kinds, "-A", "-l", f"app.kubernetes.io/instance={release}", "-o", "name")
    return [line for line in out.splitlines() if line and "No resources found" not in line]


def test_install_runs_the_operator_then_upgrade_and_uninstall(
    tools: dict[str, str],
    kube: Client,
    crds: None,
    make_namespace: Callable[[str], str],
    no_session_operators: None,
    tmp_path: Path,
) -> None:
    release, release_ns = "oma-operator", make_namespace("oma-system")
    work_ns = make_namespace("chart-jobs")
    values = values_file(tmp_path, process_backed_values())
    # The session's CRDs were applied without Helm: --take-ownership adopts them (Helm >= 3.17), as a user who
    # applied crds/ first would do.
    run(tools, "helm", "install", release, str(CHART), "-n", release_ns, "-f", values, "--take-ownership")
    for crd in ("videojobs.video.oma.ai", "omastacks.video.oma.ai"):
        obj = kube.get(CustomResourceDefinition, crd)
        assert obj.metadata.annotations["helm.sh/resource-policy"] == "keep"
        assert any(c.type == "Established" and c.status == "True" for c in obj.status.conditions)
    wait_for("the operator Deployment available", lambda: deployment_available(kube, release_ns, "oma-operator"), 90)

    # The operator in the pod really reconciles: a title card renders through a process-backed worker.
    kube.create(from_dict(claim("media")), namespace=work_ns)
    kube.create(from_dict(title_card("hello")), namespace=work_ns)
    wait_for("the chart's operator to finish a VideoJob", lambda: phase(kube, work_ns, "hello") == "Succeeded", 120)
    # It acted as the holder of its Lease, in the release's namespace, under its pod's name.
    holder = kube.get(Lease, "oma-operator", namespace=release_ns).spec.holderIdentity
    pods = [p.metadata.name for p in kube.list(Pod, namespace=release_ns)]
    assert holder in pods, (holder, pods)

    sa = f"system:serviceaccount:{release_ns}:oma-operator"
    allowed = [
        ("list", "videojobs.video.oma.ai", "-A"),
        ("watch", "omastacks.video.oma.ai", "-A"),
        ("patch", "videojobs.video.oma.ai", "--subresource=status", "-n", work_ns),
        ("create", "jobs.batch", "-n", work_ns),
        ("patch", "statefulsets.apps", "-n", work_ns),
        ("create", "secrets", "-n", work_ns),
        ("create", "events", "-n", work_ns),
        ("get", f"namespaces/{work_ns}"),
        ("patch", "leases.coordination.k8s.io/oma-operator", "-n", release_ns),
        ("patch", "networkpolicies.networking.k8s.io", "-n", work_ns),
        ("get", "services/kubernetes", "-n", "default"),
        ("get", "endpointslices.discovery.k8s.io/kubernetes", "-n", "default"),
    ]
    denied = [
        ("patch", "leases.coordination.k8s.io/someone-elses", "-n", release_ns),
        ("create", "leases.coordination.k8s.io", "-n", work_ns),
        ("list", "secrets", "-A"),
        ("get", "secrets", "-n", work_ns),
        ("delete", f"namespaces/{work_ns}"),
        ("create", "clusterrolebindings"),
        ("delete", "customresourcedefinitions"),
        ("list", "pods", "-A"),
        ("create", "pods", "-n", work_ns),
        ("impersonate", "serviceaccounts", "-A"),
        ("list", "endpointslices.discovery.k8s.io", "-n", "default"),
        ("get", "endpointslices.discovery.k8s.io/other", "-n", "default"),
    ]
    policy = kube.get(NetworkPolicy, "oma-worker-egress", namespace=work_ns)
    assert policy.spec.policyTypes == ["Egress"]
    assert [a for a in allowed if not can_i(tools, sa, *a)] == []
    assert [d for d in denied if can_i(tools, sa, *d)] == []

    # helm upgrade with a changed CRD upgrades it (CRDs are templates, not crds/).
    upgraded = tmp_path / "chart"
    shutil.copytree(CHART, upgraded)
    crd_file = upgraded / "files" / "crds" / "videojobs.video.oma.ai.yaml"
    crd = yaml.safe_load(crd_file.read_text())
    crd["spec"]["versions"][0]["additionalPrinterColumns"].append(
        {"name": "Upgraded", "type": "string", "jsonPath": ".metadata.name", "priority": 1}
    )
    crd_file.write_text(yaml.safe_dump(crd))
    run(tools, "helm", "upgrade", release, str(upgraded), "-n", release_ns, "-f", values)
    columns = kube.get(CustomResourceDefinition, "videojobs.video.oma.ai").spec.versions[0].additionalPrinterColumns
    assert "Upgraded" in [c.name for c in columns]
    wait_for("the upgraded operator available", lambda: deployment_available(kube, release_ns, "oma-operator"), 90)

    run(tools, "helm", "uninstall", release, "-n", release_ns, "--wait", "--timeout", "90s")
    wait_for("no object of the release left", lambda: release_objects(tools, release) == [] or None, 60)
    # Kept on purpose (helm.sh/resource-policy: keep): deleting a CRD deletes every VideoJob in the cluster.
    assert kube.get(CustomResourceDefinition, "videojobs.video.oma.ai")
    install_crds(tools["kubeconfig"])  # put the models' CRDs back for the tests that follow


def test_namespaced_mode_serves_only_its_namespaces(
    tools: dict[str, str],
    kube: Client,
    crds: None,
    make_namespace: Callable[[str], str],
    no_session_operators: None,
    tmp_path: Path,
) -> None:
    release_ns, watched, other = (make_namespace(p) for p in ("oma-ns", "team-a", "team-b"))
    values = {**process_backed_values(), "watchNamespaces": [watched], "crds": {"install": False}}
    run(tools, "helm", "install", "scoped", str(CHART), "-n", release_ns, "-f", values_file(tmp_path, values))
    try:
        wait_for("the operator available", lambda: deployment_available(kube, release_ns, "scoped-oma-operator"), 90)
        for ns in (watched, other):
            kube.create(from_dict(claim("media")), namespace=ns)
            kube.create(from_dict(title_card("scoped")), namespace=ns)
        wait_for(
            "the watched namespace's VideoJob to succeed", lambda: phase(kube, watched, "scoped") == "Succeeded", 120
        )
        assert phase(kube, other, "scoped") is None  # never touched: no status at all

        sa = f"system:serviceaccount:{release_ns}:scoped-oma-operator"
        assert can_i(tools, sa, "list", "videojobs.video.oma.ai", "-n", watched)
        assert can_i(tools, sa, "get", f"namespaces/{watched}")
        assert not can_i(tools, sa, "list", "videojobs.video.oma.ai", "-n", other)
        assert not can_i(tools, sa, "list", "videojobs.video.oma.ai", "-A")
        assert not can_i(tools, sa, "get", f"namespaces/{other}")
        assert can_i(tools, sa, "get", "services/kubernetes", "-n", "default")
        assert not can_i(tools, sa, "get", "services/other", "-n", "default")
    finally:
        run(tools, "helm", "uninstall", "scoped", "-n", release_ns, "--wait", "--timeout", "90s")
