"""The dashboard's Deployment: replicas left to the HPA; a credentials rotation rolls it (and Postgres)."""

from __future__ import annotations

from oma.operator.omastack import builders as b

from ..conftest import by_kind, stack


def test_replicas_are_left_to_the_hpa_when_autoscaling() -> None:
    deploy = by_kind(b.build_children(stack()))[("Deployment", "s-dashboard")]
    assert "replicas" not in deploy["spec"]


def test_rotation_rolls_postgres_and_the_dashboard() -> None:
    before, after = stack(), stack(postgres={"credentialsRotation": "r2"})
    for kind, name in (("StatefulSet", "s-postgres"), ("Deployment", "s-dashboard")):
        old = by_kind(b.build_children(before))[(kind, name)]["spec"]["template"]["metadata"]["annotations"]
        new = by_kind(b.build_children(after))[(kind, name)]["spec"]["template"]["metadata"]["annotations"]
        assert old != new
