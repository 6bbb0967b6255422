"""Labels and ownership every child of a VideoJob or an OmaStack carries; names that stay valid."""

from __future__ import annotations

import hashlib
from typing import Any

from oma.models import videojob

MANAGER = "oma-operator"
LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
LABEL_PART_OF = "app.kubernetes.io/part-of"
LABEL_VIDEOJOB = "video.oma.ai/videojob"
LABEL_STACK = "video.oma.ai/stack"
LABEL_COMPONENT = "video.oma.ai/component"
LABEL_CLIENT_OF = "video.oma.ai/client-of"
# Both CRDs share one API group and version.
API_VERSION = f"{videojob.GROUP}/{videojob.VERSION}"


def managed_labels() -> dict[str, str]:
    return {LABEL_PART_OF: "oma", LABEL_MANAGED_BY: MANAGER}


def child_name(name: str, suffix: str) -> str:
    """`<name>-<suffix>`, shortened with a hash when needed so pod names and job-name labels stay valid."""
    full = f"{name}-{suffix}"
    if len(full) <= 52:  # Job names leave room for the pod suffix within 63
        return full
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"{name[: 52 - len(suffix) - 10].rstrip('-')}-{digest}-{suffix}"


def controller_reference(kind: str, name: str, uid: str | None) -> dict[str, Any]:
    """An ownerReference to one of our objects (VideoJob, OmaStack) as the controlling owner."""
    assert uid, "an owner must have a uid"
    return {
        "apiVersion": API_VERSION,
        "kind": kind,
        "name": name,
        "uid": uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }
