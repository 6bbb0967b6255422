"""How fast an OmaStack comes up and heals, on the local control plane (pods are KWOK's: ready at once).

    .venv/bin/python bench/stack_self_heal.py [--rounds 10] [--stacks 20]

Measures, with one oma operator started here (run it with no other operator on the cluster):
  1. create -> Ready for one stack, then for --stacks stacks created at once;
  2. deleting the Redis StatefulSet -> a new one exists (by uid), --rounds times;
  3. a hand edit of the dashboard's replicas -> reverted, --rounds times.
Baseline in the same run: how long the apiserver takes to create the same StatefulSet when a script does it
right after the deletion returns, so "restore" can be read as operator reaction time plus one create.
"""

from __future__ import annotations

import argparse
import statistics
import time
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lightkube import Client, KubeConfig
from lightkube.codecs import from_dict
from lightkube.core.exceptions import ApiError
from lightkube.resources.apps_v1 import Deployment, StatefulSet
from lightkube.resources.core_v1 import Namespace
from lightkube.types import PatchType

from oma.devcluster import cluster, fixtures
from oma.devcluster.operator_process import OperatorProcess
from oma.k8s.resources import OmaStackResource


def stack(name: str) -> dict[str, Any]:
    spec = {"dashboard": {"autoscaling": {"enabled": False}, "replicas": 2}}
    return {"apiVersion": "video.oma.ai/v1alpha1", "kind": "OmaStack", "metadata": {"name": name}, "spec": spec}


def until(what: str, probe: Callable[[], bool], timeout: float = 120, interval: float = 0.01) -> float:
    started = time.monotonic()
    while not probe():
        if time.monotonic() - started > timeout:
            raise TimeoutError(what)
        time.sleep(interval)
    return time.monotonic() - started


def ready(kube: Client, ns: str, name: str) -> bool:
    st = kube.get(OmaStackResource, name, namespace=ns).to_dict()
    status = st.get("status") or {}
    conds = {c["type"]: c["status"] for c in status.get("conditions") or []}
    return status.get("observedGeneration") == st["metadata"]["generation"] and conds.get("Ready") == "True"


def uid(kube: Client, ns: str, name: str) -> str | None:
    try:
        return kube.get(StatefulSet, name, namespace=ns).metadata.uid
    except ApiError:
        return None


def summary(label: str, values: list[float]) -> None:
    ms = sorted(v * 1000 for v in values)
    print(f"{label:<46} median {statistics.median(ms):7.1f} ms   max {ms[-1]:7.1f} ms   (n={len(ms)})")


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--rounds", type=int, default=10)
    p.add_argument("--stacks", type=int, default=20)
    args = p.parse_args()

    info = cluster.status() or cluster.up()
    fixtures.install_crds(info.kubeconfig)
    kube = Client(KubeConfig.from_file(info.kubeconfig), field_manager="oma-bench")
    ns = f"bench-stack-{uuid.uuid4().hex[:6]}"
    kube.create(from_dict({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}))
    op = OperatorProcess(info.kubeconfig, Path(f"/tmp/{ns}-operator.log"), process_backed=False)
    op.start()
    try:
        kube.create(from_dict(stack("one")), namespace=ns)
        summary("create -> Ready, one stack", [until("one Ready", lambda: ready(kube, ns, "one"))])

        started = time.monotonic()
        names = [f"s{i}" for i in range(args.stacks)]
        for name in names:
            kube.create(from_dict(stack(name)), namespace=ns)
        until("all Ready", lambda: all(ready(kube, ns, n) for n in names), timeout=300, interval=0.2)
        print(f"{args.stacks} stacks created at once -> all Ready: {time.monotonic() - started:.1f} s")

        restore, baseline = [], []
        for _ in range(args.rounds):
            old = uid(kube, ns, "one-redis")
            manifest = kube.get(StatefulSet, "one-redis", namespace=ns).to_dict()
            kube.delete(StatefulSet, "one-redis", namespace=ns)
            restore.append(until("re-created", lambda old=old: uid(kube, ns, "one-redis") not in (None, old)))
            until("Ready again", lambda: ready(kube, ns, "one"))
            # Baseline: the same StatefulSet re-created by this script right after its deletion returned.
            twin = {
                "apiVersion": "apps/v1",
                "kind": "StatefulSet",
                "metadata": {"name": "twin", "labels": {"oma.dev/bench": "true"}},
                "spec": {**manifest["spec"], "selector": {"matchLabels": {"oma.dev/bench": "twin"}}},
            }
            twin["spec"]["template"]["metadata"]["labels"] = {"oma.dev/bench": "twin"}
            kube.create(from_dict(twin), namespace=ns)
            twin_uid = uid(kube, ns, "twin")
            kube.delete(StatefulSet, "twin", namespace=ns)
            t0 = time.monotonic()
            kube.create(from_dict(twin), namespace=ns)
            baseline.append(time.monotonic() - t0)
            assert uid(kube, ns, "twin") != twin_uid
            kube.delete(StatefulSet, "twin", namespace=ns)
        summary("Redis StatefulSet deleted -> re-created", restore)
        summary("baseline: one StatefulSet create call", baseline)

        revert = []
        for i in range(args.rounds):
            kube.patch(
                Deployment, "one-dashboard", {"spec": {"replicas": 5 + i}}, namespace=ns, patch_type=PatchType.MERGE
            )
            revert.append(
                until("reverted", lambda: kube.get(Deployment, "one-dashboard", namespace=ns).spec.replicas == 2)
            )
        summary("dashboard replicas edited -> reverted", revert)
        print(f"restore / baseline (medians): {statistics.median(restore) / statistics.median(baseline):.1f}")
        with urllib.request.urlopen(f"http://127.0.0.1:{op.metrics_port}/metrics", timeout=5) as r:
            for line in r.read().decode().splitlines():
                if line.startswith("oma_omastack_reconciles_total{"):
                    print(line)
    finally:
        # Gone before the next run starts: a terminating namespace full of stacks would slow that run down.
        kube.delete(Namespace, ns)
        until("the namespace deleted", lambda: not any(n.metadata.name == ns for n in kube.list(Namespace)), 300, 0.5)
        op.stop()


if __name__ == "__main__":
    main()
