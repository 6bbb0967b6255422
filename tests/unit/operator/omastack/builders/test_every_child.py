"""Every child of a stack: deterministic, owned, labelled, restricted; optional parts follow the spec."""

from __future__ import annotations

from oma.operator.omastack import builders as b

from ..conftest import by_kind, stack


def test_children_are_deterministic_owned_and_labelled() -> None:
    a, c = b.build_children(stack()), b.build_children(stack())
    assert a == c
    for m in a:
        meta = m["metadata"]
        assert meta["namespace"] == "ns" and meta["labels"]["video.oma.ai/stack"] == "s"
        assert meta["labels"]["app.kubernetes.io/managed-by"] == "oma-operator"
        if (m["kind"], meta["name"]) != ("PersistentVolumeClaim", "s-backups"):
            assert meta["ownerReferences"][0]["uid"] == "uid-9"
    assert set(by_kind(a)) == {
        ("ConfigMap", "s-redis-config"),
        ("Service", "s-redis"),
        ("StatefulSet", "s-redis"),
        ("Service", "s-postgres"),
        ("StatefulSet", "s-postgres"),
        ("Service", "s-dashboard"),
        ("Deployment", "s-dashboard"),
        ("HorizontalPodAutoscaler", "s-dashboard"),
        ("PodDisruptionBudget", "s-dashboard"),
        ("NetworkPolicy", "s-redis"),
        ("NetworkPolicy", "s-postgres"),
        ("PersistentVolumeClaim", "s-backups"),
        ("CronJob", "s-backup-postgres"),
        ("CronJob", "s-backup-redis"),
        ("CronJob", "s-backup-objects"),
        ("ServiceAccount", "s-backup-objects"),
        ("Role", "s-backup-objects"),
        ("RoleBinding", "s-backup-objects"),
        ("ConfigMap", "s-grafana-dashboards"),
        ("ServiceAccount", "s-dashboard"),
        ("Role", "s-dashboard"),
        ("RoleBinding", "s-dashboard"),
    }


def test_every_pod_meets_the_restricted_pod_security_standard() -> None:
    for m in b.build_children(stack()):
        template = m.get("spec", {}).get("template") or m.get("spec", {}).get("jobTemplate", {}).get("spec", {}).get(
            "template"
        )
        if not template:
            continue
        pod = template["spec"]
        assert pod["securityContext"]["runAsNonRoot"] and pod["securityContext"]["seccompProfile"]
        # Only the dashboard (it creates and watches VideoJobs) and the objects backup (it lists them) talk to the
        # API; no other pod gets a token.
        assert pod["automountServiceAccountToken"] is (m["metadata"]["name"] in ("s-dashboard", "s-backup-objects"))
        for c in pod["containers"]:
            sc = c["securityContext"]
            assert sc["allowPrivilegeEscalation"] is False and sc["capabilities"] == {"drop": ["ALL"]}
            assert sc["readOnlyRootFilesystem"] is True, f"{m['metadata']['name']}/{c['name']}"


def test_optional_parts_follow_the_spec() -> None:
    lean = stack(
        dashboard={"autoscaling": {"enabled": False}, "replicas": 3},
        backups={"enabled": False},
        monitoring={"enabled": False},
        networkPolicies={"enabled": False},
        redis={"persistence": {"enabled": False}},
    )
    kinds = by_kind(b.build_children(lean))
    assert not [k for k in kinds if k[0] in ("HorizontalPodAutoscaler", "CronJob", "NetworkPolicy")]
    assert ("ConfigMap", "s-grafana-dashboards") not in kinds and b.build_monitors(lean) == []
    assert kinds[("Deployment", "s-dashboard")]["spec"]["replicas"] == 3
    redis = kinds[("StatefulSet", "s-redis")]["spec"]
    assert (
        "volumeClaimTemplates" not in redis and {"name": "data", "emptyDir": {}} in redis["template"]["spec"]["volumes"]
    )
    assert [c["name"] for c in redis["template"]["spec"]["containers"]] == ["redis"]  # no exporter


def test_no_child_claims_an_argo_cd_application() -> None:
    """Argo CD's label tracking takes app.kubernetes.io/instance for "belongs to the Application of that name"."""

    def label_sets(node: object) -> list[dict[str, str]]:
        if isinstance(node, dict):
            found = [node["labels"]] if isinstance(node.get("labels"), dict) else []
            return found + [s for v in node.values() for s in label_sets(v)]
        if isinstance(node, list):
            return [s for v in node for s in label_sets(v)]
        return []

    everything = [s for m in b.build_children(stack()) for s in label_sets(m)]
    assert len(everything) > 18
    assert not [s for s in everything if "app.kubernetes.io/instance" in s]


def test_the_password_reaches_containers_as_a_file_never_as_env() -> None:
    """Environment values are inherited by every child process and show in /proc/<pid>/environ."""
    seen = 0
    for m in b.build_children(stack()):
        spec = m.get("spec") or {}
        pod = spec.get("template", {}).get("spec") or spec.get("jobTemplate", {}).get("spec", {})
        pod = pod.get("template", {}).get("spec", pod)
        for c in pod.get("containers", []):
            refs = [e["valueFrom"]["secretKeyRef"]["key"] for e in c.get("env", []) if "valueFrom" in e
                    and "secretKeyRef" in e["valueFrom"]]  # fmt: skip
            assert "password" not in refs and "uri" not in refs, (m["metadata"]["name"], c["name"])
            files = [
                e for e in c.get("env", []) if e["name"].endswith("PASSWORD_FILE") or e["name"].endswith("_PASS_FILE")
            ]
            if files:
                seen += 1
                assert "/etc/oma/postgres" in [v["mountPath"] for v in c["volumeMounts"]]
    assert seen == 4  # postgres, its exporter, the dashboard, the pg_dump CronJob
