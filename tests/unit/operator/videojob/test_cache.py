"""What the VideoJob controller keeps of each object, and the queue a VideoJob waits in."""

from __future__ import annotations

from oma.models.omastack import WorkerDefaultsSpec
from oma.models.videojob import VideoJob
from oma.operator.videojob.cache import slim, stack_of, stack_scope, summarize, with_status

BODY = {
    "apiVersion": "video.oma.ai/v1alpha1",
    "kind": "VideoJob",
    "metadata": {
        "name": "v",
        "namespace": "n",
        "uid": "u",
        "generation": 1,
        "creationTimestamp": "2026-11-26T00:00:00Z",
        "managedFields": [{"manager": "kubectl"}],
        "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{...}"},
    },
    "spec": {
        "inputs": [{"titleCard": {"text": "x", "durationSeconds": 1}}],
        "outputs": {"mp4": [{"name": "a", "width": 320, "height": 240}]},
        "destination": {"claimName": "media"},
        "stackRef": {"name": "s"},
    },
    "status": {"phase": "Queued", "queuePosition": 2},
}


def test_slim_bodies_drop_managed_fields_and_annotations() -> None:
    body = slim(BODY)
    assert set(body["metadata"]) == {"name", "namespace", "uid", "generation", "creationTimestamp"}
    assert body["spec"] == BODY["spec"] and body["status"] == BODY["status"]


def test_a_stacks_priority_applies_when_the_job_sets_none() -> None:
    vj = VideoJob.model_validate(slim(BODY))
    assert summarize(vj, {}).priority == 0
    summary = summarize(vj, {("n", "s"): WorkerDefaultsSpec.model_validate({"priority": 7})})
    assert summary.priority == 7 and summary.scope == stack_scope("n", "s") and summary.waits
    assert stack_of(summary.scope) == ("n", "s") and stack_of("n") is None


def test_our_own_status_patch_applies_to_the_cached_body() -> None:
    body = with_status(slim(BODY), {"phase": "Running", "queuePosition": None, "jobName": "v-vj"})
    assert body["status"] == {"phase": "Running", "jobName": "v-vj"}
    assert BODY["status"] == {"phase": "Queued", "queuePosition": 2}  # the original is not changed
