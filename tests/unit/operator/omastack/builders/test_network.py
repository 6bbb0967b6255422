"""NetworkPolicies of a stack's data services."""

from __future__ import annotations

from oma.operator.omastack import builders as b

from ..conftest import by_kind, stack


def test_network_policies_admit_only_the_stacks_clients() -> None:
    redis = by_kind(b.build_children(stack()))[("NetworkPolicy", "s-redis")]["spec"]
    data_rule, metrics_rule = redis["ingress"]
    peers = data_rule["from"]
    assert peers[0]["podSelector"]["matchLabels"] == {"video.oma.ai/stack": "s"}
    assert peers[0]["podSelector"]["matchExpressions"][0]["values"] == ["dashboard", "backup-redis"]
    assert peers[1]["podSelector"]["matchLabels"] == {"video.oma.ai/client-of": "s"}
    assert data_rule["ports"] == [{"protocol": "TCP", "port": 6379}]
    assert metrics_rule["ports"] == [{"protocol": "TCP", "port": 9121}]
