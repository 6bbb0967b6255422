"""Leader election over a coordination.k8s.io Lease, as client-go does it: the pure part.

Expiry is judged by when *we* last saw the record change (a local monotonic clock), never by comparing the
holder's timestamps with our wall clock, so clock skew between replicas cannot hand the lease over early.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ElectionSettings:
    """client-go's defaults: a holder renews every `retry` seconds and stops acting when it has not renewed for
    `renew_deadline`, well before the lease (`duration`) expires for the others."""

    duration: float = 15.0
    renew_deadline: float = 10.0
    retry: float = 2.0

    def __post_init__(self) -> None:
        if not self.retry < self.renew_deadline < self.duration:
            raise ValueError("leader election needs retry period < renew deadline < lease duration")


@dataclass(frozen=True)
class Record:
    holder: str | None
    renew_time: str | None
    transitions: int
    resource_version: str | None

    @classmethod
    def from_lease(cls, lease: dict[str, Any]) -> Record:
        spec = lease.get("spec") or {}
        return cls(
            holder=spec.get("holderIdentity") or None,
            renew_time=spec.get("renewTime"),
            transitions=int(spec.get("leaseTransitions") or 0),
            resource_version=lease["metadata"].get("resourceVersion"),
        )


def micro_time(now: dt.datetime) -> str:
    """A MicroTime, as the Lease API wants it."""
    return now.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def may_take(record: Record, me: str, seen_unchanged_for: float, settings: ElectionSettings) -> bool:
    """Whether `me` may write the lease now: it is ours, free, or its holder has not renewed for a whole lease."""
    return record.holder in (None, me) or seen_unchanged_for >= settings.duration


def lease_spec(record: Record | None, me: str, now: dt.datetime, settings: ElectionSettings) -> dict[str, Any]:
    """The spec that makes `me` the holder: a renewal keeps acquireTime, a takeover counts a transition."""
    stamp = micro_time(now)
    spec: dict[str, Any] = {
        "holderIdentity": me,
        "leaseDurationSeconds": int(settings.duration),
        "renewTime": stamp,
    }
    if record is None:
        spec["acquireTime"], spec["leaseTransitions"] = stamp, 0
    elif record.holder != me:
        spec["acquireTime"], spec["leaseTransitions"] = stamp, record.transitions + 1
    return spec


def released_spec() -> dict[str, Any]:
    """What a holder writes when it stops on purpose, so a standby takes over at once instead of after a lease."""
    return {"holderIdentity": None, "leaseDurationSeconds": 1, "renewTime": None}
