"""A process-backed pod sees what a container would: its ServiceAccount identity under RBAC, and its volumes."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
from lightkube import Client
from lightkube.codecs import from_dict
from lightkube.resources.core_v1 import PersistentVolume, PersistentVolumeClaim

from oma.devcluster import cluster as devcluster
from oma.devcluster import fixtures

from ..conftest import wait_for
from .test_jobs import job_condition, job_pods, process_job

pytestmark = pytest.mark.cluster

# Runs inside the pod: an in-cluster request with the mounted token; prints the HTTP status and the reply.
WHOAMI = r"""
import json, os, ssl, urllib.request, urllib.error
sa = "/var/run/secrets/kubernetes.io/serviceaccount"
ns = open(f"{sa}/namespace").read()
url = f"https://{os.environ['KUBERNETES_SERVICE_HOST']}:{os.environ['KUBERNETES_SERVICE_PORT']}"
req = urllib.request.Request(f"{url}/api/v1/namespaces/{ns}/secrets",
                             headers={"Authorization": "Bearer " + open(f"{sa}/token").read()})
ctx = ssl.create_default_context(cafile=f"{sa}/ca.crt")
try:
    urllib.request.urlopen(req, context=ctx)
    print("STATUS 200")
except urllib.error.HTTPError as e:
    print("STATUS", e.code, json.load(e)["message"])
"""


def test_serviceaccount_token_is_mounted_and_rbac_applies(
    kube: Client, namespace: str, cluster: devcluster.ClusterInfo
) -> None:
    job = process_job("whoami", "true", backoffLimit=0)
    job["spec"]["template"]["spec"]["containers"][0]["command"] = [sys.executable, "-c", WHOAMI]
    kube.create(from_dict(job), namespace=namespace)
    wait_for("Job whoami to Complete", lambda: job_condition(kube, namespace, "whoami", "Complete"))
    log = next(devcluster.Layout(Path(cluster.state_dir)).pods.glob(f"{namespace}_whoami-*/main.log")).read_text()
    # Authenticated as the pod's ServiceAccount (not admin), and RBAC denies what it was not granted.
    assert "STATUS 403" in log, log
    assert f"system:serviceaccount:{namespace}:default" in log, log


def test_pvc_is_provisioned_and_mounted_at_its_mount_path(kube: Client, namespace: str) -> None:
    kube.create(from_dict(fixtures.claim("media")), namespace=namespace)
    job = process_job(
        "writer", "mkdir -p /data/out && echo rendered > /data/out/video.txt && cat /cfg/greeting", backoffLimit=0
    )
    pod_spec = job["spec"]["template"]["spec"]
    pod_spec["volumes"] = [
        {"name": "media", "persistentVolumeClaim": {"claimName": "media"}},
        {"name": "cfg", "configMap": {"name": "cfg"}},
    ]
    pod_spec["containers"][0]["volumeMounts"] = [
        {"name": "media", "mountPath": "/data"},
        {"name": "cfg", "mountPath": "/cfg", "readOnly": True},
    ]
    kube.create(from_dict(job), namespace=namespace)

    # The ConfigMap arrives after the pod: like kubelet, the node reports it and waits instead of failing.
    def waiting_for_config() -> Any:
        for p in job_pods(kube, namespace, "writer"):
            for cs in (p.status.containerStatuses if p.status else None) or []:
                if cs.state and cs.state.waiting and cs.state.waiting.reason == "CreateContainerConfigError":
                    return p
        return None

    pod = wait_for("the writer pod to report CreateContainerConfigError", waiting_for_config)
    assert pod.spec.nodeName == devcluster.PROCESS_NODE
    kube.create(
        from_dict({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg"}, "data": {"greeting": "hi"}}),
        namespace=namespace,
    )
    wait_for("Job writer to Complete", lambda: job_condition(kube, namespace, "writer", "Complete"), timeout=60)
    claim = kube.get(PersistentVolumeClaim, "media", namespace=namespace)
    assert claim.status.phase == "Bound"
    pv = kube.get(PersistentVolume, claim.spec.volumeName)
    written = Path(pv.spec.hostPath.path) / "out" / "video.txt"
    assert written.read_text() == "rendered\n"
    # Nothing was written at the mount path on the host itself: the bind mount was private to the pod.
    assert not Path("/data/out/video.txt").exists()
