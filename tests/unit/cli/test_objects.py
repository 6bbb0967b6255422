"""The objects backup: what it keeps of a namespace, and how a restore re-creates it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from oma.cli.objects import backup_document, plan_restore
from oma.cli.stack import write_backup
from oma.models.videojob import RESTORED_UID_ANNOTATION, RESTORING_ANNOTATION


def vj(name: str, phase: str | None) -> dict[str, Any]:
    meta = {
        "name": name,
        "namespace": "old",
        "uid": f"uid-{name}",
        "resourceVersion": "7",
        "generation": 2,
        "creationTimestamp": "2026-11-26T00:00:00Z",
        "managedFields": [{"manager": "oma-operator"}],
        "ownerReferences": [{"kind": "OmaStack", "uid": "old-stack"}],
        "labels": {"team": "news"},
        "annotations": {"note": "keep", "kopf.zalando.org/last-handled-configuration": "{}"},
    }
    out: dict[str, Any] = {"apiVersion": "video.oma.ai/v1alpha1", "kind": "VideoJob", "metadata": meta}
    out["spec"] = {"destination": {"claimName": "media"}}
    if phase:
        out["status"] = {"phase": phase, "attempts": 1, "outputs": [{"uri": "a.mp4", "sizeBytes": 3}]}
    return out


def test_a_backup_keeps_what_the_user_wrote_and_videojob_status_only() -> None:
    stack = {"apiVersion": "video.oma.ai/v1alpha1", "kind": "OmaStack", "metadata": {"name": "s", "uid": "x"}}
    stack |= {"spec": {}, "status": {"credentialsRotation": "1"}}
    doc = backup_document("old", [stack], [vj("b", "Succeeded"), vj("a", None)], "20261126T030000Z")
    assert doc["metadata"]["annotations"]["video.oma.ai/backup-of"] == "old"
    assert [i["metadata"]["name"] for i in doc["items"]] == ["s", "a", "b"]
    assert "status" not in doc["items"][0]
    done = doc["items"][2]
    assert done["metadata"] == {
        "name": "b",
        "labels": {"team": "news"},
        "annotations": {"note": "keep"},
        "uid": "uid-b",  # the dashboard's history key
    }
    assert done["status"]["outputs"] == [{"uri": "a.mp4", "sizeBytes": 3}]


def test_a_restore_holds_finished_videojobs_and_re_runs_the_rest() -> None:
    doc = backup_document("old", [], [vj("done", "Failed"), vj("queued", "Queued"), vj("new", None)], "t")
    plan = plan_restore(doc, "fresh", "20261126T030000Z.yaml")
    [(held, status)] = plan.finished
    assert held["metadata"]["namespace"] == "fresh"
    assert held["metadata"]["annotations"] == {
        "note": "keep",
        RESTORING_ANNOTATION: "20261126T030000Z.yaml",
        RESTORED_UID_ANNOTATION: "uid-done",
    }
    assert "status" not in held and status["phase"] == "Failed"
    assert sorted(m["metadata"]["name"] for m in plan.unfinished) == ["new", "queued"]
    assert all(
        "status" not in m and RESTORING_ANNOTATION not in m["metadata"].get("annotations", {}) for m in plan.unfinished
    )


def test_a_backup_naming_itself_restoring_does_not_carry_the_hold_over() -> None:
    sneaky = vj("x", None)
    sneaky["metadata"]["annotations"][RESTORING_ANNOTATION] = "forged"
    plan = plan_restore(backup_document("old", [], [sneaky], "t"), "fresh", "f.yaml")
    assert RESTORING_ANNOTATION not in plan.unfinished[0]["metadata"]["annotations"]


def test_other_documents_are_refused() -> None:
    with pytest.raises(ValueError, match="not an oma objects backup"):
        plan_restore({"kind": "Secret"}, "fresh", "f.yaml")
    with pytest.raises(ValueError, match="unexpected Secret"):
        plan_restore(
            {"kind": "List", "items": [{"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}}]}, "f", "f"
        )


def test_objects_backups_are_renamed_when_complete_and_pruned(tmp_path: Path) -> None:
    for stamp in ("20261126T010000Z", "20261126T020000Z", "20261126T030000Z"):
        write_backup("items: []\n", tmp_path, 2, stamp)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["20261126T020000Z.yaml", "20261126T030000Z.yaml"]


def test_a_job_restored_twice_keeps_its_first_uid_as_history_key() -> None:
    again = vj("twice", "Succeeded")
    again["metadata"]["annotations"][RESTORED_UID_ANNOTATION] = "uid-original"
    plan = plan_restore(backup_document("old", [], [again], "t"), "fresh", "f.yaml")
    assert plan.finished[0][0]["metadata"]["annotations"][RESTORED_UID_ANNOTATION] == "uid-original"
