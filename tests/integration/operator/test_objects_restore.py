"""A lost namespace re-created from the objects backup: finished VideoJobs are adopted, never run again.

The export is one run of the stack's objects backup CronJob, in the cluster (as a real local process, with the
CronJob's ServiceAccount); the restore is `oma stack restore-objects`; the operator is the real one.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from lightkube import Client
from lightkube.codecs import from_dict
from lightkube.models.authorization_v1 import ResourceAttributes, SubjectAccessReviewSpec
from lightkube.resources.authorization_v1 import SubjectAccessReview
from lightkube.resources.batch_v1 import CronJob, Job
from lightkube.resources.core_v1 import Event, PersistentVolume, PersistentVolumeClaim
from lightkube.types import PatchType

from oma.devcluster import cluster as devcluster
from oma.devcluster.fixtures import claim
from oma.devcluster.layout import PROCESS_TAINT_KEY
from oma.k8s.resources import OmaStackResource, VideoJobResource
from oma.models.videojob import RESTORED_UID_ANNOTATION, RESTORING_ANNOTATION

from ..conftest import wait_for
from .conftest import get_vj, phase_is, videojob

pytestmark = [pytest.mark.cluster, pytest.mark.usefixtures("operator")]


def oma(cluster: devcluster.ClusterInfo, *args: str, **env: str) -> str:
    argv = [sys.executable, "-m", "oma.cli.main", *args]
    full_env = {**os.environ, "KUBECONFIG": str(cluster.kubeconfig), **env}
    done = subprocess.run(argv, env=full_env, capture_output=True, text=True, check=False, timeout=120)
    assert done.returncode == 0, f"oma {' '.join(args)}: exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done.stdout


def jobs_of(kube: Client, ns: str, name: str) -> list[Job]:
    return list(kube.list(Job, namespace=ns, labels={"video.oma.ai/videojob": name}))


def reasons(kube: Client, ns: str, name: str) -> set[str]:
    return {e.reason for e in kube.list(Event, namespace=ns) if e.involvedObject.name == name}


def may(kube: Client, ns: str, user: str, verb: str, resource: str, group: str = "video.oma.ai") -> bool:
    attrs = ResourceAttributes(namespace=ns, verb=verb, group=group, resource=resource)
    review = SubjectAccessReview(spec=SubjectAccessReviewSpec(user=user, resourceAttributes=attrs))
    return bool(kube.create(review).status.allowed)


def run_cronjob_once(kube: Client, ns: str, name: str) -> Path:
    """One run of the CronJob `name` on the process-backed node; the backups claim's directory afterwards."""
    template = kube.get(CronJob, name, namespace=ns).spec.jobTemplate.to_dict()
    pod = template["spec"]["template"]["spec"]
    pod["nodeSelector"] = {PROCESS_TAINT_KEY: "true"}
    pod["tolerations"] = [{"key": PROCESS_TAINT_KEY, "operator": "Exists", "effect": "NoSchedule"}]
    job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": f"{name}-now"}, "spec": template["spec"]}
    kube.create(from_dict(job), namespace=ns)

    def outcome() -> str | None:
        conds = kube.get(Job, f"{name}-now", namespace=ns).status.conditions or []
        return next((c.type for c in conds if c.type in ("Complete", "Failed") and c.status == "True"), None)

    assert wait_for(f"the {name} run to finish", outcome, timeout=120) == "Complete"
    claim = kube.get(PersistentVolumeClaim, pod["volumes"][0]["persistentVolumeClaim"]["claimName"], namespace=ns)
    return Path(kube.get(PersistentVolume, claim.spec.volumeName).spec.hostPath.path)


def finished_and_running(kube: Client, src: str, stalling_server: str) -> dict[str, dict[str, Any]]:
    """A namespace's history: one job succeeded (a real encode), one failed, one still running."""
    kube.create(from_dict(claim("media")), namespace=src)
    kube.create(from_dict(videojob("done")), namespace=src)
    kube.create(from_dict(videojob("broken", limits={"maxEncodedFrames": 1})), namespace=src)
    kube.create(from_dict(videojob("stalled", inputs=[{"url": stalling_server}])), namespace=src)
    return {
        "done": wait_for("done to succeed", lambda: phase_is(kube, src, "done", "Succeeded"), timeout=120),
        "broken": wait_for("broken to fail", lambda: phase_is(kube, src, "broken", "Failed"), timeout=120),
        "stalled": wait_for("stalled to run", lambda: phase_is(kube, src, "stalled", "Running"), timeout=120),
    }


def test_a_lost_namespace_comes_back_with_finished_videojobs_adopted_not_rerun(
    kube: Client,
    cluster: devcluster.ClusterInfo,
    make_namespace: Callable[[str], str],
    stalling_server: str,
) -> None:
    src, dst = make_namespace("objects-src"), make_namespace("objects-dst")
    site = {"apiVersion": "video.oma.ai/v1alpha1", "kind": "OmaStack", "metadata": {"name": "site"}}
    kube.create(
        from_dict({**site, "spec": {"dashboard": {"replicas": 1, "autoscaling": {"enabled": False}}}}), namespace=src
    )
    before = finished_and_running(kube, src, stalling_server)

    # The backup's identity (the stack's child) reads the stack and its VideoJobs, and nothing else.
    user = f"system:serviceaccount:{src}:site-backup-objects"
    wait_for("the objects backup's Role", lambda: may(kube, src, user, "list", "videojobs"), timeout=60)
    assert may(kube, src, user, "get", "omastacks")
    assert not may(kube, src, user, "get", "secrets", group="")
    assert not may(kube, src, user, "create", "videojobs")
    assert not may(kube, dst, user, "list", "videojobs")

    # The backup, as the stack's CronJob runs it: its job template (command, env, ServiceAccount, claim) as a Job,
    # like `kubectl create job --from=cronjob/...`, on the node that runs pods as real local processes.
    backups_dir = run_cronjob_once(kube, src, "site-backup-objects")
    [backup] = list((backups_dir / "objects").glob("*.yaml"))
    items = yaml.safe_load(backup.read_text())["items"]
    assert sorted((i["kind"], i["metadata"]["name"]) for i in items) == [
        ("OmaStack", "site"),
        ("VideoJob", "broken"),
        ("VideoJob", "done"),
        ("VideoJob", "stalled"),
    ]

    # Someone tries the hold on a new job in the fresh namespace, hoping to skip its work.
    sneaky = videojob("sneaky")
    sneaky["metadata"]["annotations"] = {RESTORING_ANNOTATION: "forged"}
    kube.create(from_dict(sneaky), namespace=dst)

    # An earlier restore died after creating "done" held, before writing its status: this one finishes the job.
    [done_item] = [i for i in items if i["metadata"]["name"] == "done"]
    interrupted = {k: v for k, v in done_item.items() if k != "status"}
    interrupted["metadata"] = {"name": "done", "annotations": {RESTORING_ANNOTATION: "an-earlier-run.yaml"}}
    kube.create(from_dict(interrupted), namespace=dst)

    out = oma(cluster, "stack", "restore-objects", str(backup), "--namespace", dst)
    assert "1 OmaStack(s) created, 2 finished VideoJob(s) adopted, 1 unfinished VideoJob(s) created" in out

    # The unfinished job was created last: once the operator has made its Job, it has seen every earlier event.
    wait_for("a Job for the unfinished VideoJob", lambda: jobs_of(kube, dst, "stalled"), timeout=60)
    for name in ("done", "broken", "sneaky"):
        assert not jobs_of(kube, dst, name), f"{name} was run again"
    for name in ("done", "broken"):
        restored = get_vj(kube, dst, name)
        assert restored["status"] == before[name]["status"], f"{name}'s status changed on its way back"
        annotations = restored["metadata"].get("annotations") or {}
        assert RESTORING_ANNOTATION not in annotations
        # The dashboard's history keeps knowing it by its old uid.
        assert annotations[RESTORED_UID_ANNOTATION] == before[name]["metadata"]["uid"]
        wait_for(f"an Adopted Event for {name}", lambda name=name: "Adopted" in reasons(kube, dst, name), timeout=30)
    assert before["done"]["status"]["outputs"], "the adopted job lost its outputs"
    assert kube.get(OmaStackResource, "site", namespace=dst).spec is not None

    # Run again (an interrupted restore is simply repeated): nothing is created twice, nothing changes.
    again = oma(cluster, "stack", "restore-objects", str(backup), "--namespace", dst)
    assert "0 finished VideoJob(s) adopted, 0 unfinished VideoJob(s) created to run again, 4 already there" in again
    assert get_vj(kube, dst, "done")["status"] == before["done"]["status"]

    # The hold only waits: the forged one says why it does not start, and runs once the annotation goes.
    wait_for("a RestoreHold Event for sneaky", lambda: "RestoreHold" in reasons(kube, dst, "sneaky"), timeout=30)
    assert not (get_vj(kube, dst, "sneaky").get("status") or {}).get("phase")
    release = {"metadata": {"annotations": {RESTORING_ANNOTATION: None}}}
    kube.patch(VideoJobResource, "sneaky", release, namespace=dst, patch_type=PatchType.MERGE)
    wait_for("a Job for sneaky once released", lambda: jobs_of(kube, dst, "sneaky"), timeout=60)
