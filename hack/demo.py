"""`make demo`: bring the local control plane up and run examples/process-backed-job.yaml end to end.

The last line printed is the path of the file the pod wrote, on this machine's disk (the PVC's directory).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import yaml
from lightkube import Client, KubeConfig
from lightkube.codecs import from_dict
from lightkube.resources.batch_v1 import Job
from lightkube.resources.core_v1 import PersistentVolume, PersistentVolumeClaim
from lightkube.types import CascadeType

from oma.devcluster import cluster

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "process-backed-job.yaml"
NAMESPACE = "oma-demo"


def main() -> int:
    t0 = time.monotonic()
    info = cluster.up()
    print(f"cluster: {info.server} (up in {time.monotonic() - t0:.1f}s)")
    print(f"export KUBECONFIG={info.kubeconfig}")
    kube = Client(KubeConfig.from_file(info.kubeconfig), field_manager="oma-demo")
    kube.apply(from_dict({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}}))
    # A re-run starts from scratch: the previous Job and its pods go first.
    for job in kube.list(Job, namespace=NAMESPACE):
        assert job.metadata and job.metadata.name
        kube.delete(Job, job.metadata.name, namespace=NAMESPACE, cascade=CascadeType.FOREGROUND)
    for doc in yaml.safe_load_all(EXAMPLE.read_text()):
        obj = from_dict(doc)
        if isinstance(obj, Job):
            _wait_gone(kube, obj.metadata.name if obj.metadata else "")
        kube.apply(obj, namespace=NAMESPACE, force=True)
    print(f"applied {EXAMPLE.name} in namespace {NAMESPACE}; waiting for Job demo-hello")
    deadline = time.monotonic() + 120
    while True:
        job = kube.get(Job, "demo-hello", namespace=NAMESPACE)
        conds = {c.type: c for c in (job.status.conditions if job.status else None) or [] if c.status == "True"}
        if "Complete" in conds:
            break
        if "Failed" in conds:
            print(f"Job failed: {conds['Failed'].reason}: {conds['Failed'].message}", file=sys.stderr)
            print(f"logs: python -m oma.devcluster logs {NAMESPACE}/demo-hello", file=sys.stderr)
            return 1
        if time.monotonic() > deadline:
            print("timed out after 120s waiting for Job demo-hello to complete", file=sys.stderr)
            return 1
        time.sleep(0.2)
    claim = kube.get(PersistentVolumeClaim, "demo-media", namespace=NAMESPACE)
    assert claim.spec and claim.spec.volumeName
    pv = kube.get(PersistentVolume, claim.spec.volumeName)
    assert pv.spec and pv.spec.hostPath
    out = Path(pv.spec.hostPath.path) / "out" / "hello.txt"
    print(f"Job demo-hello Complete in {time.monotonic() - t0:.1f}s; the pod wrote /data/out/hello.txt, which is:")
    print(out.read_text().rstrip())
    print(out)
    return 0


def _wait_gone(kube: Client, name: str) -> None:
    from lightkube.core.exceptions import ApiError

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            kube.get(Job, name, namespace=NAMESPACE)
        except ApiError as e:
            if e.status.code == 404:
                return
            raise
        time.sleep(0.2)
    raise SystemExit(f"the previous Job {name} did not go away within 60s")


if __name__ == "__main__":
    sys.exit(main())
