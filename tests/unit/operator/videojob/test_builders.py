from __future__ import annotations

from typing import Any

from oma.models.omastack import OmaStack
from oma.models.videojob import VideoJob
from oma.operator.common.labels import child_name
from oma.operator.videojob import builders
from oma.operator.videojob.builders import WorkerDefaults, build_job, worker_defaults


def vj(**spec: Any) -> VideoJob:
    base: dict[str, Any] = {
        "inputs": [{"pvc": {"claimName": "sources", "path": "in.mp4"}}],
        "outputs": {"mp4": [{"name": "a", "width": 640, "height": 360}]},
        "destination": {"claimName": "media", "pathPrefix": "out"},
    }
    base.update(spec)
    return VideoJob.model_validate(
        {"metadata": {"name": "clip", "namespace": "ns", "uid": "uid-1", "generation": 1}, "spec": base}
    )


def test_build_job_is_deterministic_and_owned() -> None:
    a, b = build_job(vj(), WorkerDefaults()), build_job(vj(), WorkerDefaults())
    assert a == b
    assert a["metadata"]["name"] == "clip-vj"
    owner = a["metadata"]["ownerReferences"][0]
    assert (owner["kind"], owner["uid"], owner["controller"]) == ("VideoJob", "uid-1", True)


def test_retries_timeouts_and_ttl_map_to_job_fields() -> None:
    job = build_job(
        vj(retries={"limit": 4}, timeouts={"runningSeconds": 600}, ttlSecondsAfterFinished=60), WorkerDefaults()
    )
    spec = job["spec"]
    assert (spec["backoffLimit"], spec["activeDeadlineSeconds"], spec["ttlSecondsAfterFinished"]) == (4, 600, 60)


def test_pod_failure_policy_fails_fast_on_permanent_codes_and_ignores_disruption() -> None:
    rules = build_job(vj(), WorkerDefaults())["spec"]["podFailurePolicy"]["rules"]
    assert rules[0]["action"] == "FailJob" and rules[0]["onExitCodes"]["values"] == [10, 11, 12, 13]
    assert rules[1] == {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}]}


def test_pod_is_restricted_and_mounts_each_claim_once() -> None:
    pod = build_job(vj(), WorkerDefaults())["spec"]["template"]["spec"]
    c = pod["containers"][0]
    assert (
        pod["securityContext"]["runAsNonRoot"] and pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
    )
    assert c["securityContext"]["readOnlyRootFilesystem"] and c["securityContext"]["capabilities"]["drop"] == ["ALL"]
    assert not c["securityContext"]["allowPrivilegeEscalation"]
    assert [m["mountPath"] for m in c["volumeMounts"]] == ["/tmp", "/mnt/pvc/media", "/mnt/pvc/sources"]
    assert pod["serviceAccountName"] == builders.WORKER_SERVICE_ACCOUNT


def test_resources_merge_spec_over_defaults() -> None:
    job = build_job(vj(resources={"requests": {"cpu": "2"}, "limits": {"memory": "8Gi"}}), WorkerDefaults())
    res = job["spec"]["template"]["spec"]["containers"][0]["resources"]
    assert res == {"requests": {"cpu": "2", "memory": "1Gi", "ephemeral-storage": "20Gi"}, "limits": {"memory": "8Gi"}}


def test_scratch_space_is_requested_as_ephemeral_storage_of_its_size() -> None:
    job = build_job(vj(), WorkerDefaults(scratch_size="50Gi"))
    pod = job["spec"]["template"]["spec"]
    assert pod["volumes"][0] == {"name": "scratch", "emptyDir": {"sizeLimit": "50Gi"}}
    assert pod["containers"][0]["resources"]["requests"]["ephemeral-storage"] == "50Gi"


def test_finished_jobs_go_after_the_operators_default_ttl_unless_the_videojob_says() -> None:
    assert build_job(vj(), WorkerDefaults())["spec"]["ttlSecondsAfterFinished"] == 86400
    assert build_job(vj(), WorkerDefaults(ttl_seconds_after_finished=600))["spec"]["ttlSecondsAfterFinished"] == 600
    assert build_job(vj(ttlSecondsAfterFinished=0), WorkerDefaults())["spec"]["ttlSecondsAfterFinished"] == 0
    assert "ttlSecondsAfterFinished" not in build_job(vj(), WorkerDefaults(ttl_seconds_after_finished=None))["spec"]


def test_child_names_stay_short_and_distinct() -> None:
    long_a, long_b = "a" * 60, "a" * 59 + "b"
    assert len(child_name(long_a, "vj")) <= 52
    assert child_name(long_a, "vj") != child_name(long_b, "vj")


def test_worker_role_grants_only_its_videojob_and_status() -> None:
    role = builders.build_worker_rbac("ns")[1]
    assert role["rules"] == [
        {"apiGroups": ["video.oma.ai"], "resources": ["videojobs"], "verbs": ["get"]},
        {"apiGroups": ["video.oma.ai"], "resources": ["videojobs/status"], "verbs": ["patch"]},
    ]


def test_stack_worker_defaults_layer_over_the_operators() -> None:
    spec = OmaStack.model_validate(
        {
            "metadata": {"name": "s", "namespace": "ns"},
            "spec": {"workerDefaults": {"image": "img:stack", "resources": {"limits": {"memory": "8Gi"}}}},
        }
    ).spec
    merged = worker_defaults(WorkerDefaults(), spec.worker_defaults)
    assert merged.image == "img:stack" and merged.limits["memory"] == "8Gi"
    assert merged.requests == WorkerDefaults().requests
    assert worker_defaults(WorkerDefaults(), None) == WorkerDefaults()


def test_worker_egress_policy_selects_every_worker_pod_and_denies_private_ranges() -> None:
    policy = builders.build_worker_network_policy("ns", (["10.96.0.1/32"], [443]))
    job = build_job(vj(), WorkerDefaults())
    selector = policy["spec"]["podSelector"]["matchLabels"]
    assert selector.items() <= job["spec"]["template"]["metadata"]["labels"].items()
    assert "video.oma.ai/videojob" not in selector  # one policy for every worker of the namespace, stacks' too
    assert policy["spec"]["policyTypes"] == ["Egress"]
    dns, api, public = policy["spec"]["egress"]
    assert {p["port"] for p in dns["ports"]} == {53}
    assert api == {"ports": [{"protocol": "TCP", "port": 443}], "to": [{"ipBlock": {"cidr": "10.96.0.1/32"}}]}
    v4, v6 = (b["ipBlock"] for b in public["to"])
    assert v4["cidr"] == "0.0.0.0/0" and {"10.0.0.0/8", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12"} <= set(
        v4["except"]
    )
    assert v6["cidr"] == "::/0" and {"::1/128", "fc00::/7", "fe80::/10", "64:ff9b::/96"} <= set(v6["except"])


def test_worker_egress_policy_allows_named_networks_and_falls_back_to_api_ports() -> None:
    policy = builders.build_worker_network_policy("ns", ([], [443, 6443]), ("10.20.0.0/16",))
    api, extra = policy["spec"]["egress"][1], policy["spec"]["egress"][3]
    assert "to" not in api and [p["port"] for p in api["ports"]] == [443, 6443]
    assert extra == {"to": [{"ipBlock": {"cidr": "10.20.0.0/16"}}]}


def test_allowed_networks_are_normalised_and_bad_ones_reported() -> None:
    good, bad = builders.allowed_networks(" 10.20.0.5/16, 192.168.1.10 ,nonsense,, fd00::/8, ::ffff:10.0.0.0/104")
    assert good == ("10.20.0.0/16", "192.168.1.10/32", "fd00::/8")
    assert bad == ["nonsense", "::ffff:10.0.0.0/104"]
    assert builders.allowed_networks(None) == ((), [])


def test_the_worker_is_told_the_allowed_networks() -> None:
    job = build_job(vj(), WorkerDefaults(allowed_cidrs=("10.20.0.0/16",)))
    env = {e["name"]: e.get("value") for e in job["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["OMA_ALLOWED_CIDRS"] == "10.20.0.0/16"
    assert "OMA_ALLOWED_CIDRS" not in str(build_job(vj(), WorkerDefaults()))


def test_a_stacks_workers_are_selected_by_the_same_policy() -> None:
    policy = builders.build_worker_network_policy("ns", (["10.96.0.1/32"], [443]))
    stack_job = build_job(vj(stackRef={"name": "oma"}), WorkerDefaults(image="stack-image"))
    assert (
        policy["spec"]["podSelector"]["matchLabels"].items()
        <= stack_job["spec"]["template"]["metadata"]["labels"].items()
    )
