"""`oma stack restore` against the API: it reads the stack, creates its restore Jobs and follows them.

KWOK stands in for the pods here (it completes them), so this proves the command's use of the cluster; what the
Jobs' scripts do to real data is proven in omastack/test_backup_restore.py."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import yaml
from lightkube import Client
from lightkube.codecs import from_dict
from lightkube.resources.batch_v1 import Job

from oma.devcluster import cluster as devcluster
from oma.devcluster.fixtures import claim

pytestmark = pytest.mark.cluster


def oma(cluster: devcluster.ClusterInfo, *args: str) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "oma.cli.main", "stack", "restore", *args]
    env = {**os.environ, "KUBECONFIG": str(cluster.kubeconfig)}
    return subprocess.run(argv, env=env, capture_output=True, text=True, check=False, timeout=300)


def test_restore_creates_a_job_per_database_and_waits_for_them(
    kube: Client, cluster: devcluster.ClusterInfo, crds: None, namespace: str
) -> None:
    spec = {"backups": {"destination": {"pvc": {"claimName": "nas"}}}}
    stack = {"apiVersion": "video.oma.ai/v1alpha1", "kind": "OmaStack", "metadata": {"name": "site"}, "spec": spec}
    kube.create(from_dict(stack), namespace=namespace)
    kube.create(from_dict(claim("nas")), namespace=namespace)

    printed = oma(cluster, "site", "-n", namespace, "--from", "redis/20261126T030000Z.rdb", "--print")
    assert printed.returncode == 0, printed.stderr
    [job] = list(yaml.safe_load_all(printed.stdout))
    assert job["kind"] == "Job" and job["metadata"]["namespace"] == namespace
    assert not list(kube.list(Job, namespace=namespace)), "--print created something"

    done = oma(cluster, "site", "-n", namespace, "--from", "latest", "--timeout", "90")
    assert done.returncode == 0, done.stdout + done.stderr
    jobs = {j.metadata.name: j for j in kube.list(Job, namespace=namespace)}
    assert sorted(n.rsplit("-", 2)[0] for n in jobs) == ["site-restore-postgres", "site-restore-redis"]
    for name, j in jobs.items():
        assert f"job/{name}: Complete" in done.stdout
        assert j.spec.template.spec.volumes[0].persistentVolumeClaim.claimName == "nas"

    missing = oma(cluster, "nowhere", "-n", namespace, "--from", "latest")
    assert missing.returncode == 1 and f"no OmaStack nowhere in namespace {namespace}" in missing.stderr
