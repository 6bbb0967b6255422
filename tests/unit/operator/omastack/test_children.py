"""Which events of a stack's children are edits that a full apply must take back."""

from __future__ import annotations

from typing import Any

import pytest

from oma.operator.omastack.children import Children, is_edit


def child(kind: str = "StatefulSet", generation: int | None = 1, rv: str = "7", **meta: Any) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": "s-redis", "resourceVersion": rv, **meta}
    if generation is not None:
        metadata["generation"] = generation
    return {"kind": kind, "metadata": metadata}


OURS = [{"manager": "oma-operator", "operation": "Apply"}, {"manager": "kcm", "subresource": "status"}]


THEIRS = [*OURS, {"manager": "kubectl-edit", "operation": "Update"}]


@pytest.mark.parametrize(
    ("event", "body", "seen", "applied", "edit"),
    [
        ("ADDED", child(managedFields=THEIRS), None, "7", False),  # the echo of our own apply
        ("ADDED", child(managedFields=OURS, rv="8"), None, "7", False),  # only we wrote it
        ("ADDED", child(managedFields=THEIRS, rv="8"), None, "7", True),  # someone re-created it
        ("MODIFIED", child(managedFields=THEIRS, rv="8"), (1, {}, {}), "7", False),  # a status/rollout step
        ("MODIFIED", child(generation=2, managedFields=THEIRS, rv="8"), (1, {}, {}), "7", True),  # spec edited
        ("MODIFIED", child(managedFields=THEIRS, rv="8", labels={"x": "y"}), (1, {}, {}), "7", True),  # labels
        ("MODIFIED", child("Service", None, rv="8", managedFields=THEIRS), None, "7", True),  # no generation
        ("MODIFIED", child("PersistentVolumeClaim", None, rv="8", managedFields=THEIRS), None, None, False),
    ],
)
def test_which_child_events_trigger_a_full_apply(
    event: str, body: dict[str, Any], seen: tuple[Any, ...] | None, applied: str | None, edit: bool
) -> None:
    assert is_edit(event, body, seen, applied, "oma-operator") is edit


def test_a_deleted_child_of_ours_is_remembered_for_the_restored_event() -> None:
    children = Children()
    body = {"apiVersion": "apps/v1", **child(managedFields=THEIRS)}
    assert children.observe("ADDED", body, ours=True, field_manager="oma-operator")
    assert children.managed == {("StatefulSet", "s-redis"): "apps/v1"} and not children.empty
    assert children.observe("DELETED", body, ours=True, field_manager="oma-operator")
    assert children.deleted == {("StatefulSet", "s-redis")} and children.empty
