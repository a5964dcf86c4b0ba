"""The monitoring content as the chart installs it with its default values: rule files, their promtool tests,
dashboards and every query in them, rendered from the committed files into .cache/monitoring-rendered."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from mlkube_monitoring import settings
from mlkube_monitoring.outputs import write_rendered

REPO_ROOT = Path(__file__).resolve().parents[2]
CHART_DIR = REPO_ROOT / "charts" / "monitoring"
FILES = REPO_ROOT / ".cache" / "monitoring-rendered"
write_rendered(FILES, settings.load())
RULE_FILES = sorted((FILES / "rules").glob("*.yaml"))
RULE_TEST_FILES = sorted((FILES / "rules-tests").glob("*.yaml"))
DASHBOARD_FILES = sorted((FILES / "dashboards").glob("*.json"))


def rules() -> list[dict]:
    return [
        rule for path in RULE_FILES for group in yaml.safe_load(path.read_text())["groups"] for rule in group["rules"]
    ]


def alerts() -> list[dict]:
    return [rule for rule in rules() if "alert" in rule]


def recording_rules() -> list[dict]:
    return [rule for rule in rules() if "record" in rule]


def dashboards() -> dict[str, dict]:
    return {path.stem: json.loads(path.read_text()) for path in DASHBOARD_FILES}


@dataclass(frozen=True)
class DashboardQuery:
    dashboard: str
    where: str  # panel title, "annotation <name>" or "variable <name>"
    expr: str
    description: str = ""


def _panels(dashboard: dict) -> list[dict]:
    found = []
    for panel in dashboard.get("panels", []):
        found.append(panel)
        found.extend(panel.get("panels", []))  # panels inside collapsed rows
    return found


def panel_queries(name: str, dashboard: dict) -> list[DashboardQuery]:
    return [
        DashboardQuery(name, panel["title"], target["expr"], panel.get("description", ""))
        for panel in _panels(dashboard)
        for target in panel.get("targets", [])
    ]


def annotation_queries(name: str, dashboard: dict) -> list[DashboardQuery]:
    return [
        DashboardQuery(name, f"annotation {a['name']}", a["expr"])
        for a in dashboard.get("annotations", {}).get("list", [])
        if a.get("expr")
    ]


def variable_queries(name: str, dashboard: dict) -> list[DashboardQuery]:
    return [
        DashboardQuery(name, f"variable {v['name']}", v["query"])
        for v in dashboard["templating"]["list"]
        if v["type"] == "query"
    ]


def all_queries() -> list[DashboardQuery]:
    found = []
    for name, dashboard in dashboards().items():
        found += panel_queries(name, dashboard) + annotation_queries(name, dashboard)
    return found


# Values Grafana puts in for its built-in and template variables when a query is sent to Prometheus.
def substitute(expr: str, range_seconds: int = 300, rate_interval: str = "30s") -> str:
    """The query as Grafana sends it with every template variable at "All" (regex .*)."""
    text = expr.replace("$__rate_interval", rate_interval).replace("$__interval", "10s")
    text = text.replace("$__range_s", str(range_seconds)).replace("$__range", f"{range_seconds}s")
    return re.sub(r"\$\{?([a-z_]+)\}?", ".*", text)


def _children(node):
    for attribute in ("lhs", "rhs", "expr", "param", "args", "vector_selector"):
        value = getattr(node, attribute, None)
        for child in value if isinstance(value, list) else [value]:
            if child is not None and type(child).__module__ == "promql_parser":
                yield child


def metric_names_in(expr: str) -> set[str]:
    """Metric names of every selector in `expr`, parsed by a real PromQL parser (errors raise ValueError)."""
    import promql_parser

    names, stack = set(), [promql_parser.parse(substitute(expr))]
    while stack:
        node = stack.pop()
        if type(node).__name__ == "VectorSelector" and node.name:
            names.add(node.name)
        stack.extend(_children(node))
    return names
