"""The workers' egress NetworkPolicy: created beside their RBAC, accepted by the apiserver, selecting the pods."""

from __future__ import annotations

import pytest
from lightkube import Client
from lightkube.codecs import from_dict
from lightkube.resources.core_v1 import Namespace, Pod
from lightkube.resources.networking_v1 import NetworkPolicy
from lightkube.types import PatchType

from ..conftest import wait_for
from .conftest import phase_is, videojob

pytestmark = [pytest.mark.cluster, pytest.mark.usefixtures("operator", "media_pvc")]


def test_worker_pods_get_an_egress_policy_with_the_namespaces_networks(kube: Client, namespace: str) -> None:
    allow = {"metadata": {"annotations": {"video.oma.ai/worker-egress-allow-cidrs": "10.20.0.0/16, bogus"}}}
    kube.patch(Namespace, namespace, allow, patch_type=PatchType.MERGE)
    kube.create(from_dict(videojob("egress")), namespace=namespace)
    wait_for("the VideoJob to succeed", lambda: phase_is(kube, namespace, "egress", "Succeeded"), timeout=120)

    policy = kube.get(NetworkPolicy, "oma-worker-egress", namespace=namespace)  # stored: the apiserver took it
    assert policy.spec.policyTypes == ["Egress"]
    blocks = [p.ipBlock for rule in policy.spec.egress for p in rule.to or [] if p.ipBlock]
    assert "10.20.0.0/16" in [b.cidr for b in blocks]  # the unparsable entry is dropped, not applied
    public_v4 = next(b for b in blocks if b.cidr == "0.0.0.0/0")
    assert {"10.0.0.0/8", "169.254.0.0/16", "127.0.0.0/8"} <= set(public_v4.except_)
    api_rule = policy.spec.egress[1]
    assert [b.ipBlock.cidr for b in api_rule.to] == ["10.96.0.1/32"]  # the `kubernetes` Service of this cluster

    # The apiserver evaluates the policy's own selector: it must find the worker pod that ran the job.
    selector = policy.spec.podSelector.matchLabels
    pods = list(kube.list(Pod, namespace=namespace, labels=selector))
    assert [p.metadata.labels["video.oma.ai/videojob"] for p in pods] == ["egress"]
    env = {e.name: e.value for e in pods[0].spec.containers[0].env}
    assert env["OMA_ALLOWED_CIDRS"] == "10.20.0.0/16"
