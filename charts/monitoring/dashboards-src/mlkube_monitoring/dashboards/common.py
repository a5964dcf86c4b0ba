"""Building blocks shared by the dashboards: datasource, template variables, panels, selectors."""

from __future__ import annotations

import json
from collections.abc import Iterable

from grafana_foundation_sdk.builders import dashboard as gd
from grafana_foundation_sdk.builders import prometheus, stat, table, timeseries
from grafana_foundation_sdk.builders.common import StackingConfig, VizLegendOptions, VizTooltipOptions
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models.dashboard import DataSourceRef, VariableRefresh, VariableSort

from ..contracts import NAMESPACE

DATASOURCE = DataSourceRef(type_val="prometheus", uid="${datasource}")
TAGS = ["mlkube"]
# Panels whose queries read kube-state-metrics or DCGM exporter metrics say so in their description; they show
# "no data" where those exporters are not installed.
NEEDS_KSM = "Needs kube-state-metrics (with the mlkube.io/variant pod label allow-listed)."
NEEDS_DCGM = "Needs the NVIDIA DCGM exporter; shows no data on clusters without GPUs."


def base(uid: str, title: str, description: str) -> gd.Dashboard:
    return (
        gd.Dashboard(title)
        .uid(uid)
        .description(description)
        .tags(TAGS)
        .timezone("browser")
        .time("now-1h", "now")
        .refresh("30s")
        .editable()
        .with_variable(gd.DatasourceVariable("datasource").label("Data source").type("prometheus"))
    )


def variable(name: str, label: str, metric: str, matchers: str = "", of: str | None = None) -> gd.QueryVariable:
    """A multi-value variable over one label of `metric` (`of`, default the variable's name); "All" matches every
    value, even a missing label."""
    return (
        gd.QueryVariable(name)
        .label(label)
        .datasource(DATASOURCE)
        .query(f"label_values({metric}{{{matchers}}}, {of or name})")
        .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(VariableSort.ALPHABETICAL_ASC)
        .multi(True)
        .include_all(True)
        .all_value(".*")
    )


def matchers(*names: str, **fixed: str) -> str:
    """Label matchers for template variables (`name=~"$name"`) plus fixed regex matchers."""
    parts = [f'{name}=~"${name}"' for name in names]
    parts += [f'{label}=~"{value}"' for label, value in fixed.items()]
    return ", ".join(parts)


def query(expr: str, legend: str, ref: str = "A") -> prometheus.Dataquery:
    return prometheus.Dataquery().expr(expr).legend_format(legend).ref_id(ref)


def _with_queries(panel, queries: Iterable[prometheus.Dataquery]):
    for q in queries:
        panel = panel.with_target(q)
    return panel


def graph(
    title: str,
    description: str,
    unit: str,
    *queries: prometheus.Dataquery,
    width: int = 12,
    stacked: bool = False,
    max_value: float | None = None,
) -> timeseries.Panel:
    panel = (
        timeseries.Panel()
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .unit(unit)
        .span(width)
        .height(8)
        .fill_opacity(10 if not stacked else 60)
        .min(0)
        .legend(
            VizLegendOptions()
            .show_legend(True)
            .display_mode(common.LegendDisplayMode.TABLE)
            .placement(common.LegendPlacement.BOTTOM)
            .calcs(["mean", "max", "lastNotNull"])
        )
        .tooltip(VizTooltipOptions().mode(common.TooltipDisplayMode.MULTI).sort(common.SortOrder.DESCENDING))
    )
    if stacked:
        panel = panel.stacking(StackingConfig().mode(common.StackingMode.NORMAL))
    if max_value is not None:
        panel = panel.max(max_value)
    return _with_queries(panel, queries)


def single(title: str, description: str, unit: str, *queries: prometheus.Dataquery, width: int = 6) -> stat.Panel:
    panel = (
        stat.Panel()
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .unit(unit)
        .span(width)
        .height(5)
        .graph_mode(common.BigValueGraphMode.AREA)
    )
    return _with_queries(panel, queries)


def tabular(title: str, description: str, unit: str, *queries: prometheus.Dataquery, width: int = 12) -> table.Panel:
    panel = (
        table.Panel()
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .unit(unit)
        .span(width)
        .height(8)
        .show_header(True)
    )
    return _with_queries(panel, [q.instant() for q in queries])


def row(title: str) -> gd.Row:
    return gd.Row(title)


def annotation(name: str, expr: str, colour: str) -> gd.AnnotationQuery:
    return gd.AnnotationQuery().name(name).datasource(DATASOURCE).enable(True).icon_color(colour).expr(expr)


class Layout:
    """A dashboard under construction that numbers its panels in the order they are added."""

    def __init__(self, dashboard: gd.Dashboard) -> None:
        self.dashboard = dashboard
        self._next_id = 1

    def _id(self) -> int:
        self._next_id += 1
        return self._next_id - 1

    def row(self, title: str) -> Layout:
        self.dashboard = self.dashboard.with_row(gd.Row(title).id(self._id()))
        return self

    def add(self, *panels) -> Layout:
        for panel in panels:
            self.dashboard = self.dashboard.with_panel(panel.id(self._id()))
        return self


# Keys the SDK writes with default values that Grafana's published dashboard schema (@grafana/schema) no longer
# has: the dashboard `style` (removed from Grafana), and on every variable an all-zero `id` and `auto*`, which only
# interval variables use.
SDK_ONLY_VARIABLE_KEYS = ("id", "auto", "auto_min", "auto_count")


def without_sdk_only_keys(data: dict) -> dict:
    data.pop("style", None)
    for var in data["templating"]["list"]:
        if var["type"] != "interval":
            for key in SDK_ONLY_VARIABLE_KEYS:
                var.pop(key, None)
    return data


def to_dict(builder: gd.Dashboard) -> dict:
    """The dashboard as plain JSON data, through the SDK's own encoder."""
    return without_sdk_only_keys(json.loads(json.dumps(builder.build(), cls=JSONEncoder)))


__all__ = [
    "NAMESPACE",
    "base",
    "variable",
    "matchers",
    "query",
    "graph",
    "single",
    "tabular",
    "row",
    "annotation",
    "to_dict",
    "Layout",
    "NEEDS_KSM",
    "NEEDS_DCGM",
    "DATASOURCE",
]
