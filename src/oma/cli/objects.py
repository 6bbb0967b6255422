"""A namespace's OmaStacks and VideoJobs as a backup document, and the plan to re-create them elsewhere. Pure.

The document is a `v1 List` in YAML (kubectl reads it too). It keeps what a user wrote (name, labels, their
annotations, spec), a VideoJob's uid (re-created as `video.oma.ai/restored-uid`, the dashboard's history key)
and its status, which the API drops on create: a restore writes it back through the
status subresource while the VideoJob is held (`video.oma.ai/restoring`), so a finished job is adopted, not run
again. OmaStack status is left out: the operator rebuilds it. Secrets are never read (docs/backups.md)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from oma.models import omastack, videojob
from oma.models.common import GROUP

TERMINAL = frozenset({"Succeeded", "Failed", "Cancelled"})
BACKUP_OF = f"{GROUP}/backup-of"
TAKEN_AT = f"{GROUP}/taken-at"
# Bookkeeping of other programs: meaningless (or harmful: kopf's progress) on a new object.
_DROPPED_ANNOTATIONS = ("kopf.zalando.org/", "kubectl.kubernetes.io/last-applied-configuration")


def _user_metadata(meta: dict[str, Any]) -> dict[str, Any]:
    """Name, labels and the user's annotations; no uid, resourceVersion, owners or finalizers of the old object."""
    out: dict[str, Any] = {"name": meta["name"]}
    if meta.get("labels"):
        out["labels"] = dict(meta["labels"])
    kept = {
        k: v
        for k, v in (meta.get("annotations") or {}).items()
        if not k.startswith(_DROPPED_ANNOTATIONS) and k != videojob.RESTORING_ANNOTATION
    }
    if kept:
        out["annotations"] = kept
    return out


def exported(obj: dict[str, Any]) -> dict[str, Any]:
    out = {"apiVersion": obj["apiVersion"], "kind": obj["kind"], "metadata": _user_metadata(obj["metadata"])}
    out["spec"] = obj.get("spec") or {}
    if obj["kind"] == videojob.KIND:
        out["metadata"]["uid"] = obj["metadata"].get("uid")  # the dashboard's history key, kept across restores
        if obj.get("status"):
            out["status"] = obj["status"]
    return out


def backup_document(
    namespace: str, stacks: list[dict[str, Any]], videojobs: list[dict[str, Any]], taken_at: str
) -> dict[str, Any]:
    """The backup of `namespace`: its OmaStacks, then its VideoJobs, each sorted by name."""
    items = [exported(o) for o in sorted(stacks, key=lambda o: o["metadata"]["name"])]
    items += [exported(o) for o in sorted(videojobs, key=lambda o: o["metadata"]["name"])]
    meta = {"annotations": {BACKUP_OF: namespace, TAKEN_AT: taken_at}}
    return {"apiVersion": "v1", "kind": "List", "metadata": meta, "items": items}


@dataclass
class RestorePlan:
    """What to create in the target namespace, in this order: stacks, finished VideoJobs (created held, then
    their status, then released), the rest (created plain: they run again, from the start)."""

    stacks: list[dict[str, Any]] = field(default_factory=list)
    finished: list[tuple[dict[str, Any], dict[str, Any]]] = field(default_factory=list)  # (held manifest, status)
    unfinished: list[dict[str, Any]] = field(default_factory=list)


def plan_restore(document: dict[str, Any], namespace: str, backup_name: str) -> RestorePlan:
    if document.get("kind") != "List" or not isinstance(document.get("items"), list):
        raise ValueError("not an oma objects backup (expected a v1 List with items)")
    plan = RestorePlan()
    for item in document["items"]:
        kind = item.get("kind")
        manifest = {
            "apiVersion": item["apiVersion"],
            "kind": kind,
            "metadata": {**_user_metadata(item["metadata"]), "namespace": namespace},
            "spec": item.get("spec") or {},
        }
        if kind == omastack.KIND:
            plan.stacks.append(manifest)
        elif kind == videojob.KIND:
            # An earlier restore's annotation wins: it names the uid the history has known the job by all along.
            annotations = manifest["metadata"].setdefault("annotations", {})
            if item["metadata"].get("uid"):
                annotations.setdefault(videojob.RESTORED_UID_ANNOTATION, item["metadata"]["uid"])
            status = item.get("status") or {}
            if status.get("phase") in TERMINAL:
                annotations[videojob.RESTORING_ANNOTATION] = backup_name
                plan.finished.append((manifest, status))
            else:
                plan.unfinished.append(manifest)
        else:
            raise ValueError(f"unexpected {kind} {item['metadata'].get('name')} in an objects backup")
    return plan
