"""`make demo`: the main job end to end on the local control plane.

Brings the cluster up, installs the CRDs, runs the operator, applies examples/title-card.yaml and waits for the
VideoJob to succeed; the process-backed worker renders a real video onto the PVC. The last line printed is
the path of that video file.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

import yaml
from lightkube import Client, KubeConfig
from lightkube.codecs import from_dict
from lightkube.core.exceptions import ApiError
from lightkube.resources.core_v1 import PersistentVolume, PersistentVolumeClaim

from oma.devcluster import cluster, fixtures
from oma.devcluster.operator_process import OperatorProcess
from oma.k8s.resources import VideoJobResource

REPO = Path(__file__).resolve().parents[1]
NAMESPACE = "oma-demo"


def wait(what: str, probe: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not probe():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.2)


def main() -> int:
    t0 = time.monotonic()
    info = cluster.up()
    print(f"cluster: {info.server} (ready in {time.monotonic() - t0:.1f}s); export KUBECONFIG={info.kubeconfig}")
    kube = Client(KubeConfig.from_file(info.kubeconfig), field_manager="oma-demo")
    fixtures.install_crds(info.kubeconfig)
    kube.apply(from_dict({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}}))
    kube.apply(from_dict(fixtures.claim("media")), namespace=NAMESPACE)
    job = yaml.safe_load((REPO / "examples" / "title-card.yaml").read_text())
    name = job["metadata"]["name"]
    try:  # a re-run starts from a fresh VideoJob
        kube.delete(VideoJobResource, name, namespace=NAMESPACE)
        wait("the previous VideoJob to go", lambda: _gone(kube, name), 60)
    except ApiError as e:
        if e.status.code != 404:
            raise

    log = Path(info.state_dir) / "logs" / "operator-demo.log"
    operator = OperatorProcess(info.kubeconfig, log)
    operator.start()
    print(f"operator: running (log {log})")
    try:
        kube.create(from_dict(job), namespace=NAMESPACE)
        print(f"applied examples/title-card.yaml as {NAMESPACE}/{name}; waiting for it to succeed")
        last = ""
        deadline = time.monotonic() + 300
        while True:
            status = kube.get(VideoJobResource, name, namespace=NAMESPACE).to_dict().get("status") or {}
            phase = status.get("phase", "Pending")
            line = f"  {phase} {status.get('progress', {}).get('percent', 0):.0f}%"
            if line != last:
                print(line)
                last = line
            if phase in ("Succeeded", "Failed", "Cancelled"):
                break
            if time.monotonic() > deadline:
                print("timed out after 300s", file=sys.stderr)
                return 1
            time.sleep(0.2)
    finally:
        operator.stop()
    if phase != "Succeeded":
        print(f"VideoJob {phase}: {status.get('failure')}", file=sys.stderr)
        print(f"worker logs: .venv/bin/python -m oma.devcluster logs {NAMESPACE}/{name}", file=sys.stderr)
        return 1
    claim = kube.get(PersistentVolumeClaim, "media", namespace=NAMESPACE)
    volume = Path(kube.get(PersistentVolume, claim.spec.volumeName).spec.hostPath.path)
    dest = volume / job["spec"]["destination"].get("pathPrefix", "")
    print(f"VideoJob {name} Succeeded in {time.monotonic() - t0:.1f}s with {len(status['outputs'])} verified outputs:")
    for out in status["outputs"]:
        if out["kind"] != "thumbnail":
            print(f"  {out['kind']:<12} {dest / out['uri']}")
    video = next(o for o in status["outputs"] if o["kind"] == "mp4")
    print(dest / video["uri"])
    return 0


def _gone(kube: Client, name: str) -> bool:
    try:
        kube.get(VideoJobResource, name, namespace=NAMESPACE)
    except ApiError as e:
        return e.status.code == 404
    return False


if __name__ == "__main__":
    sys.exit(main())
