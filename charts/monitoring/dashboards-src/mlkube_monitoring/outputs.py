"""Every generated file of the monitoring chart, as (path relative to the chart, text)."""

from __future__ import annotations

import json
from pathlib import Path

from . import rule_tests, rules, yamlout
from .dashboards import all_dashboards
from .settings import CHART_DIR, MonitoringValues, load


def generated_files(values: MonitoringValues | None = None) -> dict[Path, str]:
    values = values or load()
    files: dict[Path, str] = {}
    for name, document in rules.rule_files(values).items():
        files[Path("files/rules") / name] = yamlout.dump(document)
    for name, document in rule_tests.test_files(values).items():
        files[Path("files/rules-tests") / name] = yamlout.dump(document)
    for name, dashboard in all_dashboards(values).items():
        files[Path("files/dashboards") / f"{name}.json"] = json.dumps(dashboard, indent=2, sort_keys=True) + "\n"
    return files


def stale_files(chart_dir: Path = CHART_DIR) -> list[str]:
    """Generated files whose committed copy is missing or differs from the generator's output."""
    return [str(path) for path, text in generated_files().items()
            if not (chart_dir / path).is_file() or (chart_dir / path).read_text() != text]
