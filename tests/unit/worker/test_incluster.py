"""The worker waits out an API server outage (a control-plane restart) instead of failing its attempt."""

from __future__ import annotations

import pytest

from oma.k8s import ApiFailure, NotFound
from oma.worker.exitcodes import Exit, WorkerError
from oma.worker.incluster import parse, patiently


def flaky(failures: list[ApiFailure], auth_patience: float = 5) -> list[int]:
    calls: list[int] = []

    def call() -> int:
        calls.append(1)
        if failures:
            raise failures.pop(0)
        return len(calls)

    return [patiently(call, "test", patience=5, delay=0.01, auth_patience=auth_patience)]


def test_unreachable_and_overloaded_answers_are_retried_until_one_succeeds() -> None:
    assert flaky([ApiFailure("refused"), ApiFailure("busy", 429), ApiFailure("down", 503)]) == [4]


def test_a_definite_answer_is_not_retried() -> None:
    with pytest.raises(NotFound):
        flaky([NotFound("gone", 404)])
    with pytest.raises(ApiFailure, match="invalid"):
        flaky([ApiFailure("invalid", 422)])


def test_a_refusal_right_after_an_outage_is_retried_briefly() -> None:
    """What a restarting API server answers before its RBAC caches fill (seen on the real one in CI)."""
    rbac = 'forbidden: RBAC: clusterrole.rbac.authorization.k8s.io "system:basic-user" not found'
    assert flaky([ApiFailure("refused"), ApiFailure(rbac, 403), ApiFailure("unauthorized", 401)]) == [4]


def test_a_refusal_that_lasts_ends_in_the_failure_long_before_an_outage_would() -> None:
    with pytest.raises(ApiFailure, match="forbidden"):
        flaky([ApiFailure("forbidden", 403)] * 100, auth_patience=0.05)


def test_an_outage_longer_than_the_patience_ends_in_the_failure() -> None:
    with pytest.raises(ApiFailure, match="refused"):
        patiently(lambda: (_ for _ in ()).throw(ApiFailure("refused")), "test", patience=0.05, delay=0.01)


def test_a_stored_parent_segment_in_the_destination_exits_10_naming_the_field() -> None:
    """An object admitted under an older, laxer schema is validated as admission does today."""
    body = {
        "apiVersion": "video.oma.ai/v1alpha1",
        "kind": "VideoJob",
        "metadata": {"name": "old", "namespace": "ns"},
        "spec": {
            "inputs": [{"titleCard": {"text": "x", "durationSeconds": 1}}],
            "outputs": {"mp4": [{"name": "a", "width": 320, "height": 180}]},
            "destination": {"claimName": "out", "pathPrefix": "../sources"},
        },
    }
    with pytest.raises(WorkerError) as e:
        parse(body)
    assert e.value.code == Exit.INVALID_SPEC and "destination.pathPrefix" in e.value.message
