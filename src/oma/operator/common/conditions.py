"""Status conditions: one merge rule and one comparison for VideoJob and OmaStack alike."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

MAX_MESSAGE = 4000


@dataclass(frozen=True)
class Cond:
    type: str
    ok: bool
    reason: str
    message: str


def merge_conditions(
    current: Sequence[Mapping[str, Any]],
    wanted: Sequence[Cond],
    now: str,
    generation: int | None,
    order: Sequence[str] = (),
) -> list[dict[str, Any]]:
    """The new condition list, in `order`; lastTransitionTime moves only when a condition's status changes."""
    by_type = {c.get("type"): c for c in current}
    rank = {t: i for i, t in enumerate(order)}
    out = []
    for cond in sorted(wanted, key=lambda c: rank.get(c.type, len(rank))):
        status = "True" if cond.ok else "False"
        old = by_type.get(cond.type)
        item: dict[str, Any] = {
            "type": cond.type,
            "status": status,
            # metav1.Condition requires a reason; a condition stored before the CRD said so may have none.
            "reason": cond.reason or "Unspecified",
            "message": cond.message[:MAX_MESSAGE],
            "lastTransitionTime": old["lastTransitionTime"] if old and old.get("status") == status else now,
        }
        if generation is not None:
            item["observedGeneration"] = generation
        out.append(item)
    return out


def same_conditions(a: Sequence[Mapping[str, Any]] | None, b: Sequence[Mapping[str, Any]] | None) -> bool:
    """Equal but for timestamps: what a status write would change for a reader."""

    def key(c: Mapping[str, Any]) -> tuple[Any, ...]:
        return (c.get("type"), c.get("status"), c.get("reason"), c.get("message"), c.get("observedGeneration"))

    return sorted(map(key, a or []), key=str) == sorted(map(key, b or []), key=str)


def is_true(conditions: Sequence[Mapping[str, Any]] | None, type_: str) -> bool:
    return any(c.get("type") == type_ and c.get("status") == "True" for c in conditions or [])
