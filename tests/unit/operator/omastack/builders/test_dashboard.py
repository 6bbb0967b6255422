"""The dashboard's children: replicas left to the HPA; a credentials rotation rolls it (and Postgres); its RBAC,
its settings from the stack, and the optional Ingress."""

from __future__ import annotations

import pytest

from oma.dashboard.settings import Settings
from oma.operator.omastack import builders as b
from oma.operator.omastack.builders.dashboard import (
    build_dashboard_deployment,
    build_dashboard_ingress,
    build_dashboard_rbac,
)

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


def test_the_dashboards_role_allows_only_its_videojob_verbs() -> None:
    sa, role, binding = build_dashboard_rbac(stack())
    assert (sa["kind"], role["kind"], binding["kind"]) == ("ServiceAccount", "Role", "RoleBinding")
    assert role["rules"] == [
        {
            "apiGroups": ["video.oma.ai"],
            "resources": ["videojobs"],
            "verbs": ["create", "get", "list", "watch", "patch"],
        }
    ]
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "s-dashboard", "namespace": "ns"}]
    assert binding["roleRef"]["name"] == role["metadata"]["name"] == sa["metadata"]["name"]


def test_the_stacks_settings_reach_the_dashboard(monkeypatch: pytest.MonkeyPatch) -> None:
    custom = stack(
        dashboard={
            "mediaClaim": "videos",
            "sourceClaims": ["uploads"],
            "presetsConfigMap": "my-presets",
            "pricePerCPUHour": 0.08,
            "rateLimits": {"submitPerToken": 7},
        },
        workerDefaults={"resources": {"requests": {"cpu": "500m"}}},
    )
    pod = build_dashboard_deployment(custom)["spec"]["template"]["spec"]
    env = {e["name"]: e.get("value") for e in pod["containers"][0]["env"]}
    assert env["OMA_DESTINATION_CLAIM"] == "videos" and env["OMA_SOURCE_CLAIMS"] == '["uploads"]'
    assert env["OMA_PRICE_PER_CPU_HOUR"] == "0.08" and env["OMA_WORKER_CPU_REQUEST"] == "500m"
    assert env["OMA_RATE_SUBMIT_PER_MINUTE"] == "7" and env["OMA_PRESETS_FILE"] == "/etc/oma-dashboard/presets.yaml"
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["media"]["persistentVolumeClaim"] == {"claimName": "videos", "readOnly": True}
    assert volumes["presets"]["configMap"] == {"name": "my-presets"}
    # The dashboard's settings read exactly these variables.
    for name, value in env.items():
        if value is not None:
            monkeypatch.setenv(name, value)
    settings = Settings()
    assert settings.destination_claim == "videos" and settings.source_claims == ["uploads"]
    assert settings.rate_submit_per_minute == 7 and settings.price_per_cpu_hour == 0.08


def test_an_ingress_only_when_asked() -> None:
    assert build_dashboard_ingress(stack()) is None
    ingress = build_dashboard_ingress(
        stack(dashboard={"ingress": {"enabled": True, "host": "v.example.com", "annotations": {"a": "b"}}})
    )
    assert ingress is not None and ingress["metadata"]["annotations"] == {"a": "b"}
    assert ingress["spec"]["rules"][0]["host"] == "v.example.com" and "tls" not in ingress["spec"]
    backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]
    assert backend == {"service": {"name": "s-dashboard", "port": {"name": "http"}}}


def test_no_media_volume_unless_the_stack_names_its_claim() -> None:
    pod = build_dashboard_deployment(stack())["spec"]["template"]["spec"]
    assert [v["name"] for v in pod["volumes"]] == ["tmp", "postgres-credentials"]
    env = {e["name"]: e.get("value") for e in pod["containers"][0]["env"]}
    assert env["OMA_DESTINATION_CLAIM"] == "media"


def test_cookies_are_secure_when_tls_ends_at_the_ingress() -> None:
    def env(dashboard: dict[str, object]) -> dict[str, str | None]:
        pod = build_dashboard_deployment(stack(dashboard=dashboard))["spec"]["template"]["spec"]
        return {e["name"]: e.get("value") for e in pod["containers"][0]["env"]}

    assert "OMA_SECURE_COOKIES" not in env({})
    assert "OMA_SECURE_COOKIES" not in env({"ingress": {"enabled": True}})
    tls = {"ingress": {"enabled": True, "host": "v.example.com", "tls": {"secretName": "v-tls"}}}
    assert env(tls)["OMA_SECURE_COOKIES"] == "true"


def test_dashboard_replicas_spread_softly_and_unhealthy_ones_can_be_evicted() -> None:
    children = by_kind(b.build_children(stack()))
    pod = children[("Deployment", "s-dashboard")]["spec"]["template"]["spec"]
    spread = {c["topologyKey"]: c for c in pod["topologySpreadConstraints"]}
    assert set(spread) == {"kubernetes.io/hostname", "topology.kubernetes.io/zone"}
    assert all(c["whenUnsatisfiable"] == "ScheduleAnyway" for c in spread.values())
    assert all(c["labelSelector"]["matchLabels"] == {"video.oma.ai/stack": "s", "video.oma.ai/component": "dashboard"}
               for c in spread.values())  # fmt: skip
    pdb = children[("PodDisruptionBudget", "s-dashboard")]["spec"]
    assert pdb["unhealthyPodEvictionPolicy"] == "AlwaysAllow"
