"""Grafana dashboards built with the Grafana Foundation SDK, one module per dashboard."""

from __future__ import annotations

from . import rollout, serving, training


def all_dashboards() -> dict[str, dict]:
    """File stem -> dashboard JSON data, with placeholders for the chart's `slo:` / `alerts:` values."""
    return {"serving": serving.build(), "rollout": rollout.build(), "training": training.build()}
