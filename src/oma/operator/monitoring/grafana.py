"""The shape of oma's Grafana dashboards: a Prometheus data source variable, label variables that keep two
releases (or two namespaces) apart, and 12-column time-series panels that each say what they show and in what
unit. Rates use Grafana's `$__rate_interval` (at least four scrape intervals at any zoom), never a fixed window."""

from __future__ import annotations

from typing import Any

RATE = "$__rate_interval"


def panel(
    panel_id: int, title: str, expr: str, legend: str, x: int, y: int, unit: str, description: str
) -> dict[str, Any]:
    return {
        "id": panel_id,
        "type": "timeseries",
        "title": title,
        "description": description,
        "datasource": {"type": "prometheus", "uid": "${datasource}"},
        "gridPos": {"h": 8, "w": 12, "x": x, "y": y},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "targets": [{"refId": "A", "expr": expr, "legendFormat": legend}],
    }


def label_variable(name: str, label: str, query: str, description: str) -> dict[str, Any]:
    """A variable listing a label's values (`label_values(<query>, <name>)`), refreshed when the time range moves,
    so a new release or namespace shows up without editing the dashboard."""
    return {
        "name": name,
        "label": label,
        "description": description,
        "type": "query",
        "datasource": {"type": "prometheus", "uid": "${datasource}"},
        "query": {"query": f"label_values({query}, {name})", "refId": f"{name}-values"},
        "definition": f"label_values({query}, {name})",
        "refresh": 2,
        "sort": 1,
        "includeAll": False,
        "multi": False,
    }


def dashboard(
    uid: str, title: str, panels: list[dict[str, Any]], variables: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    datasource = {"name": "datasource", "type": "datasource", "query": "prometheus", "label": "Data source"}
    return {
        "uid": uid,
        "title": title,
        "tags": ["oma"],
        "schemaVersion": 39,
        "time": {"from": "now-6h", "to": "now"},
        "templating": {"list": [datasource, *(variables or [])]},
        "panels": panels,
    }
