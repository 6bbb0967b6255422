"""An OmaStack on the local cluster gives its dashboard an identity that can do exactly the dashboard's work."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from lightkube import Client
from lightkube.codecs import from_dict
from lightkube.core.exceptions import ApiError
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.networking_v1 import Ingress
from lightkube.resources.rbac_authorization_v1 import RoleBinding

from oma.devcluster import cluster as devcluster

from .harness import wait_for

pytestmark = pytest.mark.cluster


def can_i(cluster: devcluster.ClusterInfo, user: str, *args: str) -> bool:
    kubectl = str(devcluster.find_bin_dir() / "kubectl")
    env = {"KUBECONFIG": cluster.kubeconfig, "PATH": "/usr/bin:/bin", "HOME": str(Path.home())}
    out = subprocess.run([kubectl, "auth", "can-i", "--as", user, *args], capture_output=True, text=True, env=env)
    assert out.stdout.strip() in ("yes", "no"), out.stderr
    return out.stdout.strip() == "yes"


def exists(kube: Client, kind: Any, name: str, ns: str) -> bool:
    try:
        kube.get(kind, name, namespace=ns)
    except ApiError:
        return False
    return True


def test_the_dashboard_may_create_and_follow_videojobs_here_and_nothing_else(
    cluster: devcluster.ClusterInfo,
    kube: Client,
    namespace: str,
    make_namespace: Callable[[str], str],
    operator: object,
) -> None:
    ingress = {"enabled": True, "host": "oma.example.com", "tls": {"secretName": "oma-tls"}, "className": "nginx"}
    dashboard = {"ingress": ingress, "mediaClaim": "videos", "rateLimits": {"submitPerToken": 5}}
    stack = {"apiVersion": "video.oma.ai/v1alpha1", "kind": "OmaStack", "metadata": {"name": "web"}}
    kube.create(from_dict({**stack, "spec": {"dashboard": dashboard}}), namespace=namespace)
    wait_for("the dashboard's RoleBinding", lambda: exists(kube, RoleBinding, "web-dashboard", namespace), timeout=60)
    other = make_namespace("elsewhere")

    sa = f"system:serviceaccount:{namespace}:web-dashboard"
    here = ("-n", namespace)
    allowed = [(verb, "videojobs.video.oma.ai", *here) for verb in ("create", "get", "list", "watch", "patch")]
    denied = [
        ("delete", "videojobs.video.oma.ai", *here),
        ("patch", "videojobs.video.oma.ai", "--subresource=status", *here),
        ("create", "videojobs.video.oma.ai", "-n", other),
        ("list", "videojobs.video.oma.ai", "-A"),
        ("get", "secrets", *here),
        ("list", "secrets", *here),
        ("get", "omastacks.video.oma.ai", *here),
        ("create", "jobs.batch", *here),
        ("list", "pods", *here),
        ("create", "rolebindings.rbac.authorization.k8s.io", *here),
    ]
    assert [a for a in allowed if not can_i(cluster, sa, *a)] == []
    assert [d for d in denied if can_i(cluster, sa, *d)] == []

    deploy = wait_for("the dashboard Deployment", lambda: exists(kube, Deployment, "web-dashboard", namespace))
    assert deploy
    pod = kube.get(Deployment, "web-dashboard", namespace=namespace).to_dict()["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert pod["serviceAccountName"] == "web-dashboard"
    media = next(v for v in pod["volumes"] if v["name"] == "media")
    assert media["persistentVolumeClaim"] == {"claimName": "videos", "readOnly": True}
    assert {"name": "media", "mountPath": "/media", "readOnly": True} in container["volumeMounts"]
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["OMA_DESTINATION_CLAIM"] == "videos" and env["OMA_RATE_SUBMIT_PER_MINUTE"] == "5"

    wait_for("the Ingress", lambda: exists(kube, Ingress, "web-dashboard", namespace), timeout=30)
    ing = kube.get(Ingress, "web-dashboard", namespace=namespace).to_dict()["spec"]
    assert ing["rules"][0]["host"] == "oma.example.com" and ing["ingressClassName"] == "nginx"
    assert ing["tls"] == [{"secretName": "oma-tls", "hosts": ["oma.example.com"]}]
