"""One condition rule for both resources."""

from __future__ import annotations

from oma.operator.common.conditions import Cond, merge_conditions, same_conditions


def test_transition_time_moves_only_when_status_changes() -> None:
    first = merge_conditions([], [Cond("Ready", False, "ComponentsNotReady", "x")], "t1", 1)
    same = merge_conditions(first, [Cond("Ready", False, "ComponentsNotReady", "y")], "t2", 1)
    flipped = merge_conditions(same, [Cond("Ready", True, "AllComponentsReady", "")], "t3", 1)
    assert [c["lastTransitionTime"] for c in (first[0], same[0], flipped[0])] == ["t1", "t1", "t3"]


def test_conditions_come_in_the_given_order_with_long_messages_cut() -> None:
    out = merge_conditions([], [Cond("B", True, "R", "m" * 5000), Cond("A", False, "R", "")], "t", None, ("A", "B"))
    assert [c["type"] for c in out] == ["A", "B"]
    assert len(out[1]["message"]) == 4000 and "observedGeneration" not in out[1]


def test_a_new_message_or_generation_is_a_change_but_a_new_timestamp_is_not() -> None:
    base = merge_conditions([], [Cond("Ready", True, "Ok", "fine")], "t1", 1)
    assert same_conditions(base, merge_conditions([], [Cond("Ready", True, "Ok", "fine")], "t2", 1))
    assert not same_conditions(base, merge_conditions([], [Cond("Ready", True, "Ok", "other")], "t1", 1))
    assert not same_conditions(base, merge_conditions([], [Cond("Ready", True, "Ok", "fine")], "t1", 2))
