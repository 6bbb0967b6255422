"""Liveness and readiness of the operator process, for the leader and a standby."""

from __future__ import annotations

from oma.operator.health import Health


def health(leading: bool, loop_age: float = 1, election_age: float | None = 1, seen: float | None = 1) -> Health:
    return Health(
        leading=lambda: leading,
        loop_ages=lambda: [loop_age, 0.5],
        election_age=lambda: election_age,
        lease_seen_age=lambda: seen,
        last_event_age=lambda: 3,
    )


def test_a_leader_is_alive_while_its_loops_turn() -> None:
    assert health(True).liveness()[0]
    ok, body = health(True, loop_age=31).liveness()
    assert not ok and "reconcile loop" in str(body["error"])


def test_a_standby_is_not_judged_by_loops_it_does_not_run() -> None:
    ok, body = health(False, loop_age=999).readiness()
    assert ok and body["role"] == "standby"
    assert health(True).readiness()[1]["role"] == "leader"


def test_a_stalled_election_or_an_api_server_outage_is_reported() -> None:
    assert not health(False, election_age=40).liveness()[0]
    alive, body = health(True, seen=12).liveness()
    assert alive and body["apiServerUnreachableSeconds"] == 12  # reported, not fatal: a restart cannot help
    ok, body = health(False, seen=12).readiness()
    assert not ok and "API server" in str(body["error"])
    assert health(False, seen=9).readiness()[0]
    assert health(True, election_age=None, seen=None).readiness()[0]  # no election: one operator, always acting
