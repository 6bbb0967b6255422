"""The one clock of status timestamps (RFC 3339, seconds, UTC), so pure code can take `now` as a string."""

from __future__ import annotations

import datetime as dt


def now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def age_seconds(timestamp: str | None, at: str | None = None) -> float:
    """Seconds from `timestamp` to `at` (default: now); 0 for a missing timestamp."""
    if not timestamp:
        return 0.0
    then = dt.datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    end = dt.datetime.fromisoformat(at.replace("Z", "+00:00")) if at else dt.datetime.now(dt.UTC)
    return (end - then).total_seconds()
