"""The `restricted` Pod Security Standard, as every pod the operator creates wears it."""

from __future__ import annotations

from typing import Any


def restricted_container(read_only_root: bool = True) -> dict[str, Any]:
    return {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": read_only_root,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def restricted_pod(uid: int, fs_group_change_policy: str | None = None) -> dict[str, Any]:
    ctx: dict[str, Any] = {"runAsNonRoot": True, "runAsUser": uid, "runAsGroup": uid, "fsGroup": uid}
    if fs_group_change_policy:
        ctx["fsGroupChangePolicy"] = fs_group_change_policy
    ctx["seccompProfile"] = {"type": "RuntimeDefault"}
    return ctx
