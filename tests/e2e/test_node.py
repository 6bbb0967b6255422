"""The real node itself: a restricted pod from our operator image runs as its image's user on a read-only root,
finds the apiserver by cluster DNS through the `kubernetes` Service with its ServiceAccount token, and its
exit code and logs reach the API as kubelet reports them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from oma.devcluster.layout import ClusterInfo
from oma.devcluster.nodeconfig import NodePaths

from .conftest import Images, Kubectl, wait_for

pytestmark = pytest.mark.node

# Runs in the pod: cluster DNS, then GET /version through the kubernetes Service with the pod's own token.
PROBE = """
import json, socket, ssl, urllib.request, os
sa = "/var/run/secrets/kubernetes.io/serviceaccount"
addr = socket.gethostbyname("kubernetes.default.svc.cluster.local")
ctx = ssl.create_default_context(cafile=f"{sa}/ca.crt")
req = urllib.request.Request("https://kubernetes.default.svc/version",
                             headers={"Authorization": "Bearer " + open(f"{sa}/token").read()})
version = json.load(urllib.request.urlopen(req, context=ctx, timeout=10))["gitVersion"]
try:
    open("/probe", "w")
    root = "writable"
except OSError:
    root = "read-only"
print(json.dumps({"uid": os.getuid(), "dns": addr, "version": version, "root": root}), flush=True)
raise SystemExit(3)
"""


def probe_pod(image: str) -> dict[str, Any]:
    container = {
        "name": "probe",
        "image": image,
        "imagePullPolicy": "Never",
        "command": ["python3", "-c", PROBE],
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
    }
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "probe"},
        "spec": {"restartPolicy": "Never", "containers": [container]},
    }


def test_a_restricted_pod_reaches_the_api_by_dns_and_reports_its_exit_code(
    kubectl: Kubectl, images: Images, restricted_namespace: str
) -> None:
    ns = restricted_namespace
    kubectl.apply(probe_pod(images.refs["operator"]), namespace=ns)

    def terminated() -> dict[str, Any] | None:
        statuses = kubectl.json("-n", ns, "get", "pod", "probe").get("status", {}).get("containerStatuses") or []
        return statuses[0]["state"].get("terminated") if statuses else None

    state = wait_for("the probe pod to finish", terminated, timeout=120)
    assert state["exitCode"] == 3, state
    seen = json.loads(kubectl("-n", ns, "logs", "probe").strip().splitlines()[-1])
    assert seen == {"uid": 65532, "dns": "10.96.0.1", "version": "v1.36.3", "root": "read-only"}
    phase = ("-n", ns, "get", "pod", "probe", "-o", "jsonpath={.status.phase}")
    wait_for("the pod's phase Failed (restartPolicy Never, exit 3)", lambda: kubectl(*phase) == "Failed", timeout=30)


def test_restricted_namespaces_refuse_a_privileged_pod(
    kubectl: Kubectl, images: Images, restricted_namespace: str
) -> None:
    pod = probe_pod(images.refs["operator"])
    pod["spec"]["containers"][0]["securityContext"] = {"privileged": True}
    with pytest.raises(AssertionError, match="violates PodSecurity"):
        kubectl.apply(pod, namespace=restricted_namespace)


def test_the_kubelet_is_held_to_its_node_by_the_node_authorizer_and_node_restriction(
    kubectl: Kubectl, real_cluster: ClusterInfo
) -> None:
    as_node = ("--kubeconfig", str(NodePaths(Path(real_cluster.state_dir)).root / "kubelet.kubeconfig"))
    # The Node authorizer: a kubelet reads only the secrets of pods bound to it.
    assert kubectl.run(*as_node, "auth", "can-i", "list", "secrets", "-A").stdout.startswith("no")
    assert kubectl.run(*as_node, "auth", "can-i", "get", "nodes/oma-node").stdout.strip() == "yes"
    # NodeRestriction: not even its own Node may take labels of the node-restriction prefix.
    denied = kubectl.run(*as_node, "label", "node", "oma-node", "node-restriction.kubernetes.io/e2e=x")
    assert denied.returncode != 0 and "forbidden" in denied.stderr.lower(), denied
