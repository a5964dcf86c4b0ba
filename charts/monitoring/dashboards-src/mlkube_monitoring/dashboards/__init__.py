"""Grafana dashboards built with the Grafana Foundation SDK, one module per dashboard."""

from __future__ import annotations

from ..settings import MonitoringValues, load
from . import rollout, serving, training


def all_dashboards(values: MonitoringValues | None = None) -> dict[str, dict]:
    """File stem -> dashboard JSON data."""
    values = values or load()
    return {"serving": serving.build(values), "rollout": rollout.build(values), "training": training.build(values)}
