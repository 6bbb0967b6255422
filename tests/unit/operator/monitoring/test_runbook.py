"""Every alert's runbook_url lands on a section of docs/runbook.md."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from oma.operator.monitoring import operator_rules, stack_rules
from oma.operator.monitoring.rules import RUNBOOK

REPO = Path(__file__).resolve().parents[4]


def anchors(markdown: str) -> set[str]:
    """GitHub's heading anchors: lowercased, punctuation dropped, spaces to hyphens."""
    found = set()
    for line in markdown.splitlines():
        if m := re.match(r"^#{1,6}\s+(.*?)\s*$", line):
            found.add(re.sub(r"[^\w\- ]", "", m.group(1).lower()).replace(" ", "-"))
    return found


def every_alert() -> list[dict[str, Any]]:
    groups = operator_rules.alert_rules()["groups"] + stack_rules.alert_groups("ns", "stack")
    return [rule for group in groups for rule in group["rules"] if "alert" in rule]


def test_every_runbook_url_points_at_an_existing_section() -> None:
    assert RUNBOOK.endswith("/docs/runbook.md")
    page = (REPO / "docs" / "runbook.md").read_text()
    sections = anchors(page)
    alerts = every_alert()
    assert len(alerts) >= 12
    missing = []
    for rule in alerts:
        url = rule["annotations"]["runbook_url"]
        base, _, anchor = url.partition("#")
        assert base == RUNBOOK, url
        if anchor not in sections:
            missing.append(rule["alert"])
    assert missing == [], f"docs/runbook.md has no section for {missing}"


def test_each_section_says_what_it_means_how_to_check_and_how_to_mitigate() -> None:
    page = (REPO / "docs" / "runbook.md").read_text()
    for rule in every_alert():
        section = page.split(f"## {rule['alert']}\n", 1)[1].split("\n## ", 1)[0]
        assert "**Means:**" in section and "**First checks**" in section and "**Mitigate:**" in section, rule["alert"]
        assert "kubectl " in section, f"{rule['alert']}: first checks give kubectl commands"
