"""One shape for every alert rule oma ships: severity, summary and a runbook anchor named after the alert."""

from __future__ import annotations

from typing import Any

RUNBOOK = "https://github.com/oma-video/oma/blob/main/docs/runbook.md"


def alert_rule(
    name: str, expr: str, minutes: int, severity: str, summary: str, labels: dict[str, str] | None = None
) -> dict[str, Any]:
    rule: dict[str, Any] = {"alert": name, "expr": expr}
    if minutes:
        rule["for"] = f"{minutes}m"
    rule["labels"] = {"severity": severity, **(labels or {})}
    rule["annotations"] = {"summary": summary, "runbook_url": f"{RUNBOOK}#{name.lower()}"}
    return rule
