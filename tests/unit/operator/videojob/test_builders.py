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
    assert rules[1] == {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]}


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
    assert res == {"requests": {"cpu": "2", "memory": "1Gi"}, "limits": {"memory": "8Gi"}}


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
