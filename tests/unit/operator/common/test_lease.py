"""Leader election's pure part: who may write the Lease, and what they write."""

from __future__ import annotations

import datetime as dt

import pytest

from oma.operator.common.lease import ElectionSettings, Record, lease_spec, may_take, micro_time

S = ElectionSettings()
NOW = dt.datetime(2026, 11, 26, 12, 0, 0, 123456, tzinfo=dt.UTC)


def record(holder: str | None, transitions: int = 3) -> Record:
    return Record(
        holder=holder, renew_time="2026-11-26T11:59:59.000000Z", transitions=transitions, resource_version="9"
    )


def test_a_free_or_own_lease_may_be_taken_at_once_another_only_after_a_whole_lease_unchanged() -> None:
    assert may_take(record(None), "me", 0, S)
    assert may_take(record("me"), "me", 0, S)
    assert not may_take(record("other"), "me", S.duration - 0.1, S)
    assert may_take(record("other"), "me", S.duration, S)


def test_renewing_keeps_acquire_time_and_transitions_taking_over_counts_one() -> None:
    renew = lease_spec(record("me"), "me", NOW, S)
    assert renew == {"holderIdentity": "me", "leaseDurationSeconds": 15, "renewTime": "2026-11-26T12:00:00.123456Z"}
    takeover = lease_spec(record("other"), "me", NOW, S)
    assert takeover["acquireTime"] == takeover["renewTime"] and takeover["leaseTransitions"] == 4
    assert lease_spec(None, "me", NOW, S)["leaseTransitions"] == 0


def test_the_record_is_read_from_a_lease_object() -> None:
    lease = {"metadata": {"resourceVersion": "42"}, "spec": {"holderIdentity": "op-1", "leaseTransitions": 2}}
    assert Record.from_lease(lease) == Record("op-1", None, 2, "42")
    assert Record.from_lease({"metadata": {}, "spec": {"holderIdentity": ""}}).holder is None


def test_timings_must_leave_the_holder_time_to_stop_before_others_take_over() -> None:
    with pytest.raises(ValueError, match="renew deadline"):
        ElectionSettings(duration=10, renew_deadline=10, retry=2)
    assert micro_time(NOW.astimezone(dt.timezone(dt.timedelta(hours=2)))) == "2026-11-26T12:00:00.123456Z"
